//! [`LdapError`]: a setting that cannot work, named by its key.

use std::fmt;
use std::path::{Path, PathBuf};

/// A setting of [`LdapSettings`](super::LdapSettings) that cannot work, or a file it names
/// that cannot be read. [`setting`](Self::setting) is the key inside
/// `[ldap]`; `Display` prints it dotted: `ldap.user_filter: must contain
/// ${account}`. No error ever holds a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LdapError {
    /// A setting's value cannot work.
    #[error("ldap.{setting}: {reason}")]
    Invalid {
        /// The key inside `[ldap]`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A file a setting names cannot be read or used.
    #[error("ldap.{setting}: {}: {reason}", path.display())]
    File {
        /// The key inside `[ldap]` (`bind_password_file`, `ca_certificate`).
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl LdapError {
    pub(super) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        LdapError::Invalid {
            setting,
            reason: reason.into(),
        }
    }

    pub(super) fn file(setting: &'static str, path: &Path, reason: impl fmt::Display) -> Self {
        LdapError::File {
            setting,
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// The key inside `[ldap]` that is wrong: `user_filter`, `bind_dn`…
    pub fn setting(&self) -> &'static str {
        match self {
            LdapError::Invalid { setting, .. } | LdapError::File { setting, .. } => setting,
        }
    }

    /// What is wrong with it (with a file: the file's name is in
    /// [`LdapError::File::path`] and in `Display`, not here).
    pub fn reason(&self) -> &str {
        match self {
            LdapError::Invalid { reason, .. } | LdapError::File { reason, .. } => reason,
        }
    }
}
