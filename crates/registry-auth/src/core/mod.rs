//! Layer 2, the protocol core: [`AuthServer`] decides a [`TokenRequest`]
//! into a [`TokenResponse`] or an [`Error`], and its builder checks every
//! setting.
//!
//! May use: the protocol's words (layer 0) and the layer-1 parts it
//! assembles (tokens, the state store, guards, and the built-in identity
//! sources and rules through their traits). Knows nothing of HTTP: the
//! adapters (layer 3) call [`AuthServer::issue`] and render its answer.

mod builder;
mod decide;
mod identify;
mod metrics;
mod response;

use std::collections::{HashMap, HashSet};
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
use crate::state::{CredentialFingerprint, StateStore, TokenHash};

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
        let id = TokenHash::of(token).id();
        self.core.state.revoke_refresh_token(&id).await
    }

    /// Revokes every refresh token of a subject; how many there were.
    pub async fn revoke_refresh_tokens_of(&self, subject: &str) -> Result<u64, BackendError> {
        self.core.state.revoke_refresh_tokens_of(subject).await
    }

    /// The state store this server keeps refresh tokens and failure counts
    /// in: for listing and revoking tokens by id.
    pub fn state_store(&self) -> &Arc<dyn StateStore> {
        &self.core.state
    }

    /// Records every user's credentials as they are now, so that refresh
    /// tokens of users whose credentials changed, or who are no longer in
    /// `users`, stop working (and stay stopped if the user comes back).
    /// Call it with the whole user list whenever it may have changed (the
    /// `registry-auth` server does on start and on every reload). Returns
    /// the subjects whose tokens this ended.
    ///
    /// For a single user whose password changed, [`credentials_changed`]
    /// is enough.
    ///
    /// [`credentials_changed`]: Self::credentials_changed
    pub async fn sync_credentials(
        &self,
        users: &[(String, CredentialFingerprint)],
    ) -> Result<Vec<String>, BackendError> {
        let state = &self.core.state;
        let recorded: HashMap<String, Option<CredentialFingerprint>> =
            state.credential_fingerprints().await?.into_iter().collect();
        let mut ended = Vec::new();
        for (subject, fingerprint) in users {
            match recorded.get(subject) {
                Some(Some(seen)) if seen == fingerprint => continue,
                Some(_) => ended.push(subject.clone()),
                None => {}
            }
            state
                .observe_credentials(subject, Some(fingerprint))
                .await?;
        }
        let current: HashSet<&str> = users.iter().map(|(s, _)| s.as_str()).collect();
        for (subject, seen) in &recorded {
            if seen.is_some() && !current.contains(subject.as_str()) {
                state.observe_credentials(subject, None).await?;
                ended.push(subject.clone());
            }
        }
        ended.sort();
        Ok(ended)
    }

    /// Ends every refresh token of `subject` issued before now: call it
    /// when the user's password changes or the account is disabled.
    pub async fn credentials_changed(&self, subject: &str) -> Result<(), BackendError> {
        self.core
            .state
            .advance_generation(subject)
            .await
            .map(|_| ())
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
