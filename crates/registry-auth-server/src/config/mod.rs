//! The configuration file: TOML read into the library's own option types,
//! paths resolved, and every setting checked by the library (one
//! validation path), with errors mapped back to the key and line that
//! caused them.

mod locate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use registry_auth::acl::{self, Acl};
use registry_auth::identity::{
    AccessTokens, Chain, LdapDirectory, LdapSettings, OidcLogin, OidcLoginSettings, SignedInPeople,
    StaticUsers, WorkloadIdentity, WorkloadIssuerSettings,
};
use registry_auth::state::{MemoryStore, SqlStore, StateStore};
use registry_auth::token::{
    Algorithm, JwtGenerator, JwtGeneratorBuilder, KeyIdMode, Token, TokenGenerator,
};
use registry_auth::{
    AccessRequest, AuthServer, AuthServerBuilder, Authenticator, BackendError, BuildError,
    Identity, Limits, Scope, Secret, Throttling,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// A configuration that failed to load; the message names the file, and
/// the line and key where it can.
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
    acl: Vec<acl::Rule>,
    #[serde(default)]
    state: StateSection,
    /// The library's own settings type: users and groups from a directory.
    ldap: Option<LdapSettings>,
    /// The library's own settings type: issuers of CI jobs' tokens.
    #[serde(default)]
    workload_identity: Vec<WorkloadIssuerSettings>,
    /// The sign-in page: people sign in at an OpenID provider.
    oidc_login: Option<OidcLoginSection>,
}

/// `[oidc_login]`: the sign-in page at an OpenID provider that hands out
/// access tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OidcLoginSection {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    client_secret_file: Option<PathBuf>,
    redirect_url: String,
    #[serde(default = "default_sign_in_subject")]
    subject: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    require: BTreeMap<String, String>,
    scopes: Option<Vec<String>>,
    #[serde(default = "default_sign_in_token_lifetime", with = "humantime_serde")]
    token_lifetime: Duration,
    #[serde(default = "default_sign_in_session_lifetime", with = "humantime_serde")]
    session_lifetime: Duration,
    #[serde(default = "default_sign_in_path")]
    path: String,
    ca_certificate: Option<PathBuf>,
}

fn default_sign_in_subject() -> String {
    "${preferred_username}".to_owned()
}

fn default_sign_in_token_lifetime() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

fn default_sign_in_session_lifetime() -> Duration {
    Duration::from_secs(8 * 3600)
}

fn default_sign_in_path() -> String {
    "/login".to_owned()
}

/// `[state]`: where refresh tokens, credential generations and failure
/// counts live.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StateSection {
    url: String,
    password_file: Option<PathBuf>,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            url: "sqlite://state.db".to_owned(),
            password_file: None,
        }
    }
}

/// Where the state lives, paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StateLocation {
    /// Nothing kept past the process.
    Memory,
    /// A SQLite file (its path resolved against the configuration's folder).
    Sqlite(PathBuf),
    /// A PostgreSQL URL, and where its password is read from.
    Postgres {
        url: String,
        password_file: Option<PathBuf>,
    },
}

/// `[server]`. `limits` and `throttle` are the library's own types.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServerSection {
    listen: SocketAddr,
    tls_certificate: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    realm: String,
    watch: bool,
    #[serde(with = "humantime_serde")]
    watch_interval: Duration,
    #[serde(with = "humantime_serde")]
    credential_cache: Duration,
    trusted_proxies: Vec<String>,
    limits: Limits,
    throttle: Throttling,
}

/// Where the server listens when `[server] listen` is not given.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5001);

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: DEFAULT_LISTEN,
            tls_certificate: None,
            tls_key: None,
            realm: AuthServerBuilder::DEFAULT_REALM.to_owned(),
            watch: true,
            watch_interval: Duration::from_secs(2),
            // The server keeps verified credentials for a minute (the
            // library's default is off): a reload starts the cache empty.
            credential_cache: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            throttle: Throttling::default(),
        }
    }
}

/// `[token]`. `key_id` and `algorithm` are the library's own types; the
/// defaults are the library's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenSection {
    issuer: String,
    services: Option<Vec<String>>,
    #[serde(default = "default_lifetime", with = "humantime_serde")]
    lifetime: Duration,
    signing_key: PathBuf,
    certificate: Option<PathBuf>,
    #[serde(default)]
    published_keys: Vec<PathBuf>,
    #[serde(default)]
    key_id: KeyIdMode,
    algorithm: Option<Algorithm>,
    #[serde(default)]
    generate_key: bool,
    #[serde(default = "yes")]
    refresh_tokens: bool,
    #[serde(default = "default_refresh_lifetime", with = "humantime_serde")]
    refresh_lifetime: Duration,
    #[serde(default)]
    rotation: RotationSection,
}

