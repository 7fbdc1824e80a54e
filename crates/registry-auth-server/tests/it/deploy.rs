//! Running the server as a system service: the systemd unit as systemd
//! reads and scores it, the readiness, reload and stop notifications it
//! relies on (`Type=notify`), and `healthcheck` for probes.

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{BIN, Site, run, text};

fn unit_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/registry-auth.service")
}

/// `systemd-analyze` on a copy of the unit whose `ExecStart` names the
/// built binary (`verify` checks that the command exists).
fn analyze(args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(unit_file())
        .unwrap()
        .replace("/usr/local/bin/registry-auth", BIN);
    let path = dir.path().join("registry-auth.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/test installs it)");
    let (stdout, stderr) = text(&out);
    (out.status.success(), stdout, stderr)
}

#[test]
fn the_systemd_unit_verifies_and_scores_ok() {
    let (ok, stdout, stderr) = analyze(&["verify", "--man=no"]);
    assert!(ok && stderr.trim().is_empty(), "{stdout}\n{stderr}");

    let (ok, stdout, stderr) = analyze(&["security", "--offline=true", "--no-pager"]);
    assert!(ok, "{stdout}\n{stderr}");
    let exposure: f64 = stdout
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for registry-auth.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{stdout}"));
    assert!(exposure <= 2.0, "exposure {exposure}:\n{stdout}");

    let unit = std::fs::read_to_string(unit_file()).unwrap();
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "StateDirectory=registry-auth",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}");
    }
}

/// `registry-auth healthcheck --config CONFIG`, run to completion.
fn healthcheck(config: &std::path::Path) -> std::process::Output {
    run(&["healthcheck", "--config", config.to_str().unwrap()], None)
}

