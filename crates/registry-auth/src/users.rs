//! A built-in authenticator: a fixed table of users with bcrypt hashes.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::authn::{Authenticator, AuthnError, Identity};
use crate::request::Credentials;

/// A bcrypt hash of a password nobody has, checked for unknown users so
/// that they cost the same time as known ones (no user enumeration).
const DUMMY_HASH: &str = "$2b$10$3ISI0YMMC7c866TFgTvDBO6caqbtdhhfMI.7vVlDNFsd/OQ1Ar77a";

/// Users with bcrypt password hashes (`$2a$`, `$2b$`, `$2y$`), as
/// `htpasswd -B` writes them. Checks run on Tokio's blocking pool: bcrypt
/// takes tens of milliseconds on purpose and must not stall the server.
///
/// ```
/// use registry_auth::StaticUsers;
/// let users = StaticUsers::new()
///     .user("alice", "$2y$10$TYyKeyyopVdR.ppsm5VdCOFuNmQj67YBnG0hpjDA/W1L2I696tO/e");
/// ```
#[derive(Clone, Default)]
pub struct StaticUsers {
    users: Arc<HashMap<String, UserEntry>>,
}

#[derive(Clone)]
struct UserEntry {
    hash: String,
    identity: Identity,
}

impl std::fmt::Debug for StaticUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        f.debug_struct("StaticUsers")
            .field("users", &names)
            .finish()
    }
}

impl StaticUsers {
    /// No users.
    pub fn new() -> Self {
        StaticUsers::default()
    }

    /// Adds a user with a bcrypt hash; the identity is the user name.
    pub fn user(self, name: impl Into<String>, bcrypt_hash: impl Into<String>) -> Self {
        let name = name.into();
        let identity = Identity::new(name.clone());
        self.user_with_identity(name, bcrypt_hash, identity)
    }

    /// Adds a user whose identity carries attributes (groups, labels).
    pub fn user_with_identity(
        mut self,
        name: impl Into<String>,
        bcrypt_hash: impl Into<String>,
        identity: Identity,
    ) -> Self {
        Arc::make_mut(&mut self.users).insert(
            name.into(),
            UserEntry {
                hash: bcrypt_hash.into(),
                identity,
            },
        );
        self
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[async_trait]
impl Authenticator for StaticUsers {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
        let Credentials::Password { username, password } = credentials else {
            return Err(AuthnError::InvalidCredentials);
        };
        let entry = self.users.get(username).cloned();
        let hash = entry.as_ref().map_or(DUMMY_HASH, |e| &e.hash).to_owned();
        let password = password.clone();
        let matches = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.expose(), &hash).unwrap_or(false)
        })
        .await
        .map_err(AuthnError::unavailable)?;
        match entry {
            Some(entry) if matches => Ok(entry.identity),
            _ => Err(AuthnError::InvalidCredentials),
        }
    }
}
