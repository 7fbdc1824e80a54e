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
//! Memory is bounded: each table holds at most [`Throttling::capacity`]
//! entries; when full, the entry whose last failure is oldest among a few
//! sampled ones is dropped, so an attacker cycling through addresses or
//! names pushes out its own stale entries first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bounded::{evict_stalest, lock};
use crate::setting::{BuildError, DAY, YEAR, at_most};

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
    /// Entries per table at most. Defaults to 100 000 (a few MiB).
    pub capacity: usize,
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

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Instant,
}

#[derive(Debug)]
struct Table<K> {
    entries: HashMap<K, Entry>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            entries: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn blocked_for(&self, key: &K, now: Instant) -> Option<Duration> {
        self.entries
            .get(key)
            .filter(|e| e.blocked_until > now)
            .map(|e| e.blocked_until - now)
    }

    fn fail(&mut self, key: K, free: u32, settings: &Throttling, now: Instant) {
        if !self.entries.contains_key(&key) && self.entries.len() >= settings.capacity {
            evict_stalest(&mut self.entries, |e| e.last_failure);
        }
        let entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            last_failure: now,
            blocked_until: now,
        });
        if now.duration_since(entry.last_failure) > settings.forget_after {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures >= free {
            let doublings = (entry.failures - free).min(30);
            let delay = settings
                .base_delay
                .saturating_mul(1u32 << doublings)
                .min(settings.max_delay);
            // At most a day (Throttling::validate): no overflow.
            entry.blocked_until = now + delay;
        }
    }
}

/// The failure counters of one server.
#[derive(Debug)]
pub(crate) struct Throttle {
    settings: Throttling,
    pairs: Mutex<Table<(String, IpAddr)>>,
    addresses: Mutex<Table<IpAddr>>,
}

impl Throttle {
    pub(crate) fn new(settings: Throttling) -> Self {
        Throttle {
            settings,
            pairs: Mutex::new(Table::default()),
            addresses: Mutex::new(Table::default()),
        }
    }

    /// How long this client must wait before it may try `account`, if it
    /// must.
    pub(crate) fn check(&self, account: Option<&str>, ip: Option<IpAddr>) -> Option<Duration> {
        let ip = ip?;
        let now = Instant::now();
        let by_address = lock(&self.addresses).blocked_for(&ip, now);
        let by_pair = account.and_then(|a| lock(&self.pairs).blocked_for(&(a.to_owned(), ip), now));
        by_address.max(by_pair)
    }

    /// Counts a failed login.
    pub(crate) fn failed(&self, account: Option<&str>, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let now = Instant::now();
        let s = &self.settings;
        lock(&self.addresses).fail(ip, s.free_failures_per_address, s, now);
        if let Some(account) = account {
            lock(&self.pairs).fail((account.to_owned(), ip), s.free_failures, s, now);
        }
    }

    /// A success resets the pair's count (not the address's: one good
    /// password does not license guessing others).
    pub(crate) fn succeeded(&self, account: &str, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            lock(&self.pairs).entries.remove(&(account.to_owned(), ip));
        }
    }

    /// Entries held, for tests of the memory bound.
    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (
            lock(&self.pairs).entries.len(),
            lock(&self.addresses).entries.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn ip(n: u32) -> Option<IpAddr> {
        Some(IpAddr::from(n.to_be_bytes()))
    }

    #[test]
    fn backoff_starts_after_the_free_failures_and_doubles() {
        let t = Throttle::new(Throttling::default());
        for _ in 0..4 {
            t.failed(Some("alice"), ip(1));
            assert_eq!(t.check(Some("alice"), ip(1)), None);
        }
        t.failed(Some("alice"), ip(1));
        let first = t.check(Some("alice"), ip(1)).unwrap_or_default();
        assert!(first > Duration::from_millis(900) && first <= Duration::from_secs(1));
        t.failed(Some("alice"), ip(1));
        let second = t.check(Some("alice"), ip(1)).unwrap_or_default();
        assert!(second > Duration::from_millis(1900), "{second:?}");
        // Another address, or another account from this address, is free.
        assert_eq!(t.check(Some("alice"), ip(2)), None);
        assert_eq!(t.check(Some("bob"), ip(1)), None);
        t.succeeded("alice", ip(1));
        assert_eq!(t.check(Some("alice"), ip(1)), None);
    }

    #[test]
    fn one_address_across_many_accounts_is_throttled() {
        let t = Throttle::new(Throttling::default());
        for n in 0..20 {
            t.failed(Some(&format!("user{n}")), ip(7));
        }
        assert!(t.check(Some("someone-else"), ip(7)).is_some());
        assert!(t.check(None, ip(7)).is_some());
        assert_eq!(t.check(Some("someone-else"), ip(8)), None);
    }

    #[test]
    fn memory_stays_bounded_under_100_000_distinct_keys() {
        let settings = Throttling {
            capacity: 10_000,
            ..Throttling::default()
        };
        let t = Throttle::new(settings);
        for n in 0..100_000u32 {
            t.failed(Some(&format!("name{n}")), ip(n));
        }
        let (pairs, addresses) = t.len();
        assert!(
            pairs <= 10_000 && addresses <= 10_000,
            "{pairs} {addresses}"
        );
    }

    #[test]
    fn the_delay_is_capped() {
        let t = Throttle::new(Throttling::default());
        for _ in 0..200 {
            t.failed(Some("a"), ip(1));
        }
        let wait = t.check(Some("a"), ip(1)).unwrap_or_default();
        assert!(wait <= Duration::from_secs(15 * 60) && wait > Duration::from_secs(14 * 60));
    }
}
