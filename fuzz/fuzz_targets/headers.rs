//! A token request with arbitrary `Authorization` and `X-Forwarded-For`
//! headers (any number of each, any bytes) and query, through the real
//! router behind a trusted proxy: never a panic, never a 5xx, always a
//! JSON answer; two `Authorization` headers never get a token (400, or the
//! 414/431 of a limit that answered first).
#![no_main]

use std::net::SocketAddr;
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use registry_auth::{
    AccessRequest, AuthServer, AuthnError, Credentials, Identity, Throttling, authenticator_fn,
    authorizer_fn,
};
use tower::ServiceExt;

const KEY: &str = include_str!("../../crates/registry-auth/tests/data/p256-sec1.pem");

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

static APP: LazyLock<axum::Router> = LazyLock::new(|| {
    AuthServer::builder()
        .authenticator(authenticator_fn(|c: Credentials| async move {
            match c {
                Credentials::Password { username, password }
                    if username == "alice" && password.expose() == "pw" =>
                {
                    Ok(Identity::new("alice"))
                }
                _ => Err(AuthnError::InvalidCredentials),
            }
        }))
        .authorizer(authorizer_fn(|_: Identity, req: AccessRequest| async move {
            Ok(req.scopes)
        }))
        .signing_key_pem(KEY.as_bytes())
        .issuer("fuzz")
        .service("registry.fuzz")
        .allow_anonymous(true)
        .throttling(Throttling::off())
        .trusted_proxies(["0.0.0.0/0", "::/0"])
        .build()
        .expect("server")
        .router()
});

fuzz_target!(|data: &[u8]| {
    // Lines: 'A' + an Authorization value, 'F' + an X-Forwarded-For value,
    // anything else: appended to the query.
    let mut query = String::from("service=registry.fuzz");
    let mut request = Request::get("/token");
    let mut authorizations = 0;
    let mut headers = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        match line.split_first() {
            Some((b'A', value)) => {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    authorizations += 1;
                    headers.push(("authorization", value));
                }
            }
            Some((b'F', value)) => {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    headers.push(("x-forwarded-for", value));
                }
            }
            _ => {
                query.push('&');
                query.push_str(&String::from_utf8_lossy(line));
            }
        }
    }
    let Ok(uri) = format!("/token?{query}").parse::<axum::http::Uri>() else {
        return;
    };
    request = request.uri(uri);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let Ok(mut request) = request.body(Body::empty()) else {
        return;
    };
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 4000))));
    let (status, body) = RUNTIME.block_on(async {
        let response = APP.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, body)
    });
    assert!(!status.is_server_error(), "{status}: {body:?}");
    assert!(
        serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
        "not JSON: {body:?}"
    );
    // Two credentials never give a token: 400, unless a limit (a query
    // too long, headers too large) answered first.
    if authorizations > 1 {
        assert!(
            matches!(status.as_u16(), 400 | 414 | 431),
            "two Authorization headers: {status} {body:?}"
        );
    }
});
