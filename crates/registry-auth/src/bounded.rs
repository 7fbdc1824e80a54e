//! Layer 0 helpers shared by the bounded in-memory tables: the failed-login
//! throttle, the verified-credential cache and the refresh-token store.
//! May use nothing else of this crate.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// How many entries [`evict_stalest`] looks at.
const SAMPLE: usize = 16;

/// Locks a table. Every change to these tables is a single map operation,
/// so a panic while the lock was held cannot have left a half-made entry:
/// a poisoned table is still usable, and the server keeps serving.
pub(crate) fn lock<T>(table: &Mutex<T>) -> MutexGuard<'_, T> {
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Drops the stalest (smallest `age`) of a sample of entries: constant
/// time, and with the per-process random `HashMap` order an attacker
/// cannot aim it at a chosen entry.
pub(crate) fn evict_stalest<K, V, A>(table: &mut HashMap<K, V>, age: impl Fn(&V) -> A)
where
    K: Hash + Eq + Clone,
    A: Ord,
{
    let stalest = table
        .iter()
        .take(SAMPLE)
        .min_by_key(|(_, v)| age(v))
        .map(|(k, _)| k.clone());
    if let Some(key) = stalest {
        table.remove(&key);
    }
}
