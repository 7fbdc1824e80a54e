//! Authorization: what an identity may do, and what decided it.
//!
//! An [`Authorizer`] answers, for one request, what the identity may do on
//! the resources asked for. The core then grants the intersection of what
//! was asked and what was allowed ([`ScopeDecision::granted`]), so an
//! authorizer can never hand out more than the client asked for, even by
//! mistake.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;

use super::backend::BackendError;
use super::identity::Identity;
use super::scope::Scope;

/// What the authorizer is asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessRequest {
    /// The service (registry) the token is for.
    pub service: String,
    /// The requested scopes, parsed and merged: one entry per resource.
    pub scopes: Vec<Scope>,
    /// The client's address, when known.
    pub client_ip: Option<IpAddr>,
    /// The `client_id` the client sent, if any.
    pub client_id: Option<String>,
}

impl AccessRequest {
    /// A request for `scopes` on `service`.
    pub fn new(service: impl Into<String>, scopes: Vec<Scope>) -> Self {
        AccessRequest {
            service: service.into(),
            scopes,
            client_ip: None,
            client_id: None,
        }
    }
}

/// What decided a requested scope: read by the audit log and by tools that
/// explain decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecidedBy {
    /// An authorizer that gives no reasons: what its
    /// [`authorize`](Authorizer::authorize) returned. Also a scope that an
    /// authorizer's [`decide`](Authorizer::decide) left unanswered, which is
    /// denied.
    Authorizer,
    /// Rule `n` of an ACL, counted from 0 (shown from 1: `rule 1`).
    Rule(usize),
    /// No rule of an ACL matched: denied.
    NoRule,
    /// The credentials' limit ([`Identity::with_limit`](crate::Identity::with_limit),
    /// an access token's scopes) took away actions the authorizer allowed.
    Limit,
}

impl fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecidedBy::Authorizer => f.write_str("authorizer"),
            DecidedBy::Rule(index) => write!(f, "rule {}", index + 1),
            DecidedBy::NoRule => f.write_str("no rule"),
            DecidedBy::Limit => f.write_str("credential limit"),
        }
    }
}

/// The decision on one requested scope: what the policy allows on that
/// resource, and what decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeDecision {
    /// The scope as requested.
    pub requested: Scope,
    /// The actions the policy allows on that resource (`*` for all; empty:
    /// none), sorted, without duplicates.
    pub allowed: Vec<String>,
    /// What decided it.
    pub decided_by: DecidedBy,
}

impl ScopeDecision {
    /// A decision; `allowed` is sorted and de-duplicated here.
    pub fn new<I, S>(requested: Scope, allowed: I, decided_by: DecidedBy) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut allowed: Vec<String> = allowed.into_iter().map(Into::into).collect();
        allowed.sort_unstable();
        allowed.dedup();
        ScopeDecision {
            requested,
            allowed,
            decided_by,
        }
    }

    /// The actions the token carries for this scope: the requested ones
    /// that the allowed ones cover. A requested `*` is answered with every
    /// allowed action (`*` itself only when `*` is allowed, as
    /// `registry:catalog:*` needs).
    pub fn granted(&self) -> Vec<String> {
        if self.requested.actions.iter().any(|a| a == Scope::WILDCARD) {
            return self.allowed.clone();
        }
        let allows = |action: &String| {
            self.allowed
                .iter()
                .any(|a| a == action || a == Scope::WILDCARD)
        };
        self.requested
            .actions
            .iter()
            .filter(|a| allows(a))
            .cloned()
            .collect()
    }

    /// The granted scope, or `None` when nothing is granted.
    pub(crate) fn granted_scope(&self) -> Option<Scope> {
        let actions = self.granted();
        (!actions.is_empty()).then(|| {
            Scope::new(
                self.requested.resource_type.clone(),
                self.requested.name.clone(),
                actions,
            )
        })
    }
}

