//! Hardening: request and connection limits, failed-login throttling, the
//! verified-credential cache and shared checks of the same credentials.
//!
//! Layer 1: may use the protocol's words; the core consults it before it
//! calls a backend. In memory, per process.

pub(crate) mod cache;
pub(crate) mod limits;
pub(crate) mod throttle;
