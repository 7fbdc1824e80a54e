//! Several instances on one PostgreSQL behind HAProxy, and crashes.
//!
//! What is proven here, with the real daemons (PostgreSQL 15, HAProxy 2.6,
//! the registry, a private dockerd) and the built binary:
//!
//! - Three `registry-auth serve` instances sharing one site (one signing
//!   key) and one PostgreSQL state store, behind HAProxy, are one token
//!   server to docker: a `docker login` made through the balancer pushes
//!   and pulls while every instance issues tokens, and the identity token
//!   docker keeps refreshes on every instance.
//! - Losing an instance to SIGKILL under load costs no request: password
//!   logins, refresh grants, registry pulls and `docker pull` all end 200
//!   (HAProxy retries what the dead instance dropped).
//! - Restarting every instance loses no login: docker pulls without
//!   logging in again, and its identity token refreshes on each instance.
//! - The failed-login throttle counts in the store: five failures spread
//!   over three instances throttle the sixth attempt (429), not five per
//!   instance.
//! - A database outage: what needs the store (refresh grants, offline
//!   logins) answers 503 with a JSON error, what does not (a plain login)
//!   answers 200, the throttle says once that it counts in memory, and
//!   refreshes work again once the database is back.
//! - On SQLite, every refresh token answered 200 survives `kill -9`.
//! - A store unreachable at start stops `serve` with its URL, without the
//!   password.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use registry_auth_testkit::{Dockerd, Haproxy, Postgres, free_port, require_tools};
use serde_json::Value;

use crate::support::{Server, Site, run, text};

const SERVICE: &str = "registry.test";
const PULL_SCOPE: &str = "repository:alice/app:pull";

/// The config of one instance of `site`: its own port, the site's key,
/// certificate and users, `state` (a `[state]` section, or nothing for
/// the default). Written beside the site's config.toml as `name`.
fn write_instance_config(site: &Site, name: &str, port: u16, state: &str) -> PathBuf {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nwatch = false\n\n[token]\n\
         issuer = \"registry-auth\"\nservices = [\"{SERVICE}\"]\nsigning_key = \"token.key\"\n\
         certificate = \"token.crt\"\n\n{state}\n{users}",
        users = site.users_and_rules(true),
    );
    let path = site.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes the role's password to `pg.pass` in the site and returns the
/// `[state]` section that reads it.
fn postgres_state(site: &Site, pg: &Postgres) -> String {
    std::fs::write(site.path("pg.pass"), format!("{}\n", pg.password())).unwrap();
    format!(
        "[state]\nurl = \"{}\"\npassword_file = \"pg.pass\"\n",
        pg.url_without_password()
    )
}

/// One `registry-auth serve` of a cluster: its config and port, and the
/// process while it runs. Its log outlives the process (it is a file
/// beside the config); a restart keeps the previous run's log as
/// `NAME.previous.log`.
struct Instance {
    port: u16,
    config: PathBuf,
    server: Option<Server>,
}

impl Instance {
    fn new(site: &Site, n: usize, state: &str) -> Instance {
        let port = free_port();
        let config = write_instance_config(site, &format!("config-{n}.toml"), port, state);
        Instance {
            port,
            config,
            server: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        // Where `Server::start` writes it.
        self.config.with_extension("log")
    }

    async fn start(&mut self) {
        assert!(self.server.is_none(), "{} runs already", self.url(""));
        let log = self.log_path();
        if log.exists() {
            std::fs::rename(&log, self.config.with_extension("previous.log")).unwrap();
        }
        self.server = Some(Server::start(&self.config, &[], &self.url("/healthz")).await);
    }

    /// SIGKILL: a crash.
    fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            server.kill();
        }
    }

    fn log(&self) -> String {
        let previous = std::fs::read_to_string(self.config.with_extension("previous.log"))
            .map(|log| format!("(previous run)\n{log}(this run)\n"))
            .unwrap_or_default();
        let current = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        format!("{previous}{current}")
    }
}

/// Every instance's log, for failure messages.
fn logs(instances: &[Instance]) -> String {
    instances
        .iter()
        .map(|i| format!("----- {} ({}):\n{}", i.url(""), i.config.display(), i.log()))
        .collect()
}

/// A client with a timeout: a request that hangs fails the test instead.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// An error with its causes: reqwest's own text is only the first.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A token endpoint's answer: status, `Retry-After`, the body as JSON
/// (`Value::Null` if it is not JSON) and as text.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    json: Value,
    body: String,
}

