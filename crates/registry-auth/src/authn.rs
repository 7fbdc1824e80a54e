//! Authentication: who is asking.
//!
//! An [`Authenticator`] turns [`Credentials`] into an [`Identity`]. The core
//! only calls it for clients that sent credentials: anonymous clients are
//! let through as [`Identity::anonymous`] only when the server was built
//! with anonymous access on.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::request::Credentials;

/// The boxed error a backend reports when it cannot decide.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Who the client is: a subject (the token's `sub`) and the attributes the
/// authenticator found (groups, labels…) for the authorizer to use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    subject: String,
    attributes: BTreeMap<String, Vec<String>>,
}

impl Identity {
    /// An authenticated identity with no attributes.
    pub fn new(subject: impl Into<String>) -> Self {
        Identity {
            subject: subject.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// The anonymous client: subject `""`, as the token spec asks.
    pub fn anonymous() -> Self {
        Identity::default()
    }

    /// Whether this is the anonymous client.
    pub fn is_anonymous(&self) -> bool {
        self.subject.is_empty()
    }

    /// The subject: the user name or id that goes into the token's `sub`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Adds values to an attribute (e.g. `("groups", ["admins"])`).
    pub fn with_attribute<I, S>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.attributes
            .entry(key.into())
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    /// The values of an attribute; empty when it is not set.
    pub fn attribute(&self, key: &str) -> &[String] {
        self.attributes.get(key).map_or(&[], Vec::as_slice)
    }

    /// All attributes.
    pub fn attributes(&self) -> &BTreeMap<String, Vec<String>> {
        &self.attributes
    }
}

/// Why authentication did not produce an identity.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthnError {
    /// The credentials are wrong (unknown user, wrong password, disabled
    /// account). The client gets 401.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The authenticator could not decide (database down…). The client gets
    /// 503 and no token; the inner error is logged, never sent.
    #[error("authenticator unavailable: {0}")]
    Unavailable(#[source] BoxError),
}

impl AuthnError {
    /// Wraps a backend failure.
    pub fn unavailable(error: impl Into<BoxError>) -> Self {
        AuthnError::Unavailable(error.into())
    }
}

/// Checks credentials.
///
/// The trait is object-safe through [`macro@async_trait`] (boxed futures): servers
/// hold it as `Arc<dyn Authenticator>`, and implementers still write a plain
/// `async fn`. Native `async fn` in traits cannot be used as `dyn` yet, and
/// hand-written boxed futures would push that ceremony onto every user.
///
/// Password checks are CPU-heavy by design (bcrypt, argon2): run them with
/// [`tokio::task::spawn_blocking`] so they do not stall the server, as
/// [`crate::StaticUsers`] does.
///
/// ```
/// use registry_auth::{async_trait, Authenticator, AuthnError, Credentials, Identity};
///
/// struct OneUser;
///
/// #[async_trait]
/// impl Authenticator for OneUser {
///     async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
///         match credentials {
///             Credentials::Password { username, password }
///                 if username == "ci" && password.ct_eq("s3cret") =>
///             {
///                 Ok(Identity::new("ci").with_attribute("groups", ["builders"]))
///             }
///             _ => Err(AuthnError::InvalidCredentials),
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// `Ok(identity)` when the credentials are valid.
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError>;

    /// Called before a refresh token is honoured, with the identity it was
    /// issued to: return the identity as it is now (attributes may have
    /// changed), or [`AuthnError::InvalidCredentials`] to refuse a user who
    /// was disabled or removed since. Defaults to accepting the identity
    /// as it was.
    async fn refresh(&self, identity: &Identity) -> Result<Identity, AuthnError> {
        Ok(identity.clone())
    }
}

#[async_trait]
impl<T: Authenticator + ?Sized> Authenticator for Arc<T> {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
        (**self).authenticate(credentials).await
    }
    async fn refresh(&self, identity: &Identity) -> Result<Identity, AuthnError> {
        (**self).refresh(identity).await
    }
}

#[async_trait]
impl<T: Authenticator + ?Sized> Authenticator for Box<T> {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
        (**self).authenticate(credentials).await
    }
    async fn refresh(&self, identity: &Identity) -> Result<Identity, AuthnError> {
        (**self).refresh(identity).await
    }
}

/// An [`Authenticator`] made from a closure; see [`authenticator_fn`].
#[derive(Clone, Copy)]
pub struct FnAuthenticator<F>(F);

impl<F> std::fmt::Debug for FnAuthenticator<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnAuthenticator")
    }
}

/// Makes an [`Authenticator`] from an async closure taking the credentials
/// by value.
///
/// ```
/// use registry_auth::{authenticator_fn, AuthnError, Credentials, Identity};
///
/// let authn = authenticator_fn(|credentials: Credentials| async move {
///     match credentials {
///         Credentials::Password { username, password } if password.ct_eq("letmein") => {
///             Ok(Identity::new(username))
///         }
///         _ => Err(AuthnError::InvalidCredentials),
///     }
/// });
/// # let _ = authn;
/// ```
pub fn authenticator_fn<F, Fut>(f: F) -> FnAuthenticator<F>
where
    F: Fn(Credentials) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Identity, AuthnError>> + Send + 'static,
{
    FnAuthenticator(f)
}

#[async_trait]
impl<F, Fut> Authenticator for FnAuthenticator<F>
where
    F: Fn(Credentials) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Identity, AuthnError>> + Send + 'static,
{
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
        (self.0)(credentials.clone()).await
    }
}

/// An authenticator that accepts no credentials at all: with anonymous
/// access on, only anonymous clients get tokens.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnonymousOnly;

#[async_trait]
impl Authenticator for AnonymousOnly {
    async fn authenticate(&self, _: &Credentials) -> Result<Identity, AuthnError> {
        Err(AuthnError::InvalidCredentials)
    }
}
