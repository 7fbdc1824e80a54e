//! [`AuthServer`] and its builder.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::acl::Cidr;
use crate::authn::Authenticator;
use crate::authz::Authorizer;
use crate::cache::CredentialCache;
use crate::core::{Core, Refresh, Services, TokenResponse};
use crate::error::Error;
use crate::limits::Limits;
use crate::refresh::{MemoryRefreshStore, RefreshTokenStore, StoreError, TokenHash};
use crate::request::TokenRequest;
use crate::throttle::{Throttle, Throttling};
use crate::token::{
    self, CertificateError, Clock, JwtGenerator, KeyError, KeyIdMode, SigningKey, SystemClock,
    TokenGenerator,
};

/// The shortest token lifetime: clients treat anything shorter as 60 s
/// anyway, and the registry allows 60 s of clock skew.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// How long refresh tokens work unless set otherwise: 30 days.
pub const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A token server: the protocol core plus its HTTP face.
///
/// Cheap to clone (an `Arc` inside). Get one from [`AuthServer::builder`];
/// use it as an axum `Router` ([`AuthServer::router`]), as a tower `Service`
/// (it is one), or serve it on its own ([`AuthServer::serve`],
/// [`AuthServer::serve_tls`]). Frameworks other than axum can call
/// [`AuthServer::issue`] with a [`TokenRequest`] they parsed.
#[derive(Clone)]
pub struct AuthServer {
    pub(crate) core: Arc<Core>,
    pub(crate) router: axum::Router,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("realm", &self.core.realm)
            .field("anonymous", &self.core.anonymous)
            .finish_non_exhaustive()
    }
}

impl AuthServer {
    /// Starts building a server.
    pub fn builder() -> AuthServerBuilder {
        AuthServerBuilder::default()
    }

    /// Runs one token request through authentication, authorization and
    /// signing.
    pub async fn issue(&self, request: TokenRequest) -> Result<TokenResponse, Error> {
        self.core.issue(request).await
    }

    /// Forgets every credential the verified-credential cache holds (call
    /// it when users or passwords change under a running server).
    pub fn clear_credential_cache(&self) {
        self.core.clear_credential_cache();
    }

    /// The request and connection limits in force.
    pub fn limits(&self) -> &Limits {
        &self.core.limits
    }

    /// Revokes one refresh token; whether it existed. Tokens are bearer
    /// secrets: take them from the user who wants theirs revoked.
    pub async fn revoke_refresh_token(&self, token: &str) -> Result<bool, StoreError> {
        match &self.core.refresh {
            Some(refresh) => refresh.store.revoke(&TokenHash::of(token)).await,
            None => Ok(false),
        }
    }

    /// Revokes every refresh token of a subject; how many there were.
    pub async fn revoke_refresh_tokens_of(&self, subject: &str) -> Result<usize, StoreError> {
        match &self.core.refresh {
            Some(refresh) => refresh.store.revoke_subject(subject).await,
            None => Ok(0),
        }
    }

    /// The JWKS document of the signing key(s), if the token generator has
    /// one: what a v3 registry's `auth.token.jwks` file should hold.
    pub fn jwks(&self) -> Option<serde_json::Value> {
        self.core.generator.jwks()
    }
}

