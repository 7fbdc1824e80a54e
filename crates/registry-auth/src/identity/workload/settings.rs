//! [`WorkloadIssuerSettings`]: one trusted issuer of workload tokens, and
//! the checks of its settings that need no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::claims::{ClaimPath, Requirement, SubjectTemplate};

/// One issuer whose tokens are accepted as passwords: the
/// `[[workload_identity]]` table of the server's configuration, with
/// these key names.
///
/// Start from [`WorkloadIssuerSettings::new`], which sets every default,
/// and set the public fields (the struct is `#[non_exhaustive]`):
///
/// ```
/// use registry_auth::identity::WorkloadIssuerSettings;
///
/// let mut github = WorkloadIssuerSettings::new(
///     "github",
///     "https://token.actions.githubusercontent.com",
///     "registry.example.com",
///     "github:${repository}",
/// );
/// github.labels.insert("repository".into(), "repository".into());
/// github.require.insert("repository_owner".into(), "my-org".into());
/// assert!(github.validate().is_ok());
/// ```
///
/// Claims are named by their top-level name (`repository`) or, for nested
/// ones, by a JSON pointer (`/kubernetes.io/namespace`).
///
/// With the `serde` feature it deserializes from a table with these field
/// names (durations as `"6h"`); `name`, `issuer`, `audience` and `subject`
/// are required, a missing field keeps its default, an unknown one is
/// refused.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct WorkloadIssuerSettings {
    /// A short name for logs and `check` (`github`, `gitlab`, `k8s-prod`):
    /// letters, digits, `-` and `_`.
    pub name: String,
    /// The issuer, exactly as tokens carry it in `iss`
    /// (`https://token.actions.githubusercontent.com`). `https://`; an
    /// `http://` issuer only on a loopback address (tests).
    pub issuer: String,
    /// The audience tokens must be made for: `aud` must be it or a list
    /// that contains it. Choose one no other relying party uses (your
    /// registry's host name): a token made for another service is then
    /// refused here.
    pub audience: String,
    /// The identity's subject, a template over the claims:
    /// `github:${repository}`. Every claim it names must be present. Put
    /// the issuer in it: two issuers' subjects must never meet.
    pub subject: String,
    /// Labels of the identity: label name = claim (a string, number or
    /// boolean gives one value, a list of strings one value each; a
    /// missing claim, no label).
    #[cfg_attr(feature = "serde", serde(default))]
    pub labels: BTreeMap<String, String>,
    /// Conditions on claims that must all hold: claim = pattern (exact,
    /// glob, or `/regex/`, as in ACL rules; a list claim holds when one of
    /// its values matches). On a shared issuer (GitHub's, GitLab.com's),
    /// this is what keeps other people's jobs out.
    #[cfg_attr(feature = "serde", serde(default))]
    pub require: BTreeMap<String, String>,
    /// Refuses tokens whose `exp - iat` is longer, and then `iat` is
    /// required. Defaults to no such check.
    #[cfg_attr(feature = "serde", serde(default, with = "humantime_serde"))]
    pub max_lifetime: Option<Duration>,
    /// Where the keys are: an `https://` URL of a JWKS, or a JWKS file
    /// (Kubernetes clusters whose discovery is not public). Defaults to
    /// the issuer's discovery document
    /// (`<issuer>/.well-known/openid-configuration`, its `jwks_uri`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub jwks: Option<String>,
    /// A PEM file of the CA certificates to trust when fetching keys (and
    /// only them). Defaults to the system's trust store.
    #[cfg_attr(feature = "serde", serde(default))]
    pub ca_certificate: Option<PathBuf>,
    /// The longest a fetch of the discovery document or the keys may take,
    /// body included (a server that drips bytes is cut off). Defaults to
    /// 5 s.
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", default = "default_fetch_timeout")
    )]
    pub fetch_timeout: Duration,
    /// At most one fetch of the keys per this interval: a token whose `kid`
    /// is unknown refetches them only when the last fetch is older (a
    /// flood of forged kids is not a flood of fetches). At least 1 s;
    /// defaults to 30 s.
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", default = "default_min_refetch_interval")
    )]
    pub min_refetch_interval: Duration,
    /// Keys older than this are fetched again at the next login (kept if
    /// the issuer cannot be reached). Defaults to 1 hour.
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", default = "default_key_max_age")
    )]
    pub key_max_age: Duration,
}

