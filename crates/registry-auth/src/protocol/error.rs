//! The one error type of the token endpoint and its one mapping to the wire.

use std::time::Duration;

use serde_json::json;

use super::scope::ScopeError;

/// The two forms of the token endpoint, which answer in different shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `GET /token` (distribution's token.md): errors are
    /// `{"errors":[{"code","message"}]}` with the status of [`Error::status`].
    Registry,
    /// `POST /token`, the OAuth 2 form (distribution's oauth.md): errors are
    /// RFC 6749 §5.2's `{"error","error_description"}`, with 400 where the
    /// registry form says 401 (there is no client authentication here, so
    /// no `invalid_client`); a success adds `scope`.
    OAuth,
}

/// Why a request to the token server was refused.
///
/// Every variant maps to one HTTP status, one Docker registry error code and
/// one OAuth 2 error code, in one exhaustive match next to the variants
/// ([`Error::status`], [`Error::code`], [`Error::body`]); every answer the
/// server writes that is not a token goes through it, the HTTP adapter's
/// 404, 405 and limits included. The `Display` text is safe to send to the
/// client: it never carries a password, a token, key material or the inner
/// message of a backend failure (those stay in the logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 400: the request is malformed (duplicate parameter, bad header…).
    #[error("{0}")]
    InvalidRequest(String),
    /// 400: a scope does not follow the grammar.
    #[error(transparent)]
    InvalidScope(#[from] ScopeError),
    /// 400: the request names no service and the server cannot infer one.
    #[error("the service parameter is required")]
    MissingService,
    /// 400: the request names a service this server does not issue tokens for.
    #[error("service {0:?} is not served by this token server")]
    UnknownService(String),
    /// 400: the `account` parameter differs from the Basic-auth user name.
    #[error("account {account:?} does not match the user name in the Authorization header")]
    AccountMismatch {
        /// The `account` parameter as sent.
        account: String,
    },
    /// 400: more scopes than [`Limits::max_scopes`](crate::Limits::max_scopes).
    #[error("too many scopes: {count} (at most {max})")]
    TooManyScopes {
        /// How many the request had.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// 400 `unsupported_grant_type`: a `grant_type` other than `password`
    /// and `refresh_token`.
    #[error("grant_type {0:?} is not supported (use password or refresh_token)")]
    UnsupportedGrantType(String),
    /// 401: the client sent no credentials and anonymous access is off.
    #[error("authentication required")]
    AuthenticationRequired,
    /// 401 (OAuth: 400 `invalid_grant`): wrong user name or password.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// 401 (OAuth: 400 `invalid_grant`): the refresh token is unknown,
    /// revoked, expired, bound to another service or client, or its user
    /// may no longer log in. The reason is logged, not sent.
    #[error("invalid refresh token")]
    InvalidGrant(&'static str),
    /// 401 (OAuth: 400 `unsupported_grant_type`): refresh tokens are
    /// switched off on this server.
    #[error("refresh tokens are not accepted by this server")]
    RefreshDisabled,
    /// 404: no such path.
    #[error("not found")]
    NotFound,
    /// 405: the path does not take this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the request took longer than
    /// [`Limits::request_timeout`](crate::Limits::request_timeout).
    #[error("the request took longer than {} s", .after.as_secs())]
    RequestTimeout {
        /// The limit.
        after: Duration,
    },
    /// 413: the body is larger than
    /// [`Limits::max_body_bytes`](crate::Limits::max_body_bytes).
    #[error("the body is larger than {max} bytes")]
    BodyTooLarge {
        /// The limit.
        max: usize,
    },
    /// 414: the query string is longer than
    /// [`Limits::max_query_bytes`](crate::Limits::max_query_bytes).
    #[error("the query string is longer than {max} bytes")]
    QueryTooLong {
        /// The limit.
        max: usize,
    },
    /// 431: the headers are larger than
    /// [`Limits::max_header_bytes`](crate::Limits::max_header_bytes).
    #[error("the request headers are larger than {max} bytes")]
    HeadersTooLarge {
        /// The limit.
        max: usize,
    },
    /// 429: too many failed logins from this client; no password was
    /// checked. `Retry-After` says when to try again.
    #[error("too many failed logins; retry in {} s", .retry_after.as_secs().max(1))]
    Throttled {
        /// How long to wait.
        retry_after: Duration,
    },
    /// 429: this client address already has as many password checks
    /// running as it may (or this account from it); the next is refused
    /// at once rather than queued.
    #[error("too many logins at once from this address; retry in 1 s")]
    TooManyLoginsAtOnce,
    /// 503: the authenticator could not decide (its backend is down).
    #[error("the authentication backend is unavailable; try again later")]
    AuthenticatorUnavailable,
    /// 503: the authorizer could not decide (its backend is down).
    #[error("the authorization backend is unavailable; try again later")]
    AuthorizerUnavailable,
    /// 503: the state store (refresh tokens) failed.
    #[error("the token store is unavailable; try again later")]
    StateStoreUnavailable,
    /// 503: more open connections than
    /// [`Limits::max_connections`](crate::Limits::max_connections); the
    /// connection is closed after this answer.
    #[error("too many connections; retry")]
    TooManyConnections,
    /// 500: user code (authenticator, authorizer, token generator)
    /// panicked. Logged; the server keeps serving.
    #[error("internal error")]
    Internal,
    /// 500: the server was not given the client's address (see
    /// [`AuthServerBuilder::without_client_address`]).
    ///
    /// [`AuthServerBuilder::without_client_address`]: crate::AuthServerBuilder::without_client_address
    #[error(
        "the token server was not given the client's address; serve its router with \
         into_make_service_with_connect_info::<SocketAddr>()"
    )]
    ClientAddressUnknown,
    /// 500: the token could not be produced or signed.
    #[error("the token could not be issued")]
    TokenGeneration,
}