/// `[token.rotation]`: how far `keys rotate` has gone. Written by the
/// command; serving does not read it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationSection {
    next_key: Option<PathBuf>,
    next_certificate: Option<PathBuf>,
    promoted: Option<String>,
    retire_after: Option<String>,
    retiring: Option<PathBuf>,
}

/// A key rotation in progress (`[token.rotation]` checked, paths resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rotation {
    /// None: the signing key is the only one that `keys rotate` manages.
    Idle,
    /// `prepare` ran: the next key is published and waits to sign.
    Prepared { key: PathBuf, certificate: PathBuf },
    /// `promote` ran: the previous key, still published, may be dropped
    /// from `retire_after` on.
    Promoted {
        at: SystemTime,
        retire_after: SystemTime,
        retiring: PathBuf,
    },
}

fn default_lifetime() -> Duration {
    JwtGeneratorBuilder::DEFAULT_TOKEN_LIFETIME
}

fn default_refresh_lifetime() -> Duration {
    AuthServerBuilder::DEFAULT_REFRESH_TOKEN_LIFETIME
}

fn yes() -> bool {
    true
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
    /// Kept but refused: no login, no refresh; the change ends the
    /// user's identity tokens.
    #[serde(default)]
    disabled: bool,
}

impl<'de> Deserialize<'de> for UserValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UserValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a password hash, or a table with password, labels and disabled")
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

