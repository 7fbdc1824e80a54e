//! The one error type of a backend that could not answer.

use std::fmt;

/// A backend (a user directory, a database, a key service…) could not
/// answer. Every extension point reports its failures with this one type:
/// authenticators (through [`AuthnError::Unavailable`](crate::AuthnError)),
/// authorizers, refresh-token stores and token generators.
///
/// The client gets 503 (500 for a token generator) and no token; the
/// message goes to the log, never to the client.
///
/// ```
/// use registry_auth::BackendError;
///
/// let e = BackendError::new(std::io::Error::other("connection refused"));
/// assert_eq!(e.to_string(), "connection refused");
/// let e: BackendError = "directory timed out".into();
/// assert_eq!(e.to_string(), "directory timed out");
/// ```
pub struct BackendError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl BackendError {
    /// Wraps any error, or a message.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        BackendError(error.into())
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<&str> for BackendError {
    fn from(message: &str) -> Self {
        BackendError::new(message)
    }
}

impl From<String> for BackendError {
    fn from(message: String) -> Self {
        BackendError::new(message)
    }
}

impl From<std::io::Error> for BackendError {
    fn from(error: std::io::Error) -> Self {
        BackendError::new(error)
    }
}
