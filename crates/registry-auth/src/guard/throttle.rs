//! Failed-login throttling: exponential back-off per (account, client
//! address) and per client address, in bounded memory.
//!
//! After [`Throttling::free_failures`] failures of one account from one
//! address, that pair must wait [`Throttling::base_delay`] before the next
//! try, then twice as long after each further failure, up to
//! [`Throttling::max_delay`]. One address failing across many accounts is
//! throttled the same way after [`Throttling::free_failures_per_address`].
//! While throttled, requests are answered 429 with `Retry-After` and the
//! password is not checked at all.
//!
//! An attacker's failures never lock the real user out from another
//! address: nothing is counted per account alone. (So the bound on that
//! lock-out is zero; the price is that guessing one account from many
//! addresses is slowed per address, not per account.) A success resets
//! the pair's count.
//!
//! The counts live in the state store (shared by instances, kept across
//! reloads and restarts) and, as a fallback, in this process. Memory is
//! bounded: the process keeps at most [`Throttling::capacity`] counts
//! (addresses and accounts together, each key an address or a fixed-size
//! digest), the least recently used going first when full, and each count
//! is forgotten [`Throttling::forget_after`] after its last failure.
//!
//! Concurrency cannot beat the budget: a password check is reserved
//! before it runs and counts as a failure until its outcome is recorded,
//! and the checks one address (or one account from it) may have running
//! at once are capped; one more is refused at once. IPv6 clients are
//! counted by network ([`Throttling::ipv6_prefix`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::bounded::lock;
use crate::protocol::backend::BackendError;
use crate::protocol::error::Error;
use crate::setting::{BuildError, DAY, YEAR, at_most};
use crate::state::{FailureCount, FailureTable, StateStore, ThrottleKey};

/// Throttling settings. `Default` throttles within the first ten failures
/// of one account from one address; [`Throttling::off`] does not throttle.
///
/// With the `serde` feature it deserializes from a table with these field
/// names (durations as `"1s"`, `"15m"`); a missing field keeps its default,
/// an unknown one is refused. [`AuthServerBuilder::build`] checks the
/// values ([`Throttling::validate`]).
///
/// [`AuthServerBuilder::build`]: crate::AuthServerBuilder::build
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct Throttling {
    /// Whether failed logins are throttled at all. Defaults to true.
    pub enabled: bool,
    /// Failures of one account from one address before back-off starts.
    /// Defaults to 5.
    pub free_failures: u32,
    /// Failures from one address (any accounts) before back-off starts.
    /// Defaults to 20.
    pub free_failures_per_address: u32,
    /// The first wait. Defaults to 1 s.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub base_delay: Duration,
    /// The longest wait. Defaults to 15 minutes.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_delay: Duration,
    /// A count is forgotten this long after its last failure. Defaults to
    /// 1 hour.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub forget_after: Duration,
    /// Counts kept in this process at most (addresses and accounts
    /// together). Defaults to 100 000 (a few MiB).
    pub capacity: usize,
    /// IPv6 clients are counted by network of this many bits, since one
    /// host commonly holds a whole /64. Defaults to 64 (1 to 128; 128
    /// counts each address).
    pub ipv6_prefix: u8,
    /// Password checks one client address may have running at once; one
    /// more is refused at once (429), so that a flood from one address
    /// cannot queue ahead of everyone else's logins. Defaults to 4.
    pub checks_in_flight_per_address: u32,
    /// Password checks one account may have running at once from one
    /// address. Defaults to 2. (Concurrent logins with the same user and
    /// password share one check, and a wrong one counts once.)
    pub checks_in_flight_per_account: u32,
}

impl Default for Throttling {
    fn default() -> Self {
        Throttling {
            enabled: true,
            free_failures: 5,
            free_failures_per_address: 20,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
            capacity: 100_000,
            ipv6_prefix: 64,
            checks_in_flight_per_address: 4,
            checks_in_flight_per_account: 2,
        }
    }
}

impl Throttling {
    /// No throttling: every failed login is answered 401 at once, however
    /// many there were.
    pub fn off() -> Self {
        Throttling {
            enabled: false,
            ..Throttling::default()
        }
    }

