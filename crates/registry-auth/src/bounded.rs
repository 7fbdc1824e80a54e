//! Layer 0 helper of the in-memory tables (the refresh-token store, the
//! throttle's checks in flight, shared checks): one way to lock them.
//! May use nothing else of this crate.

use std::sync::{Mutex, MutexGuard};

/// Locks a table. Every change to these tables is a single map operation,
/// so a panic while the lock was held cannot have left a half-made entry:
/// a poisoned table is still usable, and the server keeps serving.
pub(crate) fn lock<T>(table: &Mutex<T>) -> MutexGuard<'_, T> {
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
