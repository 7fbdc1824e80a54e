//! The protocol core: request → decision → token. No HTTP here.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;

use tracing::Instrument;

use crate::authn::{Authenticator, AuthnError, Identity};
use crate::authz::{AccessRequest, Authorizer, AuthzError, intersect};
use crate::error::Error;
use crate::refresh::{RefreshRecord, RefreshTokenStore, TokenHash, new_refresh_token};
use crate::request::{Credentials, Secret, TokenRequest};
use crate::scope::Scope;
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
            for want in &requested {
                let result = match granted.iter().find(|g| g.same_resource(want)) {
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
        let identity = match &request.credentials {
            Credentials::RefreshToken(token) => {
                self.redeem(token, &service, request.client_id.as_deref())
                    .await?
            }
            other => self.authenticate(other).await?,
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
                .authorizer
                .authorize(&identity, &access_request)
                .await
                .map_err(|AuthzError::Unavailable(e)| {
                    tracing::error!(error = %e, "authorizer failed; refusing the request");
                    Error::AuthorizerUnavailable
                })?;
            intersect(&access_request.scopes, &allowed)
        };
        let token = self
            .generator
            .generate(&identity, &granted, &access_request)
            .map_err(|e| {
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
        let record = refresh
            .store
            .get(&TokenHash::of(token.expose()))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "refresh token store failed");
                Error::RefreshStoreUnavailable
            })?
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
        match self.authenticator.refresh(&record.identity).await {
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
        refresh
            .store
            .insert(TokenHash::of(token.expose()), record)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "refresh token store failed");
                Error::RefreshStoreUnavailable
            })?;
        Ok(Some(token))
    }

    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, Error> {
        if *credentials == Credentials::Anonymous {
            return if self.anonymous {
                Ok(Identity::anonymous())
            } else {
                Err(Error::AuthenticationRequired)
            };
        }
        match self.authenticator.authenticate(credentials).await {
            Ok(identity) => Ok(identity),
            Err(AuthnError::InvalidCredentials) => Err(Error::InvalidCredentials),
            Err(AuthnError::Unavailable(e)) => {
                tracing::error!(error = %e, "authenticator failed; refusing the request");
                Err(Error::AuthenticatorUnavailable)
            }
        }
    }
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
