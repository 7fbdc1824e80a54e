//! The configuration file: parsed and checked into plain values first,
//! then turned into a token server. Every error names the file and the key
//! (or line and column) that is wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use registry_auth::{
    Acl, AclRuleSpec, AuthServer, Identity, KeyIdMode, Limits, MemoryRefreshStore, SigningKey,
    StaticUsers, Throttling, token::Algorithm,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// A configuration that failed to load; the message names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError(pub(crate) String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    server: ServerSection,
    token: TokenSection,
    #[serde(default)]
    users: BTreeMap<String, UserValue>,
    #[serde(default)]
    acl: Vec<AclRuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    tls_certificate: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default = "default_realm")]
    realm: String,
    #[serde(default = "default_true")]
    watch: bool,
    #[serde(
        default = "default_watch_interval",
        deserialize_with = "humane_duration"
    )]
    watch_interval: Duration,
    #[serde(default = "default_cache", deserialize_with = "humane_duration")]
    credential_cache: Duration,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    throttle: ThrottleSection,
}

/// `[server.limits]`: each key defaults to the library's `Limits`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_query_bytes: Option<usize>,
    max_header_bytes: Option<usize>,
    max_scopes: Option<usize>,
    max_body_bytes: Option<usize>,
    #[serde(default, deserialize_with = "humane_duration_opt")]
    request_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "humane_duration_opt")]
    header_read_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "humane_duration_opt")]
    backend_timeout: Option<Duration>,
    max_connections: Option<usize>,
}

/// `[server.throttle]`: each key defaults to the library's `Throttling`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleSection {
    #[serde(default = "default_true")]
    enabled: bool,
    free_failures: Option<u32>,
    free_failures_per_address: Option<u32>,
    #[serde(default, deserialize_with = "humane_duration_opt")]
    base_delay: Option<Duration>,
    #[serde(default, deserialize_with = "humane_duration_opt")]
    max_delay: Option<Duration>,
    #[serde(default, deserialize_with = "humane_duration_opt")]
    forget_after: Option<Duration>,
    capacity: Option<usize>,
}

impl Default for ThrottleSection {
    fn default() -> Self {
        ThrottleSection {
            enabled: true,
            free_failures: None,
            free_failures_per_address: None,
            base_delay: None,
            max_delay: None,
            forget_after: None,
            capacity: None,
        }
    }
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: default_listen(),
            tls_certificate: None,
            tls_key: None,
            realm: default_realm(),
            watch: true,
            watch_interval: default_watch_interval(),
            credential_cache: default_cache(),
            trusted_proxies: Vec::new(),
            limits: LimitsSection::default(),
            throttle: ThrottleSection::default(),
        }
    }
}

fn default_cache() -> Duration {
    Duration::from_secs(60)
}

fn humane_duration_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    humane_duration(d).map(Some)
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5001))
}
fn default_realm() -> String {
    "registry-auth".into()
}
fn default_true() -> bool {
    true
}
fn default_watch_interval() -> Duration {
    Duration::from_secs(2)
}
fn default_refresh_lifetime() -> Duration {
    registry_auth::DEFAULT_REFRESH_TOKEN_LIFETIME
}
fn default_lifetime() -> Duration {
    Duration::from_secs(300)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenSection {
    issuer: String,
    services: Option<Vec<String>>,
    #[serde(default = "default_lifetime", deserialize_with = "humane_duration")]
    lifetime: Duration,
    signing_key: PathBuf,
    certificate: Option<PathBuf>,
    #[serde(default)]
    key_id: KeyIdSetting,
    algorithm: Option<AlgorithmSetting>,
    #[serde(default)]
    generate_key: bool,
    #[serde(default = "default_true")]
    refresh_tokens: bool,
    #[serde(
        default = "default_refresh_lifetime",
        deserialize_with = "humane_duration"
    )]
    refresh_lifetime: Duration,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum KeyIdSetting {
    #[default]
    Libtrust,
    Thumbprint,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum AlgorithmSetting {
    RS256,
    RS384,
    RS512,
}

/// A user entry: a hash string, or a table with the hash and labels.
#[derive(Debug)]
enum UserValue {
    Hash(String),
    Entry(UserEntry),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    password: String,
    #[serde(default)]
    labels: BTreeMap<String, Vec<String>>,
}

impl<'de> Deserialize<'de> for UserValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UserValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a password hash, or a table with password and labels")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UserValue, E> {
                Ok(UserValue::Hash(v.to_owned()))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<UserValue, M::Error> {
                UserEntry::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(UserValue::Entry)
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn humane_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        de::Error::custom(format!(
            "invalid duration {text:?}: {e} (write e.g. \"90s\", \"5m\", \"1h\")"
        ))
    })
}

