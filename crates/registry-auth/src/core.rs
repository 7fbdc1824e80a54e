//! The protocol core: request → decision → token. No HTTP here.

use std::future::Future;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;

use aws_lc_rs::rand::SystemRandom;

use tracing::Instrument;

use crate::authn::{Authenticator, AuthnError, Identity};
use crate::authz::{AccessRequest, Authorizer, AuthzError, intersect};
use crate::cache::CredentialCache;
use crate::error::Error;
use crate::limits::Limits;
use crate::refresh::{RefreshRecord, RefreshTokenStore, StoreError, TokenHash, new_refresh_token};
use crate::request::{Credentials, Secret, TokenRequest};
use crate::scope::Scope;
use crate::throttle::Throttle;
use crate::token::{Clock, Token, TokenGenerator};

/// Which services (token audiences) the server issues tokens for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Services {
    /// Only these; a request naming no service gets the only one, if there
    /// is exactly one.
    Only(Vec<String>),
    /// Whatever the client names (it must name one).
    Any,
}

/// Refresh-token settings of a server that issues them.
pub(crate) struct Refresh {
    pub(crate) store: Arc<dyn RefreshTokenStore>,
    pub(crate) lifetime: Duration,
}

/// A granted token and what it grants.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The token.
    pub token: Token,
    /// The refresh token: a new one when offline access was asked with a
    /// password, the same one on a refresh grant, none otherwise.
    pub refresh_token: Option<Secret>,
    /// The subject it was issued to (`""` for anonymous).
    pub subject: String,
    /// The service (audience) it is for.
    pub service: String,
    /// What it grants: requested ∩ allowed.
    pub granted: Vec<Scope>,
}

pub(crate) struct Core {
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    pub(crate) generator: Arc<dyn TokenGenerator>,
    pub(crate) services: Services,
    pub(crate) anonymous: bool,
    pub(crate) realm: String,
    pub(crate) refresh: Option<Refresh>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: SystemRandom,
    pub(crate) throttle: Option<Throttle>,
    pub(crate) cache: Option<CredentialCache>,
    pub(crate) limits: Limits,
}

/// Which backend a guarded call goes to, for the error it turns into.
#[derive(Clone, Copy)]
enum Backend {
    Authenticator,
    Authorizer,
    RefreshStore,
}

impl Backend {
    fn unavailable(self) -> Error {
        match self {
            Backend::Authenticator => Error::AuthenticatorUnavailable,
            Backend::Authorizer => Error::AuthorizerUnavailable,
            Backend::RefreshStore => Error::RefreshStoreUnavailable,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Authenticator => "authenticator",
            Backend::Authorizer => "authorizer",
            Backend::RefreshStore => "refresh token store",
        }
    }
}

