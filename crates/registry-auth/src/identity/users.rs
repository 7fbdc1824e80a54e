//! [`StaticUsers`]: a fixed table of users with password hashes.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock};

use async_trait::async_trait;

use super::password::{PasswordHash, PasswordHashError};
use crate::protocol::authn::{Authenticator, AuthnError};
use crate::protocol::credentials::Credentials;
use crate::protocol::fingerprint::CredentialFingerprint;
use crate::protocol::identity::Identity;

/// The hash of a random password nobody has, checked for unknown users
/// when there are no users to take the cost from. Cost 10, like
/// `htpasswd -B`.
static DUMMY_HASH: LazyLock<Option<PasswordHash>> = LazyLock::new(|| {
    PasswordHash::parse("$2b$10$3ISI0YMMC7c866TFgTvDBO6caqbtdhhfMI.7vVlDNFsd/OQ1Ar77a").ok()
});

/// How many password hashes may be checked at once in this process: all
/// cores but one (at least one), so that the async workers always keep a
/// core for other requests, health checks included.
static HASH_PERMITS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))
});

/// Users with bcrypt (`$2a$`, `$2b$`, `$2y$`) or argon2 password hashes.
///
/// Checks run on Tokio's blocking pool, at most one fewer at once than the
/// machine has cores: a hash check takes tens of milliseconds on purpose
/// and must not stall the server.
///
/// ```
/// use registry_auth::identity::StaticUsers;
/// let users = StaticUsers::new()
///     .user("alice", "$2y$10$TYyKeyyopVdR.ppsm5VdCOFuNmQj67YBnG0hpjDA/W1L2I696tO/e")?;
/// # Ok::<(), registry_auth::identity::UserError>(())
/// ```
///
/// An unknown user is checked against the hash of a known user whose cost
/// is the most common in the table (the answer is always a refusal), so
/// that it costs what a wrong password for most users costs and the time
/// does not tell who exists. Users whose hashes cost more or less than
/// that are told apart by time; [`hash_costs`](Self::hash_costs) lists
/// them. An unknown user gets [`AuthnError::NotMine`], so that in an
/// [`identity::Chain`](crate::identity::Chain) the next source decides.
#[derive(Clone, Default)]
pub struct StaticUsers {
    users: Arc<HashMap<String, UserEntry>>,
    /// A hash of the most common cost, checked for unknown users: picked
    /// at the first unknown user after a change (not at every added user,
    /// which would make loading a large htpasswd file quadratic).
    decoy: Arc<OnceLock<Option<PasswordHash>>>,
    /// Unknown names answer [`AuthnError::NotMine`] at once, without the
    /// decoy check ([`pass_unknown_on`](Self::pass_unknown_on)).
    pass_unknown_on: bool,
}

#[derive(Clone)]
struct UserEntry {
    hash: PasswordHash,
    identity: Identity,
    /// Kept, but may not log in or refresh.
    disabled: bool,
}

impl UserEntry {
    /// The password hash as written and the account's state.
    fn fingerprint(&self) -> CredentialFingerprint {
        let state: &[u8] = if self.disabled {
            b"disabled"
        } else {
            b"enabled"
        };
        CredentialFingerprint::of(&[b"password-hash", self.hash.as_str().as_bytes(), state])
    }
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

/// A user that cannot be added to [`StaticUsers`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// The name, or the subject of the identity given for it, is empty:
    /// the empty subject is the anonymous client's.
    #[error("a user name must not be empty (the empty subject is the anonymous client's)")]
    EmptyName,
    /// The name holds a `:` or a control character, which Basic
    /// authentication cannot carry: nobody could log in as this user.
    #[error("user name {0:?} holds ':' or a control character, which clients cannot send")]
    Unusable(String),
    /// The name holds a `/`: through a rule like `name = "${account}/*"`
    /// user `alice/team` would reach into `alice/team/*`, which is
    /// alice's namespace.
    #[error(
        "user name {0:?} holds '/', which would reach into another namespace through \
         ${{account}}/* rules"
    )]
    Slash(String),
    /// The password hash cannot be used.
    #[error(transparent)]
    Hash(#[from] PasswordHashError),
}