/// How one error is written: the only mapping there is.
struct Wire {
    status: u16,
    registry_code: &'static str,
    oauth_code: &'static str,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
}

impl Error {
    /// The mapping of every variant to the wire. Exhaustive on purpose: a
    /// new variant does not compile until it is given its codes here.
    fn wire(&self) -> Wire {
        let (status, registry_code, oauth_code) = match self {
            Error::InvalidRequest(_)
            | Error::MissingService
            | Error::UnknownService(_)
            | Error::AccountMismatch { .. }
            | Error::TooManyScopes { .. } => (400, "INVALID_REQUEST", "invalid_request"),
            Error::InvalidScope(_) => (400, "INVALID_SCOPE", "invalid_scope"),
            Error::UnsupportedGrantType(_) => (400, "INVALID_REQUEST", "unsupported_grant_type"),
            Error::AuthenticationRequired => (401, "UNAUTHORIZED", "invalid_request"),
            Error::InvalidCredentials | Error::InvalidGrant(_) => {
                (401, "UNAUTHORIZED", "invalid_grant")
            }
            Error::RefreshDisabled => (401, "UNAUTHORIZED", "unsupported_grant_type"),
            Error::NotFound => (404, "NOT_FOUND", "invalid_request"),
            Error::MethodNotAllowed => (405, "UNSUPPORTED", "invalid_request"),
            Error::RequestTimeout { .. } => (408, "INVALID_REQUEST", "invalid_request"),
            Error::BodyTooLarge { .. } => (413, "INVALID_REQUEST", "invalid_request"),
            Error::QueryTooLong { .. } => (414, "INVALID_REQUEST", "invalid_request"),
            Error::HeadersTooLarge { .. } => (431, "INVALID_REQUEST", "invalid_request"),
            // RFC 8628 §3.5's code for "back off"; OAuth 2 has none.
            Error::Throttled { .. } | Error::TooManyLoginsAtOnce => {
                (429, "TOOMANYREQUESTS", "slow_down")
            }
            Error::AuthenticatorUnavailable
            | Error::AuthorizerUnavailable
            | Error::StateStoreUnavailable
            | Error::TooManyConnections => (503, "UNAVAILABLE", "temporarily_unavailable"),
            Error::Internal | Error::TokenGeneration | Error::ClientAddressUnknown => {
                (500, "UNKNOWN", "server_error")
            }
        };
        let retry_after = match self {
            Error::Throttled { retry_after } => Some(retry_after.as_secs().max(1)),
            // A new connection (or check) may get in as soon as one ends.
            Error::TooManyConnections | Error::TooManyLoginsAtOnce => Some(1),
            // A backend that is down is given a few seconds.
            _ if status == 503 => Some(5),
            _ => None,
        };
        Wire {
            status,
            registry_code,
            oauth_code,
            retry_after,
        }
    }