impl Answer {
    async fn of(sent: Result<reqwest::Response, reqwest::Error>) -> Result<Answer, String> {
        let response = sent.map_err(|e| chain(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = response.text().await.map_err(|e| chain(&e))?;
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            retry_after,
            json,
            body,
        })
    }

    /// The string field `name` of a 200 answer.
    fn field(&self, name: &str) -> Result<String, String> {
        match (self.status, self.json[name].as_str()) {
            (200, Some(value)) => Ok(value.to_owned()),
            _ => Err(format!("{} {}", self.status, self.body)),
        }
    }
}

/// GET /token as `docker login` does (Basic auth), with `offline_token`
/// when `offline`.
async fn login(
    client: &reqwest::Client,
    base: &str,
    (user, password): (&str, &str),
    offline: bool,
) -> Result<Answer, String> {
    let mut url = format!("{base}/token?service={SERVICE}&scope={PULL_SCOPE}");
    if offline {
        url.push_str("&offline_token=true&client_id=cluster-test");
    }
    Answer::of(
        client
            .get(url)
            .basic_auth(user, Some(password))
            .send()
            .await,
    )
    .await
}

/// POST /token with `grant_type=refresh_token`.
async fn refresh(client: &reqwest::Client, base: &str, token: &str) -> Result<Answer, String> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("service", SERVICE),
        ("client_id", "cluster-test"),
        ("scope", PULL_SCOPE),
    ];
    Answer::of(
        client
            .post(format!("{base}/token"))
            .form(&form)
            .send()
            .await,
    )
    .await
}

/// What a client does to pull `alice/app:v1` at the HTTP level: a refresh
/// grant through `base`, then the manifest and the image config from the
/// registry with the access token.
async fn http_pull(
    client: &reqwest::Client,
    base: &str,
    registry: &str,
    identity_token: &str,
) -> Result<(), String> {
    let access = refresh(client, base, identity_token)
        .await?
        .field("access_token")
        .map_err(|e| format!("refresh: {e}"))?;
    let manifest = client
        .get(format!("http://{registry}/v2/alice/app/manifests/v1"))
        .bearer_auth(&access)
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .map_err(|e| format!("manifest: {}", chain(&e)))?;
    if manifest.status() != 200 {
        return Err(format!("manifest: {}", manifest.status()));
    }
    let manifest: Value = manifest
        .json()
        .await
        .map_err(|e| format!("manifest: {}", chain(&e)))?;
    let digest = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| format!("manifest without a config: {manifest}"))?;
    let blob = client
        .get(format!("http://{registry}/v2/alice/app/blobs/{digest}"))
        .bearer_auth(&access)
        .send()
        .await
        .map_err(|e| format!("blob: {}", chain(&e)))?;
    match blob.status().as_u16() {
        200 => Ok(()),
        status => Err(format!("blob: {status}")),
    }
}

/// A counter of a Prometheus text page: the value of the line that starts
/// with `series` (name and labels), 0 when there is none.
async fn counter(base: &str, series: &str) -> u64 {
    crate::support::metrics_page(base)
        .await
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse::<u64>().unwrap())
        .sum()
}

const ISSUED: &str = "registry_auth_token_requests_total{outcome=\"issued\"}";
const FAILED_LOGINS: &str = "registry_auth_failed_logins_total";
const STORE_DOWN: &str = "registry_auth_throttle_store_down";

/// Whether HAProxy last said backend `s{i}` is up (`None`: it never said,
/// which at start means up).
fn haproxy_says_up(log: &str, i: usize) -> Option<bool> {
    let needle = format!("Server back/s{i} is ");
    log.lines().rev().find_map(|line| {
        let (_, state) = line.split_once(&needle)?;
        Some(state.starts_with("UP"))
    })
}

/// Waits until HAProxy's health checks have found every backend `up` (or
/// every one down).
async fn wait_for_haproxy(haproxy: &Haproxy, backends: usize, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = haproxy.log();
        if (0..backends).all(|i| haproxy_says_up(&log, i).unwrap_or(true) == up) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "haproxy did not see every backend {}:\n{log}",
            if up { "up" } else { "down" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The request lines of HAProxy's log that were sent more than once: the
/// `retries` field (the last of `actconn/feconn/beconn/srv_conn/retries`,
/// `+N` when redispatched) is not 0.
fn haproxy_retried(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            line.split_whitespace()
                .filter(|field| field.split('/').count() == 5)
                // The first such field is the timers, the second the counts.
                .nth(1)
                .and_then(|counts| counts.rsplit('/').next())
                .is_some_and(|retries| retries != "0")
        })
        .collect()
}

