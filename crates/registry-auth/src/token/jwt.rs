//! The default token generator: the JWT of the distribution token spec.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use serde::Serialize;
use serde_json::json;

use super::{Clock, KeyIdMode, SigningKey, Token, TokenError, TokenGenerator};
use crate::authn::Identity;
use crate::authz::AccessRequest;
use crate::scope::Scope;

/// Signs registry tokens with a [`SigningKey`].
///
/// The header carries `typ`, `alg` (from the key), `kid` (per
/// [`KeyIdMode`]) and, when a certificate chain was given, `x5c`. The claims
/// are `iss`, `sub`, `aud` (a string: registry 2.8 rejects an array), `exp`,
/// `nbf`, `iat` (integer seconds), a random 128-bit `jti` and `access`.
///
/// The header is encoded once, when the generator is made, and the key is
/// parsed once: a token costs one signature plus a small JSON body.
/// (`jsonwebtoken::encode` re-parses the private key on every call, which
/// is why this generator signs with `aws-lc-rs` directly.)
pub struct JwtGenerator {
    key: SigningKey,
    kid: String,
    issuer: String,
    lifetime: Duration,
    clock: Arc<dyn Clock>,
    encoded_header: String,
    rng: SystemRandom,
}

impl fmt::Debug for JwtGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtGenerator")
            .field("alg", &self.key.algorithm())
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: &'a str,
    access: &'a [Scope],
}

impl JwtGenerator {
    /// A generator; `chain` is the DER certificate chain (leaf first) to
    /// send as `x5c`, or empty for none. The chain is expected to match the
    /// key (the server builder checks it).
    pub fn new(
        key: SigningKey,
        chain: Vec<Vec<u8>>,
        key_id: KeyIdMode,
        issuer: impl Into<String>,
        lifetime: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let kid = match key_id {
            KeyIdMode::Libtrust => key.libtrust_key_id(),
            KeyIdMode::Thumbprint => key.jwk_thumbprint(),
        };
        let mut header = serde_json::Map::new();
        header.insert("typ".into(), json!("JWT"));
        header.insert("alg".into(), json!(key.algorithm().as_str()));
        header.insert("kid".into(), json!(kid));
        if !chain.is_empty() {
            // x5c holds standard (not URL-safe) base64 DER, leaf first.
            let x5c: Vec<String> = chain.iter().map(|der| BASE64.encode(der)).collect();
            header.insert("x5c".into(), json!(x5c));
        }
        let header = serde_json::Value::Object(header).to_string();
        JwtGenerator {
            encoded_header: BASE64URL_NOPAD.encode(header.as_bytes()),
            key,
            kid,
            issuer: issuer.into(),
            lifetime,
            clock,
            rng: SystemRandom::new(),
        }
    }

    /// The `kid` tokens carry.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs claims for `subject` on `audience`, at `now`.
    fn sign(
        &self,
        subject: &str,
        audience: &str,
        access: &[Scope],
        now: SystemTime,
    ) -> Result<String, TokenError> {
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|_| TokenError("random number generator failed".into()))?;
        let jti = BASE64URL_NOPAD.encode(&jti);
        let claims = Claims {
            iss: &self.issuer,
            sub: subject,
            aud: audience,
            exp: iat + self.lifetime.as_secs(),
            nbf: iat,
            iat,
            jti: &jti,
            access,
        };
        let claims = serde_json::to_vec(&claims).map_err(|e| TokenError(e.into()))?;
        let mut token =
            String::with_capacity(self.encoded_header.len() + claims.len() * 4 / 3 + 400);
        token.push_str(&self.encoded_header);
        token.push('.');
        BASE64URL_NOPAD.encode_append(&claims, &mut token);
        let signature = self
            .key
            .sign(token.as_bytes())
            .map_err(|_| TokenError("signing failed".into()))?;
        token.push('.');
        BASE64URL_NOPAD.encode_append(&signature, &mut token);
        Ok(token)
    }
}

impl TokenGenerator for JwtGenerator {
    fn generate(
        &self,
        who: &Identity,
        granted: &[Scope],
        request: &AccessRequest,
    ) -> Result<Token, TokenError> {
        let now = self.clock.now();
        // Whole seconds, so that iat and issued_at agree.
        let now = UNIX_EPOCH
            + Duration::from_secs(now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
        let token = self.sign(who.subject(), &request.service, granted, now)?;
        Ok(Token {
            token,
            expires_in: self.lifetime,
            issued_at: now,
        })
    }

    fn jwks(&self) -> Option<serde_json::Value> {
        Some(json!({ "keys": [self.key.public_jwk(&self.kid)] }))
    }

    /// RSA (about 0.9 ms for 2048 bits) and the larger curves (0.14 ms
    /// for P-384) sign on the blocking pool; P-256 (28 µs) and Ed25519
    /// (18 µs) sign in place, where a thread hop would cost more than it
    /// saves.
    fn is_slow(&self) -> bool {
        !matches!(
            self.key.algorithm(),
            super::Algorithm::ES256 | super::Algorithm::EdDSA
        )
    }
}
