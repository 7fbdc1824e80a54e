//! The default token generator: the JWT of the distribution token spec.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use serde::Serialize;
use serde_json::json;

use super::certificate::encode_pem;
use super::{
    Algorithm, Clock, KeyIdMode, PublishedKey, SigningKey, SystemClock, Token, TokenGenerator,
};
use crate::protocol::authz::AccessRequest;
use crate::protocol::backend::BackendError;
use crate::protocol::identity::Identity;
use crate::protocol::scope::Scope;
use crate::setting::{BuildError, DAY, MINUTE, within};

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
    chain: Vec<Vec<u8>>,
    key_id_mode: KeyIdMode,
    published: Vec<PublishedKey>,
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
    /// Starts building a generator. Required: the signing key and the
    /// issuer.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use registry_auth::token::{JwtGenerator, KeyIdMode};
    ///
    /// let generator = JwtGenerator::builder()
    ///     .signing_key_pem_file("certs/token.key")
    ///     .certificate_pem_file("certs/token.crt")
    ///     .key_id(KeyIdMode::Thumbprint)
    ///     .issuer("registry-auth")
    ///     .token_lifetime(Duration::from_secs(300))
    ///     .build()?;
    /// println!("kid {}", generator.key_id());
    /// # Ok::<(), registry_auth::BuildError>(())
    /// ```
    pub fn builder() -> JwtGeneratorBuilder {
        JwtGeneratorBuilder::default()
    }

    /// A generator whose settings [`JwtGeneratorBuilder::build`] checked:
    /// the chain matches the key, the issuer is set, the lifetime is long
    /// enough.
    fn new(
        key: SigningKey,
        chain: Vec<Vec<u8>>,
        key_id: KeyIdMode,
        published: Vec<PublishedKey>,
        issuer: String,
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
            chain,
            key_id_mode: key_id,
            published,
            issuer,
            lifetime,
            clock,
            rng: SystemRandom::new(),
        }
    }

    /// The `kid` tokens carry.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// The signing certificate chain (DER, leaf first) tokens carry as
    /// `x5c`; empty when none was given.
    pub fn certificate_chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The keys published beside the signing key (in the JWKS and the
    /// registry bundle), without signing.
    pub fn published_keys(&self) -> &[PublishedKey] {
        &self.published
    }

    /// What a registry's `rootcertbundle` should hold to trust every key
    /// of this generator: the signing certificate chain's last certificate
    /// (the leaf when self-signed, else the top of the chain given) and the
    /// certificate of each published key that came from one, as PEM.
    /// Empty when no certificate was given.
    pub fn trust_bundle_pem(&self) -> String {
        self.chain
            .last()
            .map(|der| der.as_slice())
            .into_iter()
            .chain(
                self.published
                    .iter()
                    .filter_map(PublishedKey::certificate_der),
            )
            .map(|der| encode_pem("CERTIFICATE", der))
            .collect()
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The issuer tokens carry (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How long tokens are valid.
    pub fn token_lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Signs claims for `subject` on `audience`, at `now`.
    fn sign(
        &self,
        subject: &str,
        audience: &str,
        access: &[Scope],
        now: SystemTime,
    ) -> Result<String, BackendError> {
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|_| BackendError::new("random number generator failed"))?;
        let jti = BASE64URL_NOPAD.encode(&jti);
        let claims = Claims {
            iss: &self.issuer,
            sub: subject,
            aud: audience,
            exp: iat.saturating_add(self.lifetime.as_secs()),
            nbf: iat,
            iat,
            jti: &jti,
            access,
        };
        let claims = serde_json::to_vec(&claims).map_err(BackendError::new)?;
        let mut token =
            String::with_capacity(self.encoded_header.len() + claims.len() * 4 / 3 + 400);
        token.push_str(&self.encoded_header);
        token.push('.');
        BASE64URL_NOPAD.encode_append(&claims, &mut token);
        let signature = self
            .key
            .sign(token.as_bytes())
            .map_err(|_| BackendError::new("signing failed"))?;
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
    ) -> Result<Token, BackendError> {
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
        let mut keys = vec![self.key.public_jwk(&self.kid)];
        for key in &self.published {
            keys.push(key.public_jwk(&key.key_id(self.key_id_mode)));
        }
        Some(json!({ "keys": keys }))
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

/// Builds a [`JwtGenerator`]; see [`JwtGenerator::builder`]. Every setter
/// documents its default. Errors (an unreadable key file, say) are kept
/// and reported by [`build`](JwtGeneratorBuilder::build), so the setters
/// chain.
#[must_use]
pub struct JwtGeneratorBuilder {
    key: Option<SigningKey>,
    chain: Vec<Vec<u8>>,
    published: Vec<PublishedKey>,
    /// The files the key, the chain and each published key came from,
    /// where they came from one: errors name them.
    key_file: Option<String>,
    chain_file: Option<String>,
    published_files: Vec<Option<String>>,
    key_id: KeyIdMode,
    algorithm: Option<Algorithm>,
    issuer: Option<String>,
    lifetime: Duration,
    clock: Arc<dyn Clock>,
    error: Option<BuildError>,
}

impl Default for JwtGeneratorBuilder {
    fn default() -> Self {
        JwtGeneratorBuilder {
            key: None,
            chain: Vec::new(),
            published: Vec::new(),
            key_file: None,
            chain_file: None,
            published_files: Vec::new(),
            key_id: KeyIdMode::default(),
            algorithm: None,
            issuer: None,
            lifetime: JwtGeneratorBuilder::DEFAULT_TOKEN_LIFETIME,
            clock: Arc::new(SystemClock),
            error: None,
        }
    }
}

impl fmt::Debug for JwtGeneratorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtGeneratorBuilder")
            .field("key", &self.key)
            .field("key_id", &self.key_id)
            .field("issuer", &self.issuer)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl JwtGeneratorBuilder {
    /// How long tokens are valid unless set otherwise: 5 minutes.
    pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

    fn fail(mut self, error: BuildError) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// The signing key. Required.
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.key = Some(key);
        self.key_file = None;
        self
    }

    /// Reads the signing key from a PEM file (PKCS#8, PKCS#1 or SEC1).
    pub fn signing_key_pem_file(self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        match SigningKey::from_pem_file(path) {
            Ok(key) => {
                let mut builder = self.signing_key(key);
                builder.key_file = Some(path.display().to_string());
                builder
            }
            Err(e) => self.fail(BuildError::invalid("signing_key", e.to_string())),
        }
    }

    /// Parses the signing key from PEM text.
    pub fn signing_key_pem(self, pem: &[u8]) -> Self {
        match SigningKey::from_pem(pem) {
            Ok(key) => self.signing_key(key),
            Err(e) => self.fail(BuildError::invalid("signing_key", e.to_string())),
        }
    }

    /// Reads the certificate chain of the signing key from a PEM file (leaf
    /// first). When given, tokens carry it as `x5c`, which both registry
    /// 2.8 and v3 accept when the certificate is in their `rootcertbundle`.
    /// Defaults to none (tokens carry only `kid`).
    pub fn certificate_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        match super::read_chain_file(path.as_ref()) {
            Ok(chain) => {
                self.chain = chain;
                self.chain_file = Some(path.as_ref().display().to_string());
                self
            }
            Err(e) => self.fail(BuildError::invalid("certificate", e.to_string())),
        }
    }

    /// Parses the certificate chain from PEM text; see
    /// [`certificate_pem_file`](Self::certificate_pem_file).
    pub fn certificate_pem(mut self, pem: &[u8]) -> Self {
        match super::parse_chain(pem) {
            Ok(chain) => {
                self.chain = chain;
                self.chain_file = None;
                self
            }
            Err(e) => self.fail(BuildError::invalid("certificate", e.to_string())),
        }
    }

    /// Publishes a key without signing with it: the next key of a
    /// rotation, before it signs (registries read their trusted keys only
    /// at start), or the previous one, until the tokens it signed expire.
    /// It goes into the JWKS and [`JwtGenerator::trust_bundle_pem`].
    /// Defaults to none.
    pub fn published_key(mut self, key: PublishedKey) -> Self {
        self.published.push(key);
        self.published_files.push(None);
        self
    }

    /// Reads a key to publish from a PEM certificate or public key; see
    /// [`published_key`](Self::published_key). A private key is refused.
    pub fn published_key_pem_file(self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        match PublishedKey::from_pem_file(path) {
            Ok(key) => {
                let mut builder = self.published_key(key);
                if let Some(file) = builder.published_files.last_mut() {
                    *file = Some(path.display().to_string());
                }
                builder
            }
            Err(e) => self.fail(BuildError::invalid(
                "published_keys",
                format!("{}: {e}", path.display()),
            )),
        }
    }

    /// How the `kid` header is computed. Defaults to
    /// [`KeyIdMode::Libtrust`].
    pub fn key_id(mut self, mode: KeyIdMode) -> Self {
        self.key_id = mode;
        self
    }

    /// The signing algorithm; it must fit the key (RS256, RS384 or RS512
    /// for an RSA key; an EC or Ed25519 key has exactly one). Defaults to
    /// the key's own (RS256 for RSA).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The token issuer (`iss`); must equal the registry's
    /// `auth.token.issuer`. Required, not empty.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// How long tokens are valid. Defaults to 5 minutes; 60 s to 24 hours.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The clock tokens are dated by. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Whether any setting of the generator itself was given (the clock
    /// aside): the server builder refuses them next to a custom generator.
    pub(crate) fn is_touched(&self) -> bool {
        self.key.is_some()
            || self.error.is_some()
            || !self.chain.is_empty()
            || !self.published.is_empty()
            || self.key_id != KeyIdMode::default()
            || self.algorithm.is_some()
            || self.issuer.is_some()
            || self.lifetime != JwtGeneratorBuilder::DEFAULT_TOKEN_LIFETIME
    }

    /// Checks every value that was set, without building: what
    /// [`build`](Self::build) refuses, except that the signing key and the
    /// issuer may still be missing (the algorithm and certificate are
    /// checked against the key once there is one). For tools that check a
    /// configuration.
    pub fn validate(&self) -> Result<(), BuildError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.issuer.as_deref() == Some("") {
            return Err(BuildError::invalid("issuer", "must not be empty"));
        }
        within("token_lifetime", self.lifetime, MINUTE, DAY)?;
        let Some(key) = &self.key else {
            return Ok(());
        };
        if let Some(alg) = self.algorithm.filter(|alg| !key.fits(*alg)) {
            return Err(BuildError::invalid(
                "algorithm",
                format!(
                    "{alg} does not fit the signing key, whose algorithm is {}",
                    key.algorithm()
                ),
            ));
        }
        if !self.chain.is_empty() {
            super::check_leaf_matches(&self.chain, key.public_key_der()).map_err(|e| {
                let message = match (&self.chain_file, &self.key_file) {
                    (Some(chain), Some(key)) => format!("{chain}: {e} ({key})"),
                    (Some(chain), None) => format!("{chain}: {e}"),
                    (None, _) => e.to_string(),
                };
                BuildError::invalid("certificate", message)
            })?;
        }
        // Two entries for one key would give a registry two answers for a
        // kid (and say the operator listed a file twice).
        let mut seen = vec![key.public_key_der()];
        for (n, published) in self.published.iter().enumerate() {
            if seen.contains(&published.public_key_der()) {
                let which = match self.published_files.get(n).cloned().flatten() {
                    Some(file) => file,
                    None => format!("key {}", n + 1),
                };
                return Err(BuildError::invalid(
                    "published_keys",
                    format!(
                        "{which} ({}) is the signing key or listed twice",
                        published.key_id(self.key_id)
                    ),
                ));
            }
            seen.push(published.public_key_der());
        }
        Ok(())
    }

    /// Checks the settings and makes the generator.
    pub fn build(self) -> Result<JwtGenerator, BuildError> {
        self.validate()?;
        let key = self.key.ok_or_else(|| {
            BuildError::missing(
                "signing_key",
                "call .signing_key_pem_file(...) (or .token_generator(...))",
            )
        })?;
        let issuer = self.issuer.ok_or_else(|| {
            BuildError::missing(
                "issuer",
                "call .issuer(...) with the registry's auth.token.issuer",
            )
        })?;
        let key = match self.algorithm {
            // validate() checked that it fits.
            Some(alg) => key
                .with_algorithm(alg)
                .map_err(|e| BuildError::invalid("algorithm", e.to_string()))?,
            None => key,
        };
        Ok(JwtGenerator::new(
            key,
            self.chain,
            self.key_id,
            self.published,
            issuer,
            self.lifetime,
            self.clock,
        ))
    }
}
