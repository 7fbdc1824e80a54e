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
//!   empties it for applications whose users change under them;
//! - requests with the same credentials at the same moment (a client
//!   pulling six images at once, 64 CI jobs starting together) share one
//!   check, through the cache's loader, whether or not the cache keeps
//!   its answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::protocol::error::Error;
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

/// The verified-credential cache, and the loader that makes concurrent
/// checks of the same credentials one check.
///
/// Both are moka's: [`try_get_with`](moka::future::Cache::try_get_with)
/// runs one check per key at a time, hands its answer to every request
/// that asked meanwhile (an error too, without keeping it), and lets a
/// waiting request take over when the one checking goes away (a client
/// that disconnected mid-check).
pub(crate) struct CredentialCache {
    key: CredentialKey,
    entries: moka::future::Cache<[u8; 32], Identity>,
    /// Whether valid credentials are kept past their check: `false` when
    /// the cache is off and only concurrent checks are shared.
    keeps: bool,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("entries", &self.entries.entry_count())
            .field("keeps", &self.keeps)
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

/// How long an entry is kept: the cache's time to live, and never past
/// the end of the credentials it stands for (a workload token's `exp`).
struct KeptFor {
    ttl: Option<Duration>,
}

impl moka::Expiry<[u8; 32], Identity> for KeptFor {
    fn expire_after_create(
        &self,
        _: &[u8; 32],
        identity: &Identity,
        _: std::time::Instant,
    ) -> Option<Duration> {
        let left = identity.valid_until().map(|end| {
            end.duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO)
        });
        match (self.ttl, left) {
            (Some(ttl), Some(left)) => Some(ttl.min(left)),
            (ttl, left) => ttl.or(left),
        }
    }
}

impl CredentialCache {
    /// Keeps valid credentials for `ttl` (`None`: not at all, and only
    /// concurrent checks are shared). `None` when the system has no random
    /// numbers.
    pub(crate) fn new(ttl: Option<Duration>) -> Option<Self> {
        let entries = moka::future::Cache::builder()
            .max_capacity(CAPACITY_BYTES)
            .weigher(|_, identity| weight(identity))
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .expire_after(KeptFor { ttl });
        Some(CredentialCache {
            key: CredentialKey::new()?,
            entries: entries.build(),
            keeps: ttl.is_some(),
        })
    }

    /// The identity `user` with `password` stands for: from the cache, from
    /// the check of the same pair running now, or from `check`, run here.
    /// Whoever runs `check` counts its failure; the others only share the
    /// answer (the same guess, made at the same moment, is one guess).
    pub(crate) async fn get_or_check<F>(
        &self,
        user: &str,
        password: &str,
        check: F,
    ) -> Result<Identity, Error>
    where
        F: Future<Output = Result<Identity, Error>>,
    {
        let key = self.key.of(user, password);
        let identity = self
            .entries
            .try_get_with(key, check)
            .await
            .map_err(Arc::unwrap_or_clone)?;
        // Not kept: with the cache off, and for a token restricted to
        // some scopes (an access token), which is looked up at every use
        // so that its revocation takes effect at once.
        if !self.keeps || identity.limit().is_some() {
            self.entries.invalidate(&key).await;
        }
        Ok(identity)
    }

    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache(ttl: Option<Duration>) -> CredentialCache {
        CredentialCache::new(ttl).unwrap_or_else(|| panic!("no random numbers"))
    }

    /// A check that counts its runs and answers `identity` after a pause.
    async fn counted(
        runs: &AtomicUsize,
        answer: Result<Identity, Error>,
    ) -> Result<Identity, Error> {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer
    }

