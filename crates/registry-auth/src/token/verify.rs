//! Checking a token this server issued: what `registry-auth token verify`
//! does, and what a registry does, minus the access check.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use data_encoding::BASE64URL_NOPAD;

use super::SigningKey;

/// A token whose signature and claims checked out.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct VerifiedToken {
    /// The JOSE header.
    pub header: serde_json::Value,
    /// The claims.
    pub claims: serde_json::Value,
}

/// Why a token did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a compact JWS with a JSON header and claims.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names another algorithm than the key's.
    #[error("token algorithm {found} does not match the key's {expected}")]
    Algorithm {
        /// The key's algorithm.
        expected: String,
        /// The header's.
        found: String,
    },
    /// The signature is not the key's.
    #[error("bad signature")]
    Signature,
    /// `iss` is not the expected issuer.
    #[error("issuer {0:?} is not the expected one")]
    Issuer(String),
    /// `aud` is not one of the expected services.
    #[error("audience {0:?} is not an accepted service")]
    Audience(String),
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not valid yet")]
    NotYetValid,
}

/// Decodes a compact JWS without checking anything: for display only.
pub fn decode_unverified(token: &str) -> Result<VerifiedToken, VerifyError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed("expected three dot-separated parts"));
    };
    let json = |part: &str| -> Result<serde_json::Value, VerifyError> {
        let bytes = BASE64URL_NOPAD
            .decode(part.as_bytes())
            .map_err(|_| VerifyError::Malformed("a part is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed("a part is not JSON"))
    };
    Ok(VerifiedToken {
        header: json(header)?,
        claims: json(claims)?,
    })
}

/// Verifies a token against `key`: the header's `alg` first (it must be the
/// key's), then the signature, then `iss`, `aud` (when `services` is given)
/// and the validity window, allowing `leeway` of clock skew (the registry
/// allows 60 s).
pub fn verify_token(
    token: &str,
    key: &SigningKey,
    issuer: &str,
    services: Option<&[String]>,
    now: SystemTime,
    leeway: Duration,
) -> Result<VerifiedToken, VerifyError> {
    let decoded = decode_unverified(token)?;
    let alg = decoded.header["alg"].as_str().unwrap_or_default();
    if alg != key.algorithm().as_str() {
        return Err(VerifyError::Algorithm {
            expected: key.algorithm().to_string(),
            found: alg.to_owned(),
        });
    }
    let (signed, signature) = token
        .rsplit_once('.')
        .ok_or(VerifyError::Malformed("expected three dot-separated parts"))?;
    let signature = BASE64URL_NOPAD
        .decode(signature.as_bytes())
        .map_err(|_| VerifyError::Malformed("a part is not base64url"))?;
    if !key.verify(signed.as_bytes(), &signature) {
        return Err(VerifyError::Signature);
    }
    let claims = &decoded.claims;
    let iss = claims["iss"].as_str().unwrap_or_default();
    if iss != issuer {
        return Err(VerifyError::Issuer(iss.to_owned()));
    }
    let aud = claims["aud"].as_str().unwrap_or_default();
    if services.is_some_and(|list| !list.iter().any(|s| s == aud)) {
        return Err(VerifyError::Audience(aud.to_owned()));
    }
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let leeway = leeway.as_secs();
    if claims["exp"]
        .as_u64()
        .is_none_or(|exp| now > exp.saturating_add(leeway))
    {
        return Err(VerifyError::Expired);
    }
    if claims["nbf"]
        .as_u64()
        .is_some_and(|nbf| now.saturating_add(leeway) < nbf)
    {
        return Err(VerifyError::NotYetValid);
    }
    Ok(decoded)
}
