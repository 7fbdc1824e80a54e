//! [`LdapSettings`]: where the directory is and how people and groups are
//! found in it, and the checks that need no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::LdapError;
use super::syntax::{
    ACCOUNT, DN, Endpoint, any_account, attribute_name, filter_template, not_empty, template,
};

/// The label the groups go to: no configured label may take it.
pub(super) const GROUPS_LABEL: &str = "groups";

/// How [`LdapDirectory`](super::LdapDirectory) reaches the directory and
/// finds people and groups in it: the `[ldap]` table of the server's
/// configuration, with these key names.
///
/// Start from [`LdapSettings::new`], which sets every default, and set the
/// public fields (the struct is `#[non_exhaustive]`, so that new settings
/// can come without breaking you: assign fields rather than write the
/// struct out):
///
/// ```
/// use registry_auth::identity::LdapSettings;
///
/// let mut settings = LdapSettings::new("ldaps://ldap.example.com", "ou=people,dc=example,dc=com");
/// settings.bind_dn = Some("cn=registry,ou=services,dc=example,dc=com".into());
/// settings.bind_password_file = Some("/run/secrets/ldap-password".into());
/// settings.labels.insert("team".into(), "departmentNumber".into());
/// assert!(settings.validate().is_ok());
/// ```
///
/// Exactly one of two modes is chosen by [`bind_dn`](Self::bind_dn): with
/// it, **search then bind** (a service account finds the user's entry,
/// then the user's password is checked by binding as that entry); without
/// it, **direct bind** with the DN made from [`user_dn`](Self::user_dn).
/// See [`LdapDirectory`](super::LdapDirectory) for both.
///
/// Templates name the account as `${account}` (and the user's DN as
/// `${dn}` in [`group_filter`](Self::group_filter)); the values are
/// escaped where they go (RFC 4515 in filters, RFC 4514 in DNs), so a
/// name like `*)(uid=*` matches only itself.
///
/// With the `serde` feature it deserializes from a table with these field
/// names (`timeout` as `"5s"`); `url` and `base_dn` are required, a
/// missing field keeps its default, an unknown one is refused.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct LdapSettings {
    /// `ldap://host[:port]` (port 389 by default) or `ldaps://host[:port]`
    /// (636, TLS from the start).
    pub url: String,
    /// Upgrades an `ldap://` connection with StartTLS before anything is
    /// sent; refused with `ldaps://`. Defaults to `false`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub start_tls: bool,
    /// A PEM file of the CA certificates to trust for `ldaps://` and
    /// StartTLS (and only them). Defaults to the system's CA bundle
    /// (`SSL_CERT_FILE`, or the distribution's bundle file).
    #[cfg_attr(feature = "serde", serde(default))]
    pub ca_certificate: Option<PathBuf>,
    /// The service account's DN: search then bind. Without it, direct bind
    /// with [`user_dn`](Self::user_dn).
    #[cfg_attr(feature = "serde", serde(default))]
    pub bind_dn: Option<String>,
    /// The service account's password; or
    /// [`bind_password_file`](Self::bind_password_file). Exactly one of the
    /// two with [`bind_dn`](Self::bind_dn), neither without it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub bind_password: Option<String>,
    /// A file holding the service account's password, read when the
    /// directory is built; one trailing newline is dropped.
    #[cfg_attr(feature = "serde", serde(default))]
    pub bind_password_file: Option<PathBuf>,
    /// Where people are searched (the whole subtree).
    pub base_dn: String,
    /// The filter that finds a person by account name. Defaults to
    /// `(uid=${account})`; Active Directory: `(sAMAccountName=${account})`.
    /// It may narrow the search further:
    /// `(&(uid=${account})(memberOf=cn=registry,ou=groups,dc=example,dc=com))`.
    #[cfg_attr(feature = "serde", serde(default = "default_user_filter"))]
    pub user_filter: String,
    /// The DN to bind as without a service account, e.g.
    /// `uid=${account},ou=people,dc=example,dc=com`. Required exactly when
    /// [`bind_dn`](Self::bind_dn) is absent.
    #[cfg_attr(feature = "serde", serde(default))]
    pub user_dn: Option<String>,
    /// The attribute whose value becomes the identity's subject (`uid`,
    /// `sAMAccountName`): the name as the directory spells it, whatever
    /// case the client typed. Defaults to the account name as the client
    /// sent it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub subject_attribute: Option<String>,
    /// Where groups are searched with [`group_filter`](Self::group_filter).
    /// Defaults to [`base_dn`](Self::base_dn).
    #[cfg_attr(feature = "serde", serde(default))]
    pub group_base_dn: Option<String>,
    /// The filter that finds a person's groups, e.g. `(member=${dn})`
    /// (`${dn}`: the person's DN, `${account}`: the account name). Without
    /// it, the groups are read from the person's
    /// [`member_of_attribute`](Self::member_of_attribute).
    #[cfg_attr(feature = "serde", serde(default))]
    pub group_filter: Option<String>,
    /// The attribute that names a group: read from each group found by
    /// [`group_filter`](Self::group_filter), or the RDN attribute taken
    /// from each `memberOf` DN (a DN whose first RDN is another attribute
    /// is skipped). Defaults to `cn`.
    #[cfg_attr(feature = "serde", serde(default = "default_group_name_attribute"))]
    pub group_name_attribute: String,
    /// The attribute listing a person's groups as DNs. Defaults to
    /// `memberOf`.
    #[cfg_attr(feature = "serde", serde(default = "default_member_of_attribute"))]
    pub member_of_attribute: String,
    /// Labels of the identity: label name = attribute name; every value
    /// of the attribute becomes a value of the label (`team =
    /// "departmentNumber"`). The label `groups` is the groups'.
    #[cfg_attr(feature = "serde", serde(default))]
    pub labels: BTreeMap<String, String>,
    /// The longest wait for connecting, for each operation and for a free
    /// pooled connection; longer is answered 503. Defaults to 5 s.
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", default = "default_timeout")
    )]
    pub timeout: Duration,
    /// Connections kept in each pool: one that searches (search then bind
    /// only) and one that checks passwords, so at most twice this many
    /// are open. 1 to 256; defaults
    /// to 8.
    #[cfg_attr(feature = "serde", serde(default = "default_pool_size"))]
    pub pool_size: usize,
}

