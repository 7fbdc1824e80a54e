//! Checking a token this server issued: what a registry does, minus the
//! access check (and what `registry-auth token verify` runs).

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

/// What [`verify`] checks besides the signature: the issuer, the audience
/// and the validity window.
///
/// ```
/// use std::time::Duration;
/// use registry_auth::token::Validation;
///
/// let validation = Validation::new("registry-auth")
///     .audience("registry.example.com")
///     .leeway(Duration::from_secs(30));
/// # let _ = validation;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    issuer: String,
    audiences: Option<Vec<String>>,
    leeway: Duration,
    now: Option<SystemTime>,
}

impl Validation {
    /// `iss` must equal `issuer`. Any audience is accepted, with the
    /// registry's 60 s of clock skew, at the current time, until set
    /// otherwise.
    pub fn new(issuer: impl Into<String>) -> Self {
        Validation {
            issuer: issuer.into(),
            audiences: None,
            leeway: Duration::from_secs(60),
            now: None,
        }
    }

    /// Adds an audience `aud` may be; once one is given, no other is
    /// accepted. Defaults to any.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences
            .get_or_insert_with(Vec::new)
            .push(audience.into());
        self
    }

    /// Adds several audiences; see [`audience`](Self::audience).
    pub fn audiences<I, S>(self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        audiences.into_iter().fold(self, Self::audience)
    }

    /// The clock skew allowed on `exp` and `nbf`. Defaults to 60 s, as the
    /// registry allows.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Checks the validity window at `now` instead of the current time.
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = Some(now);
        self
    }
}

/// Verifies a token against `key`: the header's `alg` first (it must be the
/// key's), then the signature, then what `validation` asks: `iss`, `aud`
/// and the validity window.
pub fn verify(
    token: &str,
    key: &SigningKey,
    validation: &Validation,
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
    if iss != validation.issuer {
        return Err(VerifyError::Issuer(iss.to_owned()));
    }
    let aud = claims["aud"].as_str().unwrap_or_default();
    if validation
        .audiences
        .as_ref()
        .is_some_and(|list| !list.iter().any(|s| s == aud))
    {
        return Err(VerifyError::Audience(aud.to_owned()));
    }
    let now = validation
        .now
        .unwrap_or_else(SystemTime::now)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let leeway = validation.leeway.as_secs();
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
