//! The HTTP adapter: axum routes around the core, and the one place where
//! errors become responses.
//!
//! Routes, relative to wherever the router is mounted:
//! - `GET /` and `GET /token`: the token endpoint (so both
//!   `realm=https://host/auth` and `realm=https://host/auth/token` work when
//!   nested under `/auth`);
//! - `GET /.well-known/jwks.json`: the public signing key(s).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::json;

use crate::core::{Core, TokenResponse};
use crate::error::Error;
use crate::request::{Credentials, TokenRequest};
use crate::server::AuthServer;

pub(crate) fn router(core: Arc<Core>) -> Router {
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
        .with_state(core)
}

async fn get_token(State(core): State<Arc<Core>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let result = async {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let credentials = Credentials::from_authorization(authorization)?;
        let mut token_request =
            TokenRequest::from_query(parts.uri.query().unwrap_or(""), credentials)?;
        token_request.client_ip = client_ip(&parts);
        core.issue(token_request).await
    }
    .await;
    match result {
        Ok(response) => token_response(&response, false),
        Err(error) => error_response(&core, &error),
    }
}

/// The largest OAuth form body accepted. Real ones are well under 4 KiB
/// (a refresh token and a few scopes).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The OAuth 2 form of the endpoint (distribution's oauth.md): password
/// and refresh-token grants, errors as RFC 6749 §5.2 has them.
async fn post_token(State(core): State<Arc<Core>>, request: Request) -> Response {
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
        let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                Error::InvalidRequest(format!("the body is larger than {MAX_FORM_BYTES} bytes"))
            })?;
        let mut token_request = TokenRequest::from_form(&body)?;
        token_request.client_ip = client_ip(&parts);
        core.issue(token_request).await
    }
    .await;
    match result {
        Ok(response) => token_response(&response, true),
        Err(error) => {
            let status = StatusCode::from_u16(error.oauth_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = json_response(
                status,
                json!({ "error": error.oauth_code(), "error_description": error.to_string() }),
            );
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            response
        }
    }
}

fn client_ip(parts: &axum::http::request::Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
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
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

fn registry_error_body(code: &str, message: &str) -> serde_json::Value {
    json!({ "errors": [{ "code": code, "message": message }] })
}

async fn jwks(State(core): State<Arc<Core>>) -> Response {
    match core.generator.jwks() {
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
