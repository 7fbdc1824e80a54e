//! Layer 3, the HTTP adapter (feature `axum`, on by default): an axum
//! router that parses requests into the core's [`TokenRequest`] and renders
//! its answers, and (feature `serve`) standalone serving over HTTP or
//! HTTPS with connection limits.
//!
//! May use everything below it; nothing below may use it. This is the only
//! part of the crate that knows axum, hyper or rustls.
//!
//! [`TokenRequest`]: crate::TokenRequest

#[cfg(feature = "serve")]
mod accept;
mod router;
#[cfg(feature = "serve")]
pub(crate) mod serve;