/// The next notification the server sent, within 20 s.
fn next_notification(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("a notification from the server within 20 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// `GET /healthz` over a plain socket: the status line's code.
fn healthz_status(port: u16) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}

#[test]
fn serve_tells_the_service_manager_ready_reloading_and_stopping() {
    let site = Site::new();
    let socket_path = site.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["--log-level", "warn", "serve", "--config"])
        .arg(site.config_path())
        .env("NOTIFY_SOCKET", &socket_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let signal = |name: &str| {
        assert!(
            Command::new("kill")
                .args([name, &pid])
                .status()
                .unwrap()
                .success()
        );
    };

    // Ready means ready: the first request after READY=1 is answered.
    assert_eq!(next_notification(&socket), "READY=1\n");
    assert_eq!(healthz_status(site.port), Some(200));

    // The probe's view of the same server.
    let out = healthcheck(&site.config_path());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.trim(),
        format!("http://127.0.0.1:{}/healthz: 200 OK", site.port)
    );

    // A reload is bracketed: RELOADING=1 with the time, then READY=1.
    signal("-HUP");
    let reloading = next_notification(&socket);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    assert_eq!(next_notification(&socket), "READY=1\n");

    signal("-TERM");
    assert_eq!(next_notification(&socket), "STOPPING=1\n");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");

    // Nothing listens any more: the probe fails, and says why.
    let out = healthcheck(&site.config_path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_stays_healthy_while_the_configuration_is_broken() {
    // The running server keeps its configuration until a valid one comes,
    // so a probe must not fail (and get it restarted) over a bad edit.
    let site = Site::new();
    let server =
        crate::support::Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    site.write_config("[[acl]]\nmatch = { account = \"/(/\" }\nactions = [\"pull\"]\n");
    let out = healthcheck(&site.config_path());
    assert!(out.status.success(), "{:?}", text(&out));
    server.terminate().await;
    assert_eq!(healthcheck(&site.config_path()).status.code(), Some(1));
}

#[test]
fn healthcheck_says_what_is_wrong() {
    let site = Site::new();
    // Nothing listens on the port.
    let out = run(
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/healthz", site.port),
            "--timeout",
            "2s",
        ],
        None,
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    // A configuration that does not load.
    let out = healthcheck(std::path::Path::new("/nonexistent/config.toml"));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/config.toml"), "{stderr}");
}

/// The statically linked binary scripts/test builds before the tests
/// (`cargo test` holds the build directory, so a test cannot build it).
pub(crate) fn static_binary() -> String {
    std::env::var("REGISTRY_AUTH_STATIC_BINARY").unwrap_or_else(|_| {
        panic!(
            "REGISTRY_AUTH_STATIC_BINARY is not set: scripts/test builds the static binary \
             (RUSTFLAGS=\"-C target-feature=+crt-static -C strip=symbols\" cargo build --release \
             --target HOST) and names it there"
        )
    })
}

/// What `docker inspect --format FORMAT NAME` prints.
pub(crate) async fn inspect(
    docker: &registry_auth_testkit::Dockerd,
    format: &str,
    name: &str,
) -> String {
    let (ok, out) = docker.run(&["inspect", "--format", format, name]).await;
    assert!(ok, "docker inspect {name}: {out}");
    out.trim().to_owned()
}

/// Builds the image as `TAG` with scripts/build-image, the Debian docker
/// CLI and `docker`'s daemon, from the static binary.
pub(crate) async fn build_image(docker: &registry_auth_testkit::Dockerd, tag: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-image");
    let out = tokio::process::Command::new(&script)
        .arg(tag)
        .env("REGISTRY_AUTH_BINARY", static_binary())
        .env("DOCKER", "/usr/bin/docker")
        .env("DOCKER_HOST", docker.host())
        .env("DOCKER_CONFIG", docker.config_dir())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}\n{}", docker.log());
}

/// The container's health (`docker inspect`'s `.State.Health.Status`)
/// once it is `healthy`, or as it is after 30 s.
pub(crate) async fn wait_healthy(
    docker: &registry_auth_testkit::Dockerd,
    container: &str,
) -> String {
    let mut health = String::new();
    for _ in 0..60 {
        health = inspect(docker, "{{.State.Health.Status}}", container).await;
        if health == "healthy" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    health
}

/// skopeo pushes alice/app:v1 as alice through the registry at `registry`
/// (`HOST:PORT`), and is denied bob/app:v1.
pub(crate) async fn alice_pushes(registry: &str) {
    use registry_auth_testkit::{skopeo_push, write_oci_layout};
    let layout_dir = tempfile::tempdir().unwrap();
    write_oci_layout(layout_dir.path(), "v1", "alice's app");
    let layout = format!("oci:{}:v1", layout_dir.path().display());
    let (ok, out) = skopeo_push(
        &layout,
        &format!("docker://{registry}/alice/app:v1"),
        "alice:alice-pw",
    )
    .await;
    assert!(ok, "alice pushes: {out}");
    let (ok, out) = skopeo_push(
        &layout,
        &format!("docker://{registry}/bob/app:v1"),
        "alice:alice-pw",
    )
    .await;
    assert!(!ok, "alice may not push bob/: {out}");
    assert!(out.contains("denied"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_as_a_non_root_user_reports_healthy_and_serves_a_push() {
    use registry_auth_testkit::{Dockerd, require_registry_and_skopeo};
    require_registry_and_skopeo();
    static_binary();
    let docker = Dockerd::start().await;

    build_image(&docker, "registry-auth:e2e").await;
    let size: u64 = inspect(&docker, "{{.Size}}", "registry-auth:e2e")
        .await
        .parse()
        .unwrap();
    println!("image size: {size} bytes");
    assert!(size <= 20_000_000, "the image is {size} bytes");
    assert_eq!(
        inspect(&docker, "{{.Config.User}}", "registry-auth:e2e").await,
        "65532:65532"
    );

    // A site whose files the image's user can read, mounted read-only as
    // /etc/registry-auth; host networking (the test daemon has no bridge).
    // The state in the image's volume: the configuration's folder is
    // mounted read-only.
    let site = Site::new();
    site.write_config(&format!(
        "[state]\nurl = \"sqlite:///var/lib/registry-auth/state.db\"\n\n{}",
        site.users_and_rules(true)
    ));
    for entry in std::fs::read_dir(site.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        std::os::unix::fs::chown(&path, Some(65532), Some(65532)).unwrap();
    }
    std::os::unix::fs::chown(site.dir.path(), Some(65532), Some(65532)).unwrap();
    let mount = format!("{}:/etc/registry-auth:ro", site.dir.path().display());
    let (ok, out) = docker
        .run(&[
            "run",
            "--detach",
            "--name",
            "registry-auth-e2e",
            "--network",
            "host",
            "--health-interval",
            "1s",
            "--volume",
            &mount,
            "registry-auth:e2e",
        ])
        .await;
    assert!(ok, "docker run: {out}\n{}", docker.log());

    // The image's HEALTHCHECK (registry-auth healthcheck) turns healthy.
    let health = wait_healthy(&docker, "registry-auth-e2e").await;
    let (_, logs) = docker.run(&["logs", "registry-auth-e2e"]).await;
    assert_eq!(health, "healthy", "{logs}");

    // The real registry sends skopeo to the token server in the container.
    let registry = site.registry(&site.url("/token")).await;
    alice_pushes(&registry.addr).await;

    let (ok, out) = docker
        .run(&["stop", "--time", "20", "registry-auth-e2e"])
        .await;
    assert!(ok, "docker stop: {out}");
    assert_eq!(
        inspect(&docker, "{{.State.ExitCode}}", "registry-auth-e2e").await,
        "0",
        "a clean exit on SIGTERM"
    );
    registry.stop().await;
    docker.stop().await;
}

/// Every YAML document of `deploy/kubernetes/NAME`.
fn kubernetes(name: &str) -> Vec<yaml_rust2::Yaml> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_kubernetes_manifests_have_what_a_cluster_needs() {
    let kustomization = &kubernetes("kustomization.yaml")[0];
    let resources: Vec<&str> = kustomization["resources"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        resources,
        [
            "deployment.yaml",
            "service.yaml",
            "poddisruptionbudget.yaml"
        ]
    );
    assert_eq!(
        kustomization["configMapGenerator"][0]["files"][0].as_str(),
        Some("config.toml")
    );
    assert_eq!(
        kustomization["secretGenerator"][0]["name"].as_str(),
        Some("registry-auth-signing-key")
    );

    let deployment = &kubernetes("deployment.yaml")[0];
    assert_eq!(deployment["kind"].as_str(), Some("Deployment"));
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"].as_i64(), Some(2));
    let labels = &spec["selector"]["matchLabels"];
    assert_eq!(&spec["template"]["metadata"]["labels"], labels);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["runAsUser"].as_i64(), Some(65532));
    assert_eq!(pod["automountServiceAccountToken"].as_bool(), Some(false));
    let container = &pod["containers"][0];
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            container[probe]["httpGet"]["path"].as_str(),
            Some("/healthz"),
            "{probe}"
        );
    }
    let resources = &container["resources"];
    for (kind, what) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "memory"),
    ] {
        assert!(
            resources[kind][what].as_str().is_some(),
            "resources.{kind}.{what}"
        );
    }
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["capabilities"]["drop"][0].as_str(), Some("ALL"));
    let volumes: Vec<&str> = pod["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| {
            v["configMap"]["name"]
                .as_str()
                .or(v["secret"]["secretName"].as_str())
                .unwrap()
        })
        .collect();
    assert_eq!(
        volumes,
        [
            "registry-auth-config",
            "registry-auth-signing-key",
            "registry-auth-postgres"
        ]
    );

    let service = &kubernetes("service.yaml")[0];
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(service["spec"]["ports"][0]["port"].as_i64(), Some(5001));

    let budget = &kubernetes("poddisruptionbudget.yaml")[0];
    assert_eq!(budget["kind"].as_str(), Some("PodDisruptionBudget"));
    assert_eq!(budget["spec"]["minAvailable"].as_i64(), Some(1));
    assert_eq!(&budget["spec"]["selector"]["matchLabels"], labels);

    // The replicas' configuration is one the server takes, with the state
    // in PostgreSQL (shared by the two) and the key where the Secret is.
    let config = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/config.toml"),
    )
    .unwrap();
    registry_auth_server::check_config(&config).unwrap();
    assert!(config.contains("url = \"postgres://"), "{config}");
    assert!(config.contains("signing_key = \"/etc/registry-auth/keys/token.key\""));
}
