//! Brute force and faulty backends: throttled without hash work, failing
//! closed, never a token, never down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use registry_auth::identity::StaticUsers;
use registry_auth::token::{Token, TokenGenerator};
use registry_auth::{
    AccessRequest, Authenticator, AuthnError, BackendError, Credentials, Identity, Limits, Scope,
    async_trait, authorizer_fn,
};
use serde_json::{Value, json};

use crate::support::{RunningServer, builder, policy, registry_error, users};

/// Counts password checks that reach the user table.
struct Counting {
    inner: StaticUsers,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Authenticator for Counting {
    async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthnError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.authenticate(c).await
    }
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    user: &str,
    pw: &str,
) -> (u16, Option<String>, Value) {
    let resp = client
        .get(url)
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, resp.json().await.unwrap())
}

fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sixth_failure_is_refused_without_hash_work_and_others_still_get_in() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = builder("p256-sec1.pem")
        .authenticator(Counting {
            inner: users(),
            calls: calls.clone(),
        })
        .build()
        .unwrap();
    let server = RunningServer::start(server).await;
    let url = server.url("/token?service=registry.test");
    let attacker = client_from([127, 0, 0, 1]);
    for n in 1..=5 {
        let (status, _, _) = get(&attacker, &url, "alice", &format!("guess{n}")).await;
        assert_eq!(status, 401, "failure {n}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // Throttled: even the right password is not checked now.
    let (status, retry, body) = get(&attacker, &url, "alice", "alice-pw").await;
    assert_eq!(status, 429);
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(
        body,
        json!({"errors": [{"code": "TOOMANYREQUESTS", "message": "too many failed logins; retry in 1 s"}]})
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "no hash work while throttled"
    );
    let resp = attacker
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "password"),
            ("service", "registry.test"),
            ("client_id", "c"),
            ("username", "alice"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "slow_down");

    // The real alice, elsewhere, is not locked out; bob from the attacker's
    // address is not either (the per-address budget is larger).
    let (status, _, _) = get(&client_from([127, 0, 0, 2]), &url, "alice", "alice-pw").await;
    assert_eq!(status, 200);
    let (status, _, _) = get(&attacker, &url, "bob", "bob-pw").await;
    assert_eq!(status, 200);

    // After the back-off, alice may try again from there.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, _) = get(&attacker, &url, "alice", "alice-pw").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_cache_saves_hash_work_but_never_caches_failures() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = builder("p256-sec1.pem")
        .authenticator(Counting {
            inner: users(),
            calls: calls.clone(),
        })
        .credential_cache(Duration::from_secs(60))
        .build()
        .unwrap();
    let running = RunningServer::start(server.clone()).await;
    let url = running.url("/token?service=registry.test");
    let client = reqwest::Client::new();
    for _ in 0..5 {
        assert_eq!(get(&client, &url, "alice", "alice-pw").await.0, 200);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one hash for five tokens");
    for _ in 0..2 {
        assert_eq!(get(&client, &url, "alice", "wrong").await.0, 401);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "failures always reach the authenticator"
    );
    server.clear_credential_cache();
    assert_eq!(get(&client, &url, "alice", "alice-pw").await.0, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    running.stop().await;
}

struct Hangs;

#[async_trait]
impl Authenticator for Hangs {
    async fn authenticate(&self, _: &Credentials) -> Result<Identity, AuthnError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(Identity::new("never"))
    }
}

/// Panics for the user "boom", works for everyone else.
struct PanicsForBoom;

#[async_trait]
impl Authenticator for PanicsForBoom {
    async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthnError> {
        match c.username() {
            Some("boom") => panic!("authenticator bug"),
            Some(u) => Ok(Identity::new(u)),
            None => Err(AuthnError::InvalidCredentials),
        }
    }
}

fn short_timeout() -> Limits {
    let mut limits = Limits::default();
    limits.backend_timeout = Duration::from_millis(200);
    limits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_backends_get_503_after_the_timeout() {
    let server = builder("p256-sec1.pem")
        .authenticator(Hangs)
        .limits(short_timeout())
        .build()
        .unwrap();
    let server = RunningServer::start(server).await;
    let client = reqwest::Client::new();
    let (status, retry, body) = get(
        &client,
        &server.url("/token?service=registry.test"),
        "a",
        "b",
    )
    .await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")));
    assert_eq!(
        body,
        registry_error(
            "UNAVAILABLE",
            "the authentication backend is unavailable; try again later"
        )
    );
    server.stop().await;

    let hanging_authz = authorizer_fn(|_, _: AccessRequest| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(vec![])
    });
    let server = builder("p256-sec1.pem")
        .authorizer(hanging_authz)
        .limits(short_timeout())
        .build()
        .unwrap();
    let server = RunningServer::start(server).await;
    let url = server.url("/token?service=registry.test&scope=repository:alice/a:pull");
    let (status, _, body) = get(&client, &url, "alice", "alice-pw").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        registry_error(
            "UNAVAILABLE",
            "the authorization backend is unavailable; try again later"
        )
    );
    server.stop().await;
}