/// Why [`AuthServerBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The signing key could not be loaded.
    #[error("signing key: {0}")]
    Key(#[from] KeyError),
    /// The certificate could not be loaded or does not match the key.
    #[error("certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// A required setting is missing.
    #[error("{0}")]
    Missing(&'static str),
    /// A setting has a value that cannot work.
    #[error("{0}")]
    Invalid(String),
}

/// Builds an [`AuthServer`]. Every setter documents its default; the
/// required ones are the authenticator, the authorizer, the signing key (or
/// a token generator), the issuer, and the services.
///
/// Errors (an unreadable key file, say) are kept and reported by
/// [`build`](AuthServerBuilder::build), so the setters chain.
#[must_use]
pub struct AuthServerBuilder {
    authenticator: Option<Arc<dyn Authenticator>>,
    authorizer: Option<Arc<dyn Authorizer>>,
    generator: Option<Arc<dyn TokenGenerator>>,
    key: Option<SigningKey>,
    chain: Vec<Vec<u8>>,
    key_id: KeyIdMode,
    issuer: Option<String>,
    lifetime: Duration,
    services: Option<Services>,
    anonymous: bool,
    realm: String,
    clock: Arc<dyn Clock>,
    refresh_tokens: bool,
    refresh_lifetime: Duration,
    refresh_store: Option<Arc<dyn RefreshTokenStore>>,
    throttling: Option<Throttling>,
    credential_cache: Option<Duration>,
    limits: Limits,
    trusted_proxies: Vec<String>,
    error: Option<BuildError>,
}

impl std::fmt::Debug for AuthServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServerBuilder")
            .field("issuer", &self.issuer)
            .field("lifetime", &self.lifetime)
            .field("services", &self.services)
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

impl Default for AuthServerBuilder {
    fn default() -> Self {
        AuthServerBuilder {
            authenticator: None,
            authorizer: None,
            generator: None,
            key: None,
            chain: Vec::new(),
            key_id: KeyIdMode::default(),
            issuer: None,
            lifetime: Duration::from_secs(300),
            services: None,
            anonymous: false,
            realm: "registry-auth".into(),
            clock: Arc::new(SystemClock),
            refresh_tokens: true,
            refresh_lifetime: DEFAULT_REFRESH_TOKEN_LIFETIME,
            refresh_store: None,
            throttling: Some(Throttling::default()),
            credential_cache: None,
            limits: Limits::default(),
            trusted_proxies: Vec::new(),
            error: None,
        }
    }
}

impl AuthServerBuilder {
    fn fail(mut self, error: BuildError) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Who checks credentials. Required.
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }

    /// Who decides access. Required.
    pub fn authorizer(mut self, authorizer: impl Authorizer) -> Self {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }

    /// A custom token generator, instead of the built-in JWT signer. When
    /// set, the signing key, certificate, key-id mode, issuer and lifetime
    /// settings are the generator's business and must not be set here.
    pub fn token_generator(mut self, generator: impl TokenGenerator) -> Self {
        self.generator = Some(Arc::new(generator));
        self
    }

    /// The signing key.
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Reads the signing key from a PEM file (PKCS#8, PKCS#1 or SEC1).
    pub fn signing_key_pem_file(self, path: impl AsRef<Path>) -> Self {
        match SigningKey::from_pem_file(path) {
            Ok(key) => self.signing_key(key),
            Err(e) => self.fail(e.into()),
        }
    }

    /// Parses the signing key from PEM text.
    pub fn signing_key_pem(self, pem: &[u8]) -> Self {
        match SigningKey::from_pem(pem) {
            Ok(key) => self.signing_key(key),
            Err(e) => self.fail(e.into()),
        }
    }

    /// Reads the certificate chain of the signing key from a PEM file (leaf
    /// first). Optional; when given, tokens carry it as `x5c`, which both
    /// registry 2.8 and v3 accept when the certificate is in their
    /// `rootcertbundle`. Defaults to none (tokens carry only `kid`).
    pub fn certificate_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        match token::read_chain_file(path.as_ref()) {
            Ok(chain) => {
                self.chain = chain;
                self
            }
            Err(e) => self.fail(e.into()),
        }
    }

    /// Parses the certificate chain from PEM text; see
    /// [`certificate_pem_file`](Self::certificate_pem_file).
    pub fn certificate_pem(mut self, pem: &[u8]) -> Self {
        match token::parse_chain(pem) {
            Ok(chain) => {
                self.chain = chain;
                self
            }
            Err(e) => self.fail(e.into()),
        }
    }

    /// How the `kid` header is computed. Defaults to
    /// [`KeyIdMode::Libtrust`].
    pub fn key_id(mut self, mode: KeyIdMode) -> Self {
        self.key_id = mode;
        self
    }

    /// The token issuer (`iss`); must equal the registry's
    /// `auth.token.issuer`. Required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// How long tokens are valid. Defaults to 5 minutes; at least 60 s.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Adds a service (audience) that tokens are issued for; requests naming
    /// another get 400. A request naming none gets the only service when
    /// exactly one is configured. Required, unless
    /// [`accept_any_service`](Self::accept_any_service).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        match &mut self.services {
            Some(Services::Only(list)) => list.push(service.into()),
            _ => self.services = Some(Services::Only(vec![service.into()])),
        }
        self
    }

    /// Issues tokens for whatever service a request names. Only sensible
    /// when a single registry trusts this signing key.
    pub fn accept_any_service(mut self) -> Self {
        self.services = Some(Services::Any);
        self
    }

    /// Lets clients without credentials through as the anonymous identity
    /// (subject `""`), for the authorizer to decide on. Defaults to off:
    /// anonymous clients get 401.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.anonymous = allow;
        self
    }

    /// The realm in `WWW-Authenticate: Basic realm="…"` on 401 answers.
    /// Defaults to `registry-auth`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Whether clients that ask for offline access (`docker login`'s
    /// `offline_token=true`, OAuth `access_type=offline`) get a refresh
    /// token, and refresh grants are honoured. Defaults to on; off, the
    /// refresh grant answers `unsupported_grant_type`.
    pub fn refresh_tokens(mut self, enabled: bool) -> Self {
        self.refresh_tokens = enabled;
        self
    }

    /// How long a refresh token works. Defaults to 30 days.
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_lifetime = lifetime;
        self
    }

    /// Where refresh tokens are kept. Defaults to a new
    /// [`MemoryRefreshStore`] (lost on restart, not shared); pass an
    /// `Arc` of your store to share it between servers (or between the
    /// servers a configuration reload builds).
    pub fn refresh_token_store(mut self, store: impl RefreshTokenStore) -> Self {
        self.refresh_store = Some(Arc::new(store));
        self
    }

    /// Failed-login throttling (see [`Throttling`]); `None` turns it off.
    /// Defaults to `Some(Throttling::default())`: back-off within the first
    /// ten failures of one account from one address.
    pub fn throttling(mut self, throttling: Option<Throttling>) -> Self {
        self.throttling = throttling;
        self
    }

    /// Keeps credentials that checked out for `ttl`, so a client asking for
    /// token after token costs one password hash, not one each (see the
    /// `cache` notes in the README). Defaults to off: an application whose
    /// users change must then call
    /// [`AuthServer::clear_credential_cache`] when they do.
    pub fn credential_cache(mut self, ttl: Duration) -> Self {
        self.credential_cache = (!ttl.is_zero()).then_some(ttl);
        self
    }

    /// Request and connection limits. Defaults to [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` header is
    /// believed: the client address is then the rightmost address in it
    /// that is not a trusted proxy. Defaults to none: the peer address is
    /// the client's, and the header is ignored (anyone can send it).
    pub fn trusted_proxies<I, S>(mut self, proxies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_proxies = proxies.into_iter().map(Into::into).collect();
        self
    }

    /// The clock tokens are dated by. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and makes the server.
    pub fn build(self) -> Result<AuthServer, BuildError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let authenticator = self.authenticator.ok_or(BuildError::Missing(
            "no authenticator: call .authenticator(...) (AnonymousOnly accepts no credentials)",
        ))?;
        let authorizer = self.authorizer.ok_or(BuildError::Missing(
            "no authorizer: call .authorizer(...) (AllowAll grants every request, by name only)",
        ))?;
        let services = self.services.ok_or(BuildError::Missing(
            "no service: call .service(\"registry.example.com\") with the registry's auth.token.service (or .accept_any_service())",
        ))?;
        if self.realm.contains('"') || self.realm.chars().any(char::is_control) {
            return Err(BuildError::Invalid(
                "realm must not contain quotes or control characters".into(),
            ));
        }
        let generator: Arc<dyn TokenGenerator> = match (self.generator, self.key) {
            (Some(_), Some(_)) => {
                return Err(BuildError::Invalid(
                    "both a token generator and a signing key are set; the key is the generator's business".into(),
                ));
            }
            (Some(generator), None) => generator,
            (None, None) => {
                return Err(BuildError::Missing(
                    "no signing key: call .signing_key_pem_file(...) (or .token_generator(...))",
                ));
            }
            (None, Some(key)) => {
                let issuer = self.issuer.ok_or(BuildError::Missing(
                    "no issuer: call .issuer(...) with the registry's auth.token.issuer",
                ))?;
                if issuer.is_empty() {
                    return Err(BuildError::Invalid("issuer must not be empty".into()));
                }
                if self.lifetime < MIN_TOKEN_LIFETIME {
                    return Err(BuildError::Invalid(format!(
                        "token lifetime {:?} is shorter than the minimum of 60s",
                        self.lifetime
                    )));
                }
                if !self.chain.is_empty() {
                    token::check_leaf_matches(&self.chain, key.public_key_der())?;
                }
                Arc::new(JwtGenerator::new(
                    key,
                    self.chain,
                    self.key_id,
                    issuer,
                    self.lifetime,
                    self.clock.clone(),
                ))
            }
        };
        if self.refresh_tokens && self.refresh_lifetime < MIN_TOKEN_LIFETIME {
            return Err(BuildError::Invalid(format!(
                "refresh token lifetime {:?} is shorter than the minimum of 60s",
                self.refresh_lifetime
            )));
        }
        let refresh = self.refresh_tokens.then(|| Refresh {
            store: self
                .refresh_store
                .unwrap_or_else(|| Arc::new(MemoryRefreshStore::new())),
            lifetime: self.refresh_lifetime,
        });
        let proxies = self
            .trusted_proxies
            .iter()
            .map(|p| {
                Cidr::parse(p).map_err(|_| {
                    BuildError::Invalid(format!(
                        "trusted proxy {p:?} is not an address or CIDR block"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cache = match self.credential_cache {
            Some(ttl) => Some(CredentialCache::new(ttl).ok_or_else(|| {
                BuildError::Invalid("no random numbers for the credential cache key".into())
            })?),
            None => None,
        };
        let core = Arc::new(Core {
            authenticator,
            authorizer,
            generator,
            services,
            anonymous: self.anonymous,
            realm: self.realm,
            refresh,
            clock: self.clock,
            rng: aws_lc_rs::rand::SystemRandom::new(),
            throttle: self.throttling.map(Throttle::new),
            cache,
            limits: self.limits,
        });
        let router = crate::http::router(core.clone(), proxies);
        Ok(AuthServer { core, router })
    }
}
