//! Helpers shared by the integration tests, written once.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use data_encoding::BASE64;
use http_body_util::BodyExt;
use registry_auth::identity::StaticUsers;
use registry_auth::{
    AccessRequest, AuthServer, AuthServerBuilder, Authorizer, Identity, Scope, authorizer_fn,
};
use serde_json::{Value, json};
use tower::ServiceExt;

pub(crate) const SERVICE: &str = "registry.test";
pub(crate) const ISSUER: &str = "registry-auth-test";

pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Users alice (pw "alice-pw"), bob ("bob-pw") and carol ("carol-pw"),
/// hashed at bcrypt's lowest cost to keep the tests fast.
pub(crate) fn users() -> StaticUsers {
    // Hashed once: every server of a test run sees the same hashes, as
    // instances sharing one configuration do (a new hash would be a
    // password change, which ends refresh tokens).
    static USERS: std::sync::LazyLock<StaticUsers> = std::sync::LazyLock::new(hashed_users);
    USERS.clone()
}

fn hashed_users() -> StaticUsers {
    let hash = |pw: &str| bcrypt::hash(pw, 4).expect("bcrypt");
    StaticUsers::new()
        .user("alice", &hash("alice-pw"))
        .and_then(|u| {
            u.user_with_identity(
                "bob",
                &hash("bob-pw"),
                Identity::new("bob").with_attribute("groups", ["developers"]),
            )
        })
        .and_then(|u| u.user("carol", &hash("carol-pw")))
        .expect("test users")
}

/// The test policy:
/// - everyone who is authenticated pulls everything;
/// - alice has every action (`*`) on `alice/*` and `public/*`, and the catalog;
/// - bob pushes and pulls `bob/*` (no delete);
/// - anonymous pulls `public/*`.
pub(crate) fn policy() -> impl Authorizer {
    authorizer_fn(|who: Identity, req: AccessRequest| async move {
        let mut allowed = Vec::new();
        for s in &req.scopes {
            let user = who.subject();
            let actions: &[&str] = if s.resource_type == "registry" {
                if user == "alice" { &["*"] } else { &[] }
            } else if who.is_anonymous() {
                if s.name.starts_with("public/") {
                    &["pull"]
                } else {
                    &[]
                }
            } else if user == "alice"
                && (s.name.starts_with("alice/") || s.name.starts_with("public/"))
            {
                &["*"]
            } else if user == "bob" && s.name.starts_with("bob/") {
                &["pull", "push"]
            } else {
                &["pull"]
            };
            allowed.push(Scope::new(
                s.resource_type.clone(),
                s.name.clone(),
                actions.iter().copied(),
            ));
        }
        Ok(allowed)
    })
}

/// A builder with the test users, policy, service and issuer, signing with
/// the given key fixture.
pub(crate) fn builder(key: &str) -> AuthServerBuilder {
    test_settings().signing_key_pem_file(fixture(key))
}

/// [`builder`] signing with a key given as PEM (one a test made).
pub(crate) fn builder_with_key_pem(pem: &[u8]) -> AuthServerBuilder {
    test_settings().signing_key_pem(pem)
}

fn test_settings() -> AuthServerBuilder {
    AuthServer::builder()
        .authenticator(users())
        .authorizer(policy())
        .issuer(ISSUER)
        .service(SERVICE)
        .token_lifetime(Duration::from_secs(300))
}

/// A token for alice (push and pull on `alice/app`), issued in process.
pub(crate) async fn alice_token(server: &AuthServer) -> String {
    let request =
        registry_auth::TokenRequest::new(registry_auth::Credentials::password("alice", "alice-pw"))
            .with_service(SERVICE)
            .with_scopes([registry_auth::Scope::repository(
                "alice/app",
                ["push", "pull"],
            )]);
    server.issue(request).await.expect("token").token.token
}

/// The test server: [`builder`] with a P-256 key.
pub(crate) fn server() -> AuthServer {
    builder("p256-sec1.pem").build().expect("test server")
}