/// Panics; `slow` makes the server call it on the blocking pool.
struct PanickingGenerator {
    slow: bool,
}

impl TokenGenerator for PanickingGenerator {
    fn generate(
        &self,
        _: &Identity,
        _: &[Scope],
        _: &AccessRequest,
    ) -> Result<Token, BackendError> {
        panic!("generator bug")
    }
    fn is_slow(&self) -> bool {
        self.slow
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_in_user_code_are_500_and_the_server_keeps_serving() {
    let server = builder("p256-sec1.pem")
        .authenticator(PanicsForBoom)
        .build()
        .unwrap();
    let server = RunningServer::start(server).await;
    let client = reqwest::Client::new();
    let url = server.url("/token?service=registry.test");
    let internal = registry_error("UNKNOWN", "internal error");
    assert_eq!(
        get(&client, &url, "boom", "x").await,
        (500, None, internal.clone())
    );
    assert_eq!(get(&client, &url, "fine", "x").await.0, 200);
    server.stop().await;

    let panicking_authz = authorizer_fn(|_, _: AccessRequest| async { panic!("authorizer bug") });
    let server = builder("p256-sec1.pem")
        .authorizer(panicking_authz)
        .build()
        .unwrap();
    let server = RunningServer::start(server).await;
    let url = server.url("/token?service=registry.test&scope=repository:alice/a:pull");
    assert_eq!(get(&client, &url, "alice", "alice-pw").await.2, internal);
    // A login needs no authorizer: still served.
    assert_eq!(
        get(
            &client,
            &server.url("/token?service=registry.test"),
            "alice",
            "alice-pw"
        )
        .await
        .0,
        200
    );
    server.stop().await;

    // In place and on the blocking pool alike.
    for slow in [false, true] {
        let server = registry_auth::AuthServer::builder()
            .authenticator(users())
            .authorizer(policy())
            .token_generator(PanickingGenerator { slow })
            .service("registry.test")
            .build()
            .unwrap();
        let server = RunningServer::start(server).await;
        let url = server.url("/token?service=registry.test");
        assert_eq!(
            get(&client, &url, "alice", "alice-pw").await.2,
            internal,
            "slow={slow}"
        );
        assert_eq!(
            get(&client, &url, "alice", "alice-pw").await.0,
            500,
            "still answering"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_told_and_closed() {
    let mut limits = Limits::default();
    limits.max_connections = 2;
    let server =
        RunningServer::start(builder("p256-sec1.pem").limits(limits).build().unwrap()).await;
    let _a = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut c, &mut answer)
        .await
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with(
        "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"too many connections; retry\"}]}\n"
    ));
    drop((_a, _b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ok = reqwest::Client::new()
        .get(server.url("/token?service=registry.test"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "permits come back when connections close");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let mut limits = Limits::default();
    limits.header_read_timeout = Duration::from_millis(300);
    let server =
        RunningServer::start(builder("p256-sec1.pem").limits(limits).build().unwrap()).await;
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut slow, b"GET /token HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut slow, &mut rest),
    )
    .await;
    assert!(read.is_ok(), "the server closed the slow connection");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().await;
}

/// A password check that takes 50 ms and runs one at a time, as bcrypt
/// does on a small machine: a queue of checks is then visible as time.
struct SlowChecks {
    inner: StaticUsers,
    calls: Arc<AtomicUsize>,
    one_at_a_time: Arc<tokio::sync::Semaphore>,
}

#[async_trait]
impl Authenticator for SlowChecks {
    async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthnError> {
        let _turn = self
            .one_at_a_time
            .acquire()
            .await
            .map_err(AuthnError::unavailable)?;
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.inner.authenticate(c).await
    }
}

fn slow_server(calls: &Arc<AtomicUsize>) -> registry_auth::AuthServer {
    let mut limits = Limits::default();
    // A queue longer than this would answer 503: what a flood used to do
    // to everyone's logins.
    limits.backend_timeout = Duration::from_secs(2);
    builder("p256-sec1.pem")
        .authenticator(SlowChecks {
            inner: users(),
            calls: calls.clone(),
            one_at_a_time: Arc::new(tokio::sync::Semaphore::new(1)),
        })
        .limits(limits)
        .trusted_proxies(["127.0.0.1"])
        .build()
        .unwrap()
}

/// GET /token as the client at `forwarded_for` (behind the trusted proxy
/// 127.0.0.1); the status.
async fn status_as(
    client: &reqwest::Client,
    url: &str,
    forwarded_for: &str,
    user: &str,
    pw: &str,
) -> u16 {
    client
        .get(url)
        .header("x-forwarded-for", forwarded_for)
        .basic_auth(user, Some(pw))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Guesses sent all at once: each check is reserved (and counted) before
/// it runs, so the burst reaches the password check at most as often as
/// the failure budget allows, even with the right password among them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_burst_of_guesses_gets_no_more_checks_than_the_budget() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = RunningServer::start(slow_server(&calls)).await;
    let url = server.url("/token?service=registry.test");
    let client = reqwest::Client::new();
    let guesses = (0..60).map(|n| {
        let (client, url) = (client.clone(), url.clone());
        let pw = if n == 30 {
            "alice-pw".to_owned()
        } else {
            format!("guess{n}")
        };
        async move { status_as(&client, &url, "203.0.113.7", "alice", &pw).await }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = calls.load(Ordering::SeqCst);
    let answered: Vec<u16> = statuses.iter().copied().filter(|s| *s != 429).collect();
    assert!(
        checked <= 5,
        "{checked} checks for a budget of 5: {statuses:?}"
    );
    assert_eq!(
        answered.len(),
        checked,
        "only checked guesses are answered: {statuses:?}"
    );
    assert!(
        answered.iter().all(|s| *s == 401 || *s == 200),
        "{statuses:?}"
    );
    server.stop().await;
}

/// The same user and password sent many times at once (a pull of many
/// images) share one check: no 429, and far fewer checks than requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_credentials_at_once_share_one_check() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = RunningServer::start(slow_server(&calls)).await;
    let url = server.url("/token?service=registry.test");
    let client = reqwest::Client::new();
    let logins = (0..20).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        async move { status_as(&client, &url, "203.0.113.8", "bob", "bob-pw").await }
    });
    let statuses = futures_util::future::join_all(logins).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let checked = calls.load(Ordering::SeqCst);
    assert!(checked < 10, "{checked} checks for 20 identical logins");
    server.stop().await;
}

/// 250 unknown-user guesses at once from one address: at most a few of
/// them queue for the password check (the rest are refused at once), so a
/// valid login from another address is answered, not left to time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_does_not_hold_up_another_login() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = RunningServer::start(slow_server(&calls)).await;
    let url = server.url("/token?service=registry.test");
    let client = reqwest::Client::new();
    let flood = futures_util::future::join_all((0..250).map(|n| {
        let (client, url) = (client.clone(), url.clone());
        async move { status_as(&client, &url, "198.51.100.9", &format!("nobody{n}"), "x").await }
    }));
    let valid = async {
        // Once the flood is under way.
        tokio::time::sleep(Duration::from_millis(100)).await;
        status_as(&client, &url, "192.0.2.44", "alice", "alice-pw").await
    };
    let (flood, valid) = tokio::join!(flood, valid);
    assert_eq!(valid, 200, "the valid login was held up by the flood");
    let refused = flood.iter().filter(|s| **s == 429).count();
    assert!(
        refused >= 200,
        "{refused} of 250 refused at once: {flood:?}"
    );
    assert!(flood.iter().all(|s| *s == 401 || *s == 429), "{flood:?}");
    server.stop().await;
}

/// An IPv6 host has a /64 to itself: guesses spread over 40 addresses of
/// one /64 are counted together, and another /64 is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_spread_over_one_ipv6_64_are_throttled() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = RunningServer::start(slow_server(&calls)).await;
    let url = server.url("/token?service=registry.test");
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for host in 1..=40 {
        for n in 0..5 {
            let from = format!("2001:db8:1:2::{host:x}");
            statuses.push(status_as(&client, &url, &from, &format!("user{host}-{n}"), "x").await);
        }
    }
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        20,
        "the /64's budget is the address budget (20)"
    );
    assert_eq!(refused, 180);
    assert_eq!(
        status_as(&client, &url, "2001:db8:1:3::1", "alice", "alice-pw").await,
        200,
        "the next /64 is another client"
    );
    server.stop().await;
}

/// How an attacker holds a connection without sending a request.
#[derive(Clone, Copy, Debug)]
enum Silence {
    /// Connects and sends nothing.
    Nothing,
    /// Sends the HTTP/2 preface (h2c), then nothing.
    Http2Preface,
    /// Finishes the TLS handshake, then sends nothing.
    TlsHandshake,
    /// Sends one keep-alive request, reads the answer, then nothing.
    AfterOneRequest,
}

/// A held connection: kept only to be dropped at the end of the test.
enum Held {
    Tcp {
        _socket: tokio::net::TcpStream,
    },
    Tls {
        _session: Box<rustls::ClientConnection>,
        _socket: std::net::TcpStream,
    },
}

async fn hold(
    addr: std::net::SocketAddr,
    how: Silence,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Held {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    match how {
        Silence::TlsHandshake => {
            let config = Arc::clone(tls.expect("a TLS client"));
            tokio::task::spawn_blocking(move || {
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let mut conn = rustls::ClientConnection::new(config, name).unwrap();
                let mut socket = std::net::TcpStream::connect(addr).unwrap();
                while conn.is_handshaking() {
                    conn.complete_io(&mut socket).unwrap();
                }
                Held::Tls {
                    _session: Box::new(conn),
                    _socket: socket,
                }
            })
            .await
            .unwrap()
        }
        _ => {
            let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
            match how {
                Silence::Http2Preface => {
                    socket
                        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                        .await
                        .unwrap();
                }
                Silence::AfterOneRequest => {
                    socket
                        .write_all(b"GET /token?service=registry.test HTTP/1.1\r\nhost: x\r\n\r\n")
                        .await
                        .unwrap();
                    let mut answer = [0u8; 512];
                    let read = socket.read(&mut answer).await.unwrap();
                    assert!(
                        answer[..read].starts_with(b"HTTP/1.1 401"),
                        "{:?}",
                        &answer[..read]
                    );
                }
                _ => {}
            }
            Held::Tcp { _socket: socket }
        }
    }
}

/// Silent connections at the connection limit: every way of holding one
/// (nothing, the HTTP/2 preface, a finished TLS handshake, a keep-alive
/// connection after its request) refuses new clients at first, and no
/// longer once the first-request or idle timeout has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_cannot_hold_the_connection_limit() {
    let certificate = crate::support::localhost_tls();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.der.clone()).unwrap();
    let tls_client = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    // Every request of the fifth client is bounded: one that stalls (a
    // cold CI run once hung here for minutes, with nothing left to wake
    // it) counts as refused and the loop below asks again.
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(certificate.pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let mut limits = Limits::default();
    limits.max_connections = 4;
    // Long enough that the first check comes before them on a busy
    // machine, short enough for a test.
    limits.header_read_timeout = Duration::from_secs(2);
    limits.idle_timeout = Duration::from_secs(2);
    for how in [
        Silence::Nothing,
        Silence::Http2Preface,
        Silence::TlsHandshake,
        Silence::AfterOneRequest,
    ] {
        let tls = matches!(how, Silence::TlsHandshake);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = builder("p256-sec1.pem")
            .limits(limits.clone())
            .build()
            .unwrap();
        let mut serving = registry_auth::serve(listener, server.router()).limits(&limits);
        if tls {
            serving = serving.tls(
                registry_auth::serve::rustls_config(&certificate.cert_path, &certificate.key_path)
                    .await
                    .unwrap(),
            );
        }
        let task = tokio::spawn(serving.run());
        let url = if tls {
            format!(
                "https://localhost:{}/token?service=registry.test",
                addr.port()
            )
        } else {
            format!("http://{addr}/token?service=registry.test")
        };
        let client = if tls {
            https.clone()
        } else {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap()
        };
        let status = || {
            let request = client.get(&url).basic_auth("alice", Some("alice-pw"));
            async move { request.send().await.map_or(0, |r| r.status().as_u16()) }
        };
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(hold(addr, how, Some(&tls_client)).await);
        }
        // The server takes a connection's place in the task that serves
        // it: let those tasks run before a fifth client comes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Refused (503, or closed before an answer) while they hold it.
        let first = status().await;
        assert!(
            first == 503 || first == 0,
            "{how:?}: served at first ({first})"
        );
        // Then served, once the timeout has passed (bounded wait).
        let mut answer = 0;
        for _ in 0..100 {
            answer = status().await;
            if answer == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(answer, 200, "{how:?}: silent connections held the limit");
        drop(held);
        task.abort();
    }
}