/// The identity token `docker login` stored for `registry`.
fn docker_identity_token(dockerd: &Dockerd, registry: &str) -> String {
    let path = dockerd.config_dir().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let config: Value = serde_json::from_str(&text).unwrap();
    config["auths"][registry]["identitytoken"]
        .as_str()
        .unwrap_or_else(|| {
            panic!(
                "no identity token for {registry} in {}:\n{text}",
                path.display()
            )
        })
        .to_owned()
}

/// `docker rmi` (whether or not the image is there) then `docker pull`.
async fn docker_repull(dockerd: &Dockerd, image: &str) -> (bool, String) {
    let _ = dockerd.run(&["rmi", image]).await;
    dockerd.run(&["pull", image]).await
}

/// Requests of a load run by kind: successes before and after the kill,
/// and every failure.
#[derive(Debug, Default)]
struct Tally {
    ok: BTreeMap<&'static str, (u64, u64)>,
    failures: Vec<String>,
}

impl Tally {
    fn record(
        tally: &Mutex<Tally>,
        kind: &'static str,
        after_kill: bool,
        result: Result<(), String>,
    ) {
        let mut tally = tally.lock().unwrap();
        match result {
            Ok(()) => {
                let (before, after) = tally.ok.entry(kind).or_default();
                *if after_kill { after } else { before } += 1;
            }
            Err(e) => tally.failures.push(format!(
                "{kind} ({} the kill): {e}",
                if after_kill { "after" } else { "before" }
            )),
        }
    }

    fn ok(&self, kind: &str) -> (u64, u64) {
        self.ok.get(kind).copied().unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgres_behind_haproxy_share_logins_and_the_throttle() {
    require_tools(&["docker-registry", "haproxy", "dockerd"]);
    let started = Instant::now();
    let site = Site::new();
    let pg = Postgres::start().await;
    let state = postgres_state(&site, &pg);
    let mut instances: Vec<Instance> = (0..3).map(|n| Instance::new(&site, n, &state)).collect();
    for instance in &mut instances {
        instance.start().await;
    }
    let backends: Vec<String> = instances
        .iter()
        .map(|i| format!("127.0.0.1:{}", i.port))
        .collect();
    let haproxy = Haproxy::start(&backends).await;
    let lb = haproxy.url();
    let registry = site.registry(&format!("{lb}/token")).await;
    let client = client();
    println!("cluster up after {:?}", started.elapsed());

    // docker login through the balancer, push, then pull again and again.
    let dockerd = Dockerd::start().await;
    let image = format!("{}/alice/app:v1", registry.addr);
    dockerd
        .import_image(&image, "hello.txt", b"hello from three instances\n")
        .await;
    let (ok, out) = dockerd.login(&registry.addr, "alice", "alice-pw").await;
    assert!(ok, "docker login: {out}\n{}", logs(&instances));
    let (ok, out) = dockerd.run(&["push", &image]).await;
    assert!(ok, "docker push: {out}\n{}", logs(&instances));
    for n in 0..6 {
        let (ok, out) = docker_repull(&dockerd, &image).await;
        assert!(ok, "docker pull #{n}: {out}\n{}", logs(&instances));
    }
    let mut issued = Vec::new();
    for instance in &instances {
        issued.push(counter(&instance.url(""), ISSUED).await);
    }
    println!("tokens issued per instance after login, push and 6 pulls: {issued:?}");
    assert!(
        issued.iter().all(|n| *n > 0),
        "every instance should have issued tokens: {issued:?}\n{}",
        haproxy.log()
    );
    let identity_token = docker_identity_token(&dockerd, &registry.addr);
    println!(
        "docker login, push and pulls done after {:?}",
        started.elapsed()
    );

    // Load through the balancer; one instance is killed after 2 s.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let killed = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8usize {
        let (client, lb, registry) = (client.clone(), lb.clone(), registry.addr.clone());
        let (tally, killed, identity_token) =
            (tally.clone(), killed.clone(), identity_token.clone());
        tasks.spawn(async move {
            for round in 0.. {
                if Instant::now() >= deadline {
                    break;
                }
                // Read before the request: a request counted "after the
                // kill" was sent after it.
                let after_kill = killed.load(Ordering::SeqCst);
                let (kind, result) = match (task + round) % 3 {
                    // admin, not alice: a user keeps at most 1000 identity
                    // tokens, and alice's oldest is docker's.
                    0 => (
                        "password login",
                        login(&client, &lb, ("admin", "admin-pw"), true)
                            .await
                            .and_then(|a| a.field("refresh_token").map(drop)),
                    ),
                    1 => (
                        "refresh grant",
                        refresh(&client, &lb, &identity_token)
                            .await
                            .and_then(|a| a.field("access_token").map(drop)),
                    ),
                    _ => (
                        "registry pull",
                        http_pull(&client, &lb, &registry, &identity_token).await,
                    ),
                };
                Tally::record(&tally, kind, after_kill, result);
            }
        });
    }
    let docker_pulls = {
        let (tally, killed, image) = (tally.clone(), killed.clone(), image.clone());
        let dockerd = &dockerd;
        async move {
            while Instant::now() < deadline {
                let after_kill = killed.load(Ordering::SeqCst);
                let (ok, out) = docker_repull(dockerd, &image).await;
                Tally::record(
                    &tally,
                    "docker pull",
                    after_kill,
                    if ok { Ok(()) } else { Err(out) },
                );
            }
        }
    };
    let kill_one = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        instances[0].kill();
        killed.store(true, Ordering::SeqCst);
        println!("killed {} (SIGKILL) under load", instances[0].url(""));
    };
    tokio::join!(docker_pulls, kill_one);
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    println!("load through the balancer, (ok before the kill, ok after), failures:");
    for (kind, (before, after)) in &tally.ok {
        println!("  {kind:<15} {before:>5} {after:>5}");
    }
    println!("  failures: {}", tally.failures.len());
    for failure in tally.failures.iter().take(20) {
        println!("    {failure}");
    }
    let haproxy_log = haproxy.log();
    let retried = haproxy_retried(&haproxy_log);
    println!("  sent again by haproxy: {}", retried.len());
    for line in retried.iter().take(10) {
        println!("    {line}");
    }
    assert!(
        tally.failures.is_empty(),
        "{} requests failed when one instance was killed, first: {:#?}\nhaproxy:\n{}\n{}",
        tally.failures.len(),
        tally.failures.iter().take(10).collect::<Vec<_>>(),
        haproxy.log(),
        logs(&instances)
    );
    for kind in ["password login", "refresh grant", "registry pull"] {
        let (before, after) = tally.ok(kind);
        assert!(
            before >= 20 && after >= 40,
            "too few {kind}s: {before} before the kill, {after} after"
        );
    }
    let (before, after) = tally.ok("docker pull");
    assert!(
        before + after >= 2,
        "too few docker pulls: {before} + {after}"
    );
    println!("load done after {:?}", started.elapsed());

