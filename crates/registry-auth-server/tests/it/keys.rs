//! Several keys: the next key published before it signs, so that registries
//! given `registry-config --bundle --jwks` once keep accepting tokens when
//! the server switches keys (registry 2.8 and v3, neither restarted).

use registry_auth_testkit::{
    Registry, require_registry_and_skopeo, skopeo_inspect, skopeo_push, write_oci_layout,
};

use crate::support::{Server, Site, poll, run, text};

/// `[token]` signing with `key`/`cert` and publishing `published`.
fn write_keys_config(site: &Site, key: &str, cert: &str, published: &[&str]) {
    let published: Vec<String> = published.iter().map(|p| format!("\"{p}\"")).collect();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nwatch_interval = \"100ms\"\n\n[token]\n\
         issuer = \"registry-auth\"\nservices = [\"registry.test\"]\nsigning_key = \"{key}\"\n\
         certificate = \"{cert}\"\npublished_keys = [{published}]\n\n[state]\nurl = \"memory\"\n\n{users}",
        port = site.port,
        published = published.join(", "),
        users = site.users_and_rules(true),
    );
    let tmp = site.path("config.toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, site.config_path()).unwrap();
}

/// The next key: another P-256 key and certificate in `next/`, made by
/// `init` as an operator would.
fn make_next_key(site: &Site) {
    let next = site.path("next");
    let out = run(
        &["init", next.to_str().unwrap(), "--service", "registry.test"],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
}

/// The `kid` of the tokens the server issues now.
async fn current_kid(site: &Site) -> String {
    let body: serde_json::Value = reqwest::get(site.url("/token?service=registry.test"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["token"].as_str().unwrap_or_default();
    registry_auth::token::decode_unverified(token)
        .map(|t| t.header["kid"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_given_the_bundle_and_jwks_once_accept_the_next_key() {
    require_registry_and_skopeo();
    let site = Site::new();
    make_next_key(&site);
    write_keys_config(&site, "token.key", "token.crt", &["next/token.crt"]);
    let config = site.config_path();
    let config = config.to_str().unwrap();
    let bundle = site.path("bundle.pem");
    let jwks = site.path("jwks.json");
    let out = run(
        &[
            "registry-config",
            "--config",
            config,
            "--bundle",
            bundle.to_str().unwrap(),
            "--jwks",
            jwks.to_str().unwrap(),
        ],
        None,
    );
    let (snippet, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(snippet.contains("    jwks: "), "{snippet}");
    assert!(snippet.contains("bundle.pem"), "{snippet}");
    let bundle_text = std::fs::read_to_string(&bundle).unwrap();
    assert_eq!(bundle_text.matches("BEGIN CERTIFICATE").count(), 2);
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
    assert_eq!(document["keys"].as_array().map(Vec::len), Some(2));

    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let realm = site.url("/token");
    let v2 = Registry::start(&realm, "registry.test", "registry-auth", &bundle).await;
    let v3 = Registry::start_v3(
        &realm,
        "registry.test",
        "registry-auth",
        &bundle,
        Some(&jwks),
    )
    .await;
    let layout_dir = site.path("layout");
    write_oci_layout(&layout_dir, "v1", "rotating");
    let layout = format!("oci:{}:v1", layout_dir.display());
    let image =
        |registry: &Registry, tag: &str| format!("docker://{}/alice/app:{tag}", registry.addr);
    for registry in [&v2, &v3] {
        let (pushed, out) = skopeo_push(&layout, &image(registry, "v1"), "alice:alice-pw").await;
        assert!(pushed, "before the switch: {out}\n{}", registry.log());
    }
    // A token issued before the switch, kept by a client.
    let before: serde_json::Value = reqwest::Client::new()
        .get(site.url("/token?service=registry.test&scope=repository:alice/app:pull"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let old_token = before["token"].as_str().unwrap_or_default().to_owned();
    let old_kid = current_kid(&site).await;

    // The switch: the next key signs, the old one stays published. The
    // registries are not restarted.
    write_keys_config(&site, "next/token.key", "next/token.crt", &["token.crt"]);
    let new_kid = poll(|| current_kid(&site), |kid| *kid != old_kid).await;
    assert_ne!(
        new_kid,
        old_kid,
        "the switch was not reloaded:\n{}",
        server.log()
    );
    for registry in [&v2, &v3] {
        let (pushed, out) = skopeo_push(&layout, &image(registry, "v2"), "alice:alice-pw").await;
        assert!(pushed, "after the switch: {out}\n{}", registry.log());
        let (found, out) = skopeo_inspect(&image(registry, "v1"), Some("alice:alice-pw")).await;
        assert!(found, "after the switch: {out}");
        // The token of the old key still works until it expires.
        let status = reqwest::Client::new()
            .get(format!(
                "http://{}/v2/alice/app/manifests/v1",
                registry.addr
            ))
            .bearer_auth(&old_token)
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "the old key's token at {}", registry.addr);
    }
    v2.stop().await;
    v3.stop().await;
    drop(server);
}

#[test]
fn keys_that_cannot_be_published_are_named() {
    let site = Site::new();
    let config = site.config_path();
    let config = config.to_str().unwrap();
    let jwks = site.path("jwks.json");
    let jwks = jwks.to_str().unwrap();
    // A private key, and the signing key's own certificate again.
    for (published, message) in [
        (
            "token.key",
            "holds a private key: publish the certificate or the public key (BEGIN CERTIFICATE \
             or BEGIN PUBLIC KEY), never the private key",
        ),
        ("token.crt", "is the signing key or listed twice"),
    ] {
        write_keys_config(&site, "token.key", "token.crt", &[published]);
        let out = run(
            &["registry-config", "--config", config, "--jwks", jwks],
            None,
        );
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{published}: {stderr}");
        assert!(
            stderr.contains("token.published_keys: ") && stderr.contains(message),
            "{published}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_listed_and_a_certificate_near_its_end_is_said() {
    registry_auth_testkit::require_tools(&["openssl"]);
    let site = Site::new();
    make_next_key(&site);
    // A certificate of the signing key with ten days left.
    let short = site.path("short.crt");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "10",
            "-subj",
            "/CN=registry-auth",
            "-key",
        ])
        .arg(site.path("token.key"))
        .arg("-out")
        .arg(&short)
        .status()
        .unwrap();
    assert!(status.success());
    write_keys_config(&site, "token.key", "short.crt", &["next/token.crt"]);
    let config = site.config_path();
    let out = run(
        &["keys", "list", "--config", config.to_str().unwrap()],
        None,
    );
    let (listing, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(lines[0].starts_with("ROLE"), "{listing}");
    assert!(lines[1].starts_with("signing    ES256"), "{listing}");
    assert!(
        lines[1].contains("(9 days)") || lines[1].contains("(10 days)"),
        "{listing}"
    );
    assert!(lines[1].ends_with("token.key"), "{listing}");
    assert!(lines[2].starts_with("published  ES256"), "{listing}");
    assert!(lines[2].ends_with("next/token.crt"), "{listing}");
    // The JWKS the server publishes names the same two keys.
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let jwks: serde_json::Value = reqwest::get(site.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (line, key) in lines[1..].iter().zip(jwks["keys"].as_array().unwrap()) {
        let kid = key["kid"].as_str().unwrap();
        assert!(line.contains(kid), "{kid} not in {line}");
    }
    // Ten days left: said at start, and in /metrics.
    assert!(
        server
            .log()
            .contains("the signing certificate expires soon"),
        "{}",
        server.log()
    );
    let metrics = reqwest::get(site.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let left: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("registry_auth_signing_certificate_expiry_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no expiry gauge in:\n{metrics}"));
    assert!(left > 8.0 * 86_400.0 && left <= 10.0 * 86_400.0, "{left}");
    drop(server);
}