/// The checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) path: PathBuf,
    /// The file as read, to find the line of a key in later errors.
    text: Arc<str>,
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<Tls>,
    pub(crate) realm: String,
    pub(crate) watch: Option<Duration>,
    pub(crate) credential_cache: Duration,
    pub(crate) trusted_proxies: Vec<String>,
    pub(crate) limits: Limits,
    pub(crate) throttling: Throttling,
    pub(crate) issuer: String,
    pub(crate) services: Option<Vec<String>>,
    pub(crate) lifetime: Duration,
    pub(crate) signing_key: PathBuf,
    pub(crate) certificate: Option<PathBuf>,
    /// Certificates or public keys published without signing (rotation).
    pub(crate) published_keys: Vec<PathBuf>,
    pub(crate) key_id: KeyIdMode,
    pub(crate) algorithm: Option<Algorithm>,
    pub(crate) generate_key: bool,
    pub(crate) refresh_tokens: bool,
    pub(crate) refresh_lifetime: Duration,
    pub(crate) users: StaticUsers,
    pub(crate) htpasswd: Option<PathBuf>,
    /// `[ldap]`: the directory asked after `[users]` (no connection is
    /// made until a login needs one). `None` also when the text was only
    /// parsed (`parse_text_only`): its settings were checked then.
    pub(crate) directory: Option<LdapDirectory>,
    /// The files `[ldap]` reads (its CA, its password file): a change
    /// reloads.
    directory_files: Vec<PathBuf>,
    /// `[[workload_identity]]`: the issuers whose tokens are passwords
    /// (keys are fetched when a login needs them). `None` without any, or
    /// when the text was only parsed.
    pub(crate) workloads: Option<WorkloadIdentity>,
    /// The files `[[workload_identity]]` reads (JWKS files, CAs).
    workload_files: Vec<PathBuf>,
    /// `[oidc_login]`: the sign-in page. `None` without one, or when the
    /// text was only parsed.
    pub(crate) sign_in: Option<crate::sign_in::SignInSettings>,
    /// The files `[oidc_login]` reads (the client secret, a CA).
    sign_in_files: Vec<PathBuf>,
    pub(crate) acl: Acl,
    pub(crate) state: StateLocation,
    pub(crate) rotation: Rotation,
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

    /// Where the server that the file at `path` configures listens, and
    /// whether with TLS, read from `[server]` alone: a health probe must
    /// keep saying "healthy" while the rest of the file is being edited,
    /// since the running server keeps its configuration until a valid one
    /// replaces it.
    pub(crate) fn listen_address(path: &Path) -> Result<(SocketAddr, bool), ConfigError> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            server: Server,
        }
        #[derive(Deserialize)]
        #[serde(default)]
        struct Server {
            listen: SocketAddr,
            tls_certificate: Option<toml::Value>,
        }
        impl Default for Server {
            fn default() -> Self {
                Server {
                    listen: DEFAULT_LISTEN,
                    tls_certificate: None,
                }
            }
        }
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{shown}: cannot read: {e}")))?;
        let file: File = toml::from_str(&text).map_err(|e| ConfigError(format!("{shown}: {e}")))?;
        Ok((file.server.listen, file.server.tls_certificate.is_some()))
    }

    /// Parses and checks text as far as that needs no other file: syntax,
    /// keys, values, hashes and rules (an htpasswd file is not read).
    pub(crate) fn parse_text_only(text: &str) -> Result<(), ConfigError> {
        Config::read(text, Path::new("config.toml"), false).map(|_| ())
    }

    /// Parses configuration text; relative paths are taken from the
    /// directory of `path`.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::read(text, path, true)
    }

    fn read(text: &str, path: &Path, read_files: bool) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let file: File = toml::from_str(text)
            .map_err(|e| ConfigError(format!("{shown}: {}", e.to_string().trim_end())))?;
        let config = Config::from_file(file, text, path, read_files)?;
        // Every library setting is checked by the library, here as when
        // the server is built.
        config
            .jwt_settings()
            .validate()
            .and_then(|()| config.server_settings().validate())
            .map_err(|e| config.setting_error(&e))?;
        Ok(config)
    }

    fn from_file(
        file: File,
        text: &str,
        path: &Path,
        read_files: bool,
    ) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let at = |key: &str, msg: String| located(&shown, text, key, &msg);
        let resolve = |p: &Path| resolve_against(path, p);

        let tls = match (&file.server.tls_certificate, &file.server.tls_key) {
            (Some(c), Some(k)) => Some(Tls {
                certificate: resolve(c),
                key: resolve(k),
            }),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                let key = if file.server.tls_key.is_some() {
                    "server.tls_key"
                } else {
                    "server.tls_certificate"
                };
                return Err(at(
                    key,
                    "server.tls_certificate and server.tls_key go together: set both or neither"
                        .into(),
                ));
            }
        };

        let (users, htpasswd) =
            read_users(&file.users, &resolve, read_files).map_err(|(key, msg)| at(&key, msg))?;

        let state = state_location(&file.state, &resolve).map_err(|(key, msg)| at(key, msg))?;
        let (directory, directory_files) = match file.ldap {
            Some(settings) => directory(settings, &resolve, read_files).map_err(|e| {
                // The library's text is `ldap.KEY: …` (with the file, if
                // one is at fault): the key goes in front, with its line.
                let key = format!("ldap.{}", e.setting());
                let text = e.to_string();
                let message = text.strip_prefix(&format!("{key}: ")).unwrap_or(&text);
                at(&key, message.to_owned())
            })?,
            None => (None, Vec::new()),
        };
        let (workloads, workload_files) =
            workloads(file.workload_identity.clone(), &resolve, read_files).map_err(|e| {
                // The library's text names the issuer and its key; the
                // line is that of its [[workload_identity]] table.
                let index = file
                    .workload_identity
                    .iter()
                    .rposition(|w| w.name == e.issuer());
                match index.and_then(|i| locate::line_of_array_entry(text, "workload_identity", i))
                {
                    Some(line) => ConfigError(format!("{shown}: line {line}: {e}")),
                    None => ConfigError(format!("{shown}: {e}")),
                }
            })?;
        let (sign_in, sign_in_files) = match &file.oidc_login {
            Some(section) => sign_in(section, &resolve, read_files)
                .map_err(|(key, msg)| at(&format!("oidc_login.{key}"), msg))?,
            None => (None, Vec::new()),
        };
        let rotation =
            rotation(&file.token.rotation, &resolve).map_err(|(key, msg)| at(key, msg))?;

        let acl = Acl::new(&file.acl).map_err(|e| {
            let line = locate::line_of_array_entry(text, "acl", e.rule - 1);
            ConfigError(match line {
                Some(line) => format!("{shown}: line {line}: {e}"),
                None => format!("{shown}: {e}"),
            })
        })?;
        Ok(Config {
            path: path.to_path_buf(),
            text: text.into(),
            listen: file.server.listen,
            tls,
            realm: file.server.realm,
            watch: file.server.watch.then_some(file.server.watch_interval),
            credential_cache: file.server.credential_cache,
            trusted_proxies: file.server.trusted_proxies,
            limits: file.server.limits,
            throttling: file.server.throttle,
            issuer: file.token.issuer,
            services: file.token.services,
            lifetime: file.token.lifetime,
            signing_key: resolve(&file.token.signing_key),
            certificate: file.token.certificate.as_deref().map(resolve),
            published_keys: file
                .token
                .published_keys
                .iter()
                .map(|p| resolve(p))
                .collect(),
            key_id: file.token.key_id,
            algorithm: file.token.algorithm,
            generate_key: file.token.generate_key,
            refresh_tokens: file.token.refresh_tokens,
            refresh_lifetime: file.token.refresh_lifetime,
            users,
            htpasswd,
            directory,
            directory_files,
            workloads,
            workload_files,
            sign_in,
            sign_in_files,
            acl,
            state,
            rotation,
        })
    }

    /// Opens the state store of `[state]` (creating and migrating it when
    /// needed). An unreachable store is an error naming its URL without
    /// the password.
    pub(crate) async fn open_state(&self) -> Result<Arc<dyn StateStore>, ConfigError> {
        let (url, password_file) = match &self.state {
            StateLocation::Memory => return Ok(Arc::new(MemoryStore::new())),
            StateLocation::Sqlite(file) => (format!("sqlite://{}", file.display()), &None),
            StateLocation::Postgres { url, password_file } => (url.clone(), password_file),
        };
        let shown = self.path.display();
        let password = match password_file {
            Some(file) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    ConfigError(format!(
                        "{shown}: state.password_file {}: cannot read: {e}",
                        file.display()
                    ))
                })?;
                Some(Secret::new(text.trim_end_matches(['\r', '\n'])))
            }
            None => None,
        };
        let store = SqlStore::connect(&url, password.as_ref())
            .await
            .map_err(|e| ConfigError(format!("{shown}: {e}")))?;
        Ok(Arc::new(store))
    }

    /// A library error, named by the TOML key it came from and its line.
    fn setting_error(&self, error: &BuildError) -> ConfigError {
        let key = locate::toml_key(error.setting());
        located(
            &self.path.display().to_string(),
            &self.text,
            &key,
            error.reason(),
        )
    }

    /// The files whose change triggers a reload.
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone(), self.signing_key.clone()];
        files.extend(self.certificate.clone());
        files.extend(self.published_keys.iter().cloned());
        files.extend(self.htpasswd.clone());
        files.extend(self.directory_files.iter().cloned());
        files.extend(self.workload_files.iter().cloned());
        files.extend(self.sign_in_files.iter().cloned());
        if let Some(tls) = &self.tls {
            files.push(tls.certificate.clone());
            files.push(tls.key.clone());
        }
        files
    }

    /// The signing settings of `[token]`, without the key files.
    fn jwt_settings(&self) -> JwtGeneratorBuilder {
        let builder = JwtGenerator::builder()
            .issuer(self.issuer.clone())
            .token_lifetime(self.lifetime)
            .key_id(self.key_id);
        match self.algorithm {
            Some(algorithm) => builder.algorithm(algorithm),
            None => builder,
        }
    }

    /// Every other library setting: `[server]`'s realm, cache, proxies,
    /// limits and throttling, and `[token]`'s services and refresh tokens.
    fn server_settings(&self) -> AuthServerBuilder {
        let builder = AuthServer::builder()
            .realm(self.realm.clone())
            .credential_cache(self.credential_cache)
            .trusted_proxies(self.trusted_proxies.clone())
            .limits(self.limits.clone())
            .throttling(self.throttling.clone())
            .refresh_tokens(self.refresh_tokens)
            .refresh_token_lifetime(self.refresh_lifetime);
        match &self.services {
            Some(services) => builder.services(services.clone()),
            None => builder.accept_any_service(),
        }
    }

    /// The token generator of `[token]`: its key and certificate read and
    /// every setting checked by the library. With `generate_key` on and the
    /// key file missing, a development key (and certificate) is made first
    /// when `missing` says so.
    pub(crate) fn jwt_generator(&self, missing: MissingKey) -> Result<JwtGenerator, ConfigError> {
        if self.generate_key && !self.signing_key.exists() && missing == MissingKey::Generate {
            crate::keys::generate_key_and_certificate(
                &self.signing_key,
                self.certificate.as_deref(),
            )
            .map_err(|e| {
                located(
                    &self.path.display().to_string(),
                    &self.text,
                    "token.generate_key",
                    &e,
                )
            })?;
            tracing::warn!(
                key = %self.signing_key.display(),
                "generated a new signing key (token.generate_key is on); registries must trust its certificate"
            );
        }
        let mut builder = self.jwt_settings().signing_key_pem_file(&self.signing_key);
        if let Some(certificate) = &self.certificate {
            builder = builder.certificate_pem_file(certificate);
        }
        for key in &self.published_keys {
            builder = builder.published_key_pem_file(key);
        }
        builder.build().map_err(|e| self.setting_error(&e))
    }

    /// Builds the token server this configuration describes, as `serve`
    /// does: the generator of [`jwt_generator`](Self::jwt_generator)
    /// (making a development key when `generate_key` asks for one), then
    /// [`server_from`](Self::server_from).
    #[cfg(test)]
    pub(crate) fn build_server(
        &self,
        state: Arc<dyn StateStore>,
    ) -> Result<AuthServer, ConfigError> {
        let generator = self.jwt_generator(MissingKey::Generate)?;
        self.server_from(generator, state)
    }

    /// The token server this configuration describes, signing with
    /// `generator` and keeping its state in `state` (opened once per
    /// process and shared by the servers that reloads build, so tokens and
    /// failure counts survive a reload).
    pub(crate) fn server_from(
        &self,
        generator: JwtGenerator,
        state: Arc<dyn StateStore>,
    ) -> Result<AuthServer, ConfigError> {
        self.server_with(generator, self.logins(Arc::clone(&state)))
            .state_store(state)
            .build()
            .map_err(|e| self.setting_error(&e))
    }

    /// The server of this configuration for `check`: it decides as the
    /// real one does but signs nothing, so it needs no signing key.
    pub(crate) fn explaining_server(&self) -> Result<AuthServer, ConfigError> {
        self.server_with(SignsNothing, self.owners())
            .build()
            .map_err(|e| self.setting_error(&e))
    }

    /// Whom a login is: tokens are recognised by their form and go only
    /// to their source, whatever the user name, so that a directory never
    /// sees a token as a password and a CI job's made-up user name cannot
    /// collide with a person's. A workload token (a JWT whose `iss` is a
    /// configured issuer) to its issuer; an access token (`raat_…`) to the
    /// state store; any other password to [`owners`](Self::owners).
    fn logins(&self, state: Arc<dyn StateStore>) -> Chain {
        // People who signed in on the sign-in page own tokens too, as of
        // their last sign-in (after config-file users, before the
        // directory).
        let owners = match &self.sign_in {
            Some(_) => self.owners_with(Some(SignedInPeople::new(Arc::clone(&state)))),
            None => self.owners(),
        };
        let access_tokens = AccessTokens::new(state, owners);
        match &self.workloads {
            Some(workloads) => Chain::new().then(workloads.clone()).then(access_tokens),
            None => Chain::new().then(access_tokens),
        }
    }

    /// The users of `[users]` (and its htpasswd file), then the directory
    /// of `[ldap]`: whom passwords are checked against, and whom access
    /// tokens act for. Config-file users come first (break-glass admins
    /// reach the server while the directory is down) and pass the names
    /// they do not know on to the directory.
    pub(crate) fn owners(&self) -> Chain {
        self.owners_with(None)
    }

    /// [`owners`](Self::owners), with the people who signed in on the
    /// sign-in page between the config-file users and the directory.
    fn owners_with(&self, people: Option<SignedInPeople>) -> Chain {
        if self.directory.is_none() && people.is_none() {
            return Chain::new().then(self.users.clone());
        }
        let mut chain = Chain::new().then(self.users.clone().pass_unknown_on());
        if let Some(people) = people {
            chain = chain.then(people);
        }
        if let Some(directory) = &self.directory {
            chain = chain.then(directory.clone());
        }
        chain
    }

    fn server_with(
        &self,
        generator: impl TokenGenerator,
        authenticator: impl Authenticator,
    ) -> AuthServerBuilder {
        self.server_settings()
            .token_generator(generator)
            .authenticator(authenticator)
            .authorizer(self.acl.clone())
            .allow_anonymous(self.acl.allows_anonymous())
    }

    /// The registry's `auth.token` block for this configuration.
    pub(crate) fn registry_snippet(&self) -> String {
        self.registry_snippet_with(None, None)
    }

    /// The registry's `auth.token` block, naming a `rootcertbundle` and a
    /// `jwks` file written for it (`registry-config --bundle --jwks`).
    pub(crate) fn registry_snippet_with(
        &self,
        bundle: Option<&Path>,
        jwks: Option<&Path>,
    ) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let service = self
            .services
            .as_ref()
            .and_then(|s| s.first())
            .map_or("registry.example.com", String::as_str);
        let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let bundle = bundle
            .or(self.certificate.as_deref())
            .unwrap_or(&self.signing_key);
        let note = if self.certificate.is_none() {
            "  # set token.certificate: the registry needs a certificate of the signing key\n"
        } else {
            ""
        };
        let jwks = match jwks {
            Some(file) => format!("    jwks: {}\n", absolute(file).display()),
            None => format!(
                "    # registry v3 can also find the key by kid in a JWKS file:\n    \
                 # jwks: /path/to/jwks.json   (from {scheme}://{}/.well-known/jwks.json)\n",
                reachable_address(self.listen)
            ),
        };
        format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    \
             issuer: {issuer}\n    rootcertbundle: {bundle}\n{note}{jwks}",
            realm = realm(scheme, self.listen),
            issuer = self.issuer,
            bundle = absolute(bundle).display(),
        )
    }
}