    #[tokio::test]
    async fn hits_only_the_same_user_and_password_within_the_ttl() {
        let cache = cache(Some(Duration::from_millis(50)));
        let runs = AtomicUsize::new(0);
        let alice = || Ok(Identity::new("alice"));
        for (user, pw) in [
            ("alice", "pw"),
            ("alice", "pw"),
            ("alice", "pw2"),
            ("alic", "epw"),
        ] {
            let got = cache.get_or_check(user, pw, counted(&runs, alice())).await;
            assert_eq!(got, Ok(Identity::new("alice")));
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "the second alice/pw was a hit"
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        let _ = cache
            .get_or_check("alice", "pw", counted(&runs, alice()))
            .await;
        assert_eq!(runs.load(Ordering::SeqCst), 4, "expired");
        cache.clear();
        let _ = cache
            .get_or_check("alice", "pw", counted(&runs, alice()))
            .await;
        assert_eq!(runs.load(Ordering::SeqCst), 5, "cleared");
    }

    #[tokio::test]
    async fn an_identity_with_an_end_is_kept_no_longer_than_it() {
        let cache = cache(Some(Duration::from_secs(60)));
        let runs = AtomicUsize::new(0);
        let end = std::time::SystemTime::now() + Duration::from_millis(80);
        let ci = || Ok(Identity::new("github:org/app").with_valid_until(end));
        for _ in 0..2 {
            let _ = cache.get_or_check("ci", "jwt", counted(&runs, ci())).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "kept while valid");
        tokio::time::sleep(Duration::from_millis(120)).await;
        let _ = cache.get_or_check("ci", "jwt", counted(&runs, ci())).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "gone at its end, not after the ttl"
        );
    }

    #[tokio::test]
    async fn concurrent_checks_of_one_pair_run_once_and_failures_are_not_kept() {
        for ttl in [Some(Duration::from_secs(60)), None] {
            let cache = cache(ttl);
            let runs = AtomicUsize::new(0);
            let all = futures_util::future::join_all((0..64).map(|_| {
                cache.get_or_check("bob", "pw", counted(&runs, Err(Error::InvalidCredentials)))
            }))
            .await;
            assert!(all.iter().all(|r| *r == Err(Error::InvalidCredentials)));
            assert_eq!(runs.load(Ordering::SeqCst), 1, "ttl {ttl:?}");
            // A failure is not kept: the next request checks again.
            let _ = cache
                .get_or_check("bob", "pw", counted(&runs, Err(Error::InvalidCredentials)))
                .await;
            assert_eq!(runs.load(Ordering::SeqCst), 2);
            // Neither is a success with the cache off, nor a restricted one.
            let limited = Identity::new("bob").with_limit(vec![]);
            let _ = cache
                .get_or_check("bob", "t", counted(&runs, Ok(limited.clone())))
                .await;
            let _ = cache
                .get_or_check("bob", "t", counted(&runs, Ok(limited)))
                .await;
            assert_eq!(runs.load(Ordering::SeqCst), 4);
            let _ = cache
                .get_or_check("bob", "ok", counted(&runs, Ok(Identity::new("bob"))))
                .await;
            let _ = cache
                .get_or_check("bob", "ok", counted(&runs, Ok(Identity::new("bob"))))
                .await;
            let expected = if ttl.is_some() { 5 } else { 6 };
            assert_eq!(runs.load(Ordering::SeqCst), expected, "ttl {ttl:?}");
        }
    }

    #[tokio::test]
    async fn a_check_that_goes_away_leaves_the_next_request_to_check() {
        let cache = cache(Some(Duration::from_secs(60)));
        let runs = AtomicUsize::new(0);
        let abandoned = tokio::time::timeout(
            Duration::from_millis(5),
            cache.get_or_check("carol", "pw", counted(&runs, Ok(Identity::new("carol")))),
        )
        .await;
        assert!(abandoned.is_err());
        let got = cache
            .get_or_check("carol", "pw", counted(&runs, Ok(Identity::new("carol"))))
            .await;
        assert_eq!(got, Ok(Identity::new("carol")));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn bounded_in_bytes() {
        let cache = cache(Some(Duration::from_secs(60)));
        let big = Identity::new("x").with_attribute("groups", vec!["g".repeat(1000); 100]);
        for n in 0..1_000 {
            let _ = cache
                .get_or_check(&n.to_string(), "pw", async { Ok(big.clone()) })
                .await;
        }
        cache.entries.run_pending_tasks().await;
        let held = cache.entries.weighted_size();
        assert!(held <= CAPACITY_BYTES, "{held} bytes");
        assert!(cache.entries.entry_count() < 1_000);
    }
}