    /// The HTTP status in `dialect`: the OAuth form answers 400 where the
    /// registry form answers 401.
    pub fn status(&self, dialect: Dialect) -> u16 {
        match (dialect, self.wire().status) {
            (Dialect::OAuth, 401) => 400,
            (_, status) => status,
        }
    }

    /// The error code in `dialect`: `INVALID_REQUEST`, `UNAUTHORIZED`… in
    /// the registry form, `invalid_request`, `invalid_grant`… in OAuth's.
    pub fn code(&self, dialect: Dialect) -> &'static str {
        let wire = self.wire();
        match dialect {
            Dialect::Registry => wire.registry_code,
            Dialect::OAuth => wire.oauth_code,
        }
    }

    /// The JSON body in `dialect`.
    pub fn body(&self, dialect: Dialect) -> String {
        let code = self.code(dialect);
        let message = self.to_string();
        match dialect {
            Dialect::Registry => json!({ "errors": [{ "code": code, "message": message }] }),
            Dialect::OAuth => json!({ "error": code, "error_description": message }),
        }
        .to_string()
    }

    /// How long the client should wait before trying again (`Retry-After`),
    /// for 429 and 503 answers.
    pub fn retry_after(&self) -> Option<Duration> {
        self.wire().retry_after.map(Duration::from_secs)
    }

    /// The request's outcome, for metrics and audit logs.
    pub(crate) fn outcome(&self) -> Outcome {
        match self.wire().status {
            400 | 404 | 405 | 408 | 413 | 414 | 431 => Outcome::InvalidRequest,
            401 => Outcome::Unauthorized,
            429 => Outcome::Throttled,
            503 => Outcome::Unavailable,
            _ => Outcome::Error,
        }
    }
}

/// How a token request ended, as metrics and audit logs label it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Issued,
    InvalidRequest,
    Unauthorized,
    Throttled,
    Unavailable,
    Error,
}

impl Outcome {
    /// Every outcome, in the order of the variants (`outcome as usize`
    /// indexes it).
    pub(crate) const ALL: [Outcome; 6] = [
        Outcome::Issued,
        Outcome::InvalidRequest,
        Outcome::Unauthorized,
        Outcome::Throttled,
        Outcome::Unavailable,
        Outcome::Error,
    ];

    /// The label: `outcome` in the metrics and the audit log.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Throttled => "throttled",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_error_in_both_dialects() {
        let e = Error::InvalidCredentials;
        assert_eq!(e.status(Dialect::Registry), 401);
        assert_eq!(e.status(Dialect::OAuth), 400);
        assert_eq!(
            e.body(Dialect::Registry),
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#
        );
        assert_eq!(
            e.body(Dialect::OAuth),
            r#"{"error":"invalid_grant","error_description":"invalid username or password"}"#
        );
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn limits_and_routing_answers_keep_their_status_in_both_dialects() {
        for (e, status) in [
            (Error::NotFound, 404),
            (Error::MethodNotAllowed, 405),
            (Error::BodyTooLarge { max: 1 }, 413),
            (Error::QueryTooLong { max: 1 }, 414),
            (Error::HeadersTooLarge { max: 1 }, 431),
            (
                Error::RequestTimeout {
                    after: Duration::from_secs(1),
                },
                408,
            ),
        ] {
            assert_eq!(e.status(Dialect::Registry), status, "{e}");
            assert_eq!(e.status(Dialect::OAuth), status, "{e}");
            assert_eq!(e.outcome(), Outcome::InvalidRequest, "{e}");
        }
    }

    #[test]
    fn outcomes_index_their_list() {
        for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome as usize, i, "{}", outcome.label());
        }
    }

    #[test]
    fn waits_are_told_on_429_and_503_only() {
        let throttled = Error::Throttled {
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(
            Error::TooManyConnections.retry_after(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            Error::AuthorizerUnavailable.retry_after(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(Error::Internal.retry_after(), None);
        assert_eq!(Error::TokenGeneration.status(Dialect::OAuth), 500);
    }
}
