//! [`AuthServerBuilder`]: every setting of a server, checked in one place.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::AuthServer;
use super::decide::{Core, Services};
use super::metrics::RequestMetrics;
use crate::guard::cache::CredentialCache;
use crate::guard::limits::Limits;
use crate::guard::throttle::{Throttle, Throttling};
use crate::protocol::authn::Authenticator;
use crate::protocol::authz::Authorizer;
use crate::protocol::cidr::Cidr;
use crate::setting::{BuildError, DAY, MINUTE, YEAR, at_most, within};
use crate::state::{MemoryStore, StateStore};
use crate::token::{
    Algorithm, Clock, JwtGeneratorBuilder, KeyIdMode, SigningKey, SystemClock, TokenGenerator,
};

/// Builds an [`AuthServer`]. Every setter documents its default; the
/// required ones are the authenticator, the authorizer, the signing key (or
/// a token generator), the issuer, and the services.
///
/// Every value is checked by [`build`](AuthServerBuilder::build) (and by
/// [`validate`](AuthServerBuilder::validate), which checks without
/// building): the error names the setting, as the setter or option field
/// that takes it. Errors found earlier (an unreadable key file, say) are
/// kept until then, so the setters chain.
#[must_use]
pub struct AuthServerBuilder {
    authenticator: Option<Arc<dyn Authenticator>>,
    authorizer: Option<Arc<dyn Authorizer>>,
    generator: Option<Arc<dyn TokenGenerator>>,
    jwt: JwtGeneratorBuilder,
    services: Option<Services>,
    anonymous: bool,
    realm: String,
    clock: Arc<dyn Clock>,
    refresh_tokens: bool,
    refresh_lifetime: Duration,
    state: Option<Arc<dyn StateStore>>,
    throttling: Throttling,
    credential_cache: Option<Duration>,
    limits: Limits,
    trusted_proxies: Vec<String>,
    client_address_required: bool,
}

impl std::fmt::Debug for AuthServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServerBuilder")
            .field("jwt", &self.jwt)
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
            jwt: JwtGeneratorBuilder::default(),
            services: None,
            anonymous: false,
            realm: AuthServerBuilder::DEFAULT_REALM.into(),
            clock: Arc::new(SystemClock),
            refresh_tokens: true,
            refresh_lifetime: AuthServerBuilder::DEFAULT_REFRESH_TOKEN_LIFETIME,
            state: None,
            throttling: Throttling::default(),
            credential_cache: None,
            limits: Limits::default(),
            trusted_proxies: Vec::new(),
            client_address_required: true,
        }
    }
}

/// The longest the throttle waits for the state store.
const THROTTLE_STORE_TIMEOUT: Duration = Duration::from_secs(2);

impl AuthServerBuilder {
    /// How long refresh tokens work unless set otherwise: 30 days.
    pub const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

    /// The realm of `WWW-Authenticate` unless set otherwise.
    pub const DEFAULT_REALM: &'static str = "registry-auth";

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

    /// A custom token generator (or a [`JwtGenerator`] built on its own),
    /// instead of the JWT signer the settings below make. When set, the
    /// signing key, certificate, key id, algorithm, issuer and lifetime are
    /// the generator's business and must not be set here.
    ///
    /// [`JwtGenerator`]: crate::token::JwtGenerator
    pub fn token_generator(mut self, generator: impl TokenGenerator) -> Self {
        self.generator = Some(Arc::new(generator));
        self
    }

