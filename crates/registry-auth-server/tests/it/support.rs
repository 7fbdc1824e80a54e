//! Runs the built `registry-auth` binary for the tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_registry-auth");

/// bcrypt (cost 4) of a password, the same string every time in one test
/// run: a configuration rewritten with the same users keeps their hashes,
/// as an operator's does (a new hash is a password change, which ends the
/// user's identity tokens).
pub(crate) fn hash(password: &str) -> String {
    static HASHES: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, String>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut hashes = HASHES.lock().unwrap();
    hashes
        .entry(password.to_owned())
        .or_insert_with(|| registry_auth::identity::PasswordHash::bcrypt(password, 4).unwrap())
        .clone()
}

/// Runs the binary to completion.
pub(crate) fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

pub(crate) fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A config directory with a P-256 key and certificate (made by `init`),
/// users alice, bob (team web) and admin (group admins).
pub(crate) struct Site {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
}

impl Site {
    pub(crate) fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            &[
                "init",
                dir.path().to_str().unwrap(),
                "--service",
                "registry.test",
            ],
            None,
        );
        assert!(out.status.success(), "{:?}", text(&out));
        let site = Site {
            dir,
            port: registry_auth_testkit::free_port(),
        };
        site.write_config(&site.users_and_rules(true));
        site
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    /// The users and rules; `with_bob` false drops bob.
    pub(crate) fn users_and_rules(&self, with_bob: bool) -> String {
        let bob = if with_bob {
            format!(
                "[users.bob]\npassword = \"{}\"\nlabels = {{ team = [\"web\"] }}\n",
                hash("bob-pw")
            )
        } else {
            String::new()
        };
        format!(
            r#"[users]
alice = "{alice}"
{bob}
[users.admin]
password = "{admin}"
labels = {{ groups = ["admins"] }}

[[acl]]
match = {{ labels = {{ groups = "admins" }} }}
actions = ["*"]
comment = "admins"

[[acl]]
match = {{ account = "/.+/", name = "${{account}}/*" }}
actions = ["*"]
comment = "own namespace"

[[acl]]
match = {{ account = "/.+/", name = "${{labels:team}}/*" }}
actions = ["pull", "push"]
comment = "team namespace"

[[acl]]
match = {{ account = "", name = "public/*" }}
actions = ["pull"]
comment = "anonymous pulls public"

[[acl]]
match = {{ account = "/.+/", type = "repository" }}
actions = ["pull"]
comment = "users pull"
"#,
            alice = hash("alice-pw"),
            admin = hash("admin-pw"),
        )
    }

    /// Writes config.toml: server and token sections plus `rest`.
    pub(crate) fn write_config(&self, rest: &str) {
        self.write_config_with(rest, "watch_interval = \"100ms\"\n");
    }

    pub(crate) fn write_config_with(&self, rest: &str, server_extra: &str) {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n{server_extra}\n[token]\nissuer = \"registry-auth\"\n\
             services = [\"registry.test\"]\nsigning_key = \"token.key\"\ncertificate = \"token.crt\"\n\n{rest}",
            port = self.port
        );
        // Write to a temporary file and rename, as editors do, so a reader
        // never sees half a file.
        let tmp = self.path("config.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.config_path()).unwrap();
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The registry (Debian's docker-registry) sending clients to this
    /// site's token server (`realm`) and trusting its certificate.
    pub(crate) async fn registry(&self, realm: &str) -> registry_auth_testkit::Registry {
        registry_auth_testkit::Registry::start(
            realm,
            "registry.test",
            "registry-auth",
            &self.path("token.crt"),
        )
        .await
    }
}

/// A running `registry-auth serve`, killed on drop.
pub(crate) struct Server {
    child: std::process::Child,
    log: PathBuf,
}

impl Server {
    pub(crate) async fn start(config: &Path, extra: &[&str], health_url: &str) -> Server {
        let log = config.with_extension("log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(extra)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let server = Server { child, log };
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        for _ in 0..200 {
            if client
                .get(health_url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server did not start:\n{}", server.log());
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Kills the server with SIGKILL (a crash: nothing is flushed or
    /// closed) and waits until it is gone.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub(crate) async fn terminate(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server did not stop on SIGTERM:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET /token; returns (status, JSON body).
pub(crate) async fn token(
    site_url: &str,
    query: &str,
    creds: Option<(&str, &str)>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().get(format!("{site_url}/token?{query}"));
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Asks `probe` every 50 ms, at most 100 times, until its answer is
/// `done`; returns the last answer, for the test to assert on (a server
/// takes an edit or a signal within moments, not at once).
pub(crate) async fn poll<T, F, Fut>(mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut answer = probe().await;
    for _ in 1..100 {
        if done(&answer) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        answer = probe().await;
    }
    answer
}

/// POST /token with a form; returns (status, JSON body).
pub(crate) async fn post_token(url: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// The `access` claim of a token response.
pub(crate) fn access(body: &serde_json::Value) -> serde_json::Value {
    let token = body["token"].as_str().unwrap();
    registry_auth::token::decode_unverified(token)
        .unwrap()
        .claims["access"]
        .clone()
}

/// The Prometheus text page at `base` + `/metrics`.
pub(crate) async fn metrics_page(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
