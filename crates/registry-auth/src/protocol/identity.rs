//! Who the client is, once authenticated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::scope::Scope;

/// Who the client is: a subject (the token's `sub`) and the attributes the
/// authenticator found (groups, labels…) for the authorizer to use.
///
/// An identity may also carry a **limit** ([`with_limit`](Self::with_limit)):
/// the most its credentials may be granted, whatever the authorizer allows
/// its subject. An access token made for one job is its owner's identity
/// with the token's scopes as its limit.
///
/// And it may carry an **end** ([`valid_until`](Self::with_valid_until)):
/// the time its credentials stop being valid, as a CI job's short-lived
/// OIDC token does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    subject: String,
    attributes: BTreeMap<String, Vec<String>>,
    limit: Option<Arc<[Scope]>>,
    valid_until: Option<SystemTime>,
}

impl Identity {
    /// An authenticated identity with no attributes.
    pub fn new(subject: impl Into<String>) -> Self {
        Identity {
            subject: subject.into(),
            attributes: BTreeMap::new(),
            limit: None,
            valid_until: None,
        }
    }

    /// The anonymous client: subject `""`, as the token spec asks.
    pub fn anonymous() -> Self {
        Identity::default()
    }

    /// Whether this is the anonymous client.
    pub fn is_anonymous(&self) -> bool {
        self.subject.is_empty()
    }

    /// The subject: the user name or id that goes into the token's `sub`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Adds values to an attribute (e.g. `("groups", ["admins"])`).
    pub fn with_attribute<I, S>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.attributes
            .entry(key.into())
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    /// The values of an attribute; empty when it is not set.
    pub fn attribute(&self, key: &str) -> &[String] {
        self.attributes.get(key).map_or(&[], Vec::as_slice)
    }

    /// All attributes.
    pub fn attributes(&self) -> &BTreeMap<String, Vec<String>> {
        &self.attributes
    }

    /// The identity, restricted to at most `scopes`: the server grants the
    /// intersection of what the authorizer allows and these. A name may be
    /// a glob (`web/*` within one path segment, `web/**` across them), as
    /// in ACL rules; an action `*` stands for every action. A restricted
    /// identity gets no refresh token (the credentials it came from are
    /// the long-lived ones) and is never cached, so a revoked token stops
    /// at once. An empty list allows nothing.
    pub fn with_limit(mut self, scopes: Vec<Scope>) -> Self {
        self.limit = Some(scopes.into());
        self
    }

    /// The limit set by [`with_limit`](Self::with_limit), if any.
    pub fn limit(&self) -> Option<&[Scope]> {
        self.limit.as_deref()
    }

    /// The identity, valid only until `end`: the time the credentials it
    /// came from expire (a workload token's `exp`). The credential cache
    /// keeps it no longer than that, and it gets no refresh token (which
    /// would outlive the credentials).
    pub fn with_valid_until(mut self, end: SystemTime) -> Self {
        self.valid_until = Some(end);
        self
    }

    /// The end set by [`with_valid_until`](Self::with_valid_until), if any.
    pub fn valid_until(&self) -> Option<SystemTime> {
        self.valid_until
    }

    /// Whether a refresh token (docker's identity token) may be issued to
    /// this identity: not when it is limited (its credentials are the
    /// long-lived ones to keep) nor when it has an end (a refresh token
    /// would outlive it).
    pub fn may_be_refreshed(&self) -> bool {
        self.limit.is_none() && self.valid_until.is_none()
    }
}
