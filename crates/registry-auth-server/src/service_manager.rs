//! Telling systemd (or any manager speaking its notify protocol) what the
//! server is doing: ready once it listens, reloading while it reads a
//! changed configuration, stopping once asked to. Without `NOTIFY_SOCKET`
//! in the environment each call does nothing.

use sd_notify::NotifyState;

/// The server listens and answers: `Type=notify` units count as started
/// from here, so units ordered after this one (a registry) start when the
/// token endpoint works, not when the process exists.
pub(crate) fn ready() {
    tell(&[NotifyState::Ready]);
}

/// A reload began (`SIGHUP` or a changed file); [`ready`] ends it, whether
/// the new configuration was taken or refused.
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => tell(&[NotifyState::Reloading, now]),
        Err(_) => tell(&[NotifyState::Reloading]),
    }
}

/// Shutdown began: connections are being drained.
pub(crate) fn stopping() {
    tell(&[NotifyState::Stopping]);
}

fn tell(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "could not notify the service manager (NOTIFY_SOCKET)");
    }
}
