//! People from a real directory (OpenLDAP's slapd) and access tokens for
//! robots, through the binary, the real registry, skopeo and the docker
//! CLI: a directory group grants a team namespace, config-file users
//! still log in while the directory is down, and an access token gets its
//! owner's rights cut to its scopes, until it is revoked or the owner
//! loses them.

use registry_auth_testkit::{Dockerd, Slapd, require_tools, skopeo_push, write_oci_layout};

use crate::support::{Server, Site, access, hash, poll, run, text, token};

/// `[users]` with a break-glass admin, `[ldap]` on `slapd` (search then
/// bind, groups from memberOf, the team from departmentNumber), and the
/// rules: own namespace, the platform group's namespace, pulls.
fn config(slapd: &Slapd, platform_rule: bool) -> String {
    let platform = if platform_rule {
        "[[acl]]\nmatch = { labels = { groups = \"platform\" }, name = \"platform/*\" }\n\
         actions = [\"pull\", \"push\"]\ncomment = \"platform group\"\n"
    } else {
        ""
    };
    format!(
        r#"[users]
root = "{root}"

[ldap]
url = "{url}"
bind_dn = "{service_dn}"
bind_password = "{service_password}"
base_dn = "{people}"
user_filter = "(uid=${{account}})"
subject_attribute = "uid"
labels = {{ team = "departmentNumber" }}
timeout = "2s"

[[acl]]
match = {{ account = "root" }}
actions = ["*"]
comment = "break glass"

[[acl]]
match = {{ account = "/.+/", name = "${{account}}/*" }}
actions = ["*"]
comment = "own namespace"

{platform}
[[acl]]
match = {{ account = "/.+/", type = "repository" }}
actions = ["pull"]
comment = "users pull"
"#,
        root = hash("root-pw"),
        url = slapd.url(),
        service_dn = Slapd::SERVICE_DN,
        service_password = Slapd::SERVICE_PASSWORD,
        people = Slapd::PEOPLE_DN,
    )
}