impl LimitsSection {
    fn resolve(&self) -> Limits {
        let d = Limits::default();
        let mut l = d.clone();
        l.max_query_bytes = self.max_query_bytes.unwrap_or(d.max_query_bytes);
        l.max_header_bytes = self.max_header_bytes.unwrap_or(d.max_header_bytes);
        l.max_scopes = self.max_scopes.unwrap_or(d.max_scopes);
        l.max_body_bytes = self.max_body_bytes.unwrap_or(d.max_body_bytes);
        l.request_timeout = self.request_timeout.unwrap_or(d.request_timeout);
        l.header_read_timeout = self.header_read_timeout.unwrap_or(d.header_read_timeout);
        l.backend_timeout = self.backend_timeout.unwrap_or(d.backend_timeout);
        l.max_connections = self.max_connections.unwrap_or(d.max_connections);
        l
    }
}

impl ThrottleSection {
    fn resolve(&self) -> Option<Throttling> {
        if !self.enabled {
            return None;
        }
        let d = Throttling::default();
        let mut t = d.clone();
        t.free_failures = self.free_failures.unwrap_or(d.free_failures);
        t.free_failures_per_address = self
            .free_failures_per_address
            .unwrap_or(d.free_failures_per_address);
        t.base_delay = self.base_delay.unwrap_or(d.base_delay);
        t.max_delay = self.max_delay.unwrap_or(d.max_delay);
        t.forget_after = self.forget_after.unwrap_or(d.forget_after);
        t.capacity = self.capacity.unwrap_or(d.capacity);
        Some(t)
    }
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) path: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<Tls>,
    pub(crate) realm: String,
    pub(crate) watch: Option<Duration>,
    pub(crate) credential_cache: Duration,
    pub(crate) trusted_proxies: Vec<String>,
    pub(crate) limits: Limits,
    pub(crate) throttling: Option<Throttling>,
    pub(crate) issuer: String,
    pub(crate) services: Option<Vec<String>>,
    pub(crate) lifetime: Duration,
    pub(crate) signing_key: PathBuf,
    pub(crate) certificate: Option<PathBuf>,
    pub(crate) key_id: KeyIdMode,
    pub(crate) algorithm: Option<Algorithm>,
    pub(crate) generate_key: bool,
    pub(crate) refresh_tokens: bool,
    pub(crate) refresh_lifetime: Duration,
    pub(crate) users: StaticUsers,
    pub(crate) htpasswd: Option<PathBuf>,
    pub(crate) acl: Acl,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tls {
    pub(crate) certificate: PathBuf,
    pub(crate) key: PathBuf,
}

