//! Refresh tokens ("identity tokens" to docker): what `docker login` keeps
//! instead of the password.
//!
//! A refresh token here is **random and stored**, not signed: 256 random
//! bits that the store knows by their SHA-256. That choice makes
//! revocation immediate and exact (delete the record; no deny-list to keep
//! until expiry), keeps a leaked signing key from minting refresh tokens,
//! and means a copy of the store holds nothing a client could use. The
//! price is state: every instance must see the same store, which is why it
//! is a trait ([`RefreshTokenStore`]) with an in-memory default
//! ([`MemoryRefreshStore`]) that a shared database can replace.
//!
//! Each token is bound to the subject, service and client id it was issued
//! to, and expires. Using one never reuses old permissions: the authorizer
//! runs again on every refresh, and the authenticator may refuse a disabled
//! user ([`Authenticator::refresh`](crate::Authenticator::refresh)).
//!
//! Layer 1: may use the protocol's words; the core calls it through
//! [`RefreshTokenStore`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::BASE64URL_NOPAD;

use crate::protocol::backend::BackendError;
pub use crate::protocol::credentials::REFRESH_TOKEN_PREFIX;
use crate::protocol::credentials::Secret;
use crate::protocol::identity::Identity;

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
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Enough to tell records apart in logs.
        write!(f, "TokenHash({})", BASE64URL_NOPAD.encode(&self.0[..6]))
    }
}

/// What a refresh token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshRecord {
    /// The identity it was issued to (subject and attributes at the time).
    pub identity: Identity,
    /// The service it is bound to.
    pub service: String,
    /// The client id it is bound to (`None`: issued to a client that sent none).
    pub client_id: Option<String>,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// When it stops working.
    pub expires_at: SystemTime,
}

impl RefreshRecord {
    /// A record.
    pub fn new(
        identity: Identity,
        service: String,
        client_id: Option<String>,
        issued_at: SystemTime,
        expires_at: SystemTime,
    ) -> Self {
        RefreshRecord {
            identity,
            service,
            client_id,
            issued_at,
            expires_at,
        }
    }
}

/// Where refresh tokens live. Implement it over a shared database to run
/// several instances; every method is keyed by [`TokenHash`], never by the
/// token itself. A failing store answers the client 503 and never yields
/// a token.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync + 'static {
    /// Saves a new record.
    async fn insert(&self, hash: TokenHash, record: RefreshRecord) -> Result<(), BackendError>;
    /// The record of a token, if it exists (expired or not).
    async fn get(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, BackendError>;
    /// Deletes one token; whether it existed.
    async fn revoke(&self, hash: &TokenHash) -> Result<bool, BackendError>;
    /// Deletes every token of a subject; how many there were.
    async fn revoke_subject(&self, subject: &str) -> Result<usize, BackendError>;
}

#[async_trait]
impl<T: RefreshTokenStore + ?Sized> RefreshTokenStore for std::sync::Arc<T> {
    async fn insert(&self, hash: TokenHash, record: RefreshRecord) -> Result<(), BackendError> {
        (**self).insert(hash, record).await
    }
    async fn get(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, BackendError> {
        (**self).get(hash).await
    }
    async fn revoke(&self, hash: &TokenHash) -> Result<bool, BackendError> {
        (**self).revoke(hash).await
    }
    async fn revoke_subject(&self, subject: &str) -> Result<usize, BackendError> {
        (**self).revoke_subject(subject).await
    }
}

/// Refresh tokens in this process's memory: lost on restart (clients then
/// log in again), not shared between instances.
///
/// Bounded: at most [`MemoryRefreshStore::PER_SUBJECT`] tokens per subject
/// (a new one pushes out the oldest) and [`MemoryRefreshStore::TOTAL`] in
/// all (expired ones go first, then the oldest).
#[derive(Debug, Default)]
pub struct MemoryRefreshStore {
    records: Mutex<HashMap<TokenHash, RefreshRecord>>,
}

impl MemoryRefreshStore {
    /// Most tokens one subject may hold.
    pub const PER_SUBJECT: usize = 100;
    /// Most tokens in all.
    pub const TOTAL: usize = 100_000;

    /// An empty store.
    pub fn new() -> Self {
        MemoryRefreshStore::default()
    }

    /// How many tokens are stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no token is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenHash, RefreshRecord>> {
        crate::bounded::lock(&self.records)
    }
}

fn remove_oldest(records: &mut HashMap<TokenHash, RefreshRecord>, subject: Option<&str>) {
    let oldest = records
        .iter()
        .filter(|(_, r)| subject.is_none_or(|s| r.identity.subject() == s))
        .min_by_key(|(_, r)| r.issued_at)
        .map(|(h, _)| *h);
    if let Some(hash) = oldest {
        records.remove(&hash);
    }
}

#[async_trait]
impl RefreshTokenStore for MemoryRefreshStore {
    async fn insert(&self, hash: TokenHash, record: RefreshRecord) -> Result<(), BackendError> {
        let mut records = self.lock();
        let subject = record.identity.subject().to_owned();
        let held = records
            .values()
            .filter(|r| r.identity.subject() == subject)
            .count();
        if held >= Self::PER_SUBJECT {
            remove_oldest(&mut records, Some(&subject));
        }
        if records.len() >= Self::TOTAL {
            let now = SystemTime::now();
            records.retain(|_, r| r.expires_at > now);
            if records.len() >= Self::TOTAL {
                remove_oldest(&mut records, None);
            }
        }
        records.insert(hash, record);
        Ok(())
    }

    async fn get(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, BackendError> {
        Ok(self.lock().get(hash).cloned())
    }

    async fn revoke(&self, hash: &TokenHash) -> Result<bool, BackendError> {
        Ok(self.lock().remove(hash).is_some())
    }

    async fn revoke_subject(&self, subject: &str) -> Result<usize, BackendError> {
        let mut records = self.lock();
        let before = records.len();
        records.retain(|_, r| r.identity.subject() != subject);
        Ok(before - records.len())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(subject: &str, at: u64) -> RefreshRecord {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(at);
        RefreshRecord::new(
            Identity::new(subject),
            "s".into(),
            None,
            t,
            t + Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn per_subject_cap_drops_the_oldest() {
        let store = MemoryRefreshStore::new();
        for i in 0..=MemoryRefreshStore::PER_SUBJECT as u64 {
            let _ = store
                .insert(TokenHash::of(&i.to_string()), record("a", i))
                .await;
        }
        let _ = store.insert(TokenHash::of("b"), record("b", 0)).await;
        assert_eq!(store.len(), MemoryRefreshStore::PER_SUBJECT + 1);
        assert!(
            store
                .get(&TokenHash::of("0"))
                .await
                .ok()
                .flatten()
                .is_none(),
            "the oldest went"
        );
        assert!(
            store
                .get(&TokenHash::of("1"))
                .await
                .ok()
                .flatten()
                .is_some()
        );
        assert_eq!(
            store.revoke_subject("a").await.ok(),
            Some(MemoryRefreshStore::PER_SUBJECT)
        );
        assert_eq!(store.revoke(&TokenHash::of("b")).await.ok(), Some(true));
        assert!(store.is_empty());
    }

    #[test]
    fn tokens_are_random_prefixed_and_long() {
        let rng = SystemRandom::new();
        let a = new_refresh_token(&rng).unwrap_or_default();
        let b = new_refresh_token(&rng).unwrap_or_default();
        assert!(a.expose().starts_with(REFRESH_TOKEN_PREFIX));
        assert_eq!(a.expose().len(), REFRESH_TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert!(!format!("{:?}", TokenHash::of(a.expose())).contains(a.expose()));
    }
}
