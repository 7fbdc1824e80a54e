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
use std::time::Duration;

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

/// Checks a duration against the range it can work in: a token or
/// refresh token shorter than a minute is useless (clients treat anything
/// shorter as 60 s, and the registry allows 60 s of clock skew); one longer
/// than `max` cannot be taken back in time (and a huge one would overflow
/// the clock arithmetic).
pub(crate) fn within(
    setting: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), BuildError> {
    let shown = |d: Duration| humantime::format_duration(d).to_string();
    if value < min {
        return Err(BuildError::invalid(
            setting,
            format!(
                "{} is shorter than the minimum of {}s",
                shown(value),
                min.as_secs()
            ),
        ));
    }
    at_most(setting, value, max)
}

/// Checks a duration against its longest sensible value (far past it, the
/// clock arithmetic would overflow).
pub(crate) fn at_most(
    setting: &'static str,
    value: Duration,
    max: Duration,
) -> Result<(), BuildError> {
    if value > max {
        let shown = |d: Duration| humantime::format_duration(d).to_string();
        return Err(BuildError::invalid(
            setting,
            format!(
                "{} is longer than the maximum of {}",
                shown(value),
                shown(max)
            ),
        ));
    }
    Ok(())
}

/// A minute: the shortest token and refresh-token lifetime.
pub(crate) const MINUTE: Duration = Duration::from_secs(60);
/// A day: the longest token lifetime and throttling wait.
pub(crate) const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// A year (365.25 days, as humantime counts and prints it): the longest
/// refresh-token lifetime.
pub(crate) const YEAR: Duration = Duration::from_secs(31_557_600);
