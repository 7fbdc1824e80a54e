//! [`AccessTokens`]: robots and CI jobs log in with a token their owner
//! made, which may do at most what its scopes say.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::protocol::authn::{Authenticator, AuthnError};
use crate::protocol::credentials::{ACCESS_TOKEN_PREFIX, Credentials};
use crate::protocol::fingerprint::CredentialFingerprint;
use crate::protocol::identity::Identity;
use crate::state::{AccessTokenRecord, StateStore, TokenHash};
use crate::token::{Clock, SystemClock};

/// How often a token's last use is written at most: listings show it to
/// the minute, and most logins then only read the store.
const USE_RECORDED_EVERY: Duration = Duration::from_secs(60);

/// Access tokens from the state store in front of the authenticator of
/// their owners.
///
/// A client logs in with the owner's user name and the token as the
/// password (`docker login -u alice -p raat_…`). A password that starts
/// with [`ACCESS_TOKEN_PREFIX`] is only ever checked here, never handed to
/// `owners` (a directory must not see a token as a password); any other
/// password goes to `owners` unchanged.
///
/// A token is accepted when it is in the store, has not expired, is used
/// with its owner's name, and its owner still exists: `owners`'
/// [`refresh`](Authenticator::refresh) returns the owner's identity as it
/// is now (a removed or disabled owner is refused, labels and groups are
/// today's). The identity carries the token's scopes as its
/// [limit](Identity::with_limit): the client gets what the owner may do
/// now, intersected with them. The store is read at every use (one lookup
/// by SHA-256, nothing worth caching), so a revoked token stops at once on
/// every instance that shares the store.
///
/// An owners' authenticator that does not implement `refresh` accepts any
/// owner name ("the identity as it was"): tokens of a removed owner then
/// keep working until revoked.
#[derive(Clone)]
pub struct AccessTokens {
    store: Arc<dyn StateStore>,
    owners: Arc<dyn Authenticator>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens").finish_non_exhaustive()
    }
}

/// Why a token was refused, for the audit log (the client only sees 401).
#[derive(Debug)]
enum Refused {
    Unknown,
    Expired,
    OtherUser,
    OwnerGone,
}

impl Refused {
    fn reason(&self) -> &'static str {
        match self {
            Refused::Unknown => "unknown or revoked access token",
            Refused::Expired => "expired access token",
            Refused::OtherUser => "access token used with another user name than its owner's",
            Refused::OwnerGone => "the access token's owner may no longer log in",
        }
    }
}