impl Core {
    /// Runs one request and records it: one audit event and the metrics,
    /// whatever the outcome.
    pub(crate) async fn issue(&self, request: TokenRequest) -> Result<TokenResponse, Error> {
        let started = std::time::Instant::now();
        let account = request
            .credentials
            .username()
            .unwrap_or_default()
            .to_owned();
        let client_ip = request.client_ip;
        let requested = request.scopes.clone();
        // The ACL records which rule decided each scope into this span, so
        // the audit event below carries it.
        let span = tracing::info_span!("token_request", rules = tracing::field::Empty);
        let result = self.decide(request).instrument(span.clone()).await;
        let outcome = match &result {
            Ok(_) => "issued",
            Err(e) => e.outcome(),
        };
        let granted = result.as_ref().map(|r| r.granted.as_slice()).unwrap_or(&[]);
        span.in_scope(|| {
            tracing::info!(
                target: "registry_auth::audit",
                outcome,
                account = %account,
                client_ip = %client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                requested = %DisplayScopes(&requested),
                granted = %DisplayScopes(granted),
                "token request"
            );
        });
        metrics::counter!("registry_auth_token_requests_total", "outcome" => outcome).increment(1);
        if matches!(result, Err(Error::InvalidCredentials)) {
            metrics::counter!("registry_auth_failed_logins_total").increment(1);
        }
        if result.is_ok() {
            // `granted` is a subsequence of `requested` (see `intersect`),
            // so one walk pairs them up.
            let mut granted = granted.iter().peekable();
            for want in &requested {
                let result = match granted.next_if(|g| g.same_resource(want)) {
                    None => "denied",
                    Some(g) if want.actions.iter().all(|a| g.allows(a)) => "granted",
                    Some(_) => "partial",
                };
                metrics::counter!("registry_auth_scopes_total", "result" => result).increment(1);
            }
        }
        metrics::histogram!("registry_auth_request_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// Runs user code with the backend timeout, turning a hang into 503
    /// and a panic into 500: a faulty backend never yields a token and
    /// never takes the server down.
    async fn guard<T>(
        &self,
        backend: Backend,
        future: impl Future<Output = T>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(
            self.limits.backend_timeout,
            AssertUnwindSafe(future).catch_unwind(),
        )
        .await
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_panic)) => {
                tracing::error!(backend = backend.name(), "backend panicked; answering 500");
                Err(Error::Internal)
            }
            Err(_elapsed) => {
                tracing::error!(
                    backend = backend.name(),
                    timeout = ?self.limits.backend_timeout,
                    "backend timed out; answering 503"
                );
                Err(backend.unavailable())
            }
        }
    }

    async fn decide(&self, request: TokenRequest) -> Result<TokenResponse, Error> {
        let service = self.resolve_service(request.service.as_deref())?;
        if let (Some(account), Some(user)) = (&request.account, request.credentials.username()) {
            // `account` is only a hint from docker and skopeo: it must agree
            // with the credentials and is never an identity of its own.
            if account != user {
                return Err(Error::AccountMismatch {
                    account: account.clone(),
                });
            }
        }
        if request.scopes.len() > self.limits.max_scopes {
            return Err(Error::TooManyScopes {
                count: request.scopes.len(),
                max: self.limits.max_scopes,
            });
        }
        let ip = request.client_ip;
        let identity = match &request.credentials {
            Credentials::RefreshToken(token) => {
                self.check_throttle(None, ip)?;
                let redeemed = self
                    .redeem(token, &service, request.client_id.as_deref())
                    .await;
                if let (Err(Error::InvalidGrant(_)), Some(throttle)) = (&redeemed, &self.throttle) {
                    throttle.failed(None, ip);
                }
                redeemed?
            }
            other => self.authenticate(other, ip).await?,
        };
        let refresh_token = match &request.credentials {
            // oauth.md: a refresh grant returns the same refresh token.
            Credentials::RefreshToken(token) => Some(token.clone()),
            Credentials::Password { .. } if request.offline_token => {
                self.mint_refresh_token(&identity, &service, request.client_id.as_deref())
                    .await?
            }
            _ => None,
        };
        let access_request = AccessRequest {
            service,
            scopes: request.scopes,
            client_ip: request.client_ip,
            client_id: request.client_id,
        };
        let granted = if access_request.scopes.is_empty() {
            // A login: nothing to decide, the token carries no access.
            Vec::new()
        } else {
            let allowed = self
                .guard(
                    Backend::Authorizer,
                    self.authorizer.authorize(&identity, &access_request),
                )
                .await?
                .map_err(|AuthzError::Unavailable(e)| {
                    tracing::error!(error = %e, "authorizer failed; refusing the request");
                    Error::AuthorizerUnavailable
                })?;
            intersect(&access_request.scopes, &allowed)
        };
        let generated = if self.generator.is_slow() {
            // An RSA signature takes about a millisecond: on the blocking
            // pool, so the async workers keep answering everyone else.
            let generator = self.generator.clone();
            let (who, scopes, request) =
                (identity.clone(), granted.clone(), access_request.clone());
            tokio::task::spawn_blocking(move || generator.generate(&who, &scopes, &request))
                .await
                .map_err(|_| {
                    tracing::error!("token generator panicked; answering 500");
                    Error::Internal
                })?
        } else {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.generator
                    .generate(&identity, &granted, &access_request)
            }))
            .map_err(|_| {
                tracing::error!("token generator panicked; answering 500");
                Error::Internal
            })?
        };
        let token = generated.map_err(|e| {
            tracing::error!(error = %e, "token generation failed");
            Error::TokenGeneration
        })?;
        Ok(TokenResponse {
            token,
            refresh_token,
            subject: identity.subject().to_owned(),
            service: access_request.service,
            granted,
        })
    }

    fn resolve_service(&self, asked: Option<&str>) -> Result<String, Error> {
        match (&self.services, asked) {
            (Services::Only(list), Some(s)) if list.iter().any(|x| x == s) => Ok(s.to_owned()),
            (Services::Only(_), Some(s)) => Err(Error::UnknownService(truncate(s))),
            (Services::Only(list), None) if list.len() == 1 => Ok(list[0].clone()),
            (Services::Any, Some(s)) => Ok(s.to_owned()),
            (_, None) => Err(Error::MissingService),
        }
    }

    /// Checks a refresh token and returns whom it stands for now.
    async fn redeem(
        &self,
        token: &Secret,
        service: &str,
        client_id: Option<&str>,
    ) -> Result<Identity, Error> {
        let refresh = self.refresh.as_ref().ok_or(Error::RefreshDisabled)?;
        let record = self
            .guard(
                Backend::RefreshStore,
                refresh.store.get(&TokenHash::of(token.expose())),
            )
            .await?
            .map_err(store_failed)?
            .ok_or(Error::InvalidGrant("unknown or revoked refresh token"))?;
        let refuse = |why: &'static str| {
            tracing::info!(
                target: "registry_auth::audit",
                subject = record.identity.subject(),
                reason = why,
                "refresh token refused"
            );
            Error::InvalidGrant(why)
        };
        if record.expires_at <= self.clock.now() {
            return Err(refuse("expired refresh token"));
        }
        if record.service != service {
            return Err(refuse("refresh token issued for another service"));
        }
        if record.client_id.as_deref() != client_id {
            return Err(refuse("refresh token issued to another client"));
        }
        match self
            .guard(
                Backend::Authenticator,
                self.authenticator.refresh(&record.identity),
            )
            .await?
        {
            Ok(identity) if identity.subject() == record.identity.subject() => Ok(identity),
            Ok(_) => Err(refuse("authenticator changed the subject")),
            Err(AuthnError::InvalidCredentials) => Err(refuse("user may no longer log in")),
            Err(AuthnError::Unavailable(e)) => {
                tracing::error!(error = %e, "authenticator failed; refusing the request");
                Err(Error::AuthenticatorUnavailable)
            }
        }
    }

    async fn mint_refresh_token(
        &self,
        identity: &Identity,
        service: &str,
        client_id: Option<&str>,
    ) -> Result<Option<Secret>, Error> {
        let Some(refresh) = &self.refresh else {
            return Ok(None);
        };
        let token = new_refresh_token(&self.rng).ok_or(Error::TokenGeneration)?;
        let now = self.clock.now();
        let record = RefreshRecord::new(
            identity.clone(),
            service.to_owned(),
            client_id.map(str::to_owned),
            now,
            now + refresh.lifetime,
        );
        self.guard(
            Backend::RefreshStore,
            refresh.store.insert(TokenHash::of(token.expose()), record),
        )
        .await?
        .map_err(store_failed)?;
        Ok(Some(token))
    }

    fn check_throttle(&self, account: Option<&str>, ip: Option<IpAddr>) -> Result<(), Error> {
        match self.throttle.as_ref().and_then(|t| t.check(account, ip)) {
            Some(retry_after) => Err(Error::Throttled { retry_after }),
            None => Ok(()),
        }
    }

    async fn authenticate(
        &self,
        credentials: &Credentials,
        ip: Option<IpAddr>,
    ) -> Result<Identity, Error> {
        let Credentials::Password { username, password } = credentials else {
            return if self.anonymous {
                Ok(Identity::anonymous())
            } else {
                Err(Error::AuthenticationRequired)
            };
        };
        // Throttle first: a throttled client gets no password check at
        // all, not even against the cache.
        self.check_throttle(Some(username), ip)?;
        if let Some(identity) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(username, password.expose()))
        {
            return Ok(identity);
        }
        let result = self
            .guard(
                Backend::Authenticator,
                self.authenticator.authenticate(credentials),
            )
            .await?;
        match result {
            Ok(identity) => {
                if let Some(throttle) = &self.throttle {
                    throttle.succeeded(username, ip);
                }
                if let Some(cache) = &self.cache {
                    cache.put(username, password.expose(), identity.clone());
                }
                Ok(identity)
            }
            Err(AuthnError::InvalidCredentials) => {
                if let Some(throttle) = &self.throttle {
                    throttle.failed(Some(username), ip);
                }
                Err(Error::InvalidCredentials)
            }
            Err(AuthnError::Unavailable(e)) => {
                tracing::error!(error = %e, "authenticator failed; refusing the request");
                Err(Error::AuthenticatorUnavailable)
            }
        }
    }

    /// Empties the verified-credential cache.
    pub(crate) fn clear_credential_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }
}

/// A refresh-token store error: logged here, 503 for the client.
fn store_failed(e: StoreError) -> Error {
    tracing::error!(error = %e, "refresh token store failed");
    Error::RefreshStoreUnavailable
}

fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Scopes joined by spaces, for logs.
struct DisplayScopes<'a>(&'a [Scope]);

impl std::fmt::Display for DisplayScopes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}
