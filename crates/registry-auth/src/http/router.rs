//! The axum adapter: routes around the core, and the one place where
//! answers become responses.
//!
//! Routes, relative to wherever the router is nested:
//! - `GET /` and `GET /token`: the token endpoint (so both
//!   `realm=https://host/auth` and `realm=https://host/auth/token` work when
//!   nested under `/auth`); `POST` on the same paths: its OAuth 2 form;
//! - `GET /.well-known/jwks.json`: the public signing key(s).

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use futures_util::FutureExt;

use crate::core::{AuthServer, Core};
use crate::protocol::credentials::Credentials;
use crate::protocol::error::{Dialect, Error};
use crate::protocol::forwarded;
use crate::protocol::request::TokenRequest;

impl AuthServer {
    /// A new axum router for the token server, to serve or to nest:
    /// `Router::new().nest("/auth", server.router())` answers at
    /// `/auth/token` (and `/auth`), `/auth/.well-known/jwks.json`.
    ///
    /// The router reads the client's address from axum's
    /// `ConnectInfo<SocketAddr>` (for throttling, ACL `ip` rules and the
    /// audit log): serve the app with
    /// [`serve`](crate::serve()) or with
    /// `into_make_service_with_connect_info::<SocketAddr>()`. Without it,
    /// token requests are refused with 500 (and the log says why), unless
    /// the server was built
    /// [`without_client_address`](crate::AuthServerBuilder::without_client_address).
    pub fn router(&self) -> Router {
        let core = self.core.clone();
        let token: MethodRouter<Arc<Core>> =
            get(get_token).post(post_token).fallback(method_not_allowed);
        Router::new()
            .route("/", token.clone())
            .route("/token", token)
            .route(
                "/.well-known/jwks.json",
                get(jwks).fallback(method_not_allowed),
            )
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(core.clone(), guard))
            .with_state(core)
    }
}

/// Limits every request before it reaches a handler, bounds its time, and
/// turns a panic anywhere below into a 500 answer (the server keeps
/// serving).
async fn guard(State(core): State<Arc<Core>>, request: Request, next: Next) -> Response {
    let limits = &core.limits;
    let query = request.uri().query().map_or(0, str::len);
    if query > limits.max_query_bytes {
        let max = limits.max_query_bytes;
        return error_response(&core, &Error::QueryTooLong { max }, Dialect::Registry);
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > limits.max_header_bytes {
        let max = limits.max_header_bytes;
        return error_response(&core, &Error::HeadersTooLarge { max }, Dialect::Registry);
    }
    let timeout = limits.request_timeout;
    let run = AssertUnwindSafe(next.run(request)).catch_unwind();
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(response)) => response,
        Ok(Err(_panic)) => {
            tracing::error!("a request handler panicked; answering 500");
            error_response(&core, &Error::Internal, Dialect::Registry)
        }
        Err(_elapsed) => error_response(
            &core,
            &Error::RequestTimeout { after: timeout },
            Dialect::Registry,
        ),
    }
}

async fn get_token(State(core): State<Arc<Core>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let result = async {
        // Two credentials in one request: which one a proxy in front
        // checked is anyone's guess, so neither is taken.
        let mut authorizations = parts.headers.get_all(header::AUTHORIZATION).iter();
        let authorization = authorizations.next().map(HeaderValue::as_bytes);
        if authorizations.next().is_some() {
            return Err(Error::InvalidRequest(
                "more than one Authorization header; send one".into(),
            ));
        }
        let credentials = Credentials::from_authorization(authorization)?;
        let mut token_request =
            TokenRequest::from_query(parts.uri.query().unwrap_or(""), credentials)?;
        token_request.client_ip = client_ip(&parts, &core)?;
        core.issue(token_request).await
    }
    .await;
    match result {
        Ok(response) => json_response(StatusCode::OK, response.body(Dialect::Registry)),
        Err(error) => error_response(&core, &error, Dialect::Registry),
    }
}

/// The OAuth 2 form of the endpoint (distribution's oauth.md): password
/// and refresh-token grants, errors as RFC 6749 §5.2 has them.
async fn post_token(State(core): State<Arc<Core>>, request: Request) -> Response {
    let max_body = core.limits.max_body_bytes;
    let (parts, body) = request.into_parts();
    let result = async {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(Error::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        let body = axum::body::to_bytes(body, max_body)
            .await
            .map_err(|_| Error::BodyTooLarge { max: max_body })?;
        let mut token_request = TokenRequest::from_form(&body)?;
        token_request.client_ip = client_ip(&parts, &core)?;
        core.issue(token_request).await
    }
    .await;
    match result {
        Ok(response) => json_response(StatusCode::OK, response.body(Dialect::OAuth)),
        Err(error) => error_response(&core, &error, Dialect::OAuth),
    }
}

/// The client's address: the peer's, or, when the peer is a trusted
/// proxy, the rightmost address in `X-Forwarded-For` that is not one.
/// Without the peer address (a router served without `ConnectInfo`),
/// refused unless the server was built to go without.
fn client_ip(parts: &axum::http::request::Parts, core: &Core) -> Result<Option<IpAddr>, Error> {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
    else {
        if !core.client_address_required {
            return Ok(None);
        }
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "the token server's router is served without the client's address, so \
                 throttling, ip rules and the audit's client_ip cannot work: every request \
                 is refused with 500. Serve it with \
                 app.into_make_service_with_connect_info::<SocketAddr>() (or \
                 registry_auth::serve), or build it with .without_client_address()"
            );
        }
        return Err(Error::ClientAddressUnknown);
    };
    let values = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .map(HeaderValue::as_bytes);
    Ok(Some(forwarded::client_address(
        peer,
        values,
        &core.trusted_proxies,
    )))
}

/// The only place errors turn into responses: the status, code and body
/// of the error's one wire mapping, `WWW-Authenticate` on 401 and
/// `Retry-After` on 429 and 503.
fn error_response(core: &Core, error: &Error, dialect: Dialect) -> Response {
    let status =
        StatusCode::from_u16(error.status(dialect)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, error.body(dialect));
    let headers = response.headers_mut();
    if status == StatusCode::UNAUTHORIZED
        && let Ok(value) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", core.realm))
    {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    if let Some(wait) = error.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
    }
    response
}

async fn jwks(State(core): State<Arc<Core>>) -> Response {
    match core.generator.jwks() {
        Some(document) => json_response(StatusCode::OK, document.to_string()),
        None => error_response(&core, &Error::NotFound, Dialect::Registry),
    }
}

async fn method_not_allowed(State(core): State<Arc<Core>>) -> Response {
    error_response(&core, &Error::MethodNotAllowed, Dialect::Registry)
}

async fn not_found(State(core): State<Arc<Core>>) -> Response {
    error_response(&core, &Error::NotFound, Dialect::Registry)
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Tokens must not be cached by anything in between (RFC 6749 §5.1).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
