//! Authentication: who is asking.
//!
//! An [`Authenticator`] turns [`Credentials`] into an [`Identity`]. The core
//! only calls it for clients that sent credentials: anonymous clients are
//! let through as [`Identity::anonymous`] only when the server was built
//! with anonymous access on.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use super::backend::BackendError;
use super::credentials::Credentials;
use super::fingerprint::CredentialFingerprint;
use super::identity::Identity;

/// Why authentication did not produce an identity.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthnError {
    /// The credentials are wrong (unknown user, wrong password, disabled
    /// account). The client gets 401.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The credentials are not this authenticator's to decide: a user it
    /// does not know, or a password of a kind it does not take (another
    /// source's token). On its own it is a refusal like
    /// [`InvalidCredentials`](AuthnError::InvalidCredentials) (401); in an
    /// [`identity::Chain`](crate::identity::Chain) the next authenticator
    /// decides.
    #[error("credentials unknown to this authenticator")]
    NotMine,
    /// The authenticator could not decide (database down…). The client gets
    /// 503 and no token; the inner error is logged, never sent.
    #[error("authenticator unavailable: {0}")]
    Unavailable(#[from] BackendError),
}

impl AuthnError {
    /// Wraps a backend failure: `AuthnError::unavailable(e)` for
    /// `AuthnError::Unavailable(BackendError::new(e))`.
    pub fn unavailable(
        error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        AuthnError::Unavailable(BackendError::new(error))
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
/// [`StaticUsers`](crate::identity::StaticUsers) does.
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

    /// The fingerprint of `subject`'s credentials as this authenticator
    /// knows them now (a digest of the password hash and the account's
    /// state), if it can tell. A refresh token remembers the fingerprint
    /// it was issued under and is refused once the authenticator reports
    /// another: a token issued with an old password, by an instance or a
    /// configuration that had not seen the change yet, dies with the
    /// change. Defaults to `None` (no such check).
    fn credential_fingerprint(&self, subject: &str) -> Option<CredentialFingerprint> {
        let _ = subject;
        None
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
    fn credential_fingerprint(&self, subject: &str) -> Option<CredentialFingerprint> {
        (**self).credential_fingerprint(subject)
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
    fn credential_fingerprint(&self, subject: &str) -> Option<CredentialFingerprint> {
        (**self).credential_fingerprint(subject)
    }
}

/// Makes an [`Authenticator`] from an async closure taking the credentials
/// by value.
///
/// The closure is called once per request and its future must own what it
/// uses (`async move`), so state the closure holds is cloned into each
/// future: keep it in an `Arc` and clone the `Arc` before `async move`
/// (moving the state itself into the future would not compile: the
/// closure must be callable again, error E0507).
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Arc;
/// use registry_auth::{authenticator_fn, AuthnError, Credentials, Identity};
///
/// // Tokens of CI robots, by robot name (in real life: a database pool).
/// let robots: Arc<HashMap<String, String>> =
///     Arc::new(HashMap::from([("ci".to_owned(), "s3cret".to_owned())]));
/// let authn = authenticator_fn(move |credentials: Credentials| {
///     let robots = Arc::clone(&robots);
///     async move {
///         match credentials {
///             Credentials::Password { username, password }
///                 if robots.get(&username).is_some_and(|t| password.ct_eq(t)) =>
///             {
///                 Ok(Identity::new(username).with_attribute("groups", ["robots"]))
///             }
///             _ => Err(AuthnError::InvalidCredentials),
///         }
///     }
/// });
/// # let _ = authn;
/// ```
pub fn authenticator_fn<F, Fut>(f: F) -> impl Authenticator
where
    F: Fn(Credentials) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Identity, AuthnError>> + Send + 'static,
{
    FnAuthenticator(f)
}

/// The [`Authenticator`] [`authenticator_fn`] makes.
struct FnAuthenticator<F>(F);

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
