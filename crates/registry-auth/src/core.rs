//! The protocol core: request → decision → token. No HTTP here.

use std::sync::Arc;

use tracing::Instrument;

use crate::authn::{Authenticator, AuthnError, Identity};
use crate::authz::{AccessRequest, Authorizer, AuthzError, intersect};
use crate::error::Error;
use crate::request::{Credentials, TokenRequest};
use crate::scope::Scope;
use crate::token::{Token, TokenGenerator};

/// Which services (token audiences) the server issues tokens for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Services {
    /// Only these; a request naming no service gets the only one, if there
    /// is exactly one.
    Only(Vec<String>),
    /// Whatever the client names (it must name one).
    Any,
}

/// A granted token and what it grants.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The token.
    pub token: Token,
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
        let identity = self.authenticate(&request.credentials).await?;
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