/// The token from `access-token create`: the last line of its output.
fn create_token(site: &Site, name: &str, owner: &str, scope: &str) -> String {
    let config = site.config_path();
    let out = run(
        &[
            "access-token",
            "create",
            "--config",
            config.to_str().unwrap(),
            "--name",
            name,
            "--owner",
            owner,
            "--scope",
            scope,
            "--expires",
            "1d",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "create {name}: {stdout}{stderr}");
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("raat_") && last.len() == 48, "{stdout}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_people_push_and_access_tokens_do_what_their_scopes_say() {
    require_tools(&["dockerd", "docker-registry", "skopeo"]);
    let mut slapd = Slapd::start().await;
    let site = Site::new();
    site.write_config(&config(&slapd, true));
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let registry = site.registry(&site.url("/token")).await;
    let reg = registry.addr.clone();
    let layout_dir = site.path("layout");
    write_oci_layout(&layout_dir, "v1", "hello");
    let layout = format!("oci:{}:v1", layout_dir.display());
    let push = |repo: &str, creds: &str| {
        let (layout, image) = (layout.clone(), format!("docker://{reg}/{repo}:v1"));
        let creds = creds.to_owned();
        async move { skopeo_push(&layout, &image, &creds).await }
    };
    let ok = |(done, out): (bool, String), what: &str, server: &Server| {
        assert!(done, "{what}: {out}\n--- token server:\n{}", server.log());
    };
    let refused = |(done, out): (bool, String), what: &str| {
        assert!(!done, "{what} should be refused: {out}");
    };

    // A directory group grants its namespace; a person outside it pushes
    // only to their own.
    ok(
        push("platform/app", "bob:bob-pw").await,
        "bob (group platform) pushes platform/",
        &server,
    );
    refused(
        push("platform/app", "carol:carol-pw").await,
        "carol (no group) pushes platform/",
    );
    ok(
        push("carol/app", "carol:carol-pw").await,
        "carol pushes her own namespace",
        &server,
    );
    refused(
        push("carol/app", "carol:wrong").await,
        "a wrong directory password",
    );

    // The docker CLI logs a directory user in and pushes.
    let docker = Dockerd::start().await;
    let image = format!("{reg}/alice/app:v1");
    docker.import_image(&image, "hello.txt", b"hello").await;
    ok(
        docker.login(&reg, "alice", "alice-pw").await,
        "docker login alice",
        &server,
    );
    ok(
        docker.run(&["push", &image]).await,
        "docker push alice/app",
        &server,
    );
    ok(
        docker.run(&["logout", &reg]).await,
        "docker logout",
        &server,
    );

    // An access token of alice's that may only pull her namespace.
    let config = site.config_path();
    let config = config.to_str().unwrap();
    let pull_only = create_token(&site, "ci-pull", "alice", "repository:alice/*:pull");
    ok(
        docker.login(&reg, "alice", &pull_only).await,
        "docker login with a token",
        &server,
    );
    // The token is the long-lived credential: docker keeps it, and gets no
    // identity token for it.
    let stored = std::fs::read_to_string(docker.config_dir().join("config.json")).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert!(stored["auths"][&reg]["identitytoken"].is_null(), "{stored}");
    assert!(stored["auths"][&reg]["auth"].is_string(), "{stored}");
    ok(docker.run(&["rmi", &image]).await, "docker rmi", &server);
    ok(
        docker.run(&["pull", &image]).await,
        "docker pull with the token",
        &server,
    );
    refused(
        docker.run(&["push", &image]).await,
        "docker push with a pull-only token",
    );
    refused(
        push("alice/other", &format!("alice:{pull_only}")).await,
        "skopeo push with a pull-only token",
    );
    refused(
        push("alice/other", &format!("bob:{pull_only}")).await,
        "the token under another name",
    );

    // `create` refuses what the owner could not be granted today.
    let out = run(
        &[
            "access-token",
            "create",
            "--config",
            config,
            "--name",
            "too-much",
            "--owner",
            "alice",
            "--scope",
            "repository:bob/*:push",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains(
            "alice may not push repository:bob/*:push today (on bob/x, rule 4 \"users pull\" \
             allows pull)"
        ),
        "{stderr}"
    );
    let out = run(
        &[
            "access-token",
            "create",
            "--config",
            config,
            "--name",
            "x",
            "--owner",
            "nobody",
            "--scope",
            "repository:a:pull",
        ],
        None,
    );
    assert!(
        text(&out)
            .1
            .contains("owner \"nobody\" is not a user of the configuration or of the directory"),
        "{:?}",
        text(&out)
    );

    // Listed without the secret; revoked, it stops at its next use.
    let out = run(
        &["access-token", "list", "--config", config, "--json"],
        None,
    );
    let (stdout, _) = text(&out);
    let listed: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(listed["name"], "ci-pull");
    assert_eq!(listed["owner"], "alice");
    assert_eq!(listed["scopes"][0], "repository:alice/*:pull");
    assert!(listed["last_used"].is_string(), "{listed}");
    assert!(!stdout.contains(&pull_only));
    let out = run(
        &["access-token", "revoke", "--config", config, "ci-pull"],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let (status, _) = token(
        &site.url(""),
        "service=registry.test",
        Some(("alice", &pull_only)),
    )
    .await;
    assert_eq!(status, 401, "a revoked token");
    refused(
        docker.login(&reg, "alice", &pull_only).await,
        "docker login with a revoked token",
    );

    // A token that may push the platform namespace works while its owner
    // may, and stops when the rule that gave bob that right goes.
    let platform = create_token(
        &site,
        "deploy-platform",
        "bob",
        "repository:platform/**:pull,push",
    );
    ok(
        push("platform/app", &format!("bob:{platform}")).await,
        "a platform token pushes",
        &server,
    );
    site.write_config(&config_without_platform(&slapd));
    let url = site.url("");
    let status = poll(
        || async {
            let (_, body) = token(
                &url,
                "service=registry.test&scope=repository:platform/app:push",
                Some(("bob", &platform)),
            )
            .await;
            access(&body).as_array().map_or(0, Vec::len)
        },
        |granted| *granted == 0,
    )
    .await;
    assert_eq!(
        status,
        0,
        "the reload did not take the right away:\n{}",
        server.log()
    );
    refused(
        push("platform/app", &format!("bob:{platform}")).await,
        "after the owner lost the right",
    );

    // The directory stops: its people get 503, never a token; the
    // break-glass admin of the configuration still logs in.
    // (A person who has not logged in yet: the others' logins are in the
    // credential cache for a minute.)
    slapd.stop().await;
    let weird = Some(("we*ird)", "weird-pw"));
    let (status, body) = token(&url, "service=registry.test", weird).await;
    assert_eq!(status, 503, "{body}");
    let (status, _) = token(&url, "service=registry.test", Some(("root", "root-pw"))).await;
    assert_eq!(
        status, 200,
        "the break-glass user while the directory is down"
    );
    slapd.restart().await;
    let (status, body) = token(&url, "service=registry.test", weird).await;
    assert_eq!(status, 200, "the directory is back: {body}");

    docker.stop().await;
    registry.stop().await;
    server.terminate().await;
}

fn config_without_platform(slapd: &Slapd) -> String {
    config(slapd, false)
}
