//! `deploy/compose.yaml`: what `docker-compose config` makes of it, the
//! configurations and HAProxy file it mounts, and both setups run for real
//! (Debian's docker-compose against the test's own dockerd): the README's
//! walk-through from `up` to a push, a second `up` that keeps the key, and
//! the `ha` setup's two instances sharing their state behind HAProxy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use registry_auth_testkit::{Dockerd, free_port, require_tools};
use tokio::process::Command;

use crate::deploy::{alice_pushes, build_image, static_binary, wait_healthy};
use crate::support::text;

mod stand_ins;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// The variables of the caller's environment that compose.yaml (or
/// docker-compose) would read: the tests set what they need instead.
const CALLERS_VARIABLES: [&str; 13] = [
    "COMPOSE_PROFILES",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "DOCKER_CONTEXT",
    "REGISTRY_AUTH_IMAGE",
    "REGISTRY_IMAGE",
    "POSTGRES_IMAGE",
    "HAPROXY_IMAGE",
    "POSTGRES_PASSWORD",
    "BIND_ADDRESS",
    "REGISTRY_PORT",
    "REGISTRY_AUTH_PORT",
    "TOKEN_REALM",
];

/// `docker-compose` (Debian's 1.29) on a copy of `deploy/` with its own
/// project name, against `docker`'s daemon; the variables compose.yaml
/// reads come from `vars` and the copy's `.env`, never from the caller's
/// environment.
struct Compose<'a> {
    docker: &'a Dockerd,
    dir: &'a Path,
    project: &'a str,
    vars: Vec<(&'static str, String)>,
    /// Whether `down` is still to be run: a failing test takes its
    /// containers and networks down on drop, or the bridges of the
    /// project's networks would stay on this host after the daemon stops.
    up: std::cell::Cell<bool>,
}

impl<'a> Compose<'a> {
    fn new(
        docker: &'a Dockerd,
        dir: &'a Path,
        project: &'a str,
        vars: Vec<(&'static str, String)>,
    ) -> Self {
        Compose {
            docker,
            dir,
            project,
            vars,
            up: std::cell::Cell::new(true),
        }
    }

    /// `docker-compose down --volumes`, which must succeed.
    async fn down(&self) {
        self.ok(&["down", "--volumes"]).await;
        self.up.set(false);
    }

    /// `docker-compose --project-name PROJECT ARGS` in the copy, against
    /// the test's daemon, with `vars` and none of the caller's variables.
    fn std_command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new("docker-compose");
        command
            .current_dir(self.dir)
            .arg("--project-name")
            .arg(self.project)
            .args(args)
            .env("DOCKER_HOST", self.docker.host())
            .env("DOCKER_CONFIG", self.docker.config_dir())
            .env("DOCKER_BUILDKIT", "0");
        for name in CALLERS_VARIABLES {
            command.env_remove(name);
        }
        command.envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::from(self.std_command(args));
        command.kill_on_drop(true);
        command
    }

    /// Runs `docker-compose ARGS` with `stdin`; returns (success, stdout,
    /// stderr).
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut command = self.command(args);
        command.stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        command.stdout(std::process::Stdio::piped());
        command.stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("run docker-compose");
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            tokio::io::AsyncWriteExt::write_all(&mut pipe, text.as_bytes())
                .await
                .unwrap();
        }
        let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("docker-compose {args:?} did not finish in 180 s"))
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.success(), stdout, stderr)
    }

    /// Runs `docker-compose ARGS`, failing the test (with the daemon's
    /// log) unless it succeeds; returns its stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args, None).await;
        assert!(
            ok,
            "docker-compose {args:?}:\n{stdout}\n{stderr}\n{}",
            self.docker.log()
        );
        stdout
    }
}

