//! The verified-credential cache: a password that checked out a moment ago
//! is not hashed again.
//!
//! Password hashes (bcrypt, argon2) cost tens of milliseconds on purpose,
//! and registry clients ask for a token per repository and operation, so
//! a busy CI fleet would spend its token server's life in bcrypt. The cache
//! keeps, for a short time, which credentials were *valid*:
//!
//! - keyed by HMAC-SHA-256 of user name and password under a random
//!   per-process key, so the table holds no password and no offline-
//!   guessable hash of one;
//! - only successes are kept: a wrong password always reaches the
//!   authenticator (and the throttle, which is checked first);
//! - entries live for the configured time-to-live, and the whole cache
//!   belongs to one built server, so a configuration reload (new users,
//!   changed passwords) starts it empty;
//!   [`AuthServer::clear_credential_cache`](crate::AuthServer::clear_credential_cache)
//!   empties it for applications whose users change under them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::bounded::{evict_stalest, lock};
use crate::protocol::identity::Identity;

/// Entries at most; beyond, a stale sampled entry makes room.
const CAPACITY: usize = 10_000;

/// Names a user name and password pair without holding either: HMAC-SHA-256
/// under a random per-process key (the length of the name first, so that
/// `alic`+`epw` is not `alice`+`pw`).
#[derive(Debug)]
pub(crate) struct CredentialKey(hmac::Key);

impl CredentialKey {
    /// A new random key; `None` when the system has no random numbers.
    pub(crate) fn new() -> Option<Self> {
        let mut secret = [0u8; 32];
        SystemRandom::new().fill(&mut secret).ok()?;
        Some(CredentialKey(hmac::Key::new(hmac::HMAC_SHA256, &secret)))
    }

    /// The name of `user` with `password`.
    pub(crate) fn of(&self, user: &str, password: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(&(user.len() as u64).to_be_bytes());
        ctx.update(user.as_bytes());
        ctx.update(password.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

#[derive(Debug)]
pub(crate) struct CredentialCache {
    key: CredentialKey,
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Identity, Instant)>>,
}

impl CredentialCache {
    pub(crate) fn new(ttl: Duration) -> Option<Self> {
        Some(CredentialCache {
            key: CredentialKey::new()?,
            ttl,
            entries: Mutex::new(HashMap::new()),
        })
    }

    fn key_of(&self, user: &str, password: &str) -> [u8; 32] {
        self.key.of(user, password)
    }

    pub(crate) fn get(&self, user: &str, password: &str) -> Option<Identity> {
        let key = self.key_of(user, password);
        let mut entries = lock(&self.entries);
        match entries.get(&key) {
            Some((identity, at)) if at.elapsed() < self.ttl => Some(identity.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn put(&self, user: &str, password: &str, identity: Identity) {
        let key = self.key_of(user, password);
        let mut entries = lock(&self.entries);
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            evict_stalest(&mut entries, |(_, at)| *at);
        }
        entries.insert(key, (identity, Instant::now()));
    }

    pub(crate) fn clear(&self) {
        lock(&self.entries).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_the_same_user_and_password_within_the_ttl() {
        let cache = CredentialCache::new(Duration::from_millis(50)).expect("random numbers");
        cache.put("alice", "pw", Identity::new("alice"));
        assert_eq!(cache.get("alice", "pw"), Some(Identity::new("alice")));
        assert_eq!(cache.get("alice", "pw2"), None);
        assert_eq!(cache.get("alic", "epw"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("alice", "pw"), None);
        cache.put("bob", "x", Identity::new("bob"));
        cache.clear();
        assert_eq!(cache.get("bob", "x"), None);
    }

    #[test]
    fn bounded() {
        let cache = CredentialCache::new(Duration::from_secs(60)).expect("random numbers");
        for n in 0..(CAPACITY + 500) {
            cache.put(&n.to_string(), "pw", Identity::new("x"));
        }
        assert!(lock(&cache.entries).len() <= CAPACITY);
    }
}