/// Decides what an identity may do. See the module docs.
///
/// Implement [`authorize`](Authorizer::authorize): return, for any resource
/// of the request, the actions allowed there (`*` for all). Resources left
/// out are denied; an empty list is a valid answer (the client gets a token
/// with no access, as the spec asks, and the registry refuses the
/// operation). A requested `*` (skopeo asks for it to delete) is answered
/// with whatever you return for that resource.
///
/// An authorizer that can say *why* (which rule decided) implements
/// [`decide`](Authorizer::decide) too, as the built-in
/// [`Acl`](crate::acl::Acl) does; the audit log then names the reason.
///
/// ```
/// use registry_auth::{async_trait, AccessRequest, Authorizer, BackendError, Identity, Scope};
///
/// /// Everyone pulls; users push to their own namespace.
/// struct OwnNamespace;
///
/// #[async_trait]
/// impl Authorizer for OwnNamespace {
///     async fn authorize(&self, who: &Identity, req: &AccessRequest) -> Result<Vec<Scope>, BackendError> {
///         Ok(req.scopes.iter().filter(|s| s.resource_type == "repository").map(|s| {
///             let own = !who.is_anonymous()
///                 && s.name.starts_with(&format!("{}/", who.subject()));
///             let actions: &[&str] = if own { &["pull", "push"] } else { &["pull"] };
///             Scope::repository(s.name.clone(), actions.iter().copied())
///         }).collect())
///     }
/// }
/// ```
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// What `who` may do of what was asked. An error (its backend is down)
    /// refuses the request with 503; it never yields a token.
    async fn authorize(
        &self,
        who: &Identity,
        request: &AccessRequest,
    ) -> Result<Vec<Scope>, BackendError>;

    /// One decision per requested scope, in the order of the request, with
    /// what decided each. The core calls this one. Defaults to
    /// [`authorize`](Authorizer::authorize)'s answer, decided by
    /// [`DecidedBy::Authorizer`].
    async fn decide(
        &self,
        who: &Identity,
        request: &AccessRequest,
    ) -> Result<Vec<ScopeDecision>, BackendError> {
        let allowed = self.authorize(who, request).await?;
        Ok(request
            .scopes
            .iter()
            .map(|want| {
                let actions = allowed
                    .iter()
                    .filter(|have| have.same_resource(want))
                    .flat_map(|have| have.actions.iter().cloned());
                ScopeDecision::new(want.clone(), actions, DecidedBy::Authorizer)
            })
            .collect())
    }
}

