//! What the server remembers between requests: refresh tokens ("identity
//! tokens" to docker), access tokens (for robots and CI), per-user
//! credential generations, and failed-login counts. One trait, [`StateStore`], with an in-memory implementation
//! ([`MemoryStore`]) and, with the `sqlite` and `postgres` features, one
//! over SQLite or PostgreSQL (`SqlStore`).
//!
//! A refresh token here is **random and stored**, not signed: 256 random
//! bits that the store knows by their SHA-256 ([`TokenHash`]). That choice
//! makes revocation immediate and exact (delete the record; no deny-list
//! to keep until expiry), keeps a leaked signing key from minting refresh
//! tokens, and means a copy of the store holds nothing a client could use.
//! The price is state: every instance must see the same store, which is
//! what the PostgreSQL store is for.
//!
//! A refresh token is tied to its subject, its service and the subject's
//! **credential generation** when it was issued. The generation goes up
//! whenever the user's credentials change or the user is removed
//! ([`StateStore::observe_credentials`]), so a password change ends every
//! identity token issued before it, and removing a user and adding them
//! back does not revive old ones. The client id a token is used with is
//! recorded (for audit and listing), never checked: docker, containerd,
//! BuildKit, podman and crane share docker's stored token and each sends
//! its own id.
//!
//! Layer 1: may use the protocol's words; the core calls it through
//! [`StateStore`].

mod access_tokens;
mod memory;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};

use crate::protocol::backend::BackendError;
pub use crate::protocol::credentials::REFRESH_TOKEN_PREFIX;
use crate::protocol::credentials::Secret;
pub use crate::protocol::fingerprint::CredentialFingerprint;
use crate::protocol::identity::Identity;

pub use crate::protocol::credentials::ACCESS_TOKEN_PREFIX;
pub use access_tokens::{
    AccessTokenRecord, MAX_ACCESS_TOKEN_NAME, StoredAccessToken, check_access_token_name,
    new_access_token,
};
pub(crate) use memory::FailureTable;
pub use memory::MemoryStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::{SqlStore, StoreUrlError};

/// The store's key for a token: the SHA-256 of the token text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a token.
    pub fn of(token: &str) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        TokenHash(out)
    }

    /// The hash as bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash in lower-case hex, as the SQL store keeps it.
    pub fn to_hex(&self) -> String {
        HEXLOWER.encode(&self.0)
    }

    /// The token's public id: the first 8 bytes of the hash in hex. It names
    /// a token in listings and to `revoke` without being usable as one.
    pub fn id(&self) -> TokenId {
        TokenId(HEXLOWER.encode(&self.0[..8]))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.id().0)
    }
}

/// The public id of a stored token (see [`TokenHash::id`]): 16 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(String);

impl TokenId {
    /// Parses an id as an operator types it: 16 hex digits, any case.
    pub fn parse(text: &str) -> Option<TokenId> {
        let text = text.trim().to_ascii_lowercase();
        (text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit())).then_some(TokenId(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Most client ids remembered per token: enough for every client that
/// shares docker's store, bounded against a client that invents one per
/// request.
pub const MAX_CLIENT_IDS: usize = 16;

/// What a refresh token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshRecord {
    /// The identity it was issued to (subject and attributes at the time).
    pub identity: Identity,
    /// The service it is for.
    pub service: String,
    /// The subject's credential generation when it was issued.
    pub generation: u64,
    /// The fingerprint of the credentials it was issued under, as the
    /// authenticator gave it (`None`: it gives none).
    pub fingerprint: Option<CredentialFingerprint>,
    /// The client ids it was issued to and used with, first seen first
    /// (at most [`MAX_CLIENT_IDS`]). For audit only.
    pub client_ids: Vec<String>,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// When it stops working.
    pub expires_at: SystemTime,
    /// When it was last used (to the minute: see
    /// [`StateStore::note_refresh_token_use`]).
    pub last_used_at: Option<SystemTime>,
}

impl RefreshRecord {
    /// A record of a token issued now, never used yet.
    pub fn new(
        identity: Identity,
        service: String,
        generation: u64,
        client_id: Option<String>,
        issued_at: SystemTime,
        expires_at: SystemTime,
    ) -> Self {
        RefreshRecord {
            identity,
            service,
            generation,
            fingerprint: None,
            client_ids: client_id.into_iter().collect(),
            issued_at,
            expires_at,
            last_used_at: None,
        }
    }

    /// The record, issued under credentials of this fingerprint.
    pub fn with_fingerprint(mut self, fingerprint: Option<CredentialFingerprint>) -> Self {
        self.fingerprint = fingerprint;
        self
    }
}

/// A record as a listing shows it: with its public id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredRefreshToken {
    /// The token's public id.
    pub id: TokenId,
    /// What it stands for.
    pub record: RefreshRecord,
}

/// The key of one failed-login counter: a client address, or an account
/// at an address (hashed, so a long user name costs the store no more
/// than a short one and the store holds no names).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThrottleKey(String);

impl ThrottleKey {
    /// The counter of one client address.
    pub fn address(ip: std::net::IpAddr) -> Self {
        ThrottleKey(format!("ip:{ip}"))
    }

