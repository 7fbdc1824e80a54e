//! The one error type of the token endpoint and its mapping to the wire.

use crate::scope::ScopeError;

/// Why a token request was refused.
///
/// Every variant maps to one HTTP status ([`Error::status`]), one Docker
/// registry error code ([`Error::registry_code`]) and one OAuth 2 error code
/// ([`Error::oauth_code`]); the mapping sits here, next to the variants, so it
/// is read and reviewed in one place. The `Display` text is safe to send to
/// the client: it never carries a password, a token, key material or the
/// inner message of a backend failure (those stay in the logs).
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
    /// 401: the client sent no credentials and anonymous access is off.
    #[error("authentication required")]
    AuthenticationRequired,
    /// 401: wrong user name or password.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// 401 (GET) / 400 `invalid_grant` (POST): the refresh token is
    /// unknown, revoked, expired, bound to another service or client, or
    /// its user may no longer log in. The reason is logged, not sent.
    #[error("invalid refresh token")]
    InvalidGrant(&'static str),
    /// 401 (GET) / 400 `unsupported_grant_type` (POST): refresh tokens are
    /// switched off on this server.
    #[error("refresh tokens are not accepted by this server")]
    RefreshDisabled,
    /// 400 `unsupported_grant_type`: a `grant_type` other than `password`
    /// and `refresh_token`.
    #[error("grant_type {0:?} is not supported (use password or refresh_token)")]
    UnsupportedGrantType(String),
    /// 503: the refresh token store failed.
    #[error("the refresh token store is unavailable; try again later")]
    RefreshStoreUnavailable,
    /// 503: the authenticator could not decide (its backend is down).
    #[error("the authentication backend is unavailable; try again later")]
    AuthenticatorUnavailable,
    /// 503: the authorizer could not decide (its backend is down).
    #[error("the authorization backend is unavailable; try again later")]
    AuthorizerUnavailable,
    /// 400: more scopes than [`crate::Limits::max_scopes`].
    #[error("too many scopes: {count} (at most {max})")]
    TooManyScopes {
        /// How many the request had.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// 429: too many failed logins from this client; no password was
    /// checked. `Retry-After` says when to try again.
    #[error("too many failed logins; retry in {} s", .retry_after.as_secs().max(1))]
    Throttled {
        /// How long to wait.
        retry_after: std::time::Duration,
    },
    /// 500: user code (authenticator, authorizer, token generator)
    /// panicked. Logged; the server keeps serving.
    #[error("internal error")]
    Internal,
    /// 500: the token could not be produced or signed.
    #[error("the token could not be issued")]
    TokenGeneration,
}

impl Error {
    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidRequest(_)
            | Error::InvalidScope(_)
            | Error::MissingService
            | Error::UnknownService(_)
            | Error::AccountMismatch { .. }
            | Error::TooManyScopes { .. } => 400,
            Error::Throttled { .. } => 429,
            Error::Internal => 500,
            Error::UnsupportedGrantType(_) => 400,
            Error::AuthenticationRequired
            | Error::InvalidCredentials
            | Error::InvalidGrant(_)
            | Error::RefreshDisabled => 401,
            Error::AuthenticatorUnavailable
            | Error::AuthorizerUnavailable
            | Error::RefreshStoreUnavailable => 503,
            Error::TokenGeneration => 500,
        }
    }

    /// The error code in the Docker registry error body
    /// (`{"errors":[{"code": …, "message": …}]}`).
    pub fn registry_code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_)
            | Error::MissingService
            | Error::UnknownService(_)
            | Error::AccountMismatch { .. }
            | Error::TooManyScopes { .. }
            | Error::UnsupportedGrantType(_) => "INVALID_REQUEST",
            Error::Throttled { .. } => "TOOMANYREQUESTS",
            Error::Internal => "UNKNOWN",
            Error::InvalidScope(_) => "INVALID_SCOPE",
            Error::AuthenticationRequired
            | Error::InvalidCredentials
            | Error::InvalidGrant(_)
            | Error::RefreshDisabled => "UNAUTHORIZED",
            Error::AuthenticatorUnavailable
            | Error::AuthorizerUnavailable
            | Error::RefreshStoreUnavailable => "UNAVAILABLE",
            Error::TokenGeneration => "UNKNOWN",
        }
    }

    /// A short outcome label for metrics and audit logs.
    pub fn outcome(&self) -> &'static str {
        match self.status() {
            400 => "invalid_request",
            401 => "unauthorized",
            429 => "throttled",
            503 => "unavailable",
            _ => "error",
        }
    }

    /// The RFC 6749 §5.2 error code, for the OAuth (POST) form of the
    /// endpoint.
    pub fn oauth_code(&self) -> &'static str {
        match self {
            Error::InvalidScope(_) => "invalid_scope",
            Error::InvalidCredentials | Error::InvalidGrant(_) => "invalid_grant",
            Error::UnsupportedGrantType(_) | Error::RefreshDisabled => "unsupported_grant_type",
            Error::AuthenticatorUnavailable
            | Error::AuthorizerUnavailable
            | Error::RefreshStoreUnavailable => "temporarily_unavailable",
            Error::TokenGeneration | Error::Internal => "server_error",
            // RFC 8628 §3.5's code for "back off"; OAuth 2 has none.
            Error::Throttled { .. } => "slow_down",
            _ => "invalid_request",
        }
    }

    /// The HTTP status for the OAuth (POST) form: 400 for every client
    /// error, as RFC 6749 §5.2 has it (there is no client authentication
    /// here, so no 401 `invalid_client`).
    pub fn oauth_status(&self) -> u16 {
        match self.status() {
            401 => 400,
            status => status,
        }
    }
}
