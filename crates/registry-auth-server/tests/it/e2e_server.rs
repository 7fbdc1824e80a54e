//! End to end: the `registry-auth` binary with a config file, the real
//! registry (Debian's docker-registry 2.8) and skopeo.

use std::time::Duration;

use registry_auth_testkit::{
    Registry, require_registry_and_skopeo, skopeo_inspect, skopeo_push, write_oci_layout,
};

use crate::support::{Server, Site};

async fn catalog(registry: &Registry, site: &Site, creds: Option<(&str, &str)>) -> u16 {
    // What docker-style clients do: ask the token server, then the registry.
    let mut req = reqwest::Client::new()
        .get(site.url("/token?service=registry.test&scope=registry:catalog:*"));
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    let body: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
    let token = body["token"].as_str().unwrap_or_default().to_owned();
    reqwest::Client::new()
        .get(format!("http://{}/v2/_catalog", registry.addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_anonymous_catalog_and_reload_with_the_real_registry() {
    require_registry_and_skopeo();
    let site = Site::new();
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let registry = site.registry(&site.url("/token")).await;
    let image = |repo: &str| format!("docker://{}/{repo}", registry.addr);
    let layout_dir = site.path("layout");
    write_oci_layout(&layout_dir, "v1", "hello");
    let layout = format!("oci:{}:v1", layout_dir.display());
    let push = |repo: String, creds: &'static str| {
        let layout = layout.clone();
        async move { skopeo_push(&layout, &repo, creds).await }
    };
    let inspect = |repo: String, creds: Option<&'static str>| async move {
        skopeo_inspect(&repo, creds).await
    };
    let ok = |r: (bool, String), what: &str| assert!(r.0, "{what}: {}\n{}", r.1, server.log());
    let refused = |r: (bool, String), what: &str| assert!(!r.0, "{what} should fail: {}", r.1);

    // Two users, each in their own namespace.
    ok(
        push(image("alice/app:v1"), "alice:alice-pw").await,
        "alice pushes alice/",
    );
    ok(
        push(image("web/site:v1"), "bob:bob-pw").await,
        "bob pushes his team's web/",
    );
    refused(
        push(image("alice/app:v2"), "bob:bob-pw").await,
        "bob pushes alice/",
    );
    refused(
        push(image("web/site:v2"), "alice:alice-pw").await,
        "alice pushes web/",
    );
    ok(
        inspect(image("web/site:v1"), Some("alice:alice-pw")).await,
        "alice pulls web/",
    );

    // Anonymous pulls public/ only (admin pushes it).
    ok(
        push(image("public/base:v1"), "admin:admin-pw").await,
        "admin pushes public/",
    );
    ok(
        inspect(image("public/base:v1"), None).await,
        "anonymous pulls public/",
    );
    refused(
        inspect(image("alice/app:v1"), None).await,
        "anonymous pulls alice/",
    );

    // The catalog is for admins.
    assert_eq!(
        catalog(&registry, &site, Some(("admin", "admin-pw"))).await,
        200
    );
    assert_eq!(
        catalog(&registry, &site, Some(("bob", "bob-pw"))).await,
        401
    );
    assert_eq!(catalog(&registry, &site, None).await, 401);

    // bob is removed from the file: his next token is refused.
    ok(
        inspect(image("web/site:v1"), Some("bob:bob-pw")).await,
        "bob pulls before the reload",
    );
    site.write_config(&site.users_and_rules(false));
    let mut gone = false;
    for _ in 0..100 {
        if !inspect(image("web/site:v1"), Some("bob:bob-pw")).await.0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "bob kept access after the reload:\n{}", server.log());
    ok(
        inspect(image("web/site:v1"), Some("alice:alice-pw")).await,
        "alice still pulls after the reload",
    );

    registry.stop().await;
    assert!(server.terminate().await.success());
}
