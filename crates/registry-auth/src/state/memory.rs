//! [`MemoryStore`]: the state in this process's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{
    AccessTokenRecord, CredentialFingerprint, FailureCount, MAX_CLIENT_IDS, PersonRecord,
    RefreshRecord, StateStore, StoredAccessToken, StoredRefreshToken, ThrottleKey, TokenHash,
    TokenId,
};
use crate::bounded::lock;
use crate::protocol::backend::BackendError;

/// The state in this process's memory: lost on restart (clients then log
/// in again), not shared between instances. For tests and throwaway
/// setups; the default of [`AuthServerBuilder`](crate::AuthServerBuilder).
///
/// Bounded: at most [`MemoryStore::PER_SUBJECT`] tokens per subject (a new
/// one pushes out the oldest), [`MemoryStore::TOTAL`] in all (expired ones
/// go first, then the oldest), and as many failure counters (the stalest
/// go first).
#[derive(Debug)]
pub struct MemoryStore {
    tokens: Mutex<HashMap<TokenHash, RefreshRecord>>,
    generations: Mutex<HashMap<String, (Option<CredentialFingerprint>, u64)>>,
    access_tokens: Mutex<HashMap<TokenHash, AccessTokenRecord>>,
    people: Mutex<HashMap<String, PersonRecord>>,
    secrets: Mutex<HashMap<String, Vec<u8>>>,
    failures: FailureTable,
}

impl MemoryStore {
    /// Most tokens one subject may hold.
    pub const PER_SUBJECT: usize = 100;
    /// Most tokens, and most failure counters, in all.
    pub const TOTAL: usize = 100_000;

    /// An empty store.
    pub fn new() -> Self {
        MemoryStore {
            tokens: Mutex::default(),
            generations: Mutex::default(),
            access_tokens: Mutex::default(),
            people: Mutex::default(),
            secrets: Mutex::default(),
            failures: FailureTable::new(Self::TOTAL),
        }
    }

    /// How many refresh tokens are stored.
    pub fn len(&self) -> usize {
        lock(&self.tokens).len()
    }

    /// Whether no refresh token is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

/// Failed-login counts in memory (moka): at most `capacity` keys, the
/// least recently used going first when full, and each forgotten
/// `forget_after` after its last failure whether or not the table is
/// full. Keys are an address or a 128-bit digest of account and address,
/// so the entry bound is a byte bound (about 200 bytes an entry). The
/// memory store's counts, and the throttle's own (what it goes by while
/// the store is down).
pub(crate) struct FailureTable {
    entries: moka::sync::Cache<ThrottleKey, Counted>,
}

/// A count and how long it is remembered after its last failure.
#[derive(Clone, Copy, Debug)]
struct Counted {
    count: FailureCount,
    forget_after: Duration,
}

/// Each count expires `forget_after` after it was last written.
struct ForgetAfter;

impl moka::Expiry<ThrottleKey, Counted> for ForgetAfter {
    fn expire_after_create(
        &self,
        _: &ThrottleKey,
        value: &Counted,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.forget_after)
    }

    fn expire_after_update(
        &self,
        _: &ThrottleKey,
        value: &Counted,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.forget_after)
    }
}

impl std::fmt::Debug for FailureTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureTable")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl FailureTable {
    /// An empty table of at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        FailureTable {
            entries: moka::sync::Cache::builder()
                .max_capacity(u64::try_from(capacity).unwrap_or(u64::MAX))
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .expire_after(ForgetAfter)
                .build(),
        }
    }

    /// A key's count, if it has one.
    pub(crate) fn get(&self, key: &ThrottleKey) -> Option<FailureCount> {
        self.entries.get(key).map(|c| c.count)
    }

    /// Counts one failure of `key` at `now`, starting again from one when
    /// the last failure is older than `forget_after`; the new count.
    pub(crate) fn add(
        &self,
        key: &ThrottleKey,
        now: SystemTime,
        forget_after: Duration,
    ) -> FailureCount {
        self.entries
            .entry_by_ref(key)
            .and_upsert_with(|old| {
                let failures = match old.map(|entry| entry.into_value().count) {
                    Some(count)
                        if now
                            .duration_since(count.last_failure)
                            .map_or(true, |age| age <= forget_after) =>
                    {
                        count.failures.saturating_add(1)
                    }
                    _ => 1,
                };
                Counted {
                    count: FailureCount {
                        failures,
                        last_failure: now,
                    },
                    forget_after,
                }
            })
            .into_value()
            .count
    }

    /// Forgets a key's count.
    pub(crate) fn remove(&self, key: &ThrottleKey) {
        self.entries.invalidate(key);
    }

    /// Forgets counts last touched before `before`; how many went.
    fn forget_before(&self, before: SystemTime) -> usize {
        let stale: Vec<std::sync::Arc<ThrottleKey>> = self
            .entries
            .iter()
            .filter(|(_, c)| c.count.last_failure < before)
            .map(|(key, _)| key)
            .collect();
        for key in &stale {
            self.entries.invalidate(key.as_ref());
        }
        stale.len()
    }

    /// How many keys have a count.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.run_pending_tasks();
        usize::try_from(self.entries.entry_count()).unwrap_or(usize::MAX)
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
impl StateStore for MemoryStore {
    async fn insert_refresh_token(
        &self,
        hash: &TokenHash,
        record: &RefreshRecord,
    ) -> Result<(), BackendError> {
        let mut records = lock(&self.tokens);
        let subject = record.identity.subject();
        let held = records
            .values()
            .filter(|r| r.identity.subject() == subject)
            .count();
        if held >= Self::PER_SUBJECT {
            remove_oldest(&mut records, Some(subject));
        }
        if records.len() >= Self::TOTAL {
            let now = SystemTime::now();
            records.retain(|_, r| r.expires_at > now);
            if records.len() >= Self::TOTAL {
                remove_oldest(&mut records, None);
            }
        }
        records.insert(*hash, record.clone());
        Ok(())
    }