    /// The counter of one account tried from one address.
    pub fn account_at(account: &str, ip: std::net::IpAddr) -> Self {
        let ip = ip.to_string();
        let fingerprint = CredentialFingerprint::of(&[account.as_bytes(), ip.as_bytes()]);
        ThrottleKey(format!("account:{}", &fingerprint.to_hex()[..32]))
    }

    /// The key as the store keeps it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A failed-login counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureCount {
    /// Failures counted (since the count was last forgotten or cleared).
    pub failures: u32,
    /// When the last one happened.
    pub last_failure: SystemTime,
}

/// A person who signed in through the sign-in page, as of their last
/// sign-in: the owner their access tokens act for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonRecord {
    /// Their subject (the provider's claims through the subject template).
    pub subject: String,
    /// Their labels then (groups…).
    pub labels: std::collections::BTreeMap<String, Vec<String>>,
    /// When they last signed in.
    pub signed_in_at: SystemTime,
}

/// Where the server keeps what outlives a request. Implement it over a
/// shared database to run several instances; `SqlStore` does, for
/// SQLite and PostgreSQL.
///
/// Tokens are only ever known by their [`TokenHash`]. A failing method
/// answers the client 503 where the answer depends on it (a refresh grant,
/// a login asking for offline access), and never yields a token; the
/// throttle falls back to counting in memory.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Saves the record of a new refresh token.
    async fn insert_refresh_token(
        &self,
        hash: &TokenHash,
        record: &RefreshRecord,
    ) -> Result<(), BackendError>;

    /// A token's record (expired or not) and its subject's current
    /// credential generation, if the token exists.
    async fn refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRecord, u64)>, BackendError>;

    /// Notes that a token was used at `at`: sets its last use and its
    /// list of client ids to `client_ids` (the list read with the token,
    /// plus the one it was used with if new; at most [`MAX_CLIENT_IDS`]).
    /// One write, no read: two first uses at the same moment may keep only
    /// one new id, which costs the audit trail a name and nothing else.
    /// The core calls it when the client id is new to the token or the
    /// last use is a minute old or more, so that most refreshes only read.
    async fn note_refresh_token_use(
        &self,
        hash: &TokenHash,
        at: SystemTime,
        client_ids: &[String],
    ) -> Result<(), BackendError>;

    /// Every stored token, or every token of one subject, oldest first.
    async fn refresh_tokens(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<StoredRefreshToken>, BackendError>;

    /// Deletes one token by its public id; whether it existed.
    async fn revoke_refresh_token(&self, id: &TokenId) -> Result<bool, BackendError>;

    /// Deletes every token of a subject; how many there were.
    async fn revoke_refresh_tokens_of(&self, subject: &str) -> Result<u64, BackendError>;

    /// A subject's current credential generation (0 for a subject never
    /// seen).
    async fn credential_generation(&self, subject: &str) -> Result<u64, BackendError>;

    /// Saves a new access token; `false` (and nothing saved) when a token
    /// of that name exists already.
    async fn insert_access_token(
        &self,
        hash: &TokenHash,
        record: &AccessTokenRecord,
    ) -> Result<bool, BackendError>;

    /// An access token's record (expired or not), if it exists.
    async fn access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<AccessTokenRecord>, BackendError>;

    /// Every access token, or every one of an owner, by name.
    async fn access_tokens(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<StoredAccessToken>, BackendError>;

    /// Deletes an access token by name; whether it existed.
    async fn revoke_access_token(&self, name: &str) -> Result<bool, BackendError>;

    /// Notes that an access token was used at `at` (called at most about
    /// once a minute per token).
    async fn note_access_token_use(
        &self,
        hash: &TokenHash,
        at: SystemTime,
    ) -> Result<(), BackendError>;

    /// Records a subject's credentials as they are now (`None`: the
    /// subject no longer exists) and returns its generation, one higher
    /// than before when they differ from what was recorded. A subject seen
    /// for the first time keeps generation 0.
    async fn observe_credentials(
        &self,
        subject: &str,
        fingerprint: Option<&CredentialFingerprint>,
    ) -> Result<u64, BackendError>;

    /// Moves a subject's generation on without recording new credentials
    /// (its tokens end; the credentials recorded stay as they were) and
    /// returns the new generation.
    async fn advance_generation(&self, subject: &str) -> Result<u64, BackendError>;

    /// Every subject whose credentials were recorded, with the
    /// fingerprint last recorded (`None`: removed).
    async fn credential_fingerprints(
        &self,
    ) -> Result<Vec<(String, Option<CredentialFingerprint>)>, BackendError>;

    /// The counters of these keys that exist (each at most once).
    async fn failures(
        &self,
        keys: &[ThrottleKey],
    ) -> Result<Vec<(ThrottleKey, FailureCount)>, BackendError>;

    /// Counts one failure of `key` at `now`, starting again from one when
    /// the last failure is older than `forget_after`; the new count.
    async fn add_failure(
        &self,
        key: &ThrottleKey,
        now: SystemTime,
        forget_after: Duration,
    ) -> Result<FailureCount, BackendError>;

    /// Forgets a key's failures.
    async fn clear_failures(&self, key: &ThrottleKey) -> Result<(), BackendError>;

    /// Deletes refresh and access tokens that expired before `now` and
    /// failure counts last touched before `failures_before`; how many rows
    /// went.
    async fn purge(
        &self,
        now: SystemTime,
        failures_before: SystemTime,
    ) -> Result<u64, BackendError>;

    /// Saves a person who signed in, replacing what was kept of them.
    async fn record_person(&self, person: &PersonRecord) -> Result<(), BackendError>;

    /// A person who signed in, as of their last sign-in.
    async fn person(&self, subject: &str) -> Result<Option<PersonRecord>, BackendError>;

    /// The secret named `name` that every instance shares: `candidate`
    /// when none is kept yet (it is kept then), else the one kept. Two
    /// instances asking at once get the same one.
    async fn shared_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, BackendError>;
}

/// A shared store is a store: pass `Arc::clone(&store)` to a server and
/// keep the `Arc` to list or revoke tokens yourself.
#[async_trait]
impl<T: StateStore + ?Sized> StateStore for std::sync::Arc<T> {
    async fn insert_refresh_token(
        &self,
        hash: &TokenHash,
        record: &RefreshRecord,
    ) -> Result<(), BackendError> {
        (**self).insert_refresh_token(hash, record).await
    }
    async fn refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRecord, u64)>, BackendError> {
        (**self).refresh_token(hash).await
    }
    async fn note_refresh_token_use(
        &self,
        hash: &TokenHash,
        at: SystemTime,
        client_ids: &[String],
    ) -> Result<(), BackendError> {
        (**self).note_refresh_token_use(hash, at, client_ids).await
    }
    async fn refresh_tokens(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<StoredRefreshToken>, BackendError> {
        (**self).refresh_tokens(subject).await
    }
    async fn revoke_refresh_token(&self, id: &TokenId) -> Result<bool, BackendError> {
        (**self).revoke_refresh_token(id).await
    }
    async fn revoke_refresh_tokens_of(&self, subject: &str) -> Result<u64, BackendError> {
        (**self).revoke_refresh_tokens_of(subject).await
    }
    async fn credential_generation(&self, subject: &str) -> Result<u64, BackendError> {
        (**self).credential_generation(subject).await
    }
    async fn insert_access_token(
        &self,
        hash: &TokenHash,
        record: &AccessTokenRecord,
    ) -> Result<bool, BackendError> {
        (**self).insert_access_token(hash, record).await
    }
    async fn access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<AccessTokenRecord>, BackendError> {
        (**self).access_token(hash).await
    }
    async fn access_tokens(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<StoredAccessToken>, BackendError> {
        (**self).access_tokens(owner).await
    }
    async fn revoke_access_token(&self, name: &str) -> Result<bool, BackendError> {
        (**self).revoke_access_token(name).await
    }
    async fn note_access_token_use(
        &self,
        hash: &TokenHash,
        at: SystemTime,
    ) -> Result<(), BackendError> {
        (**self).note_access_token_use(hash, at).await
    }
    async fn observe_credentials(
        &self,
        subject: &str,
        fingerprint: Option<&CredentialFingerprint>,
    ) -> Result<u64, BackendError> {
        (**self).observe_credentials(subject, fingerprint).await
    }
    async fn advance_generation(&self, subject: &str) -> Result<u64, BackendError> {
        (**self).advance_generation(subject).await
    }
    async fn credential_fingerprints(
        &self,
    ) -> Result<Vec<(String, Option<CredentialFingerprint>)>, BackendError> {
        (**self).credential_fingerprints().await
    }
    async fn failures(
        &self,
        keys: &[ThrottleKey],
    ) -> Result<Vec<(ThrottleKey, FailureCount)>, BackendError> {
        (**self).failures(keys).await
    }
    async fn add_failure(
        &self,
        key: &ThrottleKey,
        now: SystemTime,
        forget_after: Duration,
    ) -> Result<FailureCount, BackendError> {
        (**self).add_failure(key, now, forget_after).await
    }
    async fn clear_failures(&self, key: &ThrottleKey) -> Result<(), BackendError> {
        (**self).clear_failures(key).await
    }
    async fn purge(
        &self,
        now: SystemTime,
        failures_before: SystemTime,
    ) -> Result<u64, BackendError> {
        (**self).purge(now, failures_before).await
    }
    async fn record_person(&self, person: &PersonRecord) -> Result<(), BackendError> {
        (**self).record_person(person).await
    }
    async fn person(&self, subject: &str) -> Result<Option<PersonRecord>, BackendError> {
        (**self).person(subject).await
    }
    async fn shared_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, BackendError> {
        (**self).shared_secret(name, candidate).await
    }
}

/// A new random refresh token.
pub(crate) fn new_refresh_token(rng: &SystemRandom) -> Option<Secret> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).ok()?;
    Some(Secret::new(format!(
        "{REFRESH_TOKEN_PREFIX}{}",
        BASE64URL_NOPAD.encode(&bytes)
    )))
}

