//! Authorization: what an identity may do.
//!
//! An [`Authorizer`] answers, for one request, what the identity may do on
//! the resources asked for. The core then grants the intersection of what
//! was asked and what was allowed, so an authorizer can never hand out more
//! than the client asked for, even by mistake.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::authn::{BoxError, Identity};
use crate::scope::Scope;

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

/// Why the authorizer could not decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthzError {
    /// The backend is down: the client gets 503 and no token.
    #[error("authorizer unavailable: {0}")]
    Unavailable(#[source] BoxError),
}

impl AuthzError {
    /// Wraps a backend failure.
    pub fn unavailable(error: impl Into<BoxError>) -> Self {
        AuthzError::Unavailable(error.into())
    }
}

/// Decides what an identity may do. See the module docs.
///
/// Return, for any resource of the request, the actions allowed there
/// (`*` for all). Resources left out are denied; an empty list is a valid
/// answer (the client gets a token with no access, as the spec asks, and
/// the registry refuses the operation). A requested `*` (skopeo asks for it
/// to delete) is answered with whatever you return for that resource.
///
/// ```
/// use registry_auth::{async_trait, AccessRequest, Authorizer, AuthzError, Identity, Scope};
///
/// /// Everyone pulls; users push to their own namespace.
/// struct OwnNamespace;
///
/// #[async_trait]
/// impl Authorizer for OwnNamespace {
///     async fn authorize(&self, who: &Identity, req: &AccessRequest) -> Result<Vec<Scope>, AuthzError> {
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
    /// What `who` may do of what was asked.
    async fn authorize(
        &self,
        who: &Identity,
        request: &AccessRequest,
    ) -> Result<Vec<Scope>, AuthzError>;
}

#[async_trait]
impl<T: Authorizer + ?Sized> Authorizer for Arc<T> {
    async fn authorize(
        &self,
        who: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<Scope>, AuthzError> {
        (**self).authorize(who, req).await
    }
}

#[async_trait]
impl<T: Authorizer + ?Sized> Authorizer for Box<T> {
    async fn authorize(
        &self,
        who: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<Scope>, AuthzError> {
        (**self).authorize(who, req).await
    }
}

/// An [`Authorizer`] made from a closure; see [`authorizer_fn`].
#[derive(Clone, Copy)]
pub struct FnAuthorizer<F>(F);

impl<F> std::fmt::Debug for FnAuthorizer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnAuthorizer")
    }
}

/// Makes an [`Authorizer`] from an async closure taking the identity and
/// the request by value.
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
pub fn authorizer_fn<F, Fut>(f: F) -> FnAuthorizer<F>
where
    F: Fn(Identity, AccessRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Scope>, AuthzError>> + Send + 'static,
{
    FnAuthorizer(f)
}

#[async_trait]
impl<F, Fut> Authorizer for FnAuthorizer<F>
where
    F: Fn(Identity, AccessRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Scope>, AuthzError>> + Send + 'static,
{
    async fn authorize(
        &self,
        who: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<Scope>, AuthzError> {
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
    async fn authorize(&self, _: &Identity, req: &AccessRequest) -> Result<Vec<Scope>, AuthzError> {
        Ok(req
            .scopes
            .iter()
            .map(|s| Scope::new(s.resource_type.clone(), s.name.clone(), ["*"]))
            .collect())
    }
}

/// Computes what the token carries, in the order of the request (the
/// metrics in `core` rely on that): for each requested resource, the
/// requested actions that the allowed ones cover. A requested `*` is
/// answered with every action allowed on that resource (`*` included only
/// when `*` itself is allowed). Resources end up without actions are left out.
pub(crate) fn intersect(requested: &[Scope], allowed: &[Scope]) -> Vec<Scope> {
    requested
        .iter()
        .filter_map(|want| {
            let mut granted: Vec<String> = Vec::new();
            for have in allowed.iter().filter(|a| a.same_resource(want)) {
                if want.actions.iter().any(|a| a == crate::scope::WILDCARD) {
                    granted.extend(have.actions.iter().cloned());
                } else {
                    granted.extend(want.actions.iter().filter(|a| have.allows(a)).cloned());
                }
            }
            let scope = Scope::new(want.resource_type.clone(), want.name.clone(), granted);
            (!scope.actions.is_empty()).then_some(scope)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            intersect(&req, &allowed),
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
            intersect(&req, &allowed),
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
        assert!(intersect(&req, &allowed).is_empty());
    }
}
