//! Docker / OCI registry token authentication, with your own users and rules.
//!
//! A registry configured with `auth.token` sends clients to a token server,
//! which authenticates them, decides what each may do on each repository,
//! and signs a short-lived JWT that the registry verifies offline. This crate
//! is that token server as a library: implement [`Authenticator`] and
//! [`Authorizer`], give it a signing key, and mount it in your axum app or
//! serve it on its own.
//!
//! ```no_run
//! use std::time::Duration;
//! use registry_auth::identity::StaticUsers;
//! use registry_auth::{authorizer_fn, AccessRequest, AuthServer, Identity, Scope};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let users = StaticUsers::new()
//!     .user("alice", "$2y$10$TYyKeyyopVdR.ppsm5VdCOFuNmQj67YBnG0hpjDA/W1L2I696tO/e")?;
//!
//! // Users push and pull in their own namespace; everyone else pulls.
//! let rules = authorizer_fn(|who: Identity, req: AccessRequest| async move {
//!     Ok(req.scopes.iter().map(|s| {
//!         if !who.is_anonymous() && s.name.starts_with(&format!("{}/", who.subject())) {
//!             Scope::repository(s.name.clone(), ["pull", "push", "delete"])
//!         } else {
//!             Scope::repository(s.name.clone(), ["pull"])
//!         }
//!     }).collect())
//! });
//!
//! let server = AuthServer::builder()
//!     .authenticator(users)
//!     .authorizer(rules)
//!     .allow_anonymous(true)
//!     .signing_key_pem_file("certs/token.key")
//!     .certificate_pem_file("certs/token.crt") // optional: sent as x5c
//!     .issuer("registry-auth")
//!     .service("registry.example.com")
//!     .token_lifetime(Duration::from_secs(300))
//!     .build()?;
//!
//! // Nested in an app: the realm is https://host/auth/token (or /auth).
//! let app: axum::Router = axum::Router::new().nest("/auth", server.router());
//! # let _ = app;
//! // Or on its own, over HTTPS:
//! server.serve_tls("0.0.0.0:5001".parse()?, "certs/tls.crt", "certs/tls.key").await?;
//! # Ok(()) }
//! ```
//!
//! The server runs on Tokio and needs its timer (backend and request
//! timeouts): a runtime built with `enable_all()` or `#[tokio::main]`.
//!
//! # Layers
//! Each layer uses only the ones below it; module docs say what each may
//! use.
//!
//! 0. **The protocol's words** — [`Scope`], [`Credentials`],
//!    [`TokenRequest`], [`Identity`], [`AccessRequest`], [`Error`] and its
//!    wire mapping ([`Dialect`]), and the traits the core calls:
//!    [`Authenticator`], [`Authorizer`].
//! 1. **Parts** — [`token`] (signing), [`state`] (refresh tokens,
//!    credential generations, failure counts), [`identity`] (built-in
//!    users), [`acl`] (built-in rules), and the guards ([`Limits`],
//!    [`Throttling`]).
//! 2. **The protocol core** — [`AuthServer::issue`]: a [`TokenRequest`] in,
//!    a [`TokenResponse`] or an [`Error`] out. No I/O of its own and no
//!    HTTP: any framework can call it.
//! 3. **Adapters** — the axum router (`AuthServer::router`, feature
//!    `axum`) and standalone serving (`serve()`, feature `serve`). Both
//!    features are on by default;
//!    `default-features = false` leaves axum, hyper and rustls out.
//!
//! Feature `serde` (on by default) lets the option types ([`Limits`],
//! [`Throttling`], [`acl::Rule`], [`token::KeyIdMode`],
//! [`token::Algorithm`]) deserialize, as the `registry-auth` binary reads
//! them from its configuration file. Features `sqlite` and `postgres` (off
//! by default) add `state::SqlStore`: refresh tokens and failure counts
//! that survive restarts (SQLite) or that several instances share
//! (PostgreSQL); pass it to [`AuthServerBuilder::state_store`].
//!
//! # Safe by default
//! - Nothing is allowed unless the authorizer says so; the token carries
//!   the intersection of what was asked and what was allowed.
//! - Anonymous clients get 401 unless [`AuthServerBuilder::allow_anonymous`].
//! - `account` is checked against the credentials, never trusted.
//! - A backend that fails gives 503, never a token.
//! - Passwords and tokens never appear in `Debug` output, logs or errors.

#![doc(html_no_source)]

mod bounded;
mod core;
mod guard;
#[cfg(feature = "axum")]
mod http;
mod protocol;
mod setting;

pub mod acl;
pub mod identity;
pub mod state;
pub mod token;

/// Serving on its own, over HTTP or HTTPS, with connection limits
/// (feature `serve`).
#[cfg(feature = "serve")]
pub mod serve {
    pub use crate::http::serve::{RustlsConfig, Serve, rustls_config, shutdown_signal};
}

pub use async_trait::async_trait;

#[doc(inline)]
pub use crate::core::{AuthServer, AuthServerBuilder, TokenResponse};
#[doc(inline)]
pub use crate::guard::limits::Limits;
#[doc(inline)]
pub use crate::guard::throttle::Throttling;
#[cfg(feature = "serve")]
#[doc(inline)]
pub use crate::http::serve::serve;
#[doc(inline)]
pub use crate::protocol::authn::{AnonymousOnly, Authenticator, AuthnError, authenticator_fn};
#[doc(inline)]
pub use crate::protocol::authz::{
    AccessRequest, AllowAll, Authorizer, DecidedBy, ScopeDecision, authorizer_fn,
};
#[doc(inline)]
pub use crate::protocol::backend::BackendError;
#[doc(inline)]
pub use crate::protocol::credentials::{Credentials, Secret};
#[doc(inline)]
pub use crate::protocol::error::{Dialect, Error};
#[doc(inline)]
pub use crate::protocol::identity::Identity;
#[doc(inline)]
pub use crate::protocol::request::TokenRequest;
#[doc(inline)]
pub use crate::protocol::scope::{Scope, ScopeError};
#[doc(inline)]
pub use crate::setting::BuildError;

/// The README's code, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