/// A store that cannot answer, for tests of what the server does then:
/// `Down` fails every call at once, `Hanging` never answers at all.
#[cfg(test)]
pub(crate) enum BrokenStore {
    Down,
    Hanging,
}

#[cfg(test)]
impl BrokenStore {
    async fn fail<T>(&self) -> Result<T, BackendError> {
        match self {
            BrokenStore::Down => Err("down".into()),
            BrokenStore::Hanging => std::future::pending().await,
        }
    }
}

#[cfg(test)]
#[async_trait]
impl StateStore for BrokenStore {
    async fn insert_refresh_token(
        &self,
        _: &TokenHash,
        _: &RefreshRecord,
    ) -> Result<(), BackendError> {
        self.fail().await
    }
    async fn refresh_token(
        &self,
        _: &TokenHash,
    ) -> Result<Option<(RefreshRecord, u64)>, BackendError> {
        self.fail().await
    }
    async fn note_refresh_token_use(
        &self,
        _: &TokenHash,
        _: SystemTime,
        _: &[String],
    ) -> Result<(), BackendError> {
        self.fail().await
    }
    async fn refresh_tokens(
        &self,
        _: Option<&str>,
    ) -> Result<Vec<StoredRefreshToken>, BackendError> {
        self.fail().await
    }
    async fn revoke_refresh_token(&self, _: &TokenId) -> Result<bool, BackendError> {
        self.fail().await
    }
    async fn revoke_refresh_tokens_of(&self, _: &str) -> Result<u64, BackendError> {
        self.fail().await
    }
    async fn credential_generation(&self, _: &str) -> Result<u64, BackendError> {
        self.fail().await
    }
    async fn insert_access_token(
        &self,
        _: &TokenHash,
        _: &AccessTokenRecord,
    ) -> Result<bool, BackendError> {
        self.fail().await
    }
    async fn access_token(&self, _: &TokenHash) -> Result<Option<AccessTokenRecord>, BackendError> {
        self.fail().await
    }
    async fn access_tokens(&self, _: Option<&str>) -> Result<Vec<StoredAccessToken>, BackendError> {
        self.fail().await
    }
    async fn revoke_access_token(&self, _: &str) -> Result<bool, BackendError> {
        self.fail().await
    }
    async fn note_access_token_use(
        &self,
        _: &TokenHash,
        _: SystemTime,
    ) -> Result<(), BackendError> {
        self.fail().await
    }
    async fn observe_credentials(
        &self,
        _: &str,
        _: Option<&CredentialFingerprint>,
    ) -> Result<u64, BackendError> {
        self.fail().await
    }
    async fn advance_generation(&self, _: &str) -> Result<u64, BackendError> {
        self.fail().await
    }
    async fn credential_fingerprints(
        &self,
    ) -> Result<Vec<(String, Option<CredentialFingerprint>)>, BackendError> {
        self.fail().await
    }
    async fn failures(
        &self,
        _: &[ThrottleKey],
    ) -> Result<Vec<(ThrottleKey, FailureCount)>, BackendError> {
        self.fail().await
    }
    async fn add_failure(
        &self,
        _: &ThrottleKey,
        _: SystemTime,
        _: Duration,
    ) -> Result<FailureCount, BackendError> {
        self.fail().await
    }
    async fn clear_failures(&self, _: &ThrottleKey) -> Result<(), BackendError> {
        self.fail().await
    }
    async fn purge(&self, _: SystemTime, _: SystemTime) -> Result<u64, BackendError> {
        self.fail().await
    }
    async fn record_person(&self, _: &PersonRecord) -> Result<(), BackendError> {
        self.fail().await
    }
    async fn person(&self, _: &str) -> Result<Option<PersonRecord>, BackendError> {
        self.fail().await
    }
    async fn shared_secret(&self, _: &str, _: &[u8]) -> Result<Vec<u8>, BackendError> {
        self.fail().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_long() {
        let rng = SystemRandom::new();
        let a = new_refresh_token(&rng).unwrap_or_default();
        let b = new_refresh_token(&rng).unwrap_or_default();
        assert!(a.expose().starts_with(REFRESH_TOKEN_PREFIX));
        assert_eq!(a.expose().len(), REFRESH_TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
        let hash = TokenHash::of(a.expose());
        assert!(!format!("{hash:?}").contains(a.expose()));
        assert_eq!(hash.id().as_str().len(), 16);
        assert_eq!(
            TokenId::parse(&hash.id().as_str().to_uppercase()),
            Some(hash.id())
        );
        assert_eq!(TokenId::parse("xyz"), None);
    }

    #[test]
    fn throttle_keys_do_not_grow_with_the_name() {
        let ip = std::net::IpAddr::from([10, 0, 0, 1]);
        let long = "a".repeat(10_000);
        assert_eq!(ThrottleKey::account_at(&long, ip).as_str().len(), 40);
        assert_ne!(
            ThrottleKey::account_at("alice", ip),
            ThrottleKey::account_at("bob", ip)
        );
        assert_eq!(ThrottleKey::address(ip).as_str(), "ip:10.0.0.1");
    }

    #[test]
    fn fingerprint_parts_cannot_run_into_each_other() {
        assert_ne!(
            CredentialFingerprint::of(&[b"ab", b"c"]),
            CredentialFingerprint::of(&[b"a", b"bc"])
        );
    }
}
