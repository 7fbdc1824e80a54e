//! Built-in identity sources: who a client is, from its credentials.
//!
//! [`StaticUsers`] is a fixed table of users with bcrypt or argon2 password
//! hashes, from code, a configuration file or an htpasswd file. [`Chain`]
//! asks several sources in order. [`AccessTokens`] puts tokens for robots
//! and CI, kept in the state store, in front of their owners' source.
//! With the `ldap` feature, `LdapDirectory` checks passwords against an
//! LDAP directory (OpenLDAP, Active Directory) and reads people's groups
//! and labels from it.
//!
//! Layer 1: may use the protocol's words and implements its
//! [`Authenticator`](crate::Authenticator); of the other layer-1 modules
//! only the state store's trait (access tokens live there) and the clock.
//! Nothing here knows of HTTP or of the core.

mod access_token;
mod chain;
#[cfg(feature = "ldap")]
mod ldap;
mod password;
mod users;

pub use access_token::AccessTokens;
pub use chain::Chain;
#[cfg(feature = "ldap")]
pub use ldap::{LdapDirectory, LdapError, LdapSettings};

pub use password::{BCRYPT_MAX_PASSWORD_BYTES, PasswordHash, PasswordHashError};
pub use users::{HtpasswdError, StaticUsers, UserError};
