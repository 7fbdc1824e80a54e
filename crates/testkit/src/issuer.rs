//! Fixture OIDC issuers of the tests' own: signing keys of every
//! algorithm a workload token may use, tokens with the claim sets that
//! GitHub Actions, GitLab CI and Kubernetes document, tokens that must be
//! refused (unsigned, HMAC, tampered), and [`FakeIssuer`], an HTTPS server
//! with a discovery document and a JWKS that can rotate keys, stop, and
//! misbehave (drip, flood, fail) on demand.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

use crate::tls::write_certificates;

/// The signing algorithms a fixture key can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// RSA (2048 bits) PKCS#1 v1.5 with SHA-256.
    Rs256,
    /// RSA (2048 bits) PSS with SHA-256.
    Ps256,
    /// Ed25519.
    EdDsa,
}

impl KeyType {
    /// The JWT `alg` of this key type.
    pub fn algorithm(self) -> Algorithm {
        match self {
            KeyType::Es256 => Algorithm::ES256,
            KeyType::Es384 => Algorithm::ES384,
            KeyType::Rs256 => Algorithm::RS256,
            KeyType::Ps256 => Algorithm::PS256,
            KeyType::EdDsa => Algorithm::EdDSA,
        }
    }
}

enum Secret {
    Ec(EcdsaKeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ed(Ed25519KeyPair),
}

/// A signing key of a fixture issuer: its private half signs tokens, its
/// public half is published in a JWKS ([`IssuerKey::jwk`]).
#[derive(Clone)]
pub struct IssuerKey {
    kid: String,
    key_type: KeyType,
    secret: Arc<Secret>,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl IssuerKey {
    /// A new random key of `key_type`, named `kid`.
    pub fn generate(kid: &str, key_type: KeyType) -> IssuerKey {
        let secret = match key_type {
            KeyType::Es256 => Secret::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("P-256 key"),
            ),
            KeyType::Es384 => Secret::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                    .expect("P-384 key"),
            ),
            KeyType::Rs256 | KeyType::Ps256 => Secret::Rsa(
                aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .expect("RSA key"),
            ),
            KeyType::EdDsa => Secret::Ed(Ed25519KeyPair::generate().expect("Ed25519 key")),
        };
        IssuerKey {
            kid: kid.to_owned(),
            key_type,
            secret: Arc::new(secret),
        }
    }

    /// The key's id, the `kid` of its tokens and of its JWK.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The `alg` of its tokens.
    pub fn algorithm(&self) -> Algorithm {
        self.key_type.algorithm()
    }

    /// The public key as a JWK, as an issuer publishes it.
    pub fn jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| BASE64URL_NOPAD.encode(bytes);
        let alg = format!("{:?}", self.algorithm());
        let mut jwk = match &*self.secret {
            Secret::Ec(pair) => {
                // The uncompressed point: 0x04, x, y.
                let point = pair.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                let crv = match self.key_type {
                    KeyType::Es384 => "P-384",
                    _ => "P-256",
                };
                json!({
                    "kty": "EC", "crv": crv,
                    "x": b64(&point[1..=half]), "y": b64(&point[1 + half..]),
                })
            }
            Secret::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Secret::Ed(pair) => json!({
                "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()),
            }),
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(alg);
        jwk["use"] = json!("sig");
        jwk
    }

    /// The public key in PEM (SubjectPublicKeyInfo): what an HMAC
    /// key-confusion attack would use as the secret.
    pub fn public_key_pem(&self) -> String {
        let der: Vec<u8> = match &*self.secret {
            Secret::Ec(pair) => pair.public_key().as_der().expect("DER").as_ref().to_vec(),
            Secret::Rsa(pair) => pair.public_key().as_der().expect("DER").as_ref().to_vec(),
            Secret::Ed(pair) => pair.public_key().as_der().expect("DER").as_ref().to_vec(),
        };
        let body = data_encoding::BASE64.encode(&der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// A token with these claims, signed by this key (header: its `alg`,
    /// `typ` JWT, its `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm());
        header.kid = Some(self.kid.clone());
        self.sign_with_header(header, claims)
    }

    /// A token with this header and these claims, signed by this key
    /// whatever the header says (to forge `kid`s and `alg`s).
    pub fn sign_with_header(&self, header: Header, claims: &Value) -> String {
        let input = signing_input(&serde_json::to_value(&header).expect("header"), claims);
        let rng = SystemRandom::new();
        let signature: Vec<u8> = match &*self.secret {
            Secret::Ec(pair) => pair
                .sign(&rng, input.as_bytes())
                .expect("ECDSA signature")
                .as_ref()
                .to_vec(),
            Secret::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.key_type {
                    KeyType::Ps256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, input.as_bytes(), &mut out)
                    .expect("RSA signature");
                out
            }
            Secret::Ed(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", BASE64URL_NOPAD.encode(&signature))
    }
}

/// `base64url(header).base64url(claims)`.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
    )
}