    // Every instance restarted: nothing of the login was lost.
    for instance in &mut instances {
        instance.kill();
    }
    wait_for_haproxy(&haproxy, instances.len(), false).await;
    for instance in &mut instances {
        instance.start().await;
    }
    wait_for_haproxy(&haproxy, instances.len(), true).await;
    let (ok, out) = docker_repull(&dockerd, &image).await;
    assert!(
        ok,
        "docker pull after every instance restarted, without a new login: {out}\n{}",
        logs(&instances)
    );
    for instance in &instances {
        let answer = refresh(&client, &instance.url(""), &identity_token)
            .await
            .unwrap();
        assert_eq!(
            answer.status,
            200,
            "docker's identity token at {} after the restart: {}\n{}",
            instance.url(""),
            answer.body,
            logs(&instances)
        );
    }
    println!("restart checks done after {:?}", started.elapsed());

    // The throttle counts in the store: 5 failures through the balancer,
    // spread over the instances by round robin, throttle the 6th attempt
    // (no instance alone saw the 5 it takes).
    for n in 1..=5 {
        let answer = login(&client, &lb, ("bob", &format!("wrong-{n}")), false)
            .await
            .unwrap();
        assert_eq!(answer.status, 401, "bob's wrong password #{n}: {answer:?}");
    }
    // At once: the first wait (1 s) runs from the 5th failure.
    let answer = login(&client, &lb, ("bob", "bob-pw"), false).await.unwrap();
    let mut failed = Vec::new();
    for instance in &instances {
        failed.push(counter(&instance.url(""), FAILED_LOGINS).await);
    }
    println!("bob's failed logins per instance: {failed:?}; then {answer:?}");
    // Round robin after the restart is not strictly 2, 2, 1 (HAProxy's
    // weighted round robin may leave a server that came back out of one
    // turn): what matters is that no instance saw the 5 failures alone.
    assert!(
        failed.iter().sum::<u64>() == 5
            && failed.iter().all(|n| *n < 5)
            && failed.iter().filter(|n| **n > 0).count() >= 2,
        "bob's 5 failures should be spread over the instances: {failed:?}\n{}",
        haproxy.log()
    );
    assert_eq!(
        answer.status,
        429,
        "bob's 6th attempt (right password) after 5 failures on {failed:?}: {answer:?}\n{}",
        logs(&instances)
    );
    let retry_after = answer.retry_after.as_deref().unwrap_or_default();
    assert!(
        retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
        "429 without a Retry-After: {answer:?}"
    );

