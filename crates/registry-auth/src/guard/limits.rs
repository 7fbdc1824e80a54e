//! Limits on what one client may send or hold, and the connection limit.

use std::time::Duration;

use crate::setting::BuildError;

/// Request and connection limits. Every default is well above what real
/// clients send (a `docker push` token request is under 1 KiB) and well
/// below what would hurt the server.
///
/// With the `serde` feature it deserializes from a table with these field
/// names (durations as `"10s"`, `"2m"`); a missing field keeps its default,
/// an unknown one is refused. [`AuthServerBuilder::build`] checks the
/// values ([`Limits::validate`]).
///
/// [`AuthServerBuilder::build`]: crate::AuthServerBuilder::build
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct Limits {
    /// Longest query string; longer gets 414. Defaults to 8 KiB.
    pub max_query_bytes: usize,
    /// Most bytes of request headers (names and values); more gets 431.
    /// Defaults to 16 KiB.
    pub max_header_bytes: usize,
    /// Most scopes in one request, after merging; more gets 400. Defaults
    /// to 100.
    pub max_scopes: usize,
    /// Largest POST body; larger gets 413. Defaults to 64 KiB.
    pub max_body_bytes: usize,
    /// Longest time to answer one request; longer gets 408 (a slow client
    /// body, say). Defaults to 30 s.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub request_timeout: Duration,
    /// Longest time for a new connection to finish its TLS handshake and
    /// send its first request, and for any request's headers to arrive; a
    /// slower connection is closed. Defaults to 10 s.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub header_read_timeout: Duration,
    /// Longest a connection may stay open with no request running
    /// (HTTP/1 keep-alive, an HTTP/2 connection between streams); then it
    /// is closed, so that silent connections cannot hold
    /// `max_connections`. Defaults to 30 s.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub idle_timeout: Duration,
    /// Longest an authenticator, authorizer or refresh-token store may
    /// take; longer gets 503. Defaults to 10 s.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub backend_timeout: Duration,
    /// Most open connections; one more is answered 503 and closed.
    /// Defaults to 1024.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_scopes: 100,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            backend_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

impl Limits {
    /// Checks that every limit lets a real client through: each is at least
    /// 1 (a zero would refuse every request). The error names the field:
    /// `limits.max_scopes: must be at least 1`.
    pub fn validate(&self) -> Result<(), BuildError> {
        let counts = [
            ("limits.max_query_bytes", self.max_query_bytes),
            ("limits.max_header_bytes", self.max_header_bytes),
            ("limits.max_scopes", self.max_scopes),
            ("limits.max_body_bytes", self.max_body_bytes),
            ("limits.max_connections", self.max_connections),
        ];
        for (setting, value) in counts {
            if value == 0 {
                return Err(BuildError::invalid(setting, "must be at least 1"));
            }
        }
        let times = [
            ("limits.request_timeout", self.request_timeout),
            ("limits.header_read_timeout", self.header_read_timeout),
            ("limits.idle_timeout", self.idle_timeout),
            ("limits.backend_timeout", self.backend_timeout),
        ];
        for (setting, value) in times {
            if value.is_zero() {
                return Err(BuildError::invalid(setting, "must be longer than 0s"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_zeros_are_named() {
        assert_eq!(Limits::default().validate(), Ok(()));
        let limits = Limits {
            max_scopes: 0,
            ..Limits::default()
        };
        assert_eq!(
            limits.validate().map_err(|e| e.to_string()),
            Err("limits.max_scopes: must be at least 1".to_owned())
        );
        let limits = Limits {
            backend_timeout: Duration::ZERO,
            ..Limits::default()
        };
        assert_eq!(
            limits.validate().map_err(|e| e.to_string()),
            Err("limits.backend_timeout: must be longer than 0s".to_owned())
        );
    }
}