/// A JWKS document publishing these keys.
pub fn jwks(keys: &[&IssuerKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// A token with `alg: none` and no signature.
pub fn unsigned_token(claims: &Value) -> String {
    format!(
        "{}.",
        signing_input(&json!({"alg": "none", "typ": "JWT"}), claims)
    )
}

/// A token signed with HMAC-SHA256 under `secret`, claiming key `kid`:
/// the key-confusion attack when `secret` is an issuer's public key.
pub fn hs256_token(secret: &[u8], kid: &str, claims: &Value) -> String {
    let input = signing_input(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}), claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", BASE64URL_NOPAD.encode(tag.as_ref()))
}

/// `token` with claim `name` set to `value` and the signature kept: a
/// token whose signature no longer fits.
pub fn tamper(token: &str, name: &str, value: Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().expect("header");
    let payload = parts.next().expect("payload");
    let signature = parts.next().expect("signature");
    let mut claims: Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).expect("base64"))
            .expect("claims");
    claims[name] = value;
    format!(
        "{header}.{}.{signature}",
        BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A GitHub Actions job token for `repository` (`owner/name`) at `git_ref`,
/// valid from now for `lifetime`, with the claims GitHub documents.
pub fn github_actions_claims(
    iss: &str,
    aud: &str,
    repository: &str,
    git_ref: &str,
    lifetime: Duration,
) -> Value {
    let now = now_secs();
    let owner = repository.split('/').next().unwrap_or(repository);
    json!({
        "jti": format!("gh-{now}-{}", lifetime.as_secs()),
        "sub": format!("repo:{repository}:ref:{git_ref}"),
        "aud": aud,
        "ref": git_ref,
        "sha": "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0",
        "repository": repository,
        "repository_owner": owner,
        "repository_owner_id": "1001",
        "repository_id": "2002",
        "repository_visibility": "private",
        "run_id": "3003",
        "run_number": "7",
        "run_attempt": "1",
        "actor": "octocat",
        "actor_id": "4004",
        "workflow": "build",
        "workflow_ref": format!("{repository}/.github/workflows/build.yml@{git_ref}"),
        "workflow_sha": "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0",
        "job_workflow_ref": format!("{repository}/.github/workflows/build.yml@{git_ref}"),
        "head_ref": "",
        "base_ref": "",
        "event_name": "push",
        "ref_type": "branch",
        "ref_protected": "true",
        "environment": "production",
        "runner_environment": "github-hosted",
        "iss": iss,
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now - 5 + lifetime.as_secs(),
    })
}

/// A GitLab CI `id_tokens` token for `project_path` at `git_ref`, with the
/// claims GitLab documents.
pub fn gitlab_ci_claims(
    iss: &str,
    aud: &str,
    project_path: &str,
    git_ref: &str,
    lifetime: Duration,
) -> Value {
    let now = now_secs();
    let namespace = project_path
        .rsplit_once('/')
        .map_or(project_path, |(namespace, _)| namespace);
    json!({
        "namespace_id": "72",
        "namespace_path": namespace,
        "project_id": "20",
        "project_path": project_path,
        "user_id": "5",
        "user_login": "alice",
        "user_email": "alice@example.com",
        "user_access_level": "developer",
        "pipeline_id": "574",
        "pipeline_source": "push",
        "job_id": "302",
        "ref": git_ref,
        "ref_type": "branch",
        "ref_path": format!("refs/heads/{git_ref}"),
        "ref_protected": "true",
        "environment": "production",
        "environment_protected": "true",
        "deployment_tier": "production",
        "runner_id": "1",
        "runner_environment": "gitlab-hosted",
        "sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
        "ci_config_ref_uri": format!("gitlab.example.com/{project_path}//.gitlab-ci.yml@refs/heads/{git_ref}"),
        "ci_config_sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
        "project_visibility": "private",
        "jti": format!("gl-{now}-{}", lifetime.as_secs()),
        "iss": iss,
        "iat": now - 5,
        "nbf": now - 10,
        "exp": now - 5 + lifetime.as_secs(),
        "sub": format!("project_path:{project_path}:ref_type:branch:ref:{git_ref}"),
        "aud": aud,
    })
}

/// A Kubernetes projected service-account token of `namespace`'s
/// `service_account`: the audience a list, the identity nested under
/// `kubernetes.io`.
pub fn kubernetes_claims(
    iss: &str,
    aud: &str,
    namespace: &str,
    service_account: &str,
    lifetime: Duration,
) -> Value {
    let now = now_secs();
    json!({
        "aud": [aud],
        "exp": now - 5 + lifetime.as_secs(),
        "iat": now - 5,
        "nbf": now - 5,
        "iss": iss,
        "jti": format!("k8s-{now}"),
        "kubernetes.io": {
            "namespace": namespace,
            "node": { "name": "node-1", "uid": "0b4e7a5c-1f0e-4a54-9a3c-2b1d8c0e6f11" },
            "pod": { "name": format!("{service_account}-7d9f8"), "uid": "5e1f2c3d-4b5a-6978-8a9b-0c1d2e3f4a5b" },
            "serviceaccount": { "name": service_account, "uid": "9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4" },
        },
        "sub": format!("system:serviceaccount:{namespace}:{service_account}"),
    })
}

/// How a [`FakeIssuer`] answers its discovery and JWKS requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerMode {
    /// The documents, at once.
    Normal,
    /// The documents, one byte every `every`.
    Drip {
        /// The pause before each byte.
        every: Duration,
    },
    /// A document of this many bytes (with its length announced).
    Huge(usize),
    /// A document of this many bytes, streamed in 16 KiB chunks without
    /// an announced length.
    Flood(usize),
    /// This HTTP status, with an empty JSON object.
    Status(u16),
}

