//! [`LdapDirectory`]: people and groups from an LDAP directory (OpenLDAP,
//! Active Directory, FreeIPA…), checked by binding as the person.
//!
//! `settings` holds the options and their checks (`syntax`: what their
//! strings must look like; `error`: what is wrong, by key), `connection`
//! the TLS configuration, the connection pools and single operations,
//! `entry` the reading of an identity out of entries, `login` the steps
//! of each mode. May use `ldap3`, `deadpool` and
//! `rustls`, and the protocol's words.

mod connection;
mod entry;
mod error;
mod login;
mod settings;
mod syntax;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use self::connection::{Connector, LdapPool, ServiceAccount};
use self::entry::Reader;
use self::syntax::Endpoint;
use crate::protocol::authn::{Authenticator, AuthnError};
use crate::protocol::credentials::Credentials;
use crate::protocol::identity::Identity;

pub use self::error::LdapError;
pub use self::settings::LdapSettings;

/// People from an LDAP directory: a password is checked by binding to the
/// directory as the person, and the identity carries the person's groups
/// (label `groups`) and the labels the settings name.
///
/// # Two modes
///
/// **Search then bind** ([`bind_dn`](LdapSettings::bind_dn) set): a
/// service account searches [`base_dn`](LdapSettings::base_dn) with
/// [`user_filter`](LdapSettings::user_filter) for the account the client
/// sent; no entry is [`AuthnError::NotMine`] (another source of a
/// [`Chain`](crate::identity::Chain) may know the name), more than one is
/// refused (the filter is ambiguous; logged). Then the password is checked
/// by binding as the entry's DN. For Active Directory, search with
/// `(sAMAccountName=${account})` and take the subject from
/// `sAMAccountName`. A [`refresh`](Authenticator::refresh) looks the
/// person up again, so removed people and changed groups count at once.
///
/// **Direct bind** ([`user_dn`](LdapSettings::user_dn) set, no service
/// account): the password is checked by binding as the DN made from the
/// template (`uid=${account},ou=people,dc=example,dc=com`); then, still as
/// the person, their own entry is read for groups and labels. The
/// directory answers "wrong password" alike for unknown people, so this
/// mode claims every name: put it **last** in a chain. A refresh cannot
/// ask the directory without the password and keeps the identity as it
/// was issued.
///
/// # Groups
///
/// Without [`group_filter`](LdapSettings::group_filter), the groups are
/// the `cn` (or [`group_name_attribute`](LdapSettings::group_name_attribute))
/// of each DN in the person's `memberOf` (OpenLDAP's memberof overlay,
/// Active Directory, FreeIPA): one read, no search, but only direct
/// membership. With it (`(member=${dn})` for `groupOfNames`,
/// `(memberUid=${account})` for `posixGroup`), groups are searched under
/// [`group_base_dn`](LdapSettings::group_base_dn): for directories
/// without `memberOf`, or to choose the groups.
///
/// # Safe by default
///
/// - An **empty password is refused before anything is sent**: LDAP takes
///   a bind with a DN and no password as an anonymous "unauthenticated
///   bind" and answers *success* (RFC 4513 §5.1.2), which must never count
///   as a login.
/// - The account goes into filters escaped (RFC 4515: `*)(uid=*` finds only
///   a person with that very name) and into DNs escaped (RFC 4514).
/// - Failures to reach or use the directory (down, timed out, TLS refused,
///   a wrong service password) are [`AuthnError::Unavailable`]: 503, never
///   a token, never "wrong password". Every wait is bounded by
///   [`timeout`](LdapSettings::timeout).
/// - Nothing connects at construction: a directory that is down at start
///   only makes logins answer 503 until it is back; broken connections are
///   dropped and opened afresh.
/// - Plain `ldap://` to another host without StartTLS sends passwords in
///   clear text: it works, with a warning in the log.
///
/// ```no_run
/// use registry_auth::identity::{Chain, LdapDirectory, LdapSettings, StaticUsers};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // Search then bind, against Active Directory, over TLS.
/// let mut settings = LdapSettings::new("ldaps://dc1.corp.example.com", "dc=corp,dc=example,dc=com");
/// settings.bind_dn = Some("CN=registry,OU=Services,DC=corp,DC=example,DC=com".into());
/// settings.bind_password_file = Some("/run/secrets/ldap-password".into());
/// settings.user_filter = "(&(objectClass=user)(sAMAccountName=${account}))".into();
/// settings.subject_attribute = Some("sAMAccountName".into());
/// settings.labels.insert("team".into(), "department".into());
/// let directory = LdapDirectory::new(settings)?;
///
/// // Direct bind, no service account: last in a chain.
/// let mut settings = LdapSettings::new("ldap://ldap.example.com", "ou=people,dc=example,dc=com");
/// settings.start_tls = true;
/// settings.user_dn = Some("uid=${account},ou=people,dc=example,dc=com".into());
/// let people = LdapDirectory::new(settings)?;
///
/// let break_glass = StaticUsers::new()
///     .user("root", "$2y$10$TYyKeyyopVdR.ppsm5VdCOFuNmQj67YBnG0hpjDA/W1L2I696tO/e")?
///     .pass_unknown_on();
/// let users = Chain::new().then(break_glass).then(directory).then(people);
/// # let _ = users;
/// # Ok(()) }
/// ```
///
/// Cloning is cheap: the clones share the connections.
#[derive(Clone)]
pub struct LdapDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    base_dn: String,
    user_filter: String,
    group_base_dn: String,
    group_filter: Option<String>,
    reader: Reader,
    mode: Mode,
    /// Connections that only check passwords.
    bind_pool: LdapPool,
}