impl Drop for Compose<'_> {
    fn drop(&mut self) {
        if self.up.get() {
            let _ = self
                .std_command(&["down", "--volumes"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Copies compose.yaml, .env and compose/ (what the file mounts) into
/// `to`, so that the walk-through's edits do not touch the repository.
fn copy_deploy(to: &Path) {
    let from = deploy_dir();
    for file in ["compose.yaml", ".env"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    let mut stack = vec![PathBuf::from("compose")];
    while let Some(relative) = stack.pop() {
        std::fs::create_dir(to.join(&relative)).unwrap();
        for entry in std::fs::read_dir(from.join(&relative)).unwrap() {
            let entry = entry.unwrap();
            let name = relative.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                stack.push(name);
            } else {
                std::fs::copy(entry.path(), to.join(&name)).unwrap();
            }
        }
    }
}

/// What a token request for `scope` as `user:password` is answered with.
async fn token_status(port: u16, user: &str, password: &str, scope: &str) -> Option<u16> {
    reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/token?service=registry.local&scope={scope}"
        ))
        .basic_auth(user, Some(password))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// The services of `project` that have a container, running or not.
async fn services(docker: &Dockerd, project: &str) -> Vec<String> {
    let (ok, out) = docker
        .run(&[
            "ps",
            "--all",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--format",
            "{{.Label \"com.docker.compose.service\"}}",
        ])
        .await;
    assert!(ok, "{out}");
    let mut services: Vec<String> = out.lines().map(str::to_owned).collect();
    services.sort_unstable();
    services
}

/// Asks for a token as alice until the answer is `want` (the server
/// starting, or reloading users.htpasswd), for 20 s at most.
async fn wait_for_token(compose: &Compose<'_>, port: u16, want: u16) {
    let mut status = None;
    for _ in 0..100 {
        status = token_status(port, "alice", "alice-pw", "repository:alice/app:push").await;
        if status == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs = compose.ok(&["logs", "--no-color"]).await;
    panic!("token request: {status:?}, not {want}\n{logs}");
}

/// Both setups, one after the other on one daemon (the `ha` network's
/// subnet is fixed, so two daemons at once would clash on this host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_runs_the_readmes_walk_through_then_the_ha_setup() {
    require_tools(&["docker-compose", "skopeo", "haproxy", "ldd"]);
    static_binary();
    let docker = Dockerd::start().await;
    build_image(&docker, "registry-auth:compose").await;
    stand_ins::registry(&docker, "registry:compose").await;

    let dir = tempfile::tempdir().unwrap();
    copy_deploy(dir.path());
    let (registry_port, auth_port) = (free_port(), free_port());
    let vars = vec![
        ("REGISTRY_AUTH_IMAGE", "registry-auth:compose".to_owned()),
        ("REGISTRY_IMAGE", "registry:compose".into()),
        ("REGISTRY_PORT", registry_port.to_string()),
        ("REGISTRY_AUTH_PORT", auth_port.to_string()),
        ("TOKEN_REALM", format!("http://127.0.0.1:{auth_port}/token")),
    ];
    let compose = Compose::new(&docker, dir.path(), "walkthrough", vars.clone());

    // `docker compose up -d`: .env picks the single setup; init makes the
    // key in the keys volume before the registry and registry-auth start.
    compose.ok(&["up", "--detach"]).await;
    assert_eq!(
        services(&docker, "walkthrough").await,
        ["init", "registry", "registry-auth"]
    );
    let init_logs = compose.ok(&["logs", "--no-color", "init"]).await;
    assert!(
        init_logs.contains("Signing key /var/lib/registry-auth/keys/token.key (ES256)"),
        "{init_logs}"
    );
    // No user yet: the server answers, and refuses alice.
    wait_for_token(&compose, auth_port, 401).await;

    // The README's way to add a user: hash-password in the init service's
    // container, the line appended to users.htpasswd; the server sees the
    // change by itself (watch).
    let (ok, hash, said) = compose
        .run(
            &["run", "--rm", "-T", "--no-deps", "init", "hash-password"],
            Some("alice-pw\n"),
        )
        .await;
    assert!(ok, "{hash}\n{said}");
    let hash = hash.trim();
    assert!(hash.starts_with("$2b$10$"), "{hash}\n{said}");
    let users = dir.path().join("compose/registry-auth/users.htpasswd");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&users)
        .unwrap();
    std::io::Write::write_all(&mut file, format!("alice:{hash}\n").as_bytes()).unwrap();
    drop(file);
    wait_for_token(&compose, auth_port, 200).await;

    // skopeo pushes through the real registry, which trusts the key init
    // made; another user's namespace is refused.
    alice_pushes(&format!("127.0.0.1:{registry_port}")).await;

    // The image's HEALTHCHECK turns healthy under compose too.
    let id = compose.ok(&["ps", "--quiet", "registry-auth"]).await;
    assert_eq!(wait_healthy(&docker, id.trim()).await, "healthy");

    // `down` and `up` again: init keeps the key (the registry's trust and
    // the pushed image's tokens stay good), and alice still pulls.
    compose.ok(&["down"]).await;
    compose.ok(&["up", "--detach"]).await;
    let init_logs = compose.ok(&["logs", "--no-color", "init"]).await;
    assert!(
        init_logs.contains("/var/lib/registry-auth/keys is already set up; kept as it is"),
        "{init_logs}"
    );
    let mut pulled = (false, String::new());
    for _ in 0..50 {
        pulled = registry_auth_testkit::skopeo_inspect(
            &format!("docker://127.0.0.1:{registry_port}/alice/app:v1"),
            Some("alice:alice-pw"),
        )
        .await;
        if pulled.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        pulled.0,
        "alice reads her image after a restart: {}",
        pulled.1
    );
    compose.down().await;
    drop(compose);

    // The ha setup, with alice still in users.htpasswd: two instances on
    // PostgreSQL behind HAProxy, on the same ports.
    stand_ins::postgres(&docker, "postgres:compose").await;
    stand_ins::haproxy(&docker, "haproxy:compose").await;
    let mut vars = vars;
    vars.extend([
        ("COMPOSE_PROFILES", "ha".to_owned()),
        ("POSTGRES_PASSWORD", "compose-pg-password".into()),
        ("POSTGRES_IMAGE", "postgres:compose".into()),
        ("HAPROXY_IMAGE", "haproxy:compose".into()),
    ]);
    let compose = Compose::new(&docker, dir.path(), "ha", vars);
    compose.ok(&["up", "--detach"]).await;
    assert_eq!(
        services(&docker, "ha").await,
        [
            "balancer",
            "init",
            "postgres",
            "registry",
            "registry-auth-1",
            "registry-auth-2"
        ]
    );
    wait_for_token(&compose, auth_port, 200).await;
    alice_pushes(&format!("127.0.0.1:{registry_port}")).await;

    // An identity token made on one instance is refreshed by both: the
    // balancer takes turns, and the store is shared.
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{auth_port}/token");
    let login: serde_json::Value = client
        .post(&url)
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-pw"),
            ("service", "registry.local"),
            ("client_id", "compose-test"),
            ("access_type", "offline"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..4 {
        let answer = client
            .post(&url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("service", "registry.local"),
                ("client_id", "compose-test"),
                ("scope", "repository:alice/app:pull"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    // Each instance answered, and saw the client's address from
    // X-Forwarded-For, not the balancer's (the proxy config-ha.toml trusts).
    let (_, ha) = compose_config("config-ha.toml");
    let balancer = ha["server"]["trusted_proxies"][0].as_str().unwrap();
    for instance in ["registry-auth-1", "registry-auth-2"] {
        let logs = compose.ok(&["logs", "--no-color", instance]).await;
        let addresses: Vec<&str> = logs
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("client_ip="))
            .collect();
        assert!(addresses.len() >= 2, "{instance}: {logs}");
        assert!(
            addresses.iter().all(|a| *a != balancer),
            "{instance} sees the balancer: {addresses:?}"
        );
    }
    compose.down().await;
    drop(compose);
    docker.stop().await;
}

/// What `docker-compose config` makes of deploy/compose.yaml (anchors and
/// merges resolved, defaults filled in), parsed.
fn resolved_compose_file() -> yaml_rust2::Yaml {
    let mut command = std::process::Command::new("docker-compose");
    command
        .current_dir(deploy_dir())
        .args(["--file", "compose.yaml", "config"]);
    for name in CALLERS_VARIABLES {
        command.env_remove(name);
    }
    let out = command.output().expect("run docker-compose");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "docker-compose config: {stderr}");
    yaml_rust2::YamlLoader::load_from_str(&stdout)
        .unwrap()
        .remove(0)
}

/// The TOML of deploy/compose/registry-auth/NAME, parsed.
fn compose_config(name: &str) -> (String, toml::Table) {
    let path = deploy_dir().join("compose/registry-auth").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let table = text.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
    (text, table)
}

fn strings(yaml: &yaml_rust2::Yaml) -> Vec<&str> {
    yaml.as_vec()
        .map(|v| v.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn the_compose_file_wires_init_registry_and_both_setups_together() {
    require_tools(&["docker-compose", "haproxy"]);
    let file = resolved_compose_file();
    let services = &file["services"];
    let (single_text, single) = compose_config("config.toml");
    let (ha_text, ha) = compose_config("config-ha.toml");
    for text in [&single_text, &ha_text] {
        registry_auth_server::check_config(text).unwrap();
    }

    // The setups differ only in where the state is and whom X-Forwarded-For
    // is believed from.
    let without = |table: &toml::Table| {
        let mut table = table.clone();
        table.remove("state");
        if let Some(toml::Value::Table(server)) = table.get_mut("server") {
            server.remove("trusted_proxies");
        }
        table
    };
    assert_eq!(without(&single), without(&ha));
    assert_eq!(
        single["state"]["url"].as_str(),
        Some("sqlite:///var/lib/registry-auth/state.db")
    );
    assert!(
        ha["state"]["url"]
            .as_str()
            .unwrap()
            .starts_with("postgres://registry_auth@postgres:5432/")
    );

    // Who runs in which setup (.env makes `single` the default).
    let profile = |name: &str| strings(&services[name]["profiles"]);
    assert!(profile("init").is_empty() && profile("registry").is_empty());
    assert_eq!(profile("registry-auth"), ["single"]);
    for name in ["postgres", "registry-auth-1", "registry-auth-2", "balancer"] {
        assert_eq!(profile(name), ["ha"], "{name}");
    }
    let env = std::fs::read_to_string(deploy_dir().join(".env")).unwrap();
    assert!(env.lines().any(|l| l == "COMPOSE_PROFILES=single"), "{env}");

    // init writes the key where the configurations read it, into the keys
    // volume; every instance mounts that volume read-only, after init.
    let token = &single["token"];
    let key = Path::new(token["signing_key"].as_str().unwrap());
    let keys_dir = key.parent().unwrap().to_str().unwrap();
    assert_eq!(
        strings(&services["init"]["command"]),
        ["init", keys_dir, "--key-only", "--keep-existing"]
    );
    assert_eq!(
        strings(&services["init"]["volumes"]),
        [format!("keys:{keys_dir}:rw")]
    );
    assert_eq!(
        Path::new(token["certificate"].as_str().unwrap()),
        Path::new(keys_dir).join("token.crt")
    );
    for (name, config) in [
        ("registry-auth", None),
        ("registry-auth-1", Some("/etc/registry-auth/config-ha.toml")),
        ("registry-auth-2", Some("/etc/registry-auth/config-ha.toml")),
    ] {
        let service = &services[name];
        let volumes = strings(&service["volumes"]);
        assert!(
            volumes.contains(&format!("keys:{keys_dir}:ro").as_str()),
            "{name}: {volumes:?}"
        );
        assert!(
            volumes
                .iter()
                .any(|v| v.ends_with("/compose/registry-auth:/etc/registry-auth:ro")),
            "{name}: {volumes:?}"
        );
        assert_eq!(
            service["environment"]["REGISTRY_AUTH_CONFIG"].as_str(),
            config,
            "{name}"
        );
        assert_eq!(
            service["depends_on"]["init"]["condition"].as_str(),
            Some("service_completed_successfully"),
            "{name}"
        );
    }
    assert_eq!(
        services["registry-auth-1"]["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );

    // The registry trusts what init made, for the service and issuer the
    // configurations sign for.
    let registry = &services["registry"];
    let registry_env = &registry["environment"];
    assert_eq!(registry_env["REGISTRY_AUTH"].as_str(), Some("token"));
    assert_eq!(
        registry_env["REGISTRY_AUTH_TOKEN_SERVICE"].as_str(),
        single["token"]["services"][0].as_str()
    );
    assert_eq!(
        registry_env["REGISTRY_AUTH_TOKEN_ISSUER"].as_str(),
        single["token"]["issuer"].as_str()
    );
    assert_eq!(
        registry_env["REGISTRY_AUTH_TOKEN_REALM"].as_str(),
        Some("http://localhost:5001/token")
    );
    let bundle = registry_env["REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE"]
        .as_str()
        .unwrap();
    let keys_mount = strings(&registry["volumes"])
        .into_iter()
        .find_map(|v| v.strip_prefix("keys:"))
        .unwrap()
        .to_owned();
    assert_eq!(
        format!("keys:{}", keys_mount),
        format!("keys:{}:ro", Path::new(bundle).parent().unwrap().display())
    );
    assert_eq!(
        registry["depends_on"]["init"]["condition"].as_str(),
        Some("service_completed_successfully")
    );

    // Hardened: no capabilities (the registry's root cannot read the key,
    // 0600 for user 65532), no privilege gain; ports on loopback unless
    // BIND_ADDRESS says otherwise.
    for name in [
        "init",
        "registry",
        "registry-auth",
        "registry-auth-1",
        "registry-auth-2",
        "balancer",
    ] {
        let service = &services[name];
        assert_eq!(strings(&service["cap_drop"]), ["ALL"], "{name}");
        assert_eq!(
            strings(&service["security_opt"]),
            ["no-new-privileges:true"],
            "{name}"
        );
        if name != "registry" {
            assert_eq!(service["read_only"].as_bool(), Some(true), "{name}");
        }
        for port in strings(&service["ports"]) {
            assert!(port.starts_with("127.0.0.1:"), "{name}: {port}");
        }
    }

    // The balancer is at the address config-ha.toml trusts, and sends to
    // the two instances by their service names (haproxy -c checks the
    // file as HAProxy reads it).
    let trusted = ha["server"]["trusted_proxies"][0].as_str().unwrap();
    assert_eq!(
        services["balancer"]["networks"]["ha"]["ipv4_address"].as_str(),
        Some(trusted)
    );
    let subnet = file["networks"]["ha"]["ipam"]["config"][0]["subnet"]
        .as_str()
        .unwrap();
    assert!(
        trusted.starts_with(subnet.trim_end_matches("0/24")),
        "{trusted} in {subnet}"
    );
    let haproxy = deploy_dir().join("compose/haproxy.cfg");
    let out = std::process::Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(&haproxy)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "haproxy -c: {stdout}\n{stderr}");
    let cfg = std::fs::read_to_string(&haproxy).unwrap();
    for name in ["registry-auth-1", "registry-auth-2"] {
        assert!(
            cfg.contains(&format!("server {name} {name}:5001")),
            "{name}"
        );
    }
    assert!(cfg.contains("option forwardfor") && cfg.contains("option httpchk GET /healthz"));
}