    /// Checks that the settings can work: a table holds at least one
    /// entry, the first wait and the memory of a failure are longer than
    /// zero, the longest wait is not shorter than the first and at most a
    /// day, a failure is remembered at most a year. The error names the
    /// field: `throttling.max_delay: …`.
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.capacity == 0 {
            return Err(BuildError::invalid(
                "throttling.capacity",
                "must be at least 1",
            ));
        }
        if self.base_delay.is_zero() {
            return Err(BuildError::invalid(
                "throttling.base_delay",
                "must be longer than 0s",
            ));
        }
        if self.forget_after.is_zero() {
            return Err(BuildError::invalid(
                "throttling.forget_after",
                "must be longer than 0s",
            ));
        }
        if !(1..=128).contains(&self.ipv6_prefix) {
            return Err(BuildError::invalid(
                "throttling.ipv6_prefix",
                format!("{} is not a prefix length of 1 to 128", self.ipv6_prefix),
            ));
        }
        for (field, value) in [
            (
                "throttling.checks_in_flight_per_address",
                self.checks_in_flight_per_address,
            ),
            (
                "throttling.checks_in_flight_per_account",
                self.checks_in_flight_per_account,
            ),
        ] {
            if value == 0 {
                return Err(BuildError::invalid(field, "must be at least 1"));
            }
        }
        at_most("throttling.max_delay", self.max_delay, DAY)?;
        at_most("throttling.forget_after", self.forget_after, YEAR)?;
        if self.max_delay < self.base_delay {
            return Err(BuildError::invalid(
                "throttling.max_delay",
                format!(
                    "{} is shorter than base_delay ({})",
                    humantime::format_duration(self.max_delay),
                    humantime::format_duration(self.base_delay)
                ),
            ));
        }
        Ok(())
    }
}

/// The wait after `failures` failures with `free` of them free, if any.
fn delay(settings: &Throttling, failures: u32, free: u32) -> Option<Duration> {
    (failures >= free).then(|| {
        let doublings = (failures - free).min(30);
        settings
            .base_delay
            .saturating_mul(1u32 << doublings)
            .min(settings.max_delay)
    })
}

/// How long a key with `count` must still wait at `now`, if at all: the
/// back-off runs from its last failure.
fn wait(
    settings: &Throttling,
    count: FailureCount,
    free: u32,
    now: SystemTime,
) -> Option<Duration> {
    let until = count
        .last_failure
        .checked_add(delay(settings, count.failures, free)?)?;
    until.duration_since(now).ok().filter(|w| !w.is_zero())
}

/// The failure counters of one server: in the state store, so that every
/// instance sharing it (and this one after a reload or restart) counts
/// the same failures, and in this process's memory, which the throttle
/// falls back to while the store cannot answer.
pub(crate) struct Throttle {
    settings: Throttling,
    /// This process's counts: what the throttle goes by when the store
    /// cannot answer, and on paths that do not ask the store.
    local: FailureTable,
    store: Arc<dyn StateStore>,
    timeout: Duration,
    /// When the store last failed, while it is down: said once in the
    /// log, and once again when it is back.
    store_down: Mutex<Option<Instant>>,
    /// Password checks running now, per key: each counts as a failure
    /// until it ends, so that guesses sent at once cannot all be checked
    /// before the first failure is counted.
    in_flight: Mutex<HashMap<ThrottleKey, u32>>,
}

/// While the store is down it is asked again at most this often; in
/// between, the throttle goes by memory alone and a login does not wait
/// on a store that cannot answer.
const RETRY_STORE_EVERY: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What a check found: how long to wait, if at all, and the count of each
/// key (for [`Throttle::reserve`], and to tell whether a success has
/// failures to clear).
#[derive(Clone, Debug, Default)]
pub(crate) struct Verdict {
    pub(crate) wait: Option<Duration>,
    counts: Vec<(ThrottleKey, bool, Option<FailureCount>)>,
}

