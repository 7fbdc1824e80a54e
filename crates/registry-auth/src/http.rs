//! The HTTP adapter: axum routes around the core, and the one place where
//! errors become responses.
//!
//! Routes, relative to wherever the router is mounted:
//! - `GET /` and `GET /token`: the token endpoint (so both
//!   `realm=https://host/auth` and `realm=https://host/auth/token` work when
//!   nested under `/auth`); `POST` on the same paths: its OAuth 2 form;
//! - `GET /.well-known/jwks.json`: the public signing key(s).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use futures_util::FutureExt;
use serde_json::json;

use crate::acl::Cidr;
use crate::core::{Core, TokenResponse};
use crate::error::Error;
use crate::request::{Credentials, TokenRequest};
use crate::server::AuthServer;

/// What the handlers share.
#[derive(Clone)]
struct Adapter {
    core: Arc<Core>,
    /// Proxies whose `X-Forwarded-For` is believed.
    proxies: Arc<[Cidr]>,
}

pub(crate) fn router(core: Arc<Core>, proxies: Vec<Cidr>) -> Router {
    let adapter = Adapter {
        core,
        proxies: proxies.into(),
    };
    let token: MethodRouter<Adapter> = get(get_token).post(post_token).fallback(method_not_allowed);
    Router::new()
        .route("/", token.clone())
        .route("/token", token)
        .route(
            "/.well-known/jwks.json",
            get(jwks).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(adapter.clone(), guard))
        .with_state(adapter)
}

/// Limits every request before it reaches a handler, bounds its time, and
/// turns a panic anywhere below into a 500 answer (the server keeps
/// serving).
async fn guard(State(adapter): State<Adapter>, request: Request, next: Next) -> Response {
    let limits = &adapter.core.limits;
    let query = request.uri().query().map_or(0, str::len);
    if query > limits.max_query_bytes {
        return registry_error(
            StatusCode::URI_TOO_LONG,
            "INVALID_REQUEST",
            &format!(
                "the query string is longer than {} bytes",
                limits.max_query_bytes
            ),
        );
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > limits.max_header_bytes {
        return registry_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "INVALID_REQUEST",
            &format!(
                "the request headers are larger than {} bytes",
                limits.max_header_bytes
            ),
        );
    }
    let timeout = limits.request_timeout;
    let run = AssertUnwindSafe(next.run(request)).catch_unwind();
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(response)) => response,
        Ok(Err(_panic)) => {
            tracing::error!("a request handler panicked; answering 500");
            registry_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal error",
            )
        }
        Err(_elapsed) => registry_error(
            StatusCode::REQUEST_TIMEOUT,
            "INVALID_REQUEST",
            &format!("the request took longer than {} s", timeout.as_secs()),
        ),
    }
}

fn registry_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, registry_error_body(code, message))
}

async fn get_token(State(adapter): State<Adapter>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let result = async {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let credentials = Credentials::from_authorization(authorization)?;
        let mut token_request =
            TokenRequest::from_query(parts.uri.query().unwrap_or(""), credentials)?;
        token_request.client_ip = client_ip(&parts, &adapter.proxies);
        adapter.core.issue(token_request).await
    }
    .await;
    match result {
        Ok(response) => token_response(&response, false),
        Err(error) => error_response(&adapter.core, &error),
    }
}

/// Why a POST failed: too large a body, or anything the core says.
enum PostError {
    TooLarge,
    Core(Error),
}

impl From<Error> for PostError {
    fn from(e: Error) -> Self {
        PostError::Core(e)
    }
}

/// The OAuth 2 form of the endpoint (distribution's oauth.md): password
/// and refresh-token grants, errors as RFC 6749 §5.2 has them.
async fn post_token(State(adapter): State<Adapter>, request: Request) -> Response {
    let max_body = adapter.core.limits.max_body_bytes;
    let (parts, body) = request.into_parts();
    let result = async {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(PostError::Core(Error::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            )));
        }
        let body = axum::body::to_bytes(body, max_body)
            .await
            .map_err(|_| PostError::TooLarge)?;
        let mut token_request = TokenRequest::from_form(&body)?;
        token_request.client_ip = client_ip(&parts, &adapter.proxies);
        Ok(adapter.core.issue(token_request).await?)
    }
    .await;
    match result {
        Ok(response) => token_response(&response, true),
        Err(PostError::TooLarge) => json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({
                "error": "invalid_request",
                "error_description": format!("the body is larger than {max_body} bytes"),
            }),
        ),
        Err(PostError::Core(error)) => {
            let status = StatusCode::from_u16(error.oauth_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = json_response(
                status,
                json!({ "error": error.oauth_code(), "error_description": error.to_string() }),
            );
            add_retry_after(&mut response, &error);
            response
        }
    }
}