/// A token server on 127.0.0.1 (port picked by the OS), stopped on drop.
pub(crate) struct RunningServer {
    pub(crate) addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    pub(crate) async fn start(server: AuthServer) -> RunningServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = registry_auth::serve(listener, server.router())
            .limits(server.limits())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            });
        RunningServer {
            addr,
            stop: Some(stop),
            task: Some(tokio::spawn(serving.run())),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server and waits for it to finish.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Decodes a JWT's header and claims without verifying it.
pub(crate) fn decode_unverified(token: &str) -> (Value, Value) {
    use data_encoding::BASE64URL_NOPAD;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts");
    let part = |p: &str| -> Value {
        serde_json::from_slice(&BASE64URL_NOPAD.decode(p.as_bytes()).expect("base64url"))
            .expect("json")
    };
    (part(parts[0]), part(parts[1]))
}

/// The `access` claim of a token response body.
pub(crate) fn access(body: &Value) -> Value {
    let token = body["access_token"].as_str().expect("access_token");
    decode_unverified(token).1["access"].clone()
}

/// A registry-style error body.
pub(crate) fn registry_error(code: &str, message: &str) -> Value {
    json!({"errors": [{"code": code, "message": message}]})
}

/// An OAuth (RFC 6749 §5.2) error body.
pub(crate) fn oauth_error(code: &str, description: &str) -> Value {
    json!({"error": code, "error_description": description})
}

/// An `Authorization: Basic` header value.
pub(crate) fn basic(user: &str, pw: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{pw}").as_bytes()))
}

/// A form value, URL-encoded.
pub(crate) fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Sends one request to a router, in process, from client 192.0.2.10 (as
/// a server made with `into_make_service_with_connect_info` says); the
/// body must be JSON.
pub(crate) async fn send(
    app: axum::Router,
    mut request: Request<Body>,
) -> (StatusCode, HeaderMap, Value) {
    let peer = std::net::SocketAddr::from(([192, 0, 2, 10], 40_000));
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    send_as_is(app, request).await
}

/// Sends one request to a router, in process, without a client address.
pub(crate) async fn send_as_is(
    app: axum::Router,
    request: Request<Body>,
) -> (StatusCode, HeaderMap, Value) {
    let resp = app.oneshot(request).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("body is not JSON: {:?}", String::from_utf8_lossy(&bytes)));
    (status, headers, body)
}

/// `METHOD uri` with an optional `Authorization` header and no body.
pub(crate) async fn call(
    app: axum::Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

/// `GET /token?query`, with Basic credentials when given.
pub(crate) async fn get(
    server: &AuthServer,
    query: &str,
    creds: Option<(&str, &str)>,
) -> (StatusCode, HeaderMap, Value) {
    let auth = creds.map(|(u, p)| basic(u, p));
    call(
        server.router(),
        "GET",
        &format!("/token?{query}"),
        auth.as_deref(),
    )
    .await
}

/// `POST /token` with a form body.
pub(crate) async fn post(server: &AuthServer, form: &str) -> (StatusCode, Value) {
    let req = Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    let (status, _, body) = send(server.router(), req).await;
    (status, body)
}

/// A clock the test moves by hand; clones share the time.
#[derive(Clone, Debug)]
pub(crate) struct TestClock(Arc<AtomicU64>);

impl TestClock {
    /// A clock at `secs` after the epoch.
    pub(crate) fn at(secs: u64) -> TestClock {
        TestClock(Arc::new(AtomicU64::new(secs)))
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    pub(crate) fn rewind(&self, by: Duration) {
        self.0.fetch_sub(by.as_secs(), Ordering::SeqCst);
    }
}

impl registry_auth::token::Clock for TestClock {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

/// A self-signed certificate for `localhost` and its key, written to a
/// temporary folder for the server (`cert_path`, `key_path`); `pem` and
/// `der` for clients to trust it.
pub(crate) struct LocalhostTls {
    _dir: tempfile::TempDir,
    pub(crate) cert_path: PathBuf,
    pub(crate) key_path: PathBuf,
    pub(crate) pem: String,
    pub(crate) der: rustls_pki_types::CertificateDer<'static>,
}

pub(crate) fn localhost_tls() -> LocalhostTls {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write");
    std::fs::write(&key_path, key.serialize_pem()).expect("write");
    LocalhostTls {
        _dir: dir,
        cert_path,
        key_path,
        pem: cert.pem(),
        der: cert.der().clone(),
    }
}
