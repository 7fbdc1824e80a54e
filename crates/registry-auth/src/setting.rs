//! Layer 0: how a setting that cannot work is reported.
//!
//! Every option of the library is checked in one place, where the option
//! is taken in (the server builder, the JWT generator builder, [`Limits`],
//! [`Throttling`]); the error names the setting, so that a configuration
//! file can map it back to the key and line it came from. May use nothing
//! else of this crate.
//!
//! [`Limits`]: crate::Limits
//! [`Throttling`]: crate::Throttling

use std::fmt;

/// A setting that is missing or cannot work, reported by
/// [`AuthServerBuilder::build`](crate::AuthServerBuilder::build) and the
/// other builders.
///
/// [`setting`](BuildError::setting) names the setting as the builder
/// method or option field that takes it (`issuer`, `token_lifetime`,
/// `limits.max_scopes`, `throttling.base_delay`…), and
/// [`reason`](BuildError::reason) says what is wrong with it; `Display`
/// prints both: `token_lifetime: 30s is shorter than the minimum of 60s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    setting: &'static str,
    reason: String,
}

impl BuildError {
    /// A setting with a value that cannot work.
    pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        BuildError {
            setting,
            reason: reason.into(),
        }
    }

    /// A required setting that was not given; `hint` says how to give it.
    pub(crate) fn missing(setting: &'static str, hint: &str) -> Self {
        BuildError {
            setting,
            reason: format!("not set: {hint}"),
        }
    }

    /// The setting: a builder method or an option field, dotted for the
    /// fields of [`Limits`](crate::Limits) and
    /// [`Throttling`](crate::Throttling) (`limits.max_scopes`).
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.reason)
    }
}

impl std::error::Error for BuildError {}

/// Checks a lifetime against the minimum the registry can work with.
pub(crate) fn at_least_a_minute(
    setting: &'static str,
    lifetime: std::time::Duration,
) -> Result<(), BuildError> {
    if lifetime < MIN_LIFETIME {
        return Err(BuildError::invalid(
            setting,
            format!(
                "{} is shorter than the minimum of 60s",
                humantime::format_duration(lifetime)
            ),
        ));
    }
    Ok(())
}

/// The shortest token and refresh-token lifetime: clients treat anything
/// shorter as 60 s anyway, and the registry allows 60 s of clock skew.
pub(crate) const MIN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);