struct Published {
    issuer: String,
    /// Published keys; the last one signs.
    keys: Mutex<Vec<IssuerKey>>,
    mode: Mutex<IssuerMode>,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
    /// What `/token` answers: status and JSON body.
    token_answer: Mutex<(u16, Value)>,
    /// The `/token` requests: their Authorization header and form body.
    token_requests: Mutex<Vec<(String, String)>>,
}

struct Running {
    handle: axum_server::Handle<SocketAddr>,
    thread: std::thread::JoinHandle<()>,
}

/// An OIDC issuer over HTTPS on 127.0.0.1 with a throwaway CA: discovery
/// at `/.well-known/openid-configuration`, keys at `/jwks`, one ES256 key
/// (`key-1`) to begin with. It runs on a thread of its own, so a test's
/// runtime of any flavour can use it; it stops when dropped.
pub struct FakeIssuer {
    published: Arc<Published>,
    port: u16,
    dir: tempfile::TempDir,
    ca_certificate: PathBuf,
    running: Option<Running>,
}

impl std::fmt::Debug for FakeIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeIssuer")
            .field("issuer", &self.published.issuer)
            .finish_non_exhaustive()
    }
}

impl FakeIssuer {
    /// Starts an issuer on a free port.
    pub fn start() -> FakeIssuer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind issuer");
        let port = listener.local_addr().expect("issuer address").port();
        let dir = tempfile::tempdir().expect("issuer temp dir");
        write_certificates(dir.path(), "registry-auth testkit issuer CA");
        let mut issuer = FakeIssuer {
            published: Arc::new(Published {
                issuer: format!("https://127.0.0.1:{port}"),
                keys: Mutex::new(vec![IssuerKey::generate("key-1", KeyType::Es256)]),
                mode: Mutex::new(IssuerMode::Normal),
                discovery_fetches: AtomicUsize::new(0),
                jwks_fetches: AtomicUsize::new(0),
                token_answer: Mutex::new((
                    400,
                    json!({"error": "invalid_grant", "error_description": "no answer set"}),
                )),
                token_requests: Mutex::new(Vec::new()),
            }),
            port,
            ca_certificate: dir.path().join("ca.pem"),
            dir,
            running: None,
        };
        issuer.serve(listener);
        issuer
    }

    fn serve(&mut self, listener: TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let handle = axum_server::Handle::new();
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(discovery),
            )
            .route("/jwks", axum::routing::get(keys))
            .route("/token", axum::routing::post(token_endpoint))
            .with_state(self.published.clone());
        let certificate = std::fs::read(self.dir.path().join("server.crt")).expect("certificate");
        let key = std::fs::read(self.dir.path().join("server.key")).expect("key");
        let server_handle = handle.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("issuer runtime");
            runtime.block_on(async move {
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem(certificate, key)
                    .await
                    .expect("issuer TLS config");
                axum_server::from_tcp_rustls(listener, tls)
                    .expect("issuer server")
                    .handle(server_handle)
                    .serve(app.into_make_service())
                    .await
                    .expect("issuer serves");
            });
        });
        self.running = Some(Running { handle, thread });
    }

    /// Its issuer URL, `https://127.0.0.1:PORT`: the `iss` of its tokens.
    pub fn issuer(&self) -> String {
        self.published.issuer.clone()
    }

    /// The URL of its JWKS.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.published.issuer)
    }

    /// The PEM file of the CA that signed its TLS certificate.
    pub fn ca_certificate(&self) -> &Path {
        &self.ca_certificate
    }

    /// The key that signs its tokens now.
    pub fn signing_key(&self) -> IssuerKey {
        let keys = self.published.keys.lock().expect("keys");
        keys.last().expect("a signing key").clone()
    }

    /// A token with these claims, signed by its current key.
    pub fn sign(&self, claims: &Value) -> String {
        self.signing_key().sign(claims)
    }

    /// Publishes a new key `kid` beside the old ones and signs with it from
    /// now on.
    pub fn rotate(&self, kid: &str, key_type: KeyType) {
        let key = IssuerKey::generate(kid, key_type);
        self.published.keys.lock().expect("keys").push(key);
    }

    /// Publishes exactly these keys (the last one signs).
    pub fn publish(&self, keys: Vec<IssuerKey>) {
        assert!(!keys.is_empty(), "an issuer needs a signing key");
        *self.published.keys.lock().expect("keys") = keys;
    }

    /// What its token endpoint (`/token`, in its discovery document with
    /// `/authorize`) answers from now on: for sign-in tests, an ID token
    /// of the test's making, or an OAuth error.
    pub fn set_token_answer(&self, status: u16, body: Value) {
        *self.published.token_answer.lock().expect("token answer") = (status, body);
    }

    /// The requests its token endpoint got: each one's `Authorization`
    /// header and form body.
    pub fn token_requests(&self) -> Vec<(String, String)> {
        self.published
            .token_requests
            .lock()
            .expect("token requests")
            .clone()
    }

    /// Changes how it answers from the next request on.
    pub fn set_mode(&self, mode: IssuerMode) {
        *self.published.mode.lock().expect("mode") = mode;
    }

    /// How many times its discovery document was asked for.
    pub fn discovery_fetches(&self) -> usize {
        self.published.discovery_fetches.load(Ordering::SeqCst)
    }

    /// How many times its JWKS was asked for.
    pub fn jwks_fetches(&self) -> usize {
        self.published.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Stops serving: connections are refused until [`FakeIssuer::restart`].
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.handle.shutdown();
            running.thread.join().expect("issuer thread");
        }
    }

    /// Serves again on the same port, with the same keys.
    pub fn restart(&mut self) {
        self.stop();
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).expect("bind issuer again");
        self.serve(listener);
    }
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.handle.shutdown();
            let _ = running.thread.join();
        }
    }
}

