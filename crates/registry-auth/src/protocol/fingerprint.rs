//! [`CredentialFingerprint`]: what an identity source says a user's
//! credentials are now, so that tokens issued under other credentials can
//! be told apart.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};
use data_encoding::HEXLOWER;

/// A fingerprint of one user's credentials (a digest of the password hash
/// and anything else that, changed, must end the user's tokens). Only
/// compared, never reversed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialFingerprint([u8; 32]);

impl CredentialFingerprint {
    /// The fingerprint of these parts (SHA-256 over each part's length
    /// and bytes, so that parts cannot run into each other).
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut buffer = Vec::new();
        for part in parts {
            buffer.extend_from_slice(&(part.len() as u64).to_be_bytes());
            buffer.extend_from_slice(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, &buffer).as_ref());
        CredentialFingerprint(out)
    }

    /// In hex, as the SQL store keeps it.
    pub fn to_hex(&self) -> String {
        HEXLOWER.encode(&self.0)
    }

    /// From [`to_hex`](Self::to_hex)'s form.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = HEXLOWER.decode(hex.as_bytes()).ok()?;
        Some(CredentialFingerprint(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for CredentialFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialFingerprint(..)")
    }
}