enum Mode {
    /// A service account finds the person, on connections bound as it.
    SearchThenBind {
        bind_dn: String,
        search_pool: LdapPool,
    },
    /// Bind as the DN from this template.
    DirectBind { user_dn: String },
}

impl fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut debug = f.debug_struct("LdapDirectory");
        debug
            .field("url", &inner.url)
            .field("base_dn", &inner.base_dn);
        match &inner.mode {
            Mode::SearchThenBind {
                bind_dn,
                search_pool,
            } => debug
                .field("bind_dn", bind_dn)
                .field("user_filter", &inner.user_filter)
                .field("search_pool", &search_pool.status()),
            Mode::DirectBind { user_dn } => debug.field("user_dn", user_dn),
        };
        debug
            .field("group_filter", &inner.group_filter)
            .field("bind_pool", &inner.bind_pool.status())
            .finish_non_exhaustive()
    }
}

impl LdapDirectory {
    /// Checks the settings ([`LdapSettings::validate`]), reads the files
    /// they name (the service password, the CA certificates) and sets up
    /// the connection pools, without connecting: the first login does.
    /// Needs no runtime; logins need Tokio's, with its timer.
    pub fn new(settings: LdapSettings) -> Result<LdapDirectory, LdapError> {
        settings.validate()?;
        let endpoint = Endpoint::parse(&settings.url)?;
        let tls = if endpoint.tls || settings.start_tls {
            Some(connection::tls_config(settings.ca_certificate.as_deref())?)
        } else {
            None
        };
        if !endpoint.tls && !settings.start_tls && !endpoint.is_loopback() {
            tracing::warn!(
                url = %settings.url,
                "LDAP over plain ldap:// without start_tls: passwords cross the network in \
                 clear text"
            );
        }
        let connector = Connector::new(&settings.url, settings.start_tls, tls, settings.timeout);
        let mode = match (&settings.bind_dn, &settings.user_dn) {
            (Some(bind_dn), _) => {
                let password = service_password(&settings)?;
                let searcher = connector.binding_as(ServiceAccount {
                    dn: bind_dn.clone(),
                    password,
                });
                Mode::SearchThenBind {
                    bind_dn: bind_dn.clone(),
                    search_pool: searcher.pool(settings.pool_size)?,
                }
            }
            (None, Some(user_dn)) => Mode::DirectBind {
                user_dn: user_dn.clone(),
            },
            (None, None) => return Err(LdapError::invalid("bind_dn", "not set")),
        };
        Ok(LdapDirectory {
            inner: Arc::new(Inner {
                url: settings.url.clone(),
                group_base_dn: settings
                    .group_base_dn
                    .clone()
                    .unwrap_or_else(|| settings.base_dn.clone()),
                base_dn: settings.base_dn.clone(),
                user_filter: settings.user_filter.clone(),
                group_filter: settings.group_filter.clone(),
                reader: Reader::new(&settings),
                mode,
                bind_pool: connector.pool(settings.pool_size)?,
            }),
        })
    }
}

/// The service account's password, from the settings or its file (one
/// trailing newline dropped).
fn service_password(settings: &LdapSettings) -> Result<String, LdapError> {
    const SETTING: &str = "bind_password_file";
    match (&settings.bind_password, &settings.bind_password_file) {
        (Some(password), _) => Ok(password.clone()),
        (None, Some(path)) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| LdapError::file(SETTING, path, e))?;
            let password = text
                .strip_suffix('\n')
                .map(|p| p.strip_suffix('\r').unwrap_or(p))
                .unwrap_or(&text);
            if password.is_empty() {
                return Err(LdapError::file(
                    SETTING,
                    path,
                    "is empty (an empty password binds anonymously)",
                ));
            }
            Ok(password.to_owned())
        }
        (None, None) => Err(LdapError::invalid("bind_password", "not set")),
    }
}

/// Whether `name` can be an account: not empty (the anonymous client's),
/// no NUL (which ends a string in C directories).
fn usable_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('\0')
}

#[async_trait]
impl Authenticator for LdapDirectory {
    /// Checks a user name and password; other credentials are
    /// [`AuthnError::NotMine`].
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
        let Credentials::Password { username, password } = credentials else {
            return Err(AuthnError::NotMine);
        };
        if !usable_name(username) {
            return Err(AuthnError::NotMine);
        }
        // Before any I/O: the directory would take it as an anonymous bind
        // and answer success.
        if password.expose().is_empty() {
            return Err(AuthnError::InvalidCredentials);
        }
        let inner = &self.inner;
        match &inner.mode {
            Mode::SearchThenBind { search_pool, .. } => {
                inner
                    .search_then_bind(search_pool, username, password.expose())
                    .await
            }
            Mode::DirectBind { user_dn } => {
                inner
                    .direct_bind(user_dn, username, password.expose())
                    .await
            }
        }
    }

    /// Search then bind: the person as the directory has them now (groups
    /// and labels read again), [`AuthnError::NotMine`] when no longer
    /// there. Direct bind: the identity unchanged, as the directory cannot
    /// be asked without the person's password.
    async fn refresh(&self, identity: &Identity) -> Result<Identity, AuthnError> {
        if !usable_name(identity.subject()) {
            return Err(AuthnError::NotMine);
        }
        match &self.inner.mode {
            Mode::SearchThenBind { search_pool, .. } => {
                self.inner.refresh(search_pool, identity).await
            }
            Mode::DirectBind { .. } => Ok(identity.clone()),
        }
    }
}