    async fn refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRecord, u64)>, BackendError> {
        let Some(record) = lock(&self.tokens).get(hash).cloned() else {
            return Ok(None);
        };
        let generation = self
            .credential_generation(record.identity.subject())
            .await?;
        Ok(Some((record, generation)))
    }

    async fn note_refresh_token_use(
        &self,
        hash: &TokenHash,
        at: SystemTime,
        client_ids: &[String],
    ) -> Result<(), BackendError> {
        if let Some(record) = lock(&self.tokens).get_mut(hash) {
            record.last_used_at = Some(at);
            record.client_ids = client_ids.iter().take(MAX_CLIENT_IDS).cloned().collect();
        }
        Ok(())
    }

    async fn refresh_tokens(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<StoredRefreshToken>, BackendError> {
        let mut list: Vec<StoredRefreshToken> = lock(&self.tokens)
            .iter()
            .filter(|(_, r)| subject.is_none_or(|s| r.identity.subject() == s))
            .map(|(hash, record)| StoredRefreshToken {
                id: hash.id(),
                record: record.clone(),
            })
            .collect();
        list.sort_by(|a, b| (a.record.issued_at, &a.id).cmp(&(b.record.issued_at, &b.id)));
        Ok(list)
    }

    async fn revoke_refresh_token(&self, id: &TokenId) -> Result<bool, BackendError> {
        let mut records = lock(&self.tokens);
        let before = records.len();
        records.retain(|hash, _| hash.id() != *id);
        Ok(records.len() < before)
    }

    async fn revoke_refresh_tokens_of(&self, subject: &str) -> Result<u64, BackendError> {
        let mut records = lock(&self.tokens);
        let before = records.len();
        records.retain(|_, r| r.identity.subject() != subject);
        Ok((before - records.len()) as u64)
    }

    async fn credential_generation(&self, subject: &str) -> Result<u64, BackendError> {
        Ok(lock(&self.generations)
            .get(subject)
            .map_or(0, |(_, generation)| *generation))
    }

    async fn insert_access_token(
        &self,
        hash: &TokenHash,
        record: &AccessTokenRecord,
    ) -> Result<bool, BackendError> {
        let mut tokens = lock(&self.access_tokens);
        if tokens.values().any(|r| r.name == record.name) {
            return Ok(false);
        }
        if tokens.len() >= Self::TOTAL {
            return Err("the memory store holds its most access tokens".into());
        }
        tokens.insert(*hash, record.clone());
        Ok(true)
    }

    async fn access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<AccessTokenRecord>, BackendError> {
        Ok(lock(&self.access_tokens).get(hash).cloned())
    }

    async fn access_tokens(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<StoredAccessToken>, BackendError> {
        let mut list: Vec<StoredAccessToken> = lock(&self.access_tokens)
            .iter()
            .filter(|(_, r)| owner.is_none_or(|o| r.owner == o))
            .map(|(hash, r)| StoredAccessToken::new(hash.id(), r.clone()))
            .collect();
        list.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        Ok(list)
    }

    async fn revoke_access_token(&self, name: &str) -> Result<bool, BackendError> {
        let mut tokens = lock(&self.access_tokens);
        let before = tokens.len();
        tokens.retain(|_, r| r.name != name);
        Ok(tokens.len() != before)
    }

    async fn note_access_token_use(
        &self,
        hash: &TokenHash,
        at: SystemTime,
    ) -> Result<(), BackendError> {
        if let Some(record) = lock(&self.access_tokens).get_mut(hash) {
            record.last_used_at = Some(at);
        }
        Ok(())
    }

    async fn observe_credentials(
        &self,
        subject: &str,
        fingerprint: Option<&CredentialFingerprint>,
    ) -> Result<u64, BackendError> {
        let mut generations = lock(&self.generations);
        let now = fingerprint.copied();
        match generations.get_mut(subject) {
            Some((seen, generation)) => {
                if *seen != now {
                    *seen = now;
                    *generation = generation.saturating_add(1);
                }
                Ok(*generation)
            }
            None => {
                generations.insert(subject.to_owned(), (now, 0));
                Ok(0)
            }
        }
    }

    async fn advance_generation(&self, subject: &str) -> Result<u64, BackendError> {
        let mut generations = lock(&self.generations);
        let entry = generations.entry(subject.to_owned()).or_insert((None, 0));
        entry.1 = entry.1.saturating_add(1);
        Ok(entry.1)
    }

    async fn credential_fingerprints(
        &self,
    ) -> Result<Vec<(String, Option<CredentialFingerprint>)>, BackendError> {
        let mut subjects: Vec<(String, Option<CredentialFingerprint>)> = lock(&self.generations)
            .iter()
            .map(|(subject, (fingerprint, _))| (subject.clone(), *fingerprint))
            .collect();
        subjects.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(subjects)
    }

    async fn failures(
        &self,
        keys: &[ThrottleKey],
    ) -> Result<Vec<(ThrottleKey, FailureCount)>, BackendError> {
        Ok(keys
            .iter()
            .filter_map(|k| self.failures.get(k).map(|c| (k.clone(), c)))
            .collect())
    }

    async fn add_failure(
        &self,
        key: &ThrottleKey,
        now: SystemTime,
        forget_after: Duration,
    ) -> Result<FailureCount, BackendError> {
        Ok(self.failures.add(key, now, forget_after))
    }

    async fn clear_failures(&self, key: &ThrottleKey) -> Result<(), BackendError> {
        self.failures.remove(key);
        Ok(())
    }

    async fn purge(
        &self,
        now: SystemTime,
        failures_before: SystemTime,
    ) -> Result<u64, BackendError> {
        let mut gone = 0;
        {
            let mut records = lock(&self.tokens);
            let before = records.len();
            records.retain(|_, r| r.expires_at > now);
            gone += before - records.len();
        }
        {
            let mut records = lock(&self.access_tokens);
            let before = records.len();
            records.retain(|_, r| !r.is_expired(now));
            gone += before - records.len();
        }
        gone += self.failures.forget_before(failures_before);
        Ok(gone as u64)
    }

    async fn record_person(&self, person: &PersonRecord) -> Result<(), BackendError> {
        let mut people = lock(&self.people);
        if people.len() >= Self::TOTAL && !people.contains_key(&person.subject) {
            // Full: the one who signed in longest ago goes.
            let stalest = people
                .values()
                .min_by_key(|p| p.signed_in_at)
                .map(|p| p.subject.clone());
            if let Some(subject) = stalest {
                people.remove(&subject);
            }
        }
        people.insert(person.subject.clone(), person.clone());
        Ok(())
    }

    async fn person(&self, subject: &str) -> Result<Option<PersonRecord>, BackendError> {
        Ok(lock(&self.people).get(subject).cloned())
    }

    async fn shared_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, BackendError> {
        Ok(lock(&self.secrets)
            .entry(name.to_owned())
            .or_insert_with(|| candidate.to_vec())
            .clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_counts_are_forgotten_by_age_not_only_when_full() {
        let table = FailureTable::new(1_000);
        let key = ThrottleKey::address(std::net::IpAddr::from([192, 0, 2, 1]));
        let now = SystemTime::now();
        assert_eq!(table.add(&key, now, Duration::from_millis(50)).failures, 1);
        assert_eq!(table.add(&key, now, Duration::from_millis(50)).failures, 2);
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(table.get(&key), None, "forgotten after forget_after");
    }
    use crate::protocol::identity::Identity;

    fn record(subject: &str, at: u64) -> RefreshRecord {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(at);
        RefreshRecord::new(
            Identity::new(subject),
            "s".into(),
            0,
            None,
            t,
            t + Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn per_subject_cap_drops_the_oldest() {
        let store = MemoryStore::new();
        for i in 0..=MemoryStore::PER_SUBJECT as u64 {
            let _ = store
                .insert_refresh_token(&TokenHash::of(&i.to_string()), &record("a", i))
                .await;
        }
        let _ = store
            .insert_refresh_token(&TokenHash::of("b"), &record("b", 0))
            .await;
        assert_eq!(store.len(), MemoryStore::PER_SUBJECT + 1);
        let exists = |t: &'static str| {
            let store = &store;
            async move { matches!(store.refresh_token(&TokenHash::of(t)).await, Ok(Some(_))) }
        };
        assert!(!exists("0").await, "the oldest went");
        assert!(exists("1").await);
        assert_eq!(
            store.revoke_refresh_tokens_of("a").await.ok(),
            Some(MemoryStore::PER_SUBJECT as u64)
        );
        assert_eq!(
            store
                .revoke_refresh_token(&TokenHash::of("b").id())
                .await
                .ok(),
            Some(true)
        );
        assert!(store.is_empty());
    }
}