    /// The signing key.
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.jwt = self.jwt.signing_key(key);
        self
    }

    /// Reads the signing key from a PEM file (PKCS#8, PKCS#1 or SEC1).
    pub fn signing_key_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.jwt = self.jwt.signing_key_pem_file(path);
        self
    }

    /// Parses the signing key from PEM text.
    pub fn signing_key_pem(mut self, pem: &[u8]) -> Self {
        self.jwt = self.jwt.signing_key_pem(pem);
        self
    }

    /// Reads the certificate chain of the signing key from a PEM file (leaf
    /// first). Optional; when given, tokens carry it as `x5c`, which both
    /// registry 2.8 and v3 accept when the certificate is in their
    /// `rootcertbundle`. Defaults to none (tokens carry only `kid`).
    pub fn certificate_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.jwt = self.jwt.certificate_pem_file(path);
        self
    }

    /// Parses the certificate chain from PEM text; see
    /// [`certificate_pem_file`](Self::certificate_pem_file).
    pub fn certificate_pem(mut self, pem: &[u8]) -> Self {
        self.jwt = self.jwt.certificate_pem(pem);
        self
    }

    /// How the `kid` header is computed. Defaults to
    /// [`KeyIdMode::Libtrust`].
    pub fn key_id(mut self, mode: KeyIdMode) -> Self {
        self.jwt = self.jwt.key_id(mode);
        self
    }

    /// The signing algorithm; it must fit the key. Defaults to the key's
    /// own (RS256 for RSA).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.jwt = self.jwt.algorithm(algorithm);
        self
    }

    /// The token issuer (`iss`); must equal the registry's
    /// `auth.token.issuer`. Required, not empty.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.jwt = self.jwt.issuer(issuer);
        self
    }

    /// How long tokens are valid. Defaults to 5 minutes; 60 s to 24 hours.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.jwt = self.jwt.token_lifetime(lifetime);
        self
    }

    /// Adds a service (audience) that tokens are issued for; requests naming
    /// another get 400. A request naming none gets the only service when
    /// exactly one is configured. Required (not empty), unless
    /// [`accept_any_service`](Self::accept_any_service).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        match &mut self.services {
            Some(Services::Only(list)) => list.push(service.into()),
            _ => self.services = Some(Services::Only(vec![service.into()])),
        }
        self
    }

    /// The services tokens are issued for, all at once; see
    /// [`service`](Self::service). An empty list is refused.
    pub fn services<I, S>(mut self, services: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.services = Some(Services::Only(
            services.into_iter().map(Into::into).collect(),
        ));
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

    /// The realm in `WWW-Authenticate: Basic realm="…"` on 401 answers of
    /// the HTTP adapter; no quotes or control characters. Defaults to
    /// `registry-auth`.
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

    /// How long a refresh token works. Defaults to 30 days; 60 s to a
    /// year.
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_lifetime = lifetime;
        self
    }

    /// Where refresh tokens, credential generations and failed-login
    /// counts are kept. Defaults to a new [`MemoryStore`] (lost on
    /// restart, not shared); pass a [`SqlStore`](crate::state) on SQLite
    /// to survive restarts, or on PostgreSQL to run several instances.
    /// Pass the same store (an `Arc`) to a server rebuilt on reload so the
    /// counts and tokens carry over.
    pub fn state_store(mut self, store: impl StateStore) -> Self {
        self.state = Some(Arc::new(store));
        self
    }

    /// Failed-login throttling (see [`Throttling`]; [`Throttling::off`]
    /// turns it off). Defaults to [`Throttling::default`]: back-off within
    /// the first ten failures of one account from one address.
    pub fn throttling(mut self, throttling: Throttling) -> Self {
        self.throttling = throttling;
        self
    }

    /// Keeps credentials that checked out for `ttl` (zero: off), so a
    /// client asking for token after token costs one password hash, not one
    /// each (see the `cache` notes in the README). Defaults to off: an
    /// application whose users change must then call
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

    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` header the
    /// HTTP adapter believes: the client address is then the rightmost
    /// address in it that is not a trusted proxy. Defaults to none: the
    /// peer address is the client's, and the header is ignored (anyone can
    /// send it).
    pub fn trusted_proxies<I, S>(mut self, proxies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_proxies = proxies.into_iter().map(Into::into).collect();
        self
    }

    /// Lets the router (`AuthServer::router`, feature `axum`) answer
    /// requests that come without the client's address (axum's
    /// `ConnectInfo<SocketAddr>`, which `into_make_service_with_connect_info`
    /// adds). Without one,
    /// failed logins are not throttled per address, ACL `ip` rules never
    /// match and the audit log has no `client_ip`; so by default such a
    /// request is refused with 500 and an error in the log that says how
    /// to serve the router. Call this only when no address exists (a
    /// Unix socket behind a proxy that adds none).
    pub fn without_client_address(mut self) -> Self {
        self.client_address_required = false;
        self
    }

    /// The clock refresh tokens, and the tokens of the built-in JWT
    /// signer, are dated by. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks every value that was set, without building: what
    /// [`build`](Self::build) refuses, except that required parts may still
    /// be missing (the authenticator, the authorizer, the signing key or
    /// token generator, the issuer, the services). For tools that check a
    /// configuration before the rest is at hand.
    pub fn validate(&self) -> Result<(), BuildError> {
        match &self.services {
            Some(Services::Only(list)) if list.is_empty() => {
                return Err(BuildError::invalid(
                    "services",
                    "must name at least one service (or accept any)",
                ));
            }
            Some(Services::Only(list)) if list.iter().any(String::is_empty) => {
                return Err(BuildError::invalid(
                    "services",
                    "a service must not be empty",
                ));
            }
            _ => {}
        }
        if self.realm.contains('"') || self.realm.chars().any(char::is_control) {
            return Err(BuildError::invalid(
                "realm",
                "must not contain quotes or control characters",
            ));
        }
        // Checked whether or not refresh tokens are on, so that turning
        // them on later cannot reveal a bad value.
        within(
            "refresh_token_lifetime",
            self.refresh_lifetime,
            MINUTE,
            YEAR,
        )?;
        if let Some(ttl) = self.credential_cache {
            // A cached password outlives its change by this much at most.
            at_most("credential_cache", ttl, DAY)?;
        }
        self.limits.validate()?;
        self.throttling.validate()?;
        self.parse_trusted_proxies()?;
        match &self.generator {
            None => self.jwt.validate(),
            Some(_) if self.jwt.is_touched() => Err(BuildError::invalid(
                "token_generator",
                "both a token generator and signing settings (key, certificate, key id, \
                 algorithm, issuer, lifetime) are set; those are the generator's business",
            )),
            Some(_) => Ok(()),
        }
    }

    fn parse_trusted_proxies(&self) -> Result<Vec<Cidr>, BuildError> {
        self.trusted_proxies
            .iter()
            .map(|p| Cidr::parse(p).map_err(|e| BuildError::invalid("trusted_proxies", e)))
            .collect()
    }

    /// Checks the settings and makes the server.
    pub fn build(self) -> Result<AuthServer, BuildError> {
        self.validate()?;
        let trusted_proxies = self.parse_trusted_proxies()?;
        let authenticator = self.authenticator.ok_or_else(|| {
            BuildError::missing(
                "authenticator",
                "call .authenticator(...) (AnonymousOnly accepts no credentials)",
            )
        })?;
        let authorizer = self.authorizer.ok_or_else(|| {
            BuildError::missing(
                "authorizer",
                "call .authorizer(...) (AllowAll grants every request, by name only)",
            )
        })?;
        let services = self.services.ok_or_else(|| {
            BuildError::missing(
                "services",
                "call .service(\"registry.example.com\") with the registry's \
                 auth.token.service (or .accept_any_service())",
            )
        })?;
        let generator: Arc<dyn TokenGenerator> = match self.generator {
            Some(generator) => generator,
            None => Arc::new(self.jwt.clock(Arc::clone(&self.clock)).build()?),
        };
        let state = self.state.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let refresh_lifetime = self.refresh_tokens.then_some(self.refresh_lifetime);
        let cache = CredentialCache::new(self.credential_cache).ok_or_else(|| {
            BuildError::invalid(
                "credential_cache",
                "no random numbers for the credential cache key",
            )
        })?;
        let throttle = self.throttling.enabled.then(|| {
            // A throttle read takes a millisecond; one that hangs (a
            // database that stopped answering without closing) should not
            // hold a login for the whole backend timeout before the
            // throttle falls back to memory.
            Throttle::new(
                self.throttling,
                Arc::clone(&state),
                self.limits.backend_timeout.min(THROTTLE_STORE_TIMEOUT),
            )
        });
        let core = Core {
            authenticator,
            authorizer,
            generator,
            services,
            anonymous: self.anonymous,
            refresh_lifetime,
            state,
            clock: self.clock,
            rng: aws_lc_rs::rand::SystemRandom::new(),
            throttle,
            cache,
            limits: self.limits,
            metrics: RequestMetrics::default(),
            realm: self.realm,
            trusted_proxies,
            client_address_required: self.client_address_required,
        };
        Ok(AuthServer {
            core: Arc::new(core),
        })
    }
}