fn default_user_filter() -> String {
    "(uid=${account})".to_owned()
}
fn default_group_name_attribute() -> String {
    "cn".to_owned()
}
fn default_member_of_attribute() -> String {
    "memberOf".to_owned()
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_pool_size() -> usize {
    8
}

impl fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapSettings")
            .field("url", &self.url)
            .field("start_tls", &self.start_tls)
            .field("ca_certificate", &self.ca_certificate)
            .field("bind_dn", &self.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "<redacted>"),
            )
            .field("bind_password_file", &self.bind_password_file)
            .field("base_dn", &self.base_dn)
            .field("user_filter", &self.user_filter)
            .field("user_dn", &self.user_dn)
            .field("subject_attribute", &self.subject_attribute)
            .field("group_base_dn", &self.group_base_dn)
            .field("group_filter", &self.group_filter)
            .field("group_name_attribute", &self.group_name_attribute)
            .field("member_of_attribute", &self.member_of_attribute)
            .field("labels", &self.labels)
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl LdapSettings {
    /// Settings for the directory at `url`, finding people under
    /// `base_dn`; every other setting at its default. Set
    /// [`bind_dn`](Self::bind_dn) and a password (search then bind) or
    /// [`user_dn`](Self::user_dn) (direct bind) before use.
    pub fn new(url: impl Into<String>, base_dn: impl Into<String>) -> Self {
        LdapSettings {
            url: url.into(),
            start_tls: false,
            ca_certificate: None,
            bind_dn: None,
            bind_password: None,
            bind_password_file: None,
            base_dn: base_dn.into(),
            user_filter: default_user_filter(),
            user_dn: None,
            subject_attribute: None,
            group_base_dn: None,
            group_filter: None,
            group_name_attribute: default_group_name_attribute(),
            member_of_attribute: default_member_of_attribute(),
            labels: BTreeMap::new(),
            timeout: default_timeout(),
            pool_size: default_pool_size(),
        }
    }

    /// Checks everything that needs no I/O: the URL, the TLS choice, the
    /// templates and their placeholders, which settings go together, the
    /// attribute names, the pool size and the timeout. The error names the
    /// key. [`LdapDirectory::new`](super::LdapDirectory::new) calls it.
    pub fn validate(&self) -> Result<(), LdapError> {
        let endpoint = Endpoint::parse(&self.url)?;
        if self.start_tls && endpoint.tls {
            return Err(LdapError::invalid(
                "start_tls",
                "not with ldaps:// (TLS from the start); use one or the other",
            ));
        }
        if self.ca_certificate.is_some() && !endpoint.tls && !self.start_tls {
            return Err(LdapError::invalid(
                "ca_certificate",
                "only used over TLS: use an ldaps:// url or start_tls = true",
            ));
        }
        not_empty("base_dn", &self.base_dn)?;
        filter_template("user_filter", &self.user_filter, &[ACCOUNT])?;
        match (&self.bind_dn, &self.user_dn) {
            (Some(bind_dn), None) => {
                not_empty("bind_dn", bind_dn)?;
                match (&self.bind_password, &self.bind_password_file) {
                    (Some(password), None) if password.is_empty() => {
                        return Err(LdapError::invalid(
                            "bind_password",
                            "must not be empty (an empty password binds anonymously)",
                        ));
                    }
                    (Some(_), None) | (None, Some(_)) => {}
                    (Some(_), Some(_)) => {
                        return Err(LdapError::invalid(
                            "bind_password_file",
                            "give bind_password or bind_password_file, not both",
                        ));
                    }
                    (None, None) => {
                        return Err(LdapError::invalid(
                            "bind_password",
                            "not set: bind_dn needs bind_password or bind_password_file",
                        ));
                    }
                }
            }
            (Some(_), Some(_)) => {
                return Err(LdapError::invalid(
                    "user_dn",
                    "only without bind_dn: give bind_dn (search then bind) or user_dn \
                     (direct bind), not both",
                ));
            }
            (None, Some(user_dn)) => {
                template("user_dn", user_dn, &[ACCOUNT], &[ACCOUNT])?;
                for (setting, given) in [
                    ("bind_password", self.bind_password.is_some()),
                    ("bind_password_file", self.bind_password_file.is_some()),
                ] {
                    if given {
                        return Err(LdapError::invalid(setting, "only with bind_dn"));
                    }
                }
            }
            (None, None) => {
                return Err(LdapError::invalid(
                    "bind_dn",
                    "not set: give bind_dn (search then bind) or user_dn (direct bind)",
                ));
            }
        }
        if let Some(attribute) = &self.subject_attribute {
            attribute_name("subject_attribute", attribute)?;
            // A refresh finds the person by this attribute and the user
            // filter with "any account" in it: that must still parse.
            if ldap3::parse_filter(any_account(&self.user_filter)).is_err() {
                return Err(LdapError::invalid(
                    "user_filter",
                    "with subject_attribute, ${account} must be a whole attribute value, as in \
                     (uid=${account})",
                ));
            }
        }
        if let Some(base) = &self.group_base_dn {
            not_empty("group_base_dn", base)?;
        }
        if let Some(filter) = &self.group_filter {
            filter_template("group_filter", filter, &[DN, ACCOUNT])?;
        }
        attribute_name("group_name_attribute", &self.group_name_attribute)?;
        attribute_name("member_of_attribute", &self.member_of_attribute)?;
        for (label, attribute) in &self.labels {
            if label.is_empty() {
                return Err(LdapError::invalid(
                    "labels",
                    "a label name must not be empty",
                ));
            }
            if label == GROUPS_LABEL {
                return Err(LdapError::invalid(
                    "labels",
                    "the label \"groups\" is reserved: the groups go there",
                ));
            }
            attribute_name("labels", attribute)
                .map_err(|e| LdapError::invalid("labels", format!("{label}: {}", e.reason())))?;
        }
        if self.timeout.is_zero() {
            return Err(LdapError::invalid("timeout", "must be longer than 0s"));
        }
        if !(1..=256).contains(&self.pool_size) {
            return Err(LdapError::invalid("pool_size", "must be from 1 to 256"));
        }
        Ok(())
    }
}