/// A line of an htpasswd file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct HtpasswdError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl StaticUsers {
    /// No users.
    pub fn new() -> Self {
        StaticUsers::default()
    }

    /// Adds a user; the identity is the user name.
    pub fn user(self, name: impl Into<String>, hash: &str) -> Result<Self, UserError> {
        let name = name.into();
        let identity = Identity::new(name.clone());
        self.user_with_identity(name, hash, identity)
    }

    /// Adds a user whose identity carries attributes (groups, labels).
    /// The name must be one a client can send (not empty, no `:`, no
    /// control characters) and hold no `/` (see [`UserError::Slash`]), and
    /// the identity must not be anonymous.
    pub fn user_with_identity(
        mut self,
        name: impl Into<String>,
        hash: &str,
        identity: Identity,
    ) -> Result<Self, UserError> {
        let name = name.into();
        if name.is_empty() || identity.is_anonymous() {
            return Err(UserError::EmptyName);
        }
        if name.contains(':') || name.chars().any(char::is_control) {
            return Err(UserError::Unusable(name));
        }
        if name.contains('/') {
            return Err(UserError::Slash(name));
        }
        let hash = PasswordHash::parse(hash)?;
        Arc::make_mut(&mut self.users).insert(
            name,
            UserEntry {
                hash,
                identity,
                disabled: false,
            },
        );
        Ok(self.with_decoy())
    }

    /// Forgets the decoy hash: the users changed.
    fn with_decoy(mut self) -> Self {
        self.decoy = Arc::default();
        self
    }

    /// The hash unknown users are checked against: a user's hash of the
    /// most common cost (on a tie, the group listed first by
    /// [`hash_costs`](Self::hash_costs); the first name in it).
    fn decoy(&self) -> Option<&PasswordHash> {
        self.decoy
            .get_or_init(|| {
                let costs = self.hash_costs();
                costs
                    .first()
                    .and_then(|(_, names)| names.first())
                    .and_then(|name| self.users.get(name))
                    .map(|entry| entry.hash.clone())
            })
            .as_ref()
    }

    /// The users grouped by what checking their password costs
    /// ([`PasswordHash::cost`]), most common first (ties in the reverse
    /// order of the cost's name), names sorted. More than
    /// one group means a wrong password takes longer for some users than
    /// for others (an unknown user costs what the first group does): worth
    /// a warning, and rehashing the others at one cost.
    pub fn hash_costs(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: HashMap<String, Vec<String>> = HashMap::new();
        for (name, entry) in self.users.iter() {
            groups
                .entry(entry.hash.cost())
                .or_default()
                .push(name.clone());
        }
        let mut groups: Vec<(String, Vec<String>)> = groups.into_iter().collect();
        for (_, names) in &mut groups {
            names.sort();
        }
        groups.sort_by(|(a_cost, a), (b_cost, b)| {
            b.len()
                .cmp(&a.len())
                .then_with(|| b_cost.cmp(a_cost))
                .then_with(|| a.cmp(b))
        });
        groups
    }

    /// Disables a user: kept in the table (and in
    /// [`credential_fingerprints`](Self::credential_fingerprints), where
    /// the change ends the user's refresh tokens), but refused at login
    /// (after the same password-hash work as anyone, so the answer does
    /// not tell) and at refresh. No effect on a name not in the table.
    pub fn disable(mut self, name: &str) -> Self {
        if let Some(entry) = Arc::make_mut(&mut self.users).get_mut(name) {
            entry.disabled = true;
        }
        self
    }

    /// Adds the users of an htpasswd file (`name:hash` lines; blank lines
    /// and `#` comments are skipped). Only bcrypt hashes (`htpasswd -B`) are
    /// accepted: the MD5, SHA-1 and crypt forms are too weak to keep.
    pub fn with_htpasswd(mut self, text: &str) -> Result<Self, HtpasswdError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: &str| HtpasswdError {
                line: i + 1,
                reason: reason.to_owned(),
            };
            let (name, hash) = line
                .split_once(':')
                .ok_or_else(|| error("expected name:hash"))?;
            if name.is_empty() {
                return Err(error("empty user name"));
            }
            if !hash.starts_with("$2") {
                return Err(error(
                    "only bcrypt hashes are supported (make them with htpasswd -B)",
                ));
            }
            self = self
                .user(name, hash)
                .map_err(|e| error(&format!("user {name}: {e}")))?;
        }
        Ok(self)
    }

    /// Answers an unknown name with [`AuthnError::NotMine`] at once,
    /// skipping the decoy check: for users tried before another source in
    /// an [`identity::Chain`](crate::identity::Chain) (break-glass admins
    /// before the directory), whose own check then takes the time. The
    /// decoy would only add a hash's cost to every login of the next
    /// source, and could not hide which source answered.
    pub fn pass_unknown_on(mut self) -> Self {
        self.pass_unknown_on = true;
        self
    }

    /// The user names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// The identity a user gets once authenticated, without checking a
    /// password (for tools that explain decisions).
    pub fn identity(&self, name: &str) -> Option<&Identity> {
        self.users.get(name).map(|e| &e.identity)
    }

    /// Adds all users of `other`; on a name in both, `other`'s entry wins.
    pub fn merge(mut self, other: StaticUsers) -> Self {
        let users = Arc::make_mut(&mut self.users);
        for (name, entry) in other.users.iter() {
            users.insert(name.clone(), entry.clone());
        }
        self.with_decoy()
    }

    /// Every user's credential fingerprint (a digest of the password hash
    /// as written), sorted by name: what
    /// [`AuthServer::sync_credentials`](crate::AuthServer::sync_credentials)
    /// takes, so that a changed password or a removed user ends the
    /// user's refresh tokens.
    pub fn credential_fingerprints(&self) -> Vec<(String, CredentialFingerprint)> {
        let mut list: Vec<(String, CredentialFingerprint)> = self
            .users
            .iter()
            .map(|(name, entry)| (name.clone(), entry.fingerprint()))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// Whether the user of that name is disabled ([`disable`](Self::disable)).
    pub fn is_disabled(&self, name: &str) -> bool {
        self.users.get(name).is_some_and(|e| e.disabled)
    }

    /// Whether there is a user of that name.
    pub fn contains(&self, name: &str) -> bool {
        self.users.contains_key(name)
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
            return Err(AuthnError::NotMine);
        };
        let entry = self.users.get(username).cloned();
        if entry.is_none() && self.pass_unknown_on {
            return Err(AuthnError::NotMine);
        }
        let hash = match (&entry, self.decoy()) {
            (Some(entry), _) => entry.hash.clone(),
            // The answer is a refusal whatever the check says: it is
            // there for its cost.
            (None, Some(decoy)) => decoy.clone(),
            (None, None) => DUMMY_HASH.clone().ok_or(AuthnError::InvalidCredentials)?,
        };
        let password = password.clone();
        // At most HASH_PERMITS checks at once: a flood of wrong passwords
        // then queues here (asynchronously) instead of taking every core
        // from the threads that answer everyone else.
        let _permit = HASH_PERMITS
            .acquire()
            .await
            .map_err(AuthnError::unavailable)?;
        let matches = tokio::task::spawn_blocking(move || hash.verify(password.expose()))
            .await
            .map_err(AuthnError::unavailable)?;
        match entry {
            Some(entry) if matches && !entry.disabled => Ok(entry.identity),
            Some(_) => Err(AuthnError::InvalidCredentials),
            None => Err(AuthnError::NotMine),
        }
    }

    /// A disabled user can no longer refresh, one no longer in the table
    /// is not this source's ([`AuthnError::NotMine`]); one still in it
    /// gets their current attributes.
    async fn refresh(&self, identity: &Identity) -> Result<Identity, AuthnError> {
        match self.users.get(identity.subject()) {
            Some(entry) if !entry.disabled => Ok(entry.identity.clone()),
            Some(_) => Err(AuthnError::InvalidCredentials),
            None => Err(AuthnError::NotMine),
        }
    }

    fn credential_fingerprint(&self, subject: &str) -> Option<CredentialFingerprint> {
        self.users.get(subject).map(UserEntry::fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htpasswd_lines() {
        let hash = "$2y$10$TYyKeyyopVdR.ppsm5VdCOFuNmQj67YBnG0hpjDA/W1L2I696tO/e";
        let users = StaticUsers::new().with_htpasswd(&format!("# c\n\nalice:{hash}\n"));
        assert!(users.is_ok_and(|u| u.contains("alice") && u.len() == 1));
        let cases = [
            ("nocolon", "line 1: expected name:hash"),
            (":$2y$x", "line 1: empty user name"),
            (
                "bob:$apr1$abc$def",
                "line 1: only bcrypt hashes are supported (make them with htpasswd -B)",
            ),
            (
                "\nbob:$2y$10$bad",
                "line 2: user bob: malformed bcrypt hash",
            ),
        ];
        for (text, message) in cases {
            let err = StaticUsers::new()
                .with_htpasswd(text)
                .err()
                .map(|e| e.to_string());
            assert_eq!(err.as_deref(), Some(message), "{text}");
        }
    }

    #[test]
    fn names_no_client_can_send_are_refused() {
        let hash = "$2y$10$TYyKeyyopVdR.ppsm5VdCOFuNmQj67YBnG0hpjDA/W1L2I696tO/e";
        assert_eq!(
            StaticUsers::new().user("", hash).err(),
            Some(UserError::EmptyName)
        );
        assert_eq!(
            StaticUsers::new()
                .user_with_identity("robot", hash, Identity::anonymous())
                .err(),
            Some(UserError::EmptyName),
            "an authenticated user is never the anonymous client"
        );
        for name in ["a:b", "tab\there"] {
            assert_eq!(
                StaticUsers::new().user(name, hash).err(),
                Some(UserError::Unusable(name.to_owned()))
            );
        }
        assert_eq!(
            StaticUsers::new()
                .user("alice/team", hash)
                .err()
                .map(|e| e.to_string()),
            Some(
                "user name \"alice/team\" holds '/', which would reach into another \
                 namespace through ${account}/* rules"
                    .to_owned()
            )
        );
        assert!(
            StaticUsers::new()
                .user("ünïcode.user@example.com", hash)
                .is_ok()
        );
    }

    #[test]
    fn dummy_hash_is_valid_so_unknown_users_cost_a_real_check() {
        assert!(DUMMY_HASH.is_some());
    }

    #[tokio::test]
    async fn unknown_users_cost_what_most_users_cost_and_are_refused() {
        let at = |cost: u32| PasswordHash::bcrypt("pw", cost).unwrap_or_default();
        let users = StaticUsers::new()
            .user("alice", &at(4))
            .and_then(|u| u.user("bob", &at(5)))
            .and_then(|u| u.user("carol", &at(5)))
            .unwrap_or_default();
        assert_eq!(
            users.hash_costs(),
            vec![
                (
                    "bcrypt cost 5".to_owned(),
                    vec!["bob".to_owned(), "carol".to_owned()]
                ),
                ("bcrypt cost 4".to_owned(), vec!["alice".to_owned()]),
            ]
        );
        assert_eq!(
            users.decoy().map(PasswordHash::cost).as_deref(),
            Some("bcrypt cost 5")
        );
        // The decoy is bob's hash, and bob's password: still a refusal.
        let login = Credentials::Password {
            username: "nobody".to_owned(),
            password: crate::protocol::credentials::Secret::new("pw"),
        };
        assert!(matches!(
            users.authenticate(&login).await,
            Err(AuthnError::NotMine)
        ));
    }

    #[tokio::test]
    async fn a_disabled_user_may_neither_log_in_nor_refresh() {
        let hash = PasswordHash::bcrypt("pw", 4).unwrap_or_default();
        let users = StaticUsers::new()
            .user("alice", &hash)
            .and_then(|u| u.user("bob", &hash))
            .unwrap_or_default();
        let before = users.credential_fingerprints();
        let users = users.disable("alice").disable("nobody");
        let login = |name: &str| Credentials::Password {
            username: name.to_owned(),
            password: crate::protocol::credentials::Secret::new("pw"),
        };
        assert!(matches!(
            users.authenticate(&login("alice")).await,
            Err(AuthnError::InvalidCredentials)
        ));
        assert!(users.authenticate(&login("bob")).await.is_ok());
        assert!(matches!(
            users.refresh(&Identity::new("alice")).await,
            Err(AuthnError::InvalidCredentials)
        ));
        // Disabling is a change of credentials: alice's fingerprint moves,
        // bob's does not.
        let after = users.credential_fingerprints();
        assert_ne!(before[0], after[0]);
        assert_eq!(before[1], after[1]);
        assert_eq!(users.len(), 2);
    }
}