impl Verdict {
    /// Whether the account had failures at this address: a success then
    /// clears them (and otherwise the store is not written).
    pub(crate) fn account_failed_before(&self) -> bool {
        self.counts
            .iter()
            .any(|(_, is_account, count)| *is_account && count.is_some())
    }
}

/// A password check reserved with [`Throttle::reserve`]: it counts as a
/// failure of its keys until it is dropped (after its outcome is recorded).
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    throttle: &'a Throttle,
    keys: Vec<ThrottleKey>,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.throttle.release(&self.keys);
    }
}

/// The group a client is counted in: its address, or for IPv6 its
/// network of `v6_prefix` bits (an IPv4 client seen over IPv6 is an IPv4
/// client).
pub(crate) fn client_group(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(std::net::Ipv6Addr::from_bits(v6.to_bits() & mask))
        }
        v4 => v4,
    }
}

impl Throttle {
    /// `timeout` bounds each call to the store (the server's backend
    /// timeout).
    pub(crate) fn new(settings: Throttling, store: Arc<dyn StateStore>, timeout: Duration) -> Self {
        Throttle {
            local: FailureTable::new(settings.capacity),
            settings,
            store,
            timeout,
            store_down: Mutex::new(None),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The counters a login touches: the client's address (or IPv6
    /// network), and the account tried from it.
    fn keys(&self, account: Option<&str>, ip: IpAddr) -> Vec<(ThrottleKey, bool)> {
        let ip = client_group(ip, self.settings.ipv6_prefix);
        let mut keys = vec![(ThrottleKey::address(ip), false)];
        if let Some(account) = account {
            keys.push((ThrottleKey::account_at(account, ip), true));
        }
        keys
    }

    fn free(&self, is_account: bool) -> u32 {
        if is_account {
            self.settings.free_failures
        } else {
            self.settings.free_failures_per_address
        }
    }

    /// Runs a store call within the timeout; `None` (said once in the log)
    /// when it fails.
    async fn ask<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Option<T> {
        if lock(&self.store_down).is_some_and(|since| since.elapsed() < RETRY_STORE_EVERY) {
            return None;
        }
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        };
        match result {
            Ok(value) => {
                if lock(&self.store_down).take().is_some() {
                    tracing::warn!("state store is back; the throttle counts in it again");
                    metrics::gauge!("registry_auth_throttle_store_down").set(0.0);
                }
                Some(value)
            }
            Err(error) => {
                if lock(&self.store_down).replace(Instant::now()).is_none() {
                    metrics::gauge!("registry_auth_throttle_store_down").set(1.0);
                    tracing::error!(
                        %error,
                        "state store unavailable; the throttle counts failures in this \
                         process's memory until it is back"
                    );
                }
                None
            }
        }
    }

    /// How long this client must wait before it may try `account`, if it
    /// must. With an account (a password about to be checked) the store
    /// is asked, so failures at other instances count; without one (a
    /// refresh grant: 256 random bits that nobody guesses) only this
    /// process's counts are, which keeps refreshes free of a store write
    /// or read.
    pub(crate) async fn check(&self, account: Option<&str>, ip: Option<IpAddr>) -> Verdict {
        let Some(ip) = ip else {
            return Verdict::default();
        };
        let keys = self.keys(account, ip);
        let now = SystemTime::now();
        let mut verdict = Verdict {
            counts: keys
                .iter()
                .map(|(key, is_account)| (key.clone(), *is_account, None))
                .collect(),
            ..Verdict::default()
        };
        let mut weigh = |key: &ThrottleKey, count: FailureCount| {
            let Some((_, is_account, seen)) = verdict.counts.iter_mut().find(|(k, ..)| k == key)
            else {
                return;
            };
            let wait = wait(&self.settings, count, self.free(*is_account), now);
            verdict.wait = verdict.wait.max(wait);
            // The local table and the store may differ: the larger count.
            if seen.is_none_or(|s: FailureCount| s.failures < count.failures) {
                *seen = Some(count);
            }
        };
        for (key, _) in &keys {
            if let Some(count) = self.local.get(key) {
                weigh(key, count);
            }
        }
        if account.is_some() {
            let asked: Vec<ThrottleKey> = keys.iter().map(|(k, _)| k.clone()).collect();
            if let Some(counts) = self.ask(self.store.failures(&asked)).await {
                for (key, count) in counts {
                    weigh(&key, count);
                }
            }
        }
        verdict
    }

    /// Reserves a password check for what `verdict` (this client's
    /// [`check`](Self::check)) found: refused when the address or the
    /// account has as many checks running as it may, or when the checks
    /// running, counted as failures, would make the client wait. The
    /// reservation is counted at once; it ends with the [`Attempt`].
    pub(crate) fn reserve(&self, verdict: &Verdict) -> Result<Attempt<'_>, Error> {
        let now = SystemTime::now();
        let mut in_flight = lock(&self.in_flight);
        for (key, is_account, count) in &verdict.counts {
            let running = in_flight.get(key).copied().unwrap_or(0);
            let cap = if *is_account {
                self.settings.checks_in_flight_per_account
            } else {
                self.settings.checks_in_flight_per_address
            };
            if running >= cap {
                return Err(Error::TooManyLoginsAtOnce);
            }
            // The count seen at the check or, if larger, the one this
            // process has recorded since (a check that ended while this
            // request asked the store); each check running may fail, so
            // it counts as a failure now.
            let recorded = self.local.get(key);
            let latest = match (*count, recorded) {
                (Some(a), Some(b)) => Some(if b.failures > a.failures { b } else { a }),
                (a, b) => a.or(b),
            }
            // A count older than forget_after is gone (one dated ahead of
            // this clock, by another instance, is not).
            .filter(|c| {
                now.duration_since(c.last_failure)
                    .map_or(true, |age| age <= self.settings.forget_after)
            });
            let assumed = match latest {
                Some(c) => FailureCount {
                    failures: c.failures.saturating_add(running),
                    last_failure: if running > 0 { now } else { c.last_failure },
                },
                None if running > 0 => FailureCount {
                    failures: running,
                    last_failure: now,
                },
                None => continue,
            };
            if let Some(retry_after) = wait(&self.settings, assumed, self.free(*is_account), now) {
                return Err(Error::Throttled { retry_after });
            }
        }
        let keys: Vec<ThrottleKey> = verdict.counts.iter().map(|(k, ..)| k.clone()).collect();
        for key in &keys {
            *in_flight.entry(key.clone()).or_insert(0) += 1;
        }
        Ok(Attempt {
            throttle: self,
            keys,
        })
    }

