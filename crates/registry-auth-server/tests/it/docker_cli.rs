//! The real docker CLI (Debian's docker.io, its own dockerd) and
//! containerd's `ctr` against the binary and the real registry: docker's
//! stored identity token serves every client that reads docker's config,
//! survives a restart of the token server, and ends on revocation or a
//! password change.

use registry_auth_testkit::{
    Containerd, Dockerd, Registry, require_tools, skopeo, skopeo_inspect, skopeo_push,
    write_oci_layout,
};
use serde_json::json;

use crate::support::{Server, Site, access, hash, poll, post_token, run, text, token};

/// Every client id that shares docker's stored identity token (INTEROP.md):
/// docker, Docker Engine's containerd image store, BuildKit, podman/skopeo,
/// crane, oras, regclient (its user agent).
const CLIENT_IDS: &[&str] = &[
    "docker",
    "containerd-client",
    "buildkit-client",
    "containers/image",
    "go-containerregistry",
    "oras-go",
    "regclient/v0.8.0",
];

async fn start(site: &Site) -> (Server, Registry) {
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let registry = site.registry(&site.url("/token")).await;
    (server, registry)
}

/// docker's stored auth entry for `registry`, if any.
fn stored_auth(docker: &Dockerd, registry: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(docker.config_dir().join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    config["auths"].get(registry).cloned()
}

/// Waits until the running server has taken a configuration edit: until
/// `user` logs in with `password`.
async fn until_reloaded(site: &Site, user: &str, password: &str, server: &Server) {
    let url = &site.url("");
    let status = poll(
        move || async move {
            token(url, "service=registry.test", Some((user, password)))
                .await
                .0
        },
        |s| *s == 200,
    )
    .await;
    assert_eq!(status, 200, "the edit was not reloaded:\n{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_login_serves_every_client_survives_a_restart_and_ends_on_revocation() {
    require_tools(&["dockerd", "docker-registry", "skopeo"]);
    let site = Site::new();
    let (server, registry) = start(&site).await;
    let docker = Dockerd::start().await;
    let reg = registry.addr.clone();
    let image = format!("{reg}/alice/app:v1");
    let ok = |(done, out): (bool, String), what: &str, server: &Server| {
        assert!(done, "{what}: {out}\n--- token server:\n{}", server.log());
    };
    docker.import_image(&image, "hello.txt", b"hello").await;

    // docker login keeps an identity token, not the password.
    ok(
        docker.login(&reg, "alice", "alice-pw").await,
        "docker login",
        &server,
    );
    let auth = stored_auth(&docker, &reg).unwrap_or_else(|| panic!("no auth for {reg}"));
    let identity = auth["identitytoken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(identity.starts_with("rart_"), "{auth}");
    let config_text =
        std::fs::read_to_string(docker.config_dir().join("config.json")).unwrap_or_default();
    assert!(!config_text.contains("alice-pw"), "{config_text}");

    ok(docker.run(&["push", &image]).await, "docker push", &server);
    ok(docker.run(&["rmi", &image]).await, "docker rmi", &server);
    ok(docker.run(&["pull", &image]).await, "docker pull", &server);

    // skopeo (podman, buildah) reads docker's file and refreshes with it.
    let authfile = docker.config_dir().join("config.json");
    let authfile = authfile.to_str().unwrap_or_default();
    let inspected = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        authfile,
        &format!("docker://{image}"),
    ])
    .await;
    ok(inspected, "skopeo inspect --authfile docker's", &server);

    // Every other client's refresh, replayed as it sends it.
    for client in CLIENT_IDS {
        let (status, body) = post_token(
            &site.url(""),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &identity),
                ("service", "registry.test"),
                ("client_id", client),
                ("scope", "repository:alice/app:pull"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{client}: {body}");
        let access_token = json!({"token": body["access_token"]});
        assert_eq!(
            access(&access_token),
            json!([{"type": "repository", "name": "alice/app", "actions": ["pull"]}]),
            "{client}"
        );
    }
    // containerd's fallback: GET with Basic "":identity-token.
    let (status, body) = token(
        &site.url(""),
        "service=registry.test&scope=repository:alice/app:pull",
        Some(("", &identity)),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The operator sees the token, the clients that used it, never the secret.
    let config = site.config_path();
    let config = config.to_str().unwrap_or_default();
    let out = run(
        &[
            "identity-tokens",
            "list",
            "--config",
            config,
            "--json",
            "--user",
            "alice",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains(&identity), "{stdout}");
    let listed: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_default())
        .collect();
    assert_eq!(listed.len(), 1, "{stdout}");
    let seen = listed[0]["client_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for client in ["docker", "containers/image", "containerd-client", "oras-go"] {
        assert!(seen.contains(&json!(client)), "{client} not in {seen:?}");
    }
    assert_eq!(listed[0]["user"], "alice");
    assert_eq!(listed[0]["service"], "registry.test");

    // The token server restarts (a crash): docker pulls without a login.
    server.kill();
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    ok(docker.run(&["rmi", &image]).await, "docker rmi", &server);
    ok(
        docker.run(&["pull", &image]).await,
        "docker pull after a restart",
        &server,
    );

    // logout forgets it on docker's side.
    ok(
        docker.run(&["logout", &reg]).await,
        "docker logout",
        &server,
    );
    assert_eq!(stored_auth(&docker, &reg), None);

    // Revoked by the operator: the next pull is refused. (docker logout
    // forgets the token on the client only: the earlier one is revoked
    // here too.)
    ok(
        docker.login(&reg, "alice", "alice-pw").await,
        "docker login",
        &server,
    );
    let out = run(
        &[
            "identity-tokens",
            "revoke",
            "--config",
            config,
            "--user",
            "alice",
        ],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0, "revoked 2 identity tokens of alice\n");
    ok(docker.run(&["rmi", &image]).await, "docker rmi", &server);
    let (pulled, out) = docker.run(&["pull", &image]).await;
    assert!(!pulled, "pull with a revoked identity token: {out}");

    // A password change ends the login too.
    ok(
        docker.login(&reg, "alice", "alice-pw").await,
        "docker login",
        &server,
    );
    ok(docker.run(&["pull", &image]).await, "docker pull", &server);
    ok(docker.run(&["rmi", &image]).await, "docker rmi", &server);
    let changed = site
        .users_and_rules(true)
        .replace(&hash("alice-pw"), &hash("alice-new-pw"));
    site.write_config(&changed);
    until_reloaded(&site, "alice", "alice-new-pw", &server).await;
    let (pulled, out) = docker.run(&["pull", &image]).await;
    assert!(!pulled, "pull after a password change: {out}");
    assert!(
        server.log().contains("identity tokens ended"),
        "{}",
        server.log()
    );

    docker.stop().await;
    registry.stop().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_ctr_pulls_and_pushes_with_a_password() {
    require_tools(&["containerd", "ctr", "docker-registry", "skopeo"]);
    let site = Site::new();
    let (server, registry) = start(&site).await;
    let reg = registry.addr.clone();
    let layout_dir = site.path("layout");
    write_oci_layout(&layout_dir, "v1", "hello from ctr");
    let layout = format!("oci:{}:v1", layout_dir.display());
    let (pushed, out) = skopeo_push(
        &layout,
        &format!("docker://{reg}/alice/app:v1"),
        "alice:alice-pw",
    )
    .await;
    assert!(pushed, "{out}");

    let ctr = Containerd::start().await;
    let source = format!("{reg}/alice/app:v1");
    let copy = format!("{reg}/alice/copy:v1");
    let ok = |(done, out): (bool, String), what: &str| {
        assert!(done, "{what}: {out}\n--- token server:\n{}", server.log());
    };
    ok(
        ctr.ctr(&[
            "images",
            "pull",
            "--plain-http",
            "--user",
            "alice:alice-pw",
            &source,
        ])
        .await,
        "ctr pull",
    );
    ok(ctr.ctr(&["images", "tag", &source, &copy]).await, "ctr tag");
    ok(
        ctr.ctr(&[
            "images",
            "push",
            "--plain-http",
            "--user",
            "alice:alice-pw",
            &copy,
        ])
        .await,
        "ctr push",
    );
    let (found, out) = skopeo_inspect(&format!("docker://{copy}"), Some("alice:alice-pw")).await;
    assert!(found, "the pushed copy: {out}");

    // Wrong password, or another user's namespace: refused.
    let (pulled, out) = ctr
        .ctr(&[
            "images",
            "pull",
            "--plain-http",
            "--user",
            "alice:wrong",
            &source,
        ])
        .await;
    assert!(!pulled, "ctr pull with a wrong password: {out}");
    // (A repository that does not exist yet: for one that does, ctr finds
    // the manifest with pull access, which bob has, and uploads nothing.)
    let other = format!("{reg}/alice/other:v1");
    ok(
        ctr.ctr(&["images", "tag", &source, &other]).await,
        "ctr tag",
    );
    let (pushed, out) = ctr
        .ctr(&[
            "images",
            "push",
            "--plain-http",
            "--user",
            "bob:bob-pw",
            &other,
        ])
        .await;
    assert!(!pushed, "bob pushes into alice/: {out}");
    let (found, _) = skopeo_inspect(&format!("docker://{other}"), Some("alice:alice-pw")).await;
    assert!(!found, "bob's push left nothing");

    ctr.stop().await;
    registry.stop().await;
    drop(server);
}