/// Where clients reach a server listening on `listen`: an address for
/// all interfaces (a container's `0.0.0.0:5001`) is none a client can use,
/// so it becomes `HOST:PORT`, for the operator to fill in.
fn reachable_address(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("HOST:{}", listen.port())
    } else {
        listen.to_string()
    }
}

/// The `realm` value of the registry's `auth.token` block for a server
/// listening on `listen`, with a comment saying what `HOST` stands for
/// when it has to be filled in.
pub(crate) fn realm(scheme: &str, listen: SocketAddr) -> String {
    let note = if listen.ip().is_unspecified() {
        "   # HOST: the name clients reach this server by"
    } else {
        ""
    };
    format!("{scheme}://{}/token{note}", reachable_address(listen))
}

/// Runs `run` with the configuration at `path` and its state store, opened
/// on a runtime of its own: what the commands that read or change the
/// store (`identity-tokens`, `access-token`) share with the server.
pub(crate) fn with_store<T>(
    path: &Path,
    run: impl AsyncFnOnce(&Config, &dyn StateStore) -> Result<T, String>,
) -> Result<T, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    if config.state == StateLocation::Memory {
        return Err(format!(
            "{}: state.url is \"memory\": nothing outlives the running server, so there is \
             nothing to list or change from outside it",
            path.display()
        ));
    }
    // Look, don't create: a mistyped path must not leave an empty store
    // (owned by whoever ran this) where the server expects its own.
    if let StateLocation::Sqlite(file) = &config.state
        && !file.exists()
    {
        return Err(format!(
            "{}: no state store at {} yet (the server makes it when it first starts)",
            path.display(),
            file.display()
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let store = config.open_state().await.map_err(|e| e.to_string())?;
        run(&config, store.as_ref()).await
    })
}

