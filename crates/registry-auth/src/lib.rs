//! Docker / OCI registry token authentication, with your own users and rules.
//!
//! A registry configured with `auth.token` sends clients to a token server,
//! which authenticates them, decides what each may do on each repository,
//! and signs a short-lived JWT that the registry verifies offline. This crate
//! is that token server as a library: implement [`Authenticator`] and
//! [`Authorizer`], give it a signing key, and mount it in your axum app or
//! serve it on its own.
//!
//! The protocol core does no I/O and knows nothing of HTTP
//! ([`AuthServer::issue`] takes a parsed [`TokenRequest`]); the axum adapter
//! around it is thin ([`AuthServer::router`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use registry_auth::{authorizer_fn, AccessRequest, AuthServer, Identity, Scope, StaticUsers};
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
//! // Mounted in an app: the realm is https://host/auth (or /auth/token).
//! let app: axum::Router = axum::Router::new().nest_service("/auth", server.clone());
//! # let _ = app;
//! // Or on its own, over HTTPS:
//! server.serve_tls("0.0.0.0:5001".parse()?, "certs/tls.crt", "certs/tls.key").await?;
//! # Ok(()) }
//! ```
//!
//! The server runs on Tokio and needs its timer (backend and request
//! timeouts): a runtime built with `enable_all()` or `#[tokio::main]`.
//!
//! # Safe by default
//! - Nothing is allowed unless the authorizer says so; the token carries
//!   the intersection of what was asked and what was allowed.
//! - Anonymous clients get 401 unless [`AuthServerBuilder::allow_anonymous`].
//! - `account` is checked against the credentials, never trusted.
//! - A backend that fails gives 503, never a token.
//! - Passwords and tokens never appear in `Debug` output, logs or errors.

#![doc(html_no_source)]

mod acl;
mod authn;
mod authz;
mod bounded;
mod cache;
mod core;
mod error;
mod http;
mod limits;
mod password;
pub mod refresh;
mod request;
mod scope;
pub mod serve;
mod server;
mod throttle;
pub mod token;
mod users;

pub use async_trait::async_trait;

#[doc(inline)]
pub use crate::acl::{Acl, AclDecision, AclError, AclRuleSpec, MatchSpec, OneOrMany};

#[doc(inline)]
pub use crate::authn::{
    AnonymousOnly, Authenticator, AuthnError, BoxError, FnAuthenticator, Identity, authenticator_fn,
};
#[doc(inline)]
pub use crate::authz::{
    AccessRequest, AllowAll, Authorizer, AuthzError, FnAuthorizer, authorizer_fn,
};
#[doc(inline)]
pub use crate::core::TokenResponse;
#[doc(inline)]
pub use crate::error::Error;
#[doc(inline)]
pub use crate::limits::Limits;
#[doc(inline)]
pub use crate::password::{PasswordHash, PasswordHashError};
#[doc(inline)]
pub use crate::refresh::{MemoryRefreshStore, RefreshTokenStore};
#[doc(inline)]
pub use crate::request::{Credentials, Secret, TokenRequest};
#[doc(inline)]
pub use crate::scope::{MAX_NAME_LEN, Scope, ScopeError, WILDCARD, merge, parse_scopes};
#[doc(inline)]
pub use crate::serve::shutdown_signal;
#[doc(inline)]
pub use crate::server::{
    AuthServer, AuthServerBuilder, BuildError, DEFAULT_REFRESH_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME,
};
#[doc(inline)]
pub use crate::throttle::Throttling;
#[doc(inline)]
pub use crate::token::{Algorithm, KeyIdMode, SigningKey, Token, TokenGenerator};
#[doc(inline)]
pub use crate::users::{HtpasswdError, StaticUsers};

/// Whether `text` is an address or CIDR block as the ACL's `ip` condition
/// and [`AuthServerBuilder::trusted_proxies`] take them.
pub fn is_address_or_cidr(text: &str) -> bool {
    acl::Cidr::parse(text).is_ok()
}

/// The README's code, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