    /// Ends a reservation.
    fn release(&self, keys: &[ThrottleKey]) {
        let mut in_flight = lock(&self.in_flight);
        for key in keys {
            if let Some(running) = in_flight.get_mut(key) {
                *running = running.saturating_sub(1);
                if *running == 0 {
                    in_flight.remove(key);
                }
            }
        }
    }

    /// Counts a failed login (or refresh grant, without an account).
    pub(crate) async fn failed(&self, account: Option<&str>, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let keys = self.keys(account, ip);
        let now = SystemTime::now();
        for (key, _) in &keys {
            self.local.add(key, now, self.settings.forget_after);
        }
        for (key, _) in &keys {
            if self
                .ask(self.store.add_failure(key, now, self.settings.forget_after))
                .await
                .is_none()
            {
                break;
            }
        }
    }

    /// A success resets the pair's count (not the address's: one good
    /// password does not license guessing others). `failed_before` is the
    /// check's finding: when false, nothing needs clearing and the store
    /// is not written.
    pub(crate) async fn succeeded(&self, account: &str, ip: Option<IpAddr>, failed_before: bool) {
        let Some(ip) = ip else { return };
        if !failed_before {
            return;
        }
        let key = ThrottleKey::account_at(account, client_group(ip, self.settings.ipv6_prefix));
        self.local.remove(&key);
        let _ = self.ask(self.store.clear_failures(&key)).await;
    }

    /// Entries held in memory, for tests of the memory bound.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.local.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{BrokenStore, MemoryStore};

