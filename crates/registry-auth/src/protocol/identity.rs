//! Who the client is, once authenticated.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::scope::Scope;

/// Who the client is: a subject (the token's `sub`) and the attributes the
/// authenticator found (groups, labels…) for the authorizer to use.
///
/// An identity may also carry a **limit** ([`with_limit`](Self::with_limit)):
/// the most its credentials may be granted, whatever the authorizer allows
/// its subject. An access token made for one job is its owner's identity
/// with the token's scopes as its limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    subject: String,
    attributes: BTreeMap<String, Vec<String>>,
    limit: Option<Arc<[Scope]>>,
}

impl Identity {
    /// An authenticated identity with no attributes.
    pub fn new(subject: impl Into<String>) -> Self {
        Identity {
            subject: subject.into(),
            attributes: BTreeMap::new(),
            limit: None,
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
}
