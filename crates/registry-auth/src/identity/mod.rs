//! Built-in identity sources: who a client is, from its credentials.
//!
//! [`StaticUsers`] is a fixed table of users with bcrypt or argon2 password
//! hashes, from code, a configuration file or an htpasswd file. [`Chain`]
//! asks several sources in order. [`AccessTokens`] puts tokens for robots
//! and CI, kept in the state store, in front of their owners' source;
//! [`SignedInPeople`] are owners too: people who signed in at an OpenID
//! provider, as of their last sign-in.
//! With the `ldap` feature, `LdapDirectory` checks passwords against an
//! LDAP directory (OpenLDAP, Active Directory) and reads people's groups
//! and labels from it. With the `workload-identity` feature,
//! `WorkloadIdentity` takes the OIDC tokens CI platforms give their jobs
//! (GitHub Actions, GitLab CI, Kubernetes) as passwords. With the
//! `oidc-login` feature, `OidcLogin` signs people in at an OpenID provider
//! (authorization code with PKCE) and checks the ID token with the same
//! verifier.
//!
//! Layer 1: may use the protocol's words and implements its
//! [`Authenticator`](crate::Authenticator); of the other layer-1 modules
//! only the state store's trait (access tokens live there), the ACL's
//! patterns (workload tokens' requirements) and the clock. Nothing here
//! knows of HTTP or of the core; the workload source fetches its issuers'
//! keys with an HTTP client of its own.

mod access_token;
mod chain;
#[cfg(feature = "ldap")]
mod ldap;
mod password;
mod signed_in;
mod users;
#[cfg(feature = "workload-identity")]
mod workload;

pub use access_token::AccessTokens;
pub use chain::Chain;
#[cfg(feature = "ldap")]
pub use ldap::{LdapDirectory, LdapError, LdapSettings};

pub use password::{BCRYPT_MAX_PASSWORD_BYTES, PasswordHash, PasswordHashError};
pub use signed_in::SignedInPeople;
pub use users::{HtpasswdError, StaticUsers, UserError};
#[cfg(feature = "oidc-login")]
pub use workload::{LoginStart, OidcLogin, OidcLoginError, OidcLoginSettings, PendingLogin};
#[cfg(feature = "workload-identity")]
pub use workload::{WorkloadError, WorkloadIdentity, WorkloadIssuerSettings, WorkloadVerdict};
