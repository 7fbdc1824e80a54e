//! Tokens: the [`TokenGenerator`] trait, the default JWT generator and its
//! signing keys, and checking a token this server issued.
//!
//! Layer 1: may use the protocol's words ([`Identity`], [`Scope`],
//! [`AccessRequest`]); the core calls it through [`TokenGenerator`]. No
//! I/O beyond reading key and certificate files when asked to.

mod certificate;
mod jwt;
mod key;
mod key_id;
mod published;
mod verify;

use std::fmt;
use std::time::{Duration, SystemTime};

pub use certificate::{certificate_is_self_issued, certificate_validity};
pub(crate) use certificate::{check_leaf_matches, parse_chain, read_chain_file};
pub use jwt::{JwtGenerator, JwtGeneratorBuilder};
#[cfg(feature = "serve")]
pub(crate) use key::warn_if_readable_by_others;
pub use key::{Algorithm, KeyError, SigningKey};
pub use key_id::KeyIdMode;
pub use published::{PublishedKey, PublishedKeyError};
pub use verify::{Validation, VerifiedToken, VerifyError, decode_unverified, verify};

use crate::protocol::authz::AccessRequest;
use crate::protocol::backend::BackendError;
use crate::protocol::identity::Identity;
use crate::protocol::scope::Scope;

/// A signed token, ready to send.
#[derive(Clone)]
pub struct Token {
    /// The token itself (a compact JWS for the default generator).
    pub token: String,
    /// How long it is valid.
    pub expires_in: Duration,
    /// When it was issued.
    pub issued_at: SystemTime,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// Produces the token for a decision.
///
/// The default, [`JwtGenerator`], signs the JWT the registry verifies.
/// Replace it to add claims, sign with a key held elsewhere (HSM, KMS), or
/// issue tokens for a registry of your own. Signing is CPU work of tens of
/// microseconds to a millisecond, so this is a plain function. An error
/// answers the client 500 and is logged.
pub trait TokenGenerator: Send + Sync + 'static {
    /// Makes a token granting `granted` to `who` for `request.service`.
    fn generate(
        &self,
        who: &Identity,
        granted: &[Scope],
        request: &AccessRequest,
    ) -> Result<Token, BackendError>;

    /// The JWKS document (`{"keys": [...]}`) of the keys that verify this
    /// generator's tokens, served at `/.well-known/jwks.json`. `None` (the
    /// default) serves 404.
    fn jwks(&self) -> Option<serde_json::Value> {
        None
    }

    /// Whether [`generate`](Self::generate) takes long enough (say, more
    /// than 100 µs) that the server should call it on the blocking pool
    /// rather than on an async worker. Defaults to `false`.
    fn is_slow(&self) -> bool {
        false
    }
}

/// A source of the current time, so that tests can fix it.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now.
    fn now(&self) -> SystemTime;
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// The system clock. The default.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}