impl Config {
    /// Reads and checks a configuration file.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{shown}: cannot read: {e}")))?;
        Config::parse(&text, path)
    }

    /// Parses and checks text as far as that needs no other file: syntax,
    /// keys, values, hashes and rules (an htpasswd file is not read).
    pub(crate) fn parse_text_only(text: &str) -> Result<(), ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        Config::check(file, Path::new("config.toml"), false).map(|_| ())
    }

    /// Parses configuration text; relative paths are taken from the
    /// directory of `path`.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let err = |msg: String| ConfigError(format!("{shown}: {msg}"));
        let file: File =
            toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_owned()))?;
        Config::check(file, path, true)
    }

    fn check(file: File, path: &Path, read_files: bool) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let err = |msg: String| ConfigError(format!("{shown}: {msg}"));
        let dir = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        };

        let tls = match (&file.server.tls_certificate, &file.server.tls_key) {
            (Some(c), Some(k)) => Some(Tls {
                certificate: resolve(c),
                key: resolve(k),
            }),
            (None, None) => None,
            _ => {
                return Err(err(
                    "server.tls_certificate and server.tls_key go together: set both or neither"
                        .into(),
                ));
            }
        };
        if file.server.realm.contains('"') || file.server.realm.chars().any(char::is_control) {
            return Err(err(
                "server.realm must not contain quotes or control characters".into(),
            ));
        }
        if file.token.issuer.is_empty() {
            return Err(err("token.issuer must not be empty".into()));
        }
        if let Some(services) = &file.token.services
            && (services.is_empty() || services.iter().any(String::is_empty))
        {
            return Err(err(
                "token.services must list at least one non-empty service (or be left out to accept any)".into(),
            ));
        }
        if file.token.refresh_lifetime < registry_auth::MIN_TOKEN_LIFETIME {
            return Err(err(format!(
                "token.refresh_lifetime {} is shorter than the minimum of 60s",
                humantime::format_duration(file.token.refresh_lifetime)
            )));
        }
        if file.token.lifetime < registry_auth::MIN_TOKEN_LIFETIME {
            return Err(err(format!(
                "token.lifetime {} is shorter than the minimum of 60s",
                humantime::format_duration(file.token.lifetime)
            )));
        }

        let mut users = StaticUsers::new();
        let mut htpasswd = None;
        for (name, value) in &file.users {
            match (name.as_str(), value) {
                ("htpasswd", UserValue::Hash(p)) => htpasswd = Some(resolve(Path::new(p))),
                ("htpasswd", UserValue::Entry(_)) => {
                    return Err(err(
                        "users.htpasswd is the path of an htpasswd file, not a user".into(),
                    ));
                }
                (_, UserValue::Hash(hash)) => {
                    users = users
                        .user(name, hash)
                        .map_err(|e| err(format!("users.{name}: {e}")))?;
                }
                (_, UserValue::Entry(entry)) => {
                    let mut identity = Identity::new(name.clone());
                    for (key, values) in &entry.labels {
                        identity = identity.with_attribute(key.clone(), values.iter().cloned());
                    }
                    users = users
                        .user_with_identity(name, &entry.password, identity)
                        .map_err(|e| err(format!("users.{name}.password: {e}")))?;
                }
            }
        }
        if let Some(path) = htpasswd.as_ref().filter(|_| read_files) {
            let text = std::fs::read_to_string(path).map_err(|e| {
                err(format!(
                    "users.htpasswd: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            let from_file = StaticUsers::new()
                .with_htpasswd(&text)
                .map_err(|e| err(format!("users.htpasswd: {}: {e}", path.display())))?;
            for name in from_file.names() {
                if users.contains(name) {
                    return Err(err(format!(
                        "user {name} is both in [users] and in {}",
                        path.display()
                    )));
                }
            }
            users = users.merge(from_file);
        }

        let acl = Acl::new(&file.acl).map_err(|e| err(e.to_string()))?;
        let limits = file.server.limits.resolve();
        if limits.max_scopes == 0 || limits.max_connections == 0 {
            return Err(err(
                "server.limits: max_scopes and max_connections must be at least 1".into(),
            ));
        }
        let throttling = file.server.throttle.resolve();
        for proxy in &file.server.trusted_proxies {
            if !registry_auth::is_address_or_cidr(proxy) {
                return Err(err(format!(
                    "server.trusted_proxies: {proxy:?} is not an address or CIDR block"
                )));
            }
        }
        Ok(Config {
            path: path.to_path_buf(),
            listen: file.server.listen,
            tls,
            realm: file.server.realm,
            watch: file.server.watch.then_some(file.server.watch_interval),
            credential_cache: file.server.credential_cache,
            trusted_proxies: file.server.trusted_proxies.clone(),
            limits,
            throttling,
            issuer: file.token.issuer,
            services: file.token.services,
            lifetime: file.token.lifetime,
            signing_key: resolve(&file.token.signing_key),
            certificate: file.token.certificate.as_deref().map(resolve),
            key_id: match file.token.key_id {
                KeyIdSetting::Libtrust => KeyIdMode::Libtrust,
                KeyIdSetting::Thumbprint => KeyIdMode::Thumbprint,
            },
            algorithm: file.token.algorithm.map(|a| match a {
                AlgorithmSetting::RS256 => Algorithm::RS256,
                AlgorithmSetting::RS384 => Algorithm::RS384,
                AlgorithmSetting::RS512 => Algorithm::RS512,
            }),
            generate_key: file.token.generate_key,
            refresh_tokens: file.token.refresh_tokens,
            refresh_lifetime: file.token.refresh_lifetime,
            users,
            htpasswd,
            acl,
        })
    }

    /// The files whose change triggers a reload.
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone(), self.signing_key.clone()];
        files.extend(self.certificate.clone());
        files.extend(self.htpasswd.clone());
        if let Some(tls) = &self.tls {
            files.push(tls.certificate.clone());
            files.push(tls.key.clone());
        }
        files
    }

    /// Loads the signing key, making a development key (and certificate)
    /// first when `generate_key` is on and the key file is missing.
    pub(crate) fn signing_key(&self) -> Result<SigningKey, ConfigError> {
        let shown = self.path.display();
        if self.generate_key && !self.signing_key.exists() {
            crate::keys::generate_key_and_certificate(
                &self.signing_key,
                self.certificate.as_deref(),
            )
            .map_err(|e| ConfigError(format!("{shown}: token.generate_key: {e}")))?;
            tracing::warn!(
                key = %self.signing_key.display(),
                "generated a new signing key (token.generate_key is on); registries must trust its certificate"
            );
        }
        let key = SigningKey::from_pem_file(&self.signing_key)
            .map_err(|e| ConfigError(format!("{shown}: token.signing_key: {e}")))?;
        match self.algorithm {
            Some(alg) => key
                .with_algorithm(alg)
                .map_err(|e| ConfigError(format!("{shown}: token.algorithm: {e}"))),
            None => Ok(key),
        }
    }

    /// Builds the token server this configuration describes, keeping
    /// refresh tokens in `refresh_store` (shared by the servers that
    /// reloads build, so tokens survive a reload).
    pub(crate) fn build_server(
        &self,
        refresh_store: Arc<MemoryRefreshStore>,
    ) -> Result<AuthServer, ConfigError> {
        let shown = self.path.display();
        let mut builder = AuthServer::builder()
            .credential_cache(self.credential_cache)
            .throttling(self.throttling.clone())
            .limits(self.limits.clone())
            .trusted_proxies(self.trusted_proxies.clone())
            .refresh_tokens(self.refresh_tokens)
            .refresh_token_lifetime(self.refresh_lifetime)
            .refresh_token_store(refresh_store)
            .authenticator(self.users.clone())
            .authorizer(self.acl.clone())
            .allow_anonymous(self.acl.allows_anonymous())
            .signing_key(self.signing_key()?)
            .key_id(self.key_id)
            .issuer(self.issuer.clone())
            .token_lifetime(self.lifetime)
            .realm(self.realm.clone());
        if let Some(cert) = &self.certificate {
            builder = builder.certificate_pem_file(cert);
        }
        builder = match &self.services {
            Some(services) => services.iter().fold(builder, |b, s| b.service(s.clone())),
            None => builder.accept_any_service(),
        };
        builder
            .build()
            .map_err(|e| ConfigError(format!("{shown}: token: {e}")))
    }

    /// The registry's `auth.token` block for this configuration.
    pub(crate) fn registry_snippet(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let service = self
            .services
            .as_ref()
            .and_then(|s| s.first())
            .map_or("registry.example.com", String::as_str);
        let bundle = self.certificate.as_ref().unwrap_or(&self.signing_key);
        let bundle = std::fs::canonicalize(bundle).unwrap_or_else(|_| bundle.clone());
        let note = if self.certificate.is_none() {
            "  # set token.certificate: the registry needs a certificate of the signing key\n"
        } else {
            ""
        };
        format!(
            "auth:\n  token:\n    realm: {scheme}://{listen}/token\n    service: {service}\n    \
             issuer: {issuer}\n    rootcertbundle: {bundle}\n{note}    \
             # registry v3 can also find the key by kid in a JWKS file:\n    \
             # jwks: /path/to/jwks.json   (from {scheme}://{listen}/.well-known/jwks.json)\n",
            listen = self.listen,
            issuer = self.issuer,
            bundle = bundle.display(),
        )
    }
}

#[cfg(test)]
mod tests;
