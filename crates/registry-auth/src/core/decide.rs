//! The decision: request → identity → access → token. No HTTP here.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use futures_util::FutureExt;

use super::metrics::{RequestMetrics, ScopeResult};
use super::response::TokenResponse;
use crate::guard::cache::CredentialCache;
use crate::guard::limits::Limits;
use crate::guard::throttle::Throttle;
use crate::protocol::authn::Authenticator;
use crate::protocol::authz::{AccessRequest, Authorizer, DecidedBy, ScopeDecision};
use crate::protocol::backend::BackendError;
use crate::protocol::cidr::Cidr;
use crate::protocol::error::{Error, Outcome};
use crate::protocol::identity::Identity;
use crate::protocol::request::TokenRequest;
use crate::protocol::scope::Scope;
use crate::state::StateStore;
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

/// Everything one decision needs; built once by the builder, shared by
/// every request.
pub(crate) struct Core {
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    pub(crate) generator: Arc<dyn TokenGenerator>,
    pub(crate) services: Services,
    pub(crate) anonymous: bool,
    /// How long refresh tokens work; `None`: none are issued or honoured.
    pub(crate) refresh_lifetime: Option<Duration>,
    /// Refresh tokens, credential generations, failure counts.
    pub(crate) state: Arc<dyn StateStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: SystemRandom,
    pub(crate) throttle: Option<Throttle>,
    /// Verified credentials, and checks of the same ones running now.
    pub(crate) cache: CredentialCache,
    pub(crate) limits: Limits,
    /// The handles of the request metrics.
    pub(crate) metrics: RequestMetrics,
    /// For the HTTP adapter: the realm of `WWW-Authenticate` on 401.
    pub(crate) realm: String,
    /// For the HTTP adapter: proxies whose `X-Forwarded-For` is believed.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) trusted_proxies: Vec<Cidr>,
    /// For the HTTP adapter: whether a request without the peer address
    /// is refused.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) client_address_required: bool,
}

/// Which backend a guarded call goes to, for the error it turns into.
#[derive(Clone, Copy)]
pub(super) enum Backend {
    Authenticator,
    Authorizer,
    StateStore,
}

impl Backend {
    pub(super) fn unavailable(self) -> Error {
        match self {
            Backend::Authenticator => Error::AuthenticatorUnavailable,
            Backend::Authorizer => Error::AuthorizerUnavailable,
            Backend::StateStore => Error::StateStoreUnavailable,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Authenticator => "authenticator",
            Backend::Authorizer => "authorizer",
            Backend::StateStore => "state store",
        }
    }

    /// Logs a backend's failure (never sent) and answers 503.
    pub(super) fn failed(self, error: &BackendError) -> Error {
        tracing::error!(backend = self.name(), %error, "backend failed; refusing the request");
        self.unavailable()
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
        let result = self.decide(request).await;
        let outcome = match &result {
            Ok(_) => Outcome::Issued,
            Err(e) => e.outcome(),
        };
        let (granted, decisions) = match &result {
            Ok(r) => (r.granted.as_slice(), r.decisions.as_slice()),
            Err(_) => (&[][..], &[][..]),
        };
        tracing::info!(
            target: "registry_auth::audit",
            outcome = outcome.label(),
            account = account.as_str(),
            client_ip = %client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            requested = %DisplayScopes(&requested),
            granted = %DisplayScopes(granted),
            rules = %DisplayReasons(decisions),
            "token request"
        );
        // `granted` is a subsequence of the decisions (the grant of each,
        // in order, where there is one), so one walk pairs them up.
        let mut granted = granted.iter().peekable();
        for decision in decisions {
            let want = &decision.requested;
            let result = match granted.next_if(|g| g.same_resource(want)) {
                None => ScopeResult::Denied,
                Some(g) if want.actions.iter().all(|a| g.allows(a)) => ScopeResult::Granted,
                Some(_) => ScopeResult::Partial,
            };
            self.metrics.scope(result);
        }
        self.metrics.request(
            outcome,
            matches!(result, Err(Error::InvalidCredentials)),
            started.elapsed().as_secs_f64(),
        );
        result
    }

    async fn decide(&self, request: TokenRequest) -> Result<TokenResponse, Error> {
        let service = self.check_request(&request)?;
        let (identity, refresh_token) = self.identify(&request, &service).await?;
        let access_request = AccessRequest {
            service,
            scopes: request.scopes,
            client_ip: request.client_ip,
            client_id: request.client_id,
        };
        let mut decisions = self.authorize(&identity, &access_request).await?;
        if let Some(limit) = identity.limit() {
            decisions.iter_mut().for_each(|d| restrict(d, limit));
        }
        let granted: Vec<Scope> = decisions
            .iter()
            .filter_map(ScopeDecision::granted_scope)
            .collect();
        let token = self.sign(&identity, &granted, &access_request).await?;
        Ok(TokenResponse {
            token,
            refresh_token,
            subject: identity.subject().to_owned(),
            service: access_request.service,
            granted,
            decisions,
        })
    }