    #[test]
    fn settings_that_cannot_work_are_named() {
        assert_eq!(Throttling::default().validate(), Ok(()));
        assert_eq!(Throttling::off().validate(), Ok(()));
        let inverted = Throttling {
            base_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(1),
            ..Throttling::default()
        };
        assert_eq!(
            inverted.validate().map_err(|e| e.to_string()),
            Err("throttling.max_delay: 1s is shorter than base_delay (1m)".to_owned())
        );
        let empty = Throttling {
            capacity: 0,
            ..Throttling::default()
        };
        assert_eq!(
            empty.validate().map_err(|e| e.to_string()),
            Err("throttling.capacity: must be at least 1".to_owned())
        );
    }

    #[test]
    fn ipv6_clients_are_grouped_by_network() {
        let group = |ip: &str, bits| client_group(ip.parse().unwrap_or(IpAddr::from([0; 4])), bits);
        let net = |ip: &str| ip.parse::<IpAddr>().ok();
        assert_eq!(
            Some(group("2001:db8:1:2:aaaa::1", 64)),
            net("2001:db8:1:2::")
        );
        assert_eq!(Some(group("2001:db8:1:2:aaaa::1", 48)), net("2001:db8:1::"));
        assert_eq!(Some(group("2001:db8::1", 128)), net("2001:db8::1"));
        assert_eq!(Some(group("::ffff:192.0.2.1", 64)), net("192.0.2.1"));
        assert_eq!(Some(group("192.0.2.1", 64)), net("192.0.2.1"));
        let bad = Throttling {
            ipv6_prefix: 0,
            ..Throttling::default()
        };
        assert_eq!(
            bad.validate().map_err(|e| e.to_string()),
            Err("throttling.ipv6_prefix: 0 is not a prefix length of 1 to 128".to_owned())
        );
    }

    #[tokio::test]
    async fn checks_in_flight_are_capped_and_counted_as_failures() {
        let (t, _) = throttle(Throttling::default());
        let alice = t.check(Some("alice"), ip(1)).await;
        let first = t.reserve(&alice);
        let second = t.reserve(&alice);
        assert!(first.is_ok() && second.is_ok());
        assert!(matches!(t.reserve(&alice), Err(Error::TooManyLoginsAtOnce)));
        // Other accounts from the address, up to its cap of 4.
        let bob = t.check(Some("bob"), ip(1)).await;
        let carol = t.check(Some("carol"), ip(1)).await;
        let third = t.reserve(&bob);
        let fourth = t.reserve(&carol);
        assert!(third.is_ok() && fourth.is_ok());
        assert!(matches!(t.reserve(&carol), Err(Error::TooManyLoginsAtOnce)));
        // Another address is not held up.
        assert!(t.reserve(&t.check(Some("alice"), ip(2)).await).is_ok());
        drop((first, second, third, fourth));
        assert!(t.reserve(&alice).is_ok(), "released");
        // With a larger cap, checks running count against the budget.
        let (t, _) = throttle(Throttling {
            checks_in_flight_per_account: 100,
            checks_in_flight_per_address: 100,
            ..Throttling::default()
        });
        let verdict = t.check(Some("alice"), ip(1)).await;
        let running: Vec<_> = (0..5).map(|_| t.reserve(&verdict)).collect();
        assert!(running.iter().all(Result::is_ok));
        assert!(matches!(t.reserve(&verdict), Err(Error::Throttled { .. })));
    }

    fn ip(n: u32) -> Option<IpAddr> {
        Some(IpAddr::from(n.to_be_bytes()))
    }

    fn throttle(settings: Throttling) -> (Throttle, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        let t = Throttle::new(settings, store.clone(), Duration::from_secs(5));
        (t, store)
    }

    async fn wait(t: &Throttle, account: Option<&str>, from: Option<IpAddr>) -> Option<Duration> {
        t.check(account, from).await.wait
    }

