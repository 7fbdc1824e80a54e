//! Built-in identity sources: who a client is, from its credentials.
//!
//! [`StaticUsers`] is a fixed table of users with bcrypt or argon2 password
//! hashes, from code, a configuration file or an htpasswd file.
//!
//! Layer 1: may use the protocol's words and implements its
//! [`Authenticator`](crate::Authenticator); nothing here knows of HTTP, of
//! the core or of other layer-1 modules.

mod password;
mod users;

pub use password::{BCRYPT_MAX_PASSWORD_BYTES, PasswordHash, PasswordHashError};
pub use users::{HtpasswdError, StaticUsers, UserError};
