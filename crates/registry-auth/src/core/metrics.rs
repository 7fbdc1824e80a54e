//! The handles of the metrics every token request records.

use std::sync::OnceLock;

use metrics::{Counter, Histogram};

use crate::protocol::error::Outcome;

/// What one requested scope got: the `result` label of
/// `registry_auth_scopes_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScopeResult {
    Granted,
    Partial,
    Denied,
}

impl ScopeResult {
    /// Every result, in the order of the variants (`result as usize`
    /// indexes it).
    const ALL: [ScopeResult; 3] = [
        ScopeResult::Granted,
        ScopeResult::Partial,
        ScopeResult::Denied,
    ];

    fn label(self) -> &'static str {
        match self {
            ScopeResult::Granted => "granted",
            ScopeResult::Partial => "partial",
            ScopeResult::Denied => "denied",
        }
    }
}

/// The request metrics, registered with the recorder once per server and
/// then reused. `metrics::counter!` looks its handle up by name and
/// labels on every call (a hash and a read-locked map, whose lock word
/// every core shares); a token request records three to four of them.
///
/// Registered on the first request rather than when the server is built,
/// so that an application may install its recorder after building it
/// (but before serving).
#[derive(Default)]
pub(crate) struct RequestMetrics(OnceLock<Handles>);

struct Handles {
    /// By `Outcome as usize`.
    requests: [Counter; Outcome::ALL.len()],
    failed_logins: Counter,
    /// By `ScopeResult as usize`.
    scopes: [Counter; ScopeResult::ALL.len()],
    duration: Histogram,
}

impl Handles {
    fn register() -> Handles {
        let requests = Outcome::ALL.map(|outcome| {
            let label = outcome.label();
            metrics::counter!("registry_auth_token_requests_total", "outcome" => label)
        });
        let scopes = ScopeResult::ALL.map(|result| {
            let label = result.label();
            metrics::counter!("registry_auth_scopes_total", "result" => label)
        });
        Handles {
            requests,
            failed_logins: metrics::counter!("registry_auth_failed_logins_total"),
            scopes,
            duration: metrics::histogram!("registry_auth_request_duration_seconds"),
        }
    }
}

impl RequestMetrics {
    fn handles(&self) -> &Handles {
        self.0.get_or_init(Handles::register)
    }

    /// One request: its outcome, whether it was a failed login, and how
    /// long it took.
    pub(crate) fn request(&self, outcome: Outcome, failed_login: bool, seconds: f64) {
        let handles = self.handles();
        if let Some(counter) = handles.requests.get(outcome as usize) {
            counter.increment(1);
        }
        if failed_login {
            handles.failed_logins.increment(1);
        }
        handles.duration.record(seconds);
    }

    /// One requested scope's result.
    pub(crate) fn scope(&self, result: ScopeResult) {
        if let Some(counter) = self.handles().scopes.get(result as usize) {
            counter.increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_results_index_their_list() {
        for (i, result) in ScopeResult::ALL.into_iter().enumerate() {
            assert_eq!(result as usize, i, "{}", result.label());
        }
    }
}