    #[tokio::test]
    async fn backoff_starts_after_the_free_failures_and_doubles() {
        let (t, _) = throttle(Throttling::default());
        for _ in 0..4 {
            t.failed(Some("alice"), ip(1)).await;
            assert_eq!(wait(&t, Some("alice"), ip(1)).await, None);
        }
        t.failed(Some("alice"), ip(1)).await;
        let first = wait(&t, Some("alice"), ip(1)).await.unwrap_or_default();
        assert!(first > Duration::from_millis(900) && first <= Duration::from_secs(1));
        t.failed(Some("alice"), ip(1)).await;
        let second = wait(&t, Some("alice"), ip(1)).await.unwrap_or_default();
        assert!(second > Duration::from_millis(1900), "{second:?}");
        // Another address, or another account from this address, is free.
        assert_eq!(wait(&t, Some("alice"), ip(2)).await, None);
        assert_eq!(wait(&t, Some("bob"), ip(1)).await, None);
        let verdict = t.check(Some("alice"), ip(1)).await;
        assert!(verdict.account_failed_before());
        t.succeeded("alice", ip(1), true).await;
        assert_eq!(wait(&t, Some("alice"), ip(1)).await, None);
    }

    #[tokio::test]
    async fn counts_in_the_store_are_seen_by_another_throttle() {
        // Two instances (or one before and after a reload) on one store.
        let (a, store) = throttle(Throttling::default());
        let b = Throttle::new(Throttling::default(), store, Duration::from_secs(5));
        for _ in 0..3 {
            a.failed(Some("alice"), ip(1)).await;
        }
        for _ in 0..2 {
            b.failed(Some("alice"), ip(1)).await;
        }
        assert!(wait(&a, Some("alice"), ip(1)).await.is_some());
        assert!(wait(&b, Some("alice"), ip(1)).await.is_some());
    }

    #[tokio::test]
    async fn a_failing_store_falls_back_to_memory() {
        let t = Throttle::new(
            Throttling::default(),
            Arc::new(BrokenStore::Down),
            Duration::from_secs(5),
        );
        for _ in 0..5 {
            t.failed(Some("alice"), ip(1)).await;
        }
        assert!(wait(&t, Some("alice"), ip(1)).await.is_some());
        assert_eq!(wait(&t, Some("bob"), ip(1)).await, None);
    }

    #[tokio::test]
    async fn a_store_that_hangs_is_given_up_on() {
        // Each call is given up on after the timeout, and counts go on in
        // memory.
        let t = Throttle::new(
            Throttling::default(),
            Arc::new(BrokenStore::Hanging),
            Duration::from_millis(20),
        );
        let counted = tokio::time::timeout(Duration::from_secs(30), async {
            for _ in 0..5 {
                t.failed(Some("alice"), ip(1)).await;
            }
            wait(&t, Some("alice"), ip(1)).await
        })
        .await;
        assert!(
            matches!(counted, Ok(Some(_))),
            "the calls ended and counted in memory: {counted:?}"
        );
    }

    #[tokio::test]
    async fn one_address_across_many_accounts_is_throttled() {
        let (t, _) = throttle(Throttling::default());
        for n in 0..20 {
            t.failed(Some(&format!("user{n}")), ip(7)).await;
        }
        assert!(wait(&t, Some("someone-else"), ip(7)).await.is_some());
        assert!(wait(&t, None, ip(7)).await.is_some());
        assert_eq!(wait(&t, Some("someone-else"), ip(8)).await, None);
    }

    #[tokio::test]
    async fn memory_stays_bounded_under_100_000_distinct_keys() {
        let settings = Throttling {
            capacity: 10_000,
            ..Throttling::default()
        };
        let (t, _) = throttle(settings);
        for n in 0..100_000u32 {
            t.failed(Some(&format!("name{n}")), ip(n)).await;
        }
        assert!(t.len() <= 10_000, "{}", t.len());
    }

    #[tokio::test]
    async fn the_delay_is_capped() {
        let (t, _) = throttle(Throttling::default());
        for _ in 0..200 {
            t.failed(Some("a"), ip(1)).await;
        }
        let wait = wait(&t, Some("a"), ip(1)).await.unwrap_or_default();
        assert!(wait <= Duration::from_secs(15 * 60) && wait > Duration::from_secs(14 * 60));
    }
}