    registry.stop().await;
    dockerd.stop().await;
    haproxy.stop().await;
    for instance in &mut instances {
        instance.kill();
    }
    pg.stop().await;
    println!("test done after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_for_refreshes_and_recovers() {
    let started = Instant::now();
    let site = Site::new();
    let mut pg = Postgres::start().await;
    let mut instance = Instance::new(&site, 0, &postgres_state(&site, &pg));
    instance.start().await;
    let base = instance.url("");
    let client = client();
    let alice = ("alice", "alice-pw");

    let answer = login(&client, &base, alice, true).await.unwrap();
    let refresh_token = answer.field("refresh_token").unwrap();
    assert_eq!(
        refresh(&client, &base, &refresh_token)
            .await
            .unwrap()
            .status,
        200
    );

    pg.stop_server().await;
    let outage = Instant::now();
    let answer = refresh(&client, &base, &refresh_token).await.unwrap();
    println!(
        "refresh grant during the outage: {answer:?} after {:?}",
        outage.elapsed()
    );
    assert_eq!(
        answer.status,
        503,
        "refresh grant during the outage: {answer:?}\n{}",
        instance.log()
    );
    // An OAuth2 error: the grant came as a form.
    assert!(
        answer.json["error"].is_string(),
        "a 503 with a JSON error body expected: {answer:?}"
    );
    for n in 1..=2 {
        let asked = Instant::now();
        let answer = login(&client, &base, alice, false).await.unwrap();
        println!(
            "plain login #{n} during the outage: {} after {:?}",
            answer.status,
            asked.elapsed()
        );
        assert_eq!(
            answer.status,
            200,
            "a plain login needs no store: {answer:?}\n{}",
            instance.log()
        );
    }
    let asked = Instant::now();
    let answer = login(&client, &base, alice, true).await.unwrap();
    println!(
        "offline login during the outage: {answer:?} after {:?}",
        asked.elapsed()
    );
    assert_eq!(
        answer.status,
        503,
        "an offline login needs the store: {answer:?}\n{}",
        instance.log()
    );
    // A registry error: the login came as a docker login does.
    assert!(
        answer.json["errors"][0]["code"].is_string(),
        "a 503 with a JSON error body expected: {answer:?}"
    );
    let log = instance.log();
    assert_eq!(
        log.matches("state store unavailable; the throttle counts failures in this")
            .count(),
        1,
        "the throttle should say once that it counts in memory:\n{log}"
    );
    // ... and /metrics says so while it does.
    assert_eq!(counter(&base, STORE_DOWN).await, 1);

    pg.start_server().await;
    let back = Instant::now();
    let mut last = None;
    while back.elapsed() < Duration::from_secs(10) {
        let answer = refresh(&client, &base, &refresh_token).await;
        if answer.as_ref().is_ok_and(|a| a.status == 200) {
            last = None;
            break;
        }
        last = Some(answer);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        last.is_none(),
        "refresh grants did not recover within 10 s of the database's return: {last:?}\n{}",
        instance.log()
    );
    println!(
        "refresh grants answer 200 again {:?} after the database's return",
        back.elapsed()
    );
    // The throttle asks a store that was down again every 5 s, and goes
    // back to it once it answers.
    let back = Instant::now();
    while back.elapsed() < Duration::from_secs(10)
        && !instance
            .log()
            .contains("state store is back; the throttle counts in it again")
    {
        assert_eq!(
            login(&client, &base, alice, false).await.unwrap().status,
            200
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = instance.log();
    assert!(
        log.contains("state store is back; the throttle counts in it again"),
        "{log}"
    );
    assert_eq!(counter(&base, STORE_DOWN).await, 0);

    instance.kill();
    pg.stop().await;
    println!("test done after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_loses_no_answered_login_to_kill_9() {
    let started = Instant::now();
    let site = Site::new();
    // No [state] section: the default, state.db beside the config.
    let mut instance = Instance::new(&site, 0, "");
    instance.start().await;
    let base = instance.url("");
    let client = client();

    // Offline logins until the server is killed; every token answered 200
    // is kept. The users take turns (a user keeps at most 1000 identity
    // tokens) and each task pauses a little between logins, which keeps
    // every user well below that.
    let users = [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("admin", "admin-pw"),
    ];
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let unexpected = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8usize {
        let (client, base) = (client.clone(), base.clone());
        let (answered, unexpected) = (answered.clone(), unexpected.clone());
        tasks.spawn(async move {
            for round in 0.. {
                let user = users[(task + round) % users.len()];
                match login(&client, &base, user, true).await {
                    // The server is gone.
                    Err(_) => break,
                    Ok(answer) => match answer.field("refresh_token") {
                        Ok(token) => answered.lock().unwrap().push(token),
                        Err(e) => unexpected.lock().unwrap().push(e),
                    },
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    instance.kill();
    let joined = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(task) = tasks.join_next().await {
            task.unwrap();
        }
    })
    .await;
    assert!(
        joined.is_ok(),
        "the login tasks did not stop when the server died"
    );
    let tokens = std::mem::take(&mut *answered.lock().unwrap());
    let unexpected = std::mem::take(&mut *unexpected.lock().unwrap());
    println!(
        "{} refresh tokens answered before kill -9, {} other answers",
        tokens.len(),
        unexpected.len()
    );
    assert!(unexpected.is_empty(), "{unexpected:?}\n{}", instance.log());
    assert!(
        tokens.len() >= 50,
        "too few logins: {}\n{}",
        tokens.len(),
        instance.log()
    );
    assert!(site.path("state.db").is_file(), "no state.db in the site");

    instance.start().await;
    let tokens = Arc::new(tokens);
    let lost = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8usize {
        let (client, base) = (client.clone(), base.clone());
        let (tokens, lost) = (tokens.clone(), lost.clone());
        tasks.spawn(async move {
            for token in tokens.iter().skip(task).step_by(8) {
                if let Err(e) = refresh(&client, &base, token)
                    .await
                    .and_then(|a| a.field("access_token"))
                {
                    lost.lock().unwrap().push(e);
                }
            }
        });
    }
    while let Some(task) = tasks.join_next().await {
        task.unwrap();
    }
    let lost = std::mem::take(&mut *lost.lock().unwrap());
    assert!(
        lost.is_empty(),
        "{} of {} answered refresh tokens lost to kill -9, first: {:?}\n{}",
        lost.len(),
        tokens.len(),
        lost.first(),
        instance.log()
    );
    assert!(instance.server.take().unwrap().terminate().await.success());

    let config = instance.config.to_str().unwrap();
    let out = run(
        &["identity-tokens", "list", "--config", config, "--json"],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "identity-tokens list: {stderr}");
    let listed = stdout.lines().count();
    println!("identity-tokens list: {listed} tokens");
    assert!(
        listed >= tokens.len(),
        "identity-tokens list shows {listed} tokens, {} were answered",
        tokens.len()
    );
    for line in stdout.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    println!("test done after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_reached_at_start_is_named_without_its_password() {
    let site = Site::new();
    // Nothing listens there.
    let port = free_port();
    let state = format!("[state]\nurl = \"postgres://ra:hunter2@127.0.0.1:{port}/ra\"\n");
    let config = write_instance_config(&site, "unreachable.toml", free_port(), &state);
    let started = Instant::now();
    let config_arg = config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || run(&["serve", "--config", &config_arg], None))
        .await
        .unwrap();
    let took = started.elapsed();
    let (stdout, stderr) = text(&out);
    println!(
        "serve with an unreachable store: {} after {took:?}: {stderr}",
        out.status
    );
    assert!(
        !out.status.success(),
        "serve started without its store:\n{stdout}{stderr}"
    );
    assert!(
        took < Duration::from_secs(15),
        "serve took {took:?} to give up"
    );
    let named = format!("state store postgres://ra@127.0.0.1:{port}/ra: ");
    assert!(stderr.contains(&named), "{named:?} missing from: {stderr}");
    // The cause, not just a timeout.
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !stdout.contains("hunter2"),
        "the password shows:\n{stdout}{stderr}"
    );
}