async fn discovery(State(published): State<Arc<Published>>) -> Response {
    published.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let document = json!({
        "issuer": published.issuer,
        "jwks_uri": format!("{}/jwks", published.issuer),
        "authorization_endpoint": format!("{}/authorize", published.issuer),
        "token_endpoint": format!("{}/token", published.issuer),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
    });
    answer(&published, document).await
}

async fn keys(State(published): State<Arc<Published>>) -> Response {
    published.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let document = {
        let keys = published.keys.lock().expect("keys");
        let refs: Vec<&IssuerKey> = keys.iter().collect();
        jwks(&refs)
    };
    answer(&published, document).await
}

async fn token_endpoint(
    State(published): State<Arc<Published>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    published
        .token_requests
        .lock()
        .expect("token requests")
        .push((authorization, body));
    let (status, answer) = published.token_answer.lock().expect("token answer").clone();
    let status = StatusCode::from_u16(status).expect("HTTP status");
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

/// `document` as the current mode says.
async fn answer(published: &Published, document: Value) -> Response {
    let mode = *published.mode.lock().expect("mode");
    let json = [(header::CONTENT_TYPE, "application/json")];
    match mode {
        IssuerMode::Normal => (json, document.to_string()).into_response(),
        IssuerMode::Huge(size) => {
            let mut body = b"{\"keys\":[".to_vec();
            body.resize(size, b' ');
            (json, body).into_response()
        }
        IssuerMode::Flood(size) => {
            let chunks = size.div_ceil(16 * 1024);
            let stream = futures_util::stream::iter((0..chunks).map(|_| {
                Ok::<_, std::io::Error>(axum::body::Bytes::from_static(&[b' '; 16 * 1024]))
            }));
            (json, axum::body::Body::from_stream(stream)).into_response()
        }
        IssuerMode::Status(code) => {
            let status = StatusCode::from_u16(code).expect("HTTP status");
            (status, json, "{}").into_response()
        }
        IssuerMode::Drip { every } => {
            let bytes = document.to_string().into_bytes();
            let stream = futures_util::stream::unfold((bytes, 0), move |(bytes, at)| async move {
                let byte = axum::body::Bytes::copy_from_slice(bytes.get(at..=at)?);
                tokio::time::sleep(every).await;
                Some((Ok::<_, std::io::Error>(byte), (bytes, at + 1)))
            });
            (json, axum::body::Body::from_stream(stream)).into_response()
        }
    }
}