impl AccessTokens {
    /// Tokens kept in `store`, owned by users of `owners`.
    pub fn new(store: Arc<dyn StateStore>, owners: impl Authenticator) -> Self {
        AccessTokens {
            store,
            owners: Arc::new(owners),
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads the time from `clock` (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The identity a token stands for, or why it is refused.
    async fn check(&self, username: &str, token: &str) -> Result<Identity, AuthnError> {
        let hash = TokenHash::of(token);
        let record = self
            .store
            .access_token(&hash)
            .await?
            .ok_or(Refused::Unknown);
        let now = self.clock.now();
        let checked = match record {
            Ok(record) if record.is_expired(now) => Err(Refused::Expired),
            Ok(record) if record.owner != username => Err(Refused::OtherUser),
            other => other,
        };
        let record = checked.map_err(|why| refuse(&hash, None, &why))?;
        let owner = match self
            .owners
            .refresh(&Identity::new(record.owner.clone()))
            .await
        {
            Ok(owner) if owner.subject() == record.owner => owner,
            Ok(_) | Err(AuthnError::InvalidCredentials | AuthnError::NotMine) => {
                return Err(refuse(&hash, Some(&record), &Refused::OwnerGone));
            }
            Err(unavailable) => return Err(unavailable),
        };
        self.note_use(&hash, &record, now).await;
        Ok(owner.with_limit(record.scopes))
    }

    /// Bookkeeping, not a gate: a failed write costs the listing a date,
    /// never the client its login.
    async fn note_use(&self, hash: &TokenHash, record: &AccessTokenRecord, now: SystemTime) {
        let stale = record.last_used_at.is_none_or(|at| {
            now.duration_since(at)
                .is_ok_and(|age| age >= USE_RECORDED_EVERY)
        });
        if stale && self.store.note_access_token_use(hash, now).await.is_err() {
            tracing::warn!(token = %hash.id(), "could not record an access token's use");
        }
    }
}

/// Logs a refusal (never the token) and answers "wrong password".
fn refuse(hash: &TokenHash, record: Option<&AccessTokenRecord>, why: &Refused) -> AuthnError {
    tracing::info!(
        target: "registry_auth::audit",
        token = %hash.id(),
        name = record.map(|r| r.name.as_str()),
        reason = why.reason(),
        "access token refused"
    );
    AuthnError::InvalidCredentials
}

#[async_trait]
impl Authenticator for AccessTokens {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
        match credentials {
            Credentials::Password { username, password }
                if password.expose().starts_with(ACCESS_TOKEN_PREFIX) =>
            {
                self.check(username, password.expose()).await
            }
            _ => self.owners.authenticate(credentials).await,
        }
    }

    async fn refresh(&self, identity: &Identity) -> Result<Identity, AuthnError> {
        self.owners.refresh(identity).await
    }

    fn credential_fingerprint(&self, subject: &str) -> Option<CredentialFingerprint> {
        self.owners.credential_fingerprint(subject)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::identity::{PasswordHash, StaticUsers};
    use crate::protocol::credentials::Secret;
    use crate::protocol::scope::Scope;
    use crate::state::{MemoryStore, new_access_token};

    #[derive(Debug)]
    struct TestClock(Mutex<SystemTime>);

    impl Clock for TestClock {
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    fn login(user: &str, password: &str) -> Credentials {
        Credentials::Password {
            username: user.to_owned(),
            password: Secret::new(password),
        }
    }

    async fn setup() -> (AccessTokens, Arc<MemoryStore>, Arc<TestClock>, Secret) {
        let hash = PasswordHash::bcrypt("alice-pw", 4).unwrap_or_default();
        let users = StaticUsers::new()
            .user_with_identity(
                "alice",
                &hash,
                Identity::new("alice").with_attribute("groups", ["web"]),
            )
            .unwrap_or_default();
        let store = Arc::new(MemoryStore::new());
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let clock = Arc::new(TestClock(Mutex::new(start)));
        let token = new_access_token().unwrap_or_default();
        let scopes =
            vec![Scope::parse_pattern("repository:web/*:pull").unwrap_or_else(|e| panic!("{e}"))];
        let record = AccessTokenRecord::new(
            "deploy-web",
            "alice",
            scopes,
            start,
            Some(start + Duration::from_secs(90 * 86_400)),
        );
        let inserted = store
            .insert_access_token(&TokenHash::of(token.expose()), &record)
            .await;
        assert!(matches!(inserted, Ok(true)));
        let again = store
            .insert_access_token(&TokenHash::of("other"), &record)
            .await;
        assert!(matches!(again, Ok(false)), "names are unique");
        let tokens = AccessTokens::new(store.clone(), users).with_clock(clock.clone());
        (tokens, store, clock, token)
    }

    #[tokio::test]
    async fn a_token_is_its_owner_now_limited_to_its_scopes() {
        let (tokens, store, clock, token) = setup().await;
        let identity = tokens
            .authenticate(&login("alice", token.expose()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(identity.subject(), "alice");
        assert_eq!(identity.attribute("groups"), ["web"]);
        assert_eq!(
            identity.limit().map(|l| l[0].to_string()),
            Some("repository:web/*:pull".to_owned())
        );
        // The use is recorded, at most once a minute.
        let listed = store.access_tokens(Some("alice")).await.unwrap_or_default();
        let first_use = listed[0].record.last_used_at;
        assert_eq!(first_use, Some(clock.now()));
        *clock.0.lock().unwrap_or_else(|e| e.into_inner()) += Duration::from_secs(30);
        assert!(
            tokens
                .authenticate(&login("alice", token.expose()))
                .await
                .is_ok()
        );
        let listed = store.access_tokens(None).await.unwrap_or_default();
        assert_eq!(listed[0].record.last_used_at, first_use);
        // Passwords still reach the owners' authenticator.
        assert!(
            tokens
                .authenticate(&login("alice", "alice-pw"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn refused_with_another_name_after_expiry_revocation_or_its_owner() {
        let (tokens, store, clock, token) = setup().await;
        let refused =
            |r: Result<Identity, AuthnError>| matches!(r, Err(AuthnError::InvalidCredentials));
        assert!(refused(
            tokens.authenticate(&login("bob", token.expose())).await
        ));
        assert!(refused(
            tokens.authenticate(&login("alice", "raat_unknown")).await
        ));
        *clock.0.lock().unwrap_or_else(|e| e.into_inner()) += Duration::from_secs(90 * 86_400);
        assert!(refused(
            tokens.authenticate(&login("alice", token.expose())).await
        ));
        *clock.0.lock().unwrap_or_else(|e| e.into_inner()) -= Duration::from_secs(1);
        assert!(
            tokens
                .authenticate(&login("alice", token.expose()))
                .await
                .is_ok()
        );
        // The owner leaves the users: the token goes with her.
        let without_alice = AccessTokens::new(store.clone(), StaticUsers::new()).with_clock(clock);
        assert!(refused(
            without_alice
                .authenticate(&login("alice", token.expose()))
                .await
        ));
        assert!(matches!(
            store.revoke_access_token("deploy-web").await,
            Ok(true)
        ));
        assert!(refused(
            tokens.authenticate(&login("alice", token.expose())).await
        ));
        assert!(matches!(
            store.revoke_access_token("deploy-web").await,
            Ok(false)
        ));
    }
}