/// The client's address: the peer's, or, when the peer is a trusted
/// proxy, the rightmost address in `X-Forwarded-For` that is not one.
fn client_ip(parts: &axum::http::request::Parts, proxies: &[Cidr]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    let trusted = |ip: &IpAddr| proxies.iter().any(|c| c.contains(*ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    let values: Vec<&HeaderValue> = parts.headers.get_all("x-forwarded-for").iter().collect();
    for value in values.into_iter().rev() {
        let Ok(value) = value.to_str() else {
            return Some(client);
        };
        for hop in value.split(',').rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if trusted(&ip) => client = ip,
                Ok(ip) => return Some(ip),
                // A malformed hop: do not guess past it.
                Err(_) => return Some(client),
            }
        }
    }
    Some(client)
}

/// `Retry-After` on 429 (when the back-off ends) and 503 (a few seconds).
fn add_retry_after(response: &mut Response, error: &Error) {
    let seconds = match error {
        Error::Throttled { retry_after } => retry_after.as_secs().max(1),
        _ if error.status() == 503 => 5,
        _ => return,
    };
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

/// The success body. GET and POST clients differ in which field they read,
/// so both carry `token` and `access_token`; POST adds `scope`.
fn token_response(response: &TokenResponse, oauth: bool) -> Response {
    let token = &response.token;
    // Never below 60: clients treat smaller values as 60 anyway.
    let expires_in = token.expires_in.as_secs().max(60);
    let mut body = json!({
        "token": token.token,
        "access_token": token.token,
        "expires_in": expires_in,
        "issued_at": humantime::format_rfc3339_seconds(token.issued_at).to_string(),
    });
    if oauth {
        let scope: Vec<String> = response.granted.iter().map(ToString::to_string).collect();
        body["scope"] = json!(scope.join(" "));
    }
    if let Some(refresh) = &response.refresh_token {
        body["refresh_token"] = json!(refresh.expose());
    }
    json_response(StatusCode::OK, body)
}

/// The only place errors turn into responses: status, registry-style JSON
/// body, and `WWW-Authenticate` on 401.
fn error_response(core: &Core, error: &Error) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(
        status,
        registry_error_body(error.registry_code(), &error.to_string()),
    );
    if status == StatusCode::UNAUTHORIZED
        && let Ok(value) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", core.realm))
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    add_retry_after(&mut response, error);
    response
}

fn registry_error_body(code: &str, message: &str) -> serde_json::Value {
    json!({ "errors": [{ "code": code, "message": message }] })
}

async fn jwks(State(adapter): State<Adapter>) -> Response {
    match adapter.core.generator.jwks() {
        Some(document) => json_response(StatusCode::OK, document),
        None => not_found().await,
    }
}

async fn method_not_allowed() -> Response {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        registry_error_body("UNSUPPORTED", "method not allowed"),
    )
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        registry_error_body("NOT_FOUND", "not found"),
    )
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Tokens must not be cached by anything in between (RFC 6749 §5.1).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl AuthServer {
    /// The axum router of the token server, to serve or to nest:
    /// `Router::new().nest("/auth", server.router())`.
    pub fn router(&self) -> Router {
        self.router.clone()
    }
}

/// An `AuthServer` is a tower `Service`, so it can be mounted with
/// `Router::nest_service("/auth", server)` or served by anything that takes
/// a service.
impl tower::Service<Request<Body>> for AuthServer {
    type Response = Response;
    type Error = Infallible;
    type Future = <Router as tower::Service<Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        <Router as tower::Service<Request<Body>>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        self.router.call(request)
    }
}
