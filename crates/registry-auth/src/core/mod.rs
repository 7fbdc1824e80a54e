//! Layer 2, the protocol core: [`AuthServer`] decides a [`TokenRequest`]
//! into a [`TokenResponse`] or an [`Error`], and its builder checks every
//! setting.
//!
//! May use: the protocol's words (layer 0) and the layer-1 parts it
//! assembles (tokens, refresh tokens, guards, and the built-in identity
//! sources and rules through their traits). Knows nothing of HTTP: the
//! adapters (layer 3) call [`AuthServer::issue`] and render its answer.

mod builder;
mod decide;
mod identify;
mod response;

use std::sync::Arc;

pub use builder::AuthServerBuilder;
pub(crate) use decide::Core;
pub use response::TokenResponse;

use crate::guard::limits::Limits;
use crate::protocol::authz::ScopeDecision;
use crate::protocol::backend::BackendError;
use crate::protocol::error::Error;
use crate::protocol::identity::Identity;
use crate::protocol::request::TokenRequest;
use crate::refresh::TokenHash;

/// A token server: the protocol core, ready to decide requests.
///
/// Cheap to clone (an `Arc` inside). Get one from [`AuthServer::builder`];
/// then either call [`AuthServer::issue`] with a [`TokenRequest`] your
/// framework parsed, or (with the `axum` feature, on by default) make its
/// axum router with `AuthServer::router` and nest it in your app, or
/// (with `serve`) serve it on its own with `AuthServer::serve` or
/// `AuthServer::serve_tls`.
#[derive(Clone)]
pub struct AuthServer {
    pub(crate) core: Arc<Core>,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("realm", &self.core.realm)
            .field("anonymous", &self.core.anonymous)
            .finish_non_exhaustive()
    }
}

impl AuthServer {
    /// Starts building a server.
    pub fn builder() -> AuthServerBuilder {
        AuthServerBuilder::default()
    }

    /// The protocol core: runs one token request through authentication,
    /// authorization and signing, and records it (one audit event on the
    /// `registry_auth::audit` target, and the metrics).
    ///
    /// ```no_run
    /// use registry_auth::{AuthServer, Credentials, Dialect, TokenRequest};
    ///
    /// # async fn handle(server: AuthServer, query: &str, authorization: Option<&[u8]>) -> (u16, String) {
    /// // What an adapter for any framework does with `GET /token`:
    /// let answer = match Credentials::from_authorization(authorization)
    ///     .and_then(|credentials| TokenRequest::from_query(query, credentials))
    /// {
    ///     Ok(request) => server.issue(request).await,
    ///     Err(e) => Err(e),
    /// };
    /// match answer {
    ///     Ok(response) => (200, response.body(Dialect::Registry)),
    ///     Err(e) => (e.status(Dialect::Registry), e.body(Dialect::Registry)),
    /// }
    /// # }
    /// ```
    pub async fn issue(&self, request: TokenRequest) -> Result<TokenResponse, Error> {
        self.core.issue(request).await
    }

    /// What `who` would be granted for `request`, scope by scope, and what
    /// decided each: the checks of the request (service, `account`, the
    /// number of scopes) and the authorizer, as [`issue`](Self::issue) runs
    /// them, without checking credentials, issuing a refresh token or
    /// signing. For tools that explain a policy; no audit event is written
    /// (a failing backend is still logged).
    pub async fn explain(
        &self,
        who: &Identity,
        request: TokenRequest,
    ) -> Result<Vec<ScopeDecision>, Error> {
        self.core.explain(who, request).await
    }

    /// Forgets every credential the verified-credential cache holds (call
    /// it when users or passwords change under a running server).
    pub fn clear_credential_cache(&self) {
        self.core.clear_credential_cache();
    }

    /// The request and connection limits in force.
    pub fn limits(&self) -> &Limits {
        &self.core.limits
    }

    /// Revokes one refresh token; whether it existed. Tokens are bearer
    /// secrets: take them from the user who wants theirs revoked.
    pub async fn revoke_refresh_token(&self, token: &str) -> Result<bool, BackendError> {
        match &self.core.refresh {
            Some(refresh) => refresh.store.revoke(&TokenHash::of(token)).await,
            None => Ok(false),
        }
    }

    /// Revokes every refresh token of a subject; how many there were.
    pub async fn revoke_refresh_tokens_of(&self, subject: &str) -> Result<usize, BackendError> {
        match &self.core.refresh {
            Some(refresh) => refresh.store.revoke_subject(subject).await,
            None => Ok(0),
        }
    }

    /// The JWKS document of the signing key(s), if the token generator has
    /// one: what a v3 registry's `auth.token.jwks` file should hold, and
    /// what the HTTP adapter serves at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Option<serde_json::Value> {
        self.core.generator.jwks()
    }
}

#[cfg(test)]
mod tests;
