//! The handles of the metrics every token request records.

use std::sync::OnceLock;

use metrics::{Counter, Histogram};

/// The outcome labels of `registry_auth_token_requests_total`: "issued"
/// and every value of `Error::outcome`.
const OUTCOMES: [&str; 6] = [
    "issued",
    "invalid_request",
    "unauthorized",
    "throttled",
    "unavailable",
    "error",
];

/// The result labels of `registry_auth_scopes_total`.
const SCOPE_RESULTS: [&str; 3] = ["granted", "partial", "denied"];

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
    requests: [Counter; OUTCOMES.len()],
    failed_logins: Counter,
    scopes: [Counter; SCOPE_RESULTS.len()],
    duration: Histogram,
}

impl RequestMetrics {
    fn handles(&self) -> &Handles {
        self.0.get_or_init(|| {
            Handles {
            requests: OUTCOMES.map(|outcome| {
                metrics::counter!("registry_auth_token_requests_total", "outcome" => outcome)
            }),
            failed_logins: metrics::counter!("registry_auth_failed_logins_total"),
            scopes: SCOPE_RESULTS
                .map(|result| metrics::counter!("registry_auth_scopes_total", "result" => result)),
            duration: metrics::histogram!("registry_auth_request_duration_seconds"),
        }
        })
    }

    /// One request, with its outcome label, and whether it was a failed
    /// login, and how long it took.
    pub(crate) fn request(&self, outcome: &'static str, failed_login: bool, seconds: f64) {
        let handles = self.handles();
        match OUTCOMES.iter().position(|&o| o == outcome) {
            Some(i) => handles.requests[i].increment(1),
            // An outcome added to `Error::outcome` but not above.
            None => {
                metrics::counter!("registry_auth_token_requests_total", "outcome" => outcome)
                    .increment(1);
            }
        }
        if failed_login {
            handles.failed_logins.increment(1);
        }
        handles.duration.record(seconds);
    }

    /// One requested scope's result: "granted", "partial" or "denied".
    pub(crate) fn scope(&self, result: &'static str) {
        match SCOPE_RESULTS.iter().position(|&r| r == result) {
            Some(i) => self.handles().scopes[i].increment(1),
            None => {
                metrics::counter!("registry_auth_scopes_total", "result" => result).increment(1)
            }
        }
    }
}