    /// What `who` would be granted for `request`: the checks of the
    /// request and the authorization step, without credentials, refresh
    /// tokens or a signature.
    pub(crate) async fn explain(
        &self,
        who: &Identity,
        request: TokenRequest,
    ) -> Result<Vec<ScopeDecision>, Error> {
        let service = self.check_request(&request)?;
        let access_request = AccessRequest {
            service,
            scopes: request.scopes,
            client_ip: request.client_ip,
            client_id: request.client_id,
        };
        self.authorize(who, &access_request).await
    }

    /// The checks that need no backend: the service, `account`, the number
    /// of scopes. Returns the service the token is for.
    fn check_request(&self, request: &TokenRequest) -> Result<String, Error> {
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
        Ok(service)
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

    /// Runs user code with the backend timeout, turning a hang into 503
    /// and a panic into 500: a faulty backend never yields a token and
    /// never takes the server down.
    pub(super) async fn guard<T>(
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

    /// The authorizer's decisions, one per requested scope in the order of
    /// the request, whatever the authorizer returned: a decision on a
    /// resource that was not asked for is dropped, one that was asked for
    /// and not answered is denied, and each is about the scope as it was
    /// requested, so the grant can never exceed the request.
    async fn authorize(
        &self,
        who: &Identity,
        request: &AccessRequest,
    ) -> Result<Vec<ScopeDecision>, Error> {
        if request.scopes.is_empty() {
            // A login: nothing to decide, the token carries no access.
            return Ok(Vec::new());
        }
        let decisions = self
            .guard(Backend::Authorizer, self.authorizer.decide(who, request))
            .await?
            .map_err(|e| Backend::Authorizer.failed(&e))?;
        let in_order = decisions.len() == request.scopes.len()
            && decisions
                .iter()
                .zip(&request.scopes)
                .all(|(d, want)| d.requested == *want);
        if in_order {
            return Ok(decisions);
        }
        Ok(request
            .scopes
            .iter()
            .map(|want| {
                let mut answers = decisions
                    .iter()
                    .filter(|d| d.requested.same_resource(want))
                    .peekable();
                let decided_by = answers
                    .peek()
                    .map_or(DecidedBy::Authorizer, |d| d.decided_by);
                let allowed: Vec<String> =
                    answers.flat_map(|d| d.allowed.iter().cloned()).collect();
                ScopeDecision::new(want.clone(), allowed, decided_by)
            })
            .collect())
    }

    /// Signs the token; RSA and the larger curves on the blocking pool.
    async fn sign(
        &self,
        who: &Identity,
        granted: &[Scope],
        request: &AccessRequest,
    ) -> Result<Token, Error> {
        let panicked = || {
            tracing::error!("token generator panicked; answering 500");
            Error::Internal
        };
        let generated = if self.generator.is_slow() {
            // An RSA signature takes about a millisecond: on the blocking
            // pool, so the async workers keep answering everyone else.
            let generator = self.generator.clone();
            let (who, granted, request) = (who.clone(), granted.to_vec(), request.clone());
            tokio::task::spawn_blocking(move || generator.generate(&who, &granted, &request))
                .await
                .map_err(|_| panicked())?
        } else {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.generator.generate(who, granted, request)
            }))
            .map_err(|_| panicked())?
        };
        generated.map_err(|e| {
            tracing::error!(error = %e, "token generation failed");
            Error::TokenGeneration
        })
    }
}

/// Leaves of `decision` only what `limit` permits on its resource: the
/// actions of every limit scope whose type is the resource's and whose
/// name (a glob) matches it.
fn restrict(decision: &mut ScopeDecision, limit: &[Scope]) {
    let want = &decision.requested;
    let mut permitted: Vec<&str> = Vec::new();
    for scope in limit.iter().filter(|s| {
        s.resource_type == want.resource_type && crate::acl::glob_matches(&s.name, &want.name)
    }) {
        if scope.actions.iter().any(|a| a == Scope::WILDCARD) {
            return;
        }
        permitted.extend(scope.actions.iter().map(String::as_str));
    }
    let everything = decision.allowed.iter().any(|a| a == Scope::WILDCARD);
    let kept: Vec<String> = if everything {
        permitted.iter().map(|a| (*a).to_owned()).collect()
    } else {
        decision
            .allowed
            .iter()
            .filter(|a| permitted.contains(&a.as_str()))
            .cloned()
            .collect()
    };
    let narrowed = kept.len() != decision.allowed.len() || everything;
    if narrowed {
        *decision = ScopeDecision::new(want.clone(), kept, DecidedBy::Limit);
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

/// What decided each scope, `scope=rule 3` joined by spaces, for logs.
struct DisplayReasons<'a>(&'a [ScopeDecision]);

impl std::fmt::Display for DisplayReasons<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={}", d.requested, d.decided_by)?;
        }
        Ok(())
    }
}