/// A path of the configuration file at `config`: relative ones are taken
/// from its folder.
pub(crate) fn resolve_against(config: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        config.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// What to do when `generate_key` is on and the signing key is missing:
/// `serve` makes one; commands that only read (`token verify`) refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MissingKey {
    Generate,
    Refuse,
}

/// The token generator of the server `check` asks: never called, since
/// explaining a decision signs nothing.
struct SignsNothing;

impl TokenGenerator for SignsNothing {
    fn generate(
        &self,
        _: &Identity,
        _: &[Scope],
        _: &AccessRequest,
    ) -> Result<Token, BackendError> {
        Err("this server only explains decisions".into())
    }
}

/// `file: line N: key: message`, or without the line when the key is not
/// in the text.
fn located(file: &str, text: &str, key: &str, message: &str) -> ConfigError {
    ConfigError(match locate::line_of_key(text, key) {
        Some(line) => format!("{file}: line {line}: {key}: {message}"),
        None => format!("{file}: {key}: {message}"),
    })
}

/// A TOML key as it is written: bare when it can be, quoted otherwise.
fn key_part(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// The directory of `[ldap]` and the files it reads: paths resolved
/// against the configuration's folder, settings checked by the library,
/// files read when `read_files`.
fn directory(
    mut settings: LdapSettings,
    resolve: &dyn Fn(&Path) -> PathBuf,
    read_files: bool,
) -> Result<(Option<LdapDirectory>, Vec<PathBuf>), registry_auth::identity::LdapError> {
    settings.ca_certificate = settings.ca_certificate.as_deref().map(resolve);
    settings.bind_password_file = settings.bind_password_file.as_deref().map(resolve);
    let files = settings
        .ca_certificate
        .iter()
        .chain(&settings.bind_password_file)
        .cloned()
        .collect();
    if !read_files {
        return settings.validate().map(|()| (None, files));
    }
    Ok((Some(LdapDirectory::new(settings)?), files))
}

/// The issuers of `[[workload_identity]]` and the files they read: paths
/// resolved against the configuration's folder, settings checked by the
/// library, files read when `read_files`.
fn workloads(
    mut settings: Vec<WorkloadIssuerSettings>,
    resolve: &dyn Fn(&Path) -> PathBuf,
    read_files: bool,
) -> Result<(Option<WorkloadIdentity>, Vec<PathBuf>), registry_auth::identity::WorkloadError> {
    let mut files = Vec::new();
    for issuer in &mut settings {
        issuer.ca_certificate = issuer.ca_certificate.as_deref().map(resolve);
        files.extend(issuer.ca_certificate.clone());
        if let Some(path) = issuer.jwks_file().map(resolve) {
            issuer.jwks = Some(path.display().to_string());
            files.push(path);
        }
    }
    if settings.is_empty() {
        return Ok((None, files));
    }
    if !read_files {
        return settings
            .iter()
            .try_for_each(WorkloadIssuerSettings::validate)
            .map(|()| (None, files));
    }
    Ok((Some(WorkloadIdentity::new(settings)?), files))
}

/// `[oidc_login]` checked (by the library for what it knows), its paths
/// resolved, its secret read when `read_files`; errors as (key, message).
fn sign_in(
    section: &OidcLoginSection,
    resolve: &dyn Fn(&Path) -> PathBuf,
    read_files: bool,
) -> Result<(Option<crate::sign_in::SignInSettings>, Vec<PathBuf>), (String, String)> {
    let err = |key: &str, msg: String| (key.to_owned(), msg);
    let path = &section.path;
    let path_ok = path.starts_with('/')
        && path.len() > 1
        && !path.ends_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
    if !path_ok || ["/token", "/healthz", "/metrics", "/.well-known"].contains(&path.as_str()) {
        return Err(err(
            "path",
            format!(
                "{path:?}: a path of its own such as /login (letters, digits, '/', '-', '_', \
                 '.'; not / nor the server's /token, /healthz, /metrics)"
            ),
        ));
    }
    for (key, value) in [
        ("token_lifetime", section.token_lifetime),
        ("session_lifetime", section.session_lifetime),
    ] {
        if value.is_zero() {
            return Err(err(key, "must be longer than 0".into()));
        }
    }
    let mut files = Vec::new();
    let ca_certificate = section.ca_certificate.as_deref().map(resolve);
    files.extend(ca_certificate.clone());
    let secret_file = section.client_secret_file.as_deref().map(resolve);
    let secret = match (&section.client_secret, &secret_file) {
        (Some(_), Some(_)) => {
            return Err(err(
                "client_secret_file",
                "give client_secret_file or client_secret, not both".into(),
            ));
        }
        (Some(secret), None) => secret.clone(),
        (None, Some(file)) => {
            files.push(file.clone());
            if read_files {
                std::fs::read_to_string(file)
                    .map_err(|e| err("client_secret_file", format!("{}: {e}", file.display())))?
                    .trim()
                    .to_owned()
            } else {
                String::new()
            }
        }
        (None, None) => {
            return Err(err(
                "client_secret_file",
                "give client_secret_file (or client_secret)".into(),
            ));
        }
    };
    let mut settings = OidcLoginSettings::new(
        section.issuer.clone(),
        section.client_id.clone(),
        secret,
        section.redirect_url.clone(),
    );
    settings.subject = section.subject.clone();
    settings.labels = section.labels.clone();
    settings.require = section.require.clone();
    if let Some(scopes) = &section.scopes {
        settings.scopes = scopes.clone();
    }
    settings.ca_certificate = ca_certificate;
    if !read_files {
        // Checked as far as text allows: a CA file is read by the library.
        settings.ca_certificate = None;
    }
    let login = OidcLogin::new(settings).map_err(|e| match e {
        registry_auth::identity::OidcLoginError::Settings { setting, reason } => {
            err(setting, reason)
        }
        other => err("issuer", other.to_string()),
    })?;
    let callback = format!("{path}/callback");
    if login.redirect_path() != callback {
        return Err(err(
            "redirect_url",
            format!(
                "{:?} must end in this page's callback, {callback} (the path is {path})",
                section.redirect_url
            ),
        ));
    }
    if !read_files {
        return Ok((None, files));
    }
    Ok((
        Some(crate::sign_in::SignInSettings {
            login,
            path: path.clone(),
            token_lifetime: section.token_lifetime,
            session_lifetime: section.session_lifetime,
            secure_cookies: section.redirect_url.starts_with("https://"),
        }),
        files,
    ))
}

/// `[state]` checked: `memory`, a SQLite URL (a relative path is taken from
/// the configuration's folder), or a PostgreSQL URL.
fn state_location(
    section: &StateSection,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<StateLocation, (&'static str, String)> {
    let url = section.url.trim();
    let password_file = section.password_file.as_deref().map(resolve);
    if url == "memory" {
        if password_file.is_some() {
            return Err((
                "state.password_file",
                "the memory store takes no password".into(),
            ));
        }
        return Ok(StateLocation::Memory);
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() || path.contains('?') {
            return Err((
                "state.url",
                format!("{url:?}: expected sqlite://PATH (no ?options)"),
            ));
        }
        if password_file.is_some() {
            return Err((
                "state.password_file",
                "a SQLite file takes no password".into(),
            ));
        }
        return Ok(StateLocation::Sqlite(resolve(Path::new(path))));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StateLocation::Postgres {
            url: url.to_owned(),
            password_file,
        });
    }
    Err((
        "state.url",
        "expected \"memory\", sqlite://PATH or postgres://USER@HOST/DATABASE".into(),
    ))
}

/// `[token.rotation]` checked: nothing, a prepared next key, or a promoted
/// one with the previous key's end.
fn rotation(
    section: &RotationSection,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<Rotation, (&'static str, String)> {
    let time = |key: &'static str, value: &Option<String>| match value {
        None => Ok(None),
        Some(text) => humantime::parse_rfc3339(text).map(Some).map_err(|e| {
            (
                key,
                format!("{text:?}: expected a time like 2026-12-01T06:00:00Z: {e}"),
            )
        }),
    };
    let promoted = time("token.rotation.promoted", &section.promoted)?;
    let retire_after = time("token.rotation.retire_after", &section.retire_after)?;
    match (
        &section.next_key,
        &section.next_certificate,
        promoted,
        retire_after,
        &section.retiring,
    ) {
        (None, None, None, None, None) => Ok(Rotation::Idle),
        (Some(key), Some(certificate), None, None, None) => Ok(Rotation::Prepared {
            key: resolve(key),
            certificate: resolve(certificate),
        }),
        (None, None, Some(at), Some(retire_after), Some(retiring)) => Ok(Rotation::Promoted {
            at,
            retire_after,
            retiring: resolve(retiring),
        }),
        _ => Err((
            "token.rotation",
            "written by `registry-auth keys rotate`: either next_key and next_certificate \
             (prepared), or promoted, retire_after and retiring (promoted)"
                .into(),
        )),
    }
}

/// The users of `[users]` and of the htpasswd file it names; an error is
/// the key it belongs to and what is wrong.
fn read_users(
    table: &BTreeMap<String, UserValue>,
    resolve: &dyn Fn(&Path) -> PathBuf,
    read_files: bool,
) -> Result<(StaticUsers, Option<PathBuf>), (String, String)> {
    let mut users = StaticUsers::new();
    let mut htpasswd = None;
    for (name, value) in table {
        match (name.as_str(), value) {
            ("htpasswd", UserValue::Hash(p)) => htpasswd = Some(resolve(Path::new(p))),
            ("htpasswd", UserValue::Entry(_)) => {
                return Err((
                    "users.htpasswd".into(),
                    "the path of an htpasswd file, not a user".into(),
                ));
            }
            (_, UserValue::Hash(hash)) => {
                users = users
                    .user(name, hash)
                    .map_err(|e| (format!("users.{}", key_part(name)), e.to_string()))?;
            }
            (_, UserValue::Entry(entry)) => {
                let mut identity = Identity::new(name.clone());
                for (key, values) in &entry.labels {
                    identity = identity.with_attribute(key.clone(), values.iter().cloned());
                }
                users = users
                    .user_with_identity(name, &entry.password, identity)
                    .map_err(|e| (format!("users.{}.password", key_part(name)), e.to_string()))?;
                if entry.disabled {
                    users = users.disable(name);
                }
            }
        }
    }
    if let Some(path) = htpasswd.as_ref().filter(|_| read_files) {
        let key = || "users.htpasswd".to_owned();
        let text = std::fs::read_to_string(path)
            .map_err(|e| (key(), format!("cannot read {}: {e}", path.display())))?;
        let from_file = StaticUsers::new()
            .with_htpasswd(&text)
            .map_err(|e| (key(), format!("{}: {e}", path.display())))?;
        for name in from_file.names() {
            if users.contains(name) {
                return Err((
                    format!("users.{name}"),
                    format!("user {name} is both in [users] and in {}", path.display()),
                ));
            }
        }
        users = users.merge(from_file);
    }
    Ok((users, htpasswd))
}

#[cfg(test)]
mod tests;
