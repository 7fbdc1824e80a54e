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

use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::protocol::identity::Identity;

/// Bytes of identities held at most (about what they take in memory);
/// beyond, the least recently used go.
const CAPACITY_BYTES: u64 = 16 * 1024 * 1024;

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

pub(crate) struct CredentialCache {
    key: CredentialKey,
    entries: moka::sync::Cache<[u8; 32], Identity>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

/// About what an identity takes in memory: its strings and their headers.
fn weight(identity: &Identity) -> u32 {
    let strings: usize = identity
        .attributes()
        .iter()
        .map(|(key, values)| key.len() + values.iter().map(|v| v.len() + 24).sum::<usize>() + 48)
        .sum();
    let bytes = 32 + 64 + identity.subject().len() + strings;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl CredentialCache {
    pub(crate) fn new(ttl: Duration) -> Option<Self> {
        Some(CredentialCache {
            key: CredentialKey::new()?,
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|_, identity| weight(identity))
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(ttl)
                .build(),
        })
    }

    pub(crate) fn get(&self, user: &str, password: &str) -> Option<Identity> {
        self.entries.get(&self.key.of(user, password))
    }

    pub(crate) fn put(&self, user: &str, password: &str, identity: Identity) {
        self.entries.insert(self.key.of(user, password), identity);
    }

    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
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
    fn bounded_in_bytes() {
        let cache = CredentialCache::new(Duration::from_secs(60)).expect("random numbers");
        let big = Identity::new("x").with_attribute("groups", vec!["g".repeat(1000); 100]);
        for n in 0..1_000 {
            cache.put(&n.to_string(), "pw", big.clone());
        }
        cache.entries.run_pending_tasks();
        let held = cache.entries.weighted_size();
        assert!(held <= CAPACITY_BYTES, "{held} bytes");
        assert!(cache.entries.entry_count() < 1_000);
    }
}