#[async_trait]
impl<T: Authorizer + ?Sized> Authorizer for Arc<T> {
    async fn authorize(
        &self,
        who: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<Scope>, BackendError> {
        (**self).authorize(who, req).await
    }
    async fn decide(
        &self,
        who: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<ScopeDecision>, BackendError> {
        (**self).decide(who, req).await
    }
}

#[async_trait]
impl<T: Authorizer + ?Sized> Authorizer for Box<T> {
    async fn authorize(
        &self,
        who: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<Scope>, BackendError> {
        (**self).authorize(who, req).await
    }
    async fn decide(
        &self,
        who: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<ScopeDecision>, BackendError> {
        (**self).decide(who, req).await
    }
}

/// Makes an [`Authorizer`] from an async closure taking the identity and
/// the request by value (state the closure holds goes in an `Arc`, cloned
/// before `async move`, as for
/// [`authenticator_fn`](crate::authenticator_fn)).
///
/// ```
/// use registry_auth::{authorizer_fn, AccessRequest, Identity, Scope};
///
/// // Read-only for everybody.
/// let authz = authorizer_fn(|_who: Identity, req: AccessRequest| async move {
///     Ok(req.scopes.into_iter().map(|s| Scope::new(s.resource_type, s.name, ["pull"])).collect())
/// });
/// # let _ = authz;
/// ```
pub fn authorizer_fn<F, Fut>(f: F) -> impl Authorizer
where
    F: Fn(Identity, AccessRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Scope>, BackendError>> + Send + 'static,
{
    FnAuthorizer(f)
}

/// The [`Authorizer`] [`authorizer_fn`] makes.
struct FnAuthorizer<F>(F);

#[async_trait]
impl<F, Fut> Authorizer for FnAuthorizer<F>
where
    F: Fn(Identity, AccessRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Scope>, BackendError>> + Send + 'static,
{
    async fn authorize(
        &self,
        who: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<Scope>, BackendError> {
        (self.0)(who.clone(), req.clone()).await
    }
}

/// Grants everything that is asked, to everyone who gets past
/// authentication. Only for registries where every authenticated user is
/// an administrator; named so that nobody gets it by accident.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

#[async_trait]
impl Authorizer for AllowAll {
    async fn authorize(
        &self,
        _: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<Scope>, BackendError> {
        Ok(req
            .scopes
            .iter()
            .map(|s| Scope::new(s.resource_type.clone(), s.name.clone(), [Scope::WILDCARD]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the token carries when `allowed` is the authorizer's answer.
    fn grant(requested: &[Scope], allowed: &[Scope]) -> Vec<Scope> {
        let authz = {
            let allowed = allowed.to_vec();
            authorizer_fn(move |_, _| {
                let allowed = allowed.clone();
                async move { Ok(allowed) }
            })
        };
        let request = AccessRequest::new("s", requested.to_vec());
        let decisions =
            futures_util::FutureExt::now_or_never(authz.decide(&Identity::new("u"), &request));
        let Some(Ok(decisions)) = decisions else {
            panic!("a closure authorizer answers at once");
        };
        assert!(
            decisions
                .iter()
                .all(|d| d.decided_by == DecidedBy::Authorizer)
        );
        decisions
            .iter()
            .filter_map(ScopeDecision::granted_scope)
            .collect()
    }

    #[test]
    fn grant_is_request_intersect_allowed() {
        let req = [
            Scope::repository("a", ["pull", "push"]),
            Scope::repository("b", ["pull"]),
            Scope::repository("c", ["delete"]),
        ];
        let allowed = [
            Scope::repository("a", ["pull", "delete"]),
            Scope::repository("b", ["*"]),
            Scope::repository("z", ["*"]),
        ];
        assert_eq!(
            grant(&req, &allowed),
            vec![
                Scope::repository("a", ["pull"]),
                Scope::repository("b", ["pull"])
            ]
        );
    }

    #[test]
    fn requested_wildcard_gets_what_is_allowed() {
        let req = [
            Scope::repository("a", ["*"]),
            Scope::new("registry", "catalog", ["*"]),
        ];
        let allowed = [
            Scope::repository("a", ["pull", "delete"]),
            Scope::new("registry", "catalog", ["*"]),
        ];
        assert_eq!(
            grant(&req, &allowed),
            vec![
                Scope::repository("a", ["delete", "pull"]),
                Scope::new("registry", "catalog", ["*"])
            ]
        );
    }

    #[test]
    fn type_must_match_too() {
        let req = [Scope::new("registry", "catalog", ["*"])];
        let allowed = [Scope::repository("catalog", ["*"])];
        assert!(grant(&req, &allowed).is_empty());
    }

    #[test]
    fn several_answers_for_one_resource_are_united() {
        let req = [Scope::repository("a", ["pull", "push", "delete"])];
        let allowed = [
            Scope::repository("a", ["pull"]),
            Scope::repository("a", ["push"]),
        ];
        assert_eq!(
            grant(&req, &allowed),
            vec![Scope::repository("a", ["pull", "push"])]
        );
    }

    #[test]
    fn decided_by_reads_as_the_audit_log_writes_it() {
        assert_eq!(DecidedBy::Rule(0).to_string(), "rule 1");
        assert_eq!(DecidedBy::NoRule.to_string(), "no rule");
        assert_eq!(DecidedBy::Authorizer.to_string(), "authorizer");
    }
}
