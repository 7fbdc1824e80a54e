//! Layer 0, the words of the token protocol: scopes, credentials, requests,
//! identities, the errors and how they are written on the wire, and the
//! traits the core calls ([`Authenticator`](authn::Authenticator),
//! [`Authorizer`](authz::Authorizer)).
//!
//! May use: the standard library, serde, and nothing else of this crate.
//! Everything else builds on it: identity sources and access rules
//! implement its traits, the core decides with its types, adapters parse
//! into and render out of them. No I/O and no HTTP types here.

pub(crate) mod authn;
pub(crate) mod authz;
pub(crate) mod backend;
pub(crate) mod cidr;
pub(crate) mod credentials;
pub(crate) mod error;
pub(crate) mod fingerprint;
// Read by the HTTP adapter; an adapter for another framework would too.
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) mod forwarded;
pub(crate) mod identity;
pub(crate) mod request;
pub(crate) mod scope;