fn default_fetch_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_min_refetch_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_key_max_age() -> Duration {
    Duration::from_secs(3600)
}

impl fmt::Debug for WorkloadIssuerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadIssuerSettings")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("subject", &self.subject)
            .field("labels", &self.labels)
            .field("require", &self.require)
            .field("max_lifetime", &self.max_lifetime)
            .field("jwks", &self.jwks)
            .field("ca_certificate", &self.ca_certificate)
            .field("fetch_timeout", &self.fetch_timeout)
            .field("min_refetch_interval", &self.min_refetch_interval)
            .field("key_max_age", &self.key_max_age)
            .finish()
    }
}

/// Where an issuer's keys come from, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum KeySource {
    /// The issuer's discovery document names the JWKS.
    Discovery(reqwest::Url),
    /// A JWKS at this URL.
    Url(reqwest::Url),
    /// A JWKS file, read when the issuer is built.
    File(PathBuf),
}

/// The settings, parsed: what verification uses.
#[derive(Clone, Debug)]
pub(super) struct Checked {
    pub(super) keys: KeySource,
    pub(super) subject: SubjectTemplate,
    pub(super) labels: Vec<(String, ClaimPath)>,
    pub(super) require: Vec<Requirement>,
    /// Whether `http://` may be fetched (a loopback issuer).
    pub(super) plain_http: bool,
}

impl WorkloadIssuerSettings {
    /// The JWKS file `jwks` names, if it names one (neither a URL nor
    /// empty): what a configuration resolves against its own folder.
    pub fn jwks_file(&self) -> Option<&Path> {
        self.jwks
            .as_deref()
            .filter(|jwks| !jwks.contains("://") && !jwks.is_empty())
            .map(Path::new)
    }

    /// Settings for `issuer`, known as `name`, accepting tokens made for
    /// `audience`, with the subject from the `subject` template; every
    /// other setting at its default.
    pub fn new(
        name: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        subject: impl Into<String>,
    ) -> Self {
        WorkloadIssuerSettings {
            name: name.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            subject: subject.into(),
            labels: BTreeMap::new(),
            require: BTreeMap::new(),
            max_lifetime: None,
            jwks: None,
            ca_certificate: None,
            fetch_timeout: default_fetch_timeout(),
            min_refetch_interval: default_min_refetch_interval(),
            key_max_age: default_key_max_age(),
        }
    }

    /// Checks every setting that needs no I/O (files are read when the
    /// issuer is built).
    pub fn validate(&self) -> Result<(), WorkloadError> {
        self.check().map(|_| ())
    }

