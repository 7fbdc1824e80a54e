//! Hardening: request and connection limits, failed-login throttling and
//! the verified-credential cache.
//!
//! Layer 1: may use the protocol's words; the core consults it before it
//! calls a backend. In memory, per process.

pub(crate) mod cache;
pub(crate) mod limits;
pub(crate) mod throttle;