    pub(super) fn check(&self) -> Result<Checked, WorkloadError> {
        let invalid = |setting, reason: String| WorkloadError::invalid(&self.name, setting, reason);
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(invalid(
                "name",
                "must be 1 to 64 letters, digits, '-' or '_'".into(),
            ));
        }
        let issuer = web_url(&self.issuer).map_err(|e| invalid("issuer", e))?;
        let plain_http = issuer.scheme() == "http";
        if self.audience.trim().is_empty() {
            return Err(invalid("audience", "must not be empty".into()));
        }
        let subject = SubjectTemplate::parse(&self.subject).map_err(|e| invalid("subject", e))?;
        let labels = self
            .labels
            .iter()
            .map(|(label, claim)| {
                if label.is_empty() {
                    return Err(invalid("labels", "a label name is empty".into()));
                }
                ClaimPath::parse(claim)
                    .map(|path| (label.clone(), path))
                    .map_err(|e| invalid("labels", format!("{label}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let require = self
            .require
            .iter()
            .map(|(claim, pattern)| {
                Requirement::parse(claim, pattern).map_err(|e| invalid("require", e))
            })
            .collect::<Result<_, _>>()?;
        if self.max_lifetime.is_some_and(|d| d.is_zero()) {
            return Err(invalid("max_lifetime", "must be longer than 0".into()));
        }
        if self.fetch_timeout.is_zero() {
            return Err(invalid("fetch_timeout", "must be longer than 0".into()));
        }
        if self.min_refetch_interval < Duration::from_secs(1) {
            return Err(invalid(
                "min_refetch_interval",
                "must be at least 1s".into(),
            ));
        }
        if self.key_max_age < self.min_refetch_interval {
            return Err(invalid(
                "key_max_age",
                "must be at least min_refetch_interval".into(),
            ));
        }
        let keys = match &self.jwks {
            None => KeySource::Discovery(issuer),
            Some(jwks) if jwks.contains("://") => {
                KeySource::Url(web_url(jwks).map_err(|e| invalid("jwks", e))?)
            }
            Some(_) => match self.jwks_file() {
                Some(file) => KeySource::File(file.to_owned()),
                None => return Err(invalid("jwks", "must be a URL or a file".into())),
            },
        };
        let plain_http = plain_http || matches!(&keys, KeySource::Url(u) if u.scheme() == "http");
        Ok(Checked {
            keys,
            subject,
            labels,
            require,
            plain_http,
        })
    }
}

/// An `https://` URL, or an `http://` one on a loopback address.
fn web_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    let host = url.host_str().ok_or("has no host")?;
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err("must be https:// (http:// only on a loopback address)".into()),
        other => Err(format!("must be https://, not {other}://")),
    }
}

/// A setting of [`WorkloadIssuerSettings`] that cannot work, or a file it
/// names that cannot be read. `Display` names the issuer and the key:
/// `workload_identity "github": subject: …`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadError {
    /// A setting's value cannot work.
    #[error("workload_identity {issuer:?}: {setting}: {reason}")]
    Invalid {
        /// The issuer's [`name`](WorkloadIssuerSettings::name).
        issuer: String,
        /// The key inside `[[workload_identity]]`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A file a setting names cannot be read or used.
    #[error("workload_identity {issuer:?}: {setting}: {}: {reason}", path.display())]
    File {
        /// The issuer's [`name`](WorkloadIssuerSettings::name).
        issuer: String,
        /// The key inside `[[workload_identity]]` (`jwks`, `ca_certificate`).
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Two issuers share a name or an issuer URL.
    #[error("workload_identity {issuer:?}: {setting}: {reason}")]
    Duplicate {
        /// The later issuer's name.
        issuer: String,
        /// `name` or `issuer`.
        setting: &'static str,
        /// Which one it repeats.
        reason: String,
    },
}

impl WorkloadError {
    pub(super) fn invalid(issuer: &str, setting: &'static str, reason: String) -> Self {
        WorkloadError::Invalid {
            issuer: issuer.to_owned(),
            setting,
            reason,
        }
    }

    pub(super) fn file(
        issuer: &str,
        setting: &'static str,
        path: &Path,
        reason: impl fmt::Display,
    ) -> Self {
        WorkloadError::File {
            issuer: issuer.to_owned(),
            setting,
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// The key inside `[[workload_identity]]` that is wrong.
    pub fn setting(&self) -> &'static str {
        match self {
            WorkloadError::Invalid { setting, .. }
            | WorkloadError::File { setting, .. }
            | WorkloadError::Duplicate { setting, .. } => setting,
        }
    }

    /// The name of the issuer whose settings are wrong.
    pub fn issuer(&self) -> &str {
        match self {
            WorkloadError::Invalid { issuer, .. }
            | WorkloadError::File { issuer, .. }
            | WorkloadError::Duplicate { issuer, .. } => issuer,
        }
    }
}
