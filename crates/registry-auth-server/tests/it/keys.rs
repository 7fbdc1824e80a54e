//! Several keys: the next key published before it signs, so that registries
//! given `registry-config --bundle --jwks` once keep accepting tokens when
//! the server switches keys (registry 2.8 and v3, neither restarted).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

/// Runs `keys rotate STEP --config C` plus `extra`; (exit code, stdout,
/// stderr).
fn rotate(site: &Site, step: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let config = site.config_path();
    let mut args = vec!["keys", "rotate", step, "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args, None);
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

/// Registry 2.8 (given `bundle`) and v3 (given `bundle` and `jwks`), both
/// sending clients to the site's server, with alice/app:v1 pushed to each.
async fn registries_with_alice_app(site: &Site, bundle: &str, jwks: &str) -> (Registry, Registry) {
    let realm = site.url("/token");
    let (bundle, jwks) = (site.path(bundle), site.path(jwks));
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
    if !layout_dir.exists() {
        write_oci_layout(&layout_dir, "v1", "rotating");
    }
    let layout = format!("oci:{}:v1", layout_dir.display());
    for registry in [&v2, &v3] {
        let image = format!("docker://{}/alice/app:v1", registry.addr);
        let (pushed, out) = skopeo_push(&layout, &image, "alice:alice-pw").await;
        assert!(pushed, "{out}\n{}", registry.log());
    }
    (v2, v3)
}

/// A bearer token's answer at a registry's manifest endpoint.
async fn manifest_status(registry: &Registry, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "http://{}/v2/alice/app/manifests/v1",
            registry.addr
        ))
        .bearer_auth(token)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The whole rotation with `keys rotate`, on registry 2.8 and v3 at once:
/// `prepare` publishes the next key and writes the registries' files; the
/// registries start with them; clients pull in a loop while `promote`
/// switches the signing key, and not one pull fails; a token issued before
/// the switch still works after it; `retire` is refused while that token
/// may live, then drops the old key; registries restarted with the new
/// files refuse the old key's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_switches_keys_with_no_failed_pull_on_both_registries() {
    require_registry_and_skopeo();
    let site = Site::new();
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let old_kid = current_kid(&site).await;
    let path = |name: &str| site.path(name).to_str().unwrap().to_owned();

    // prepare: the next key made, published, and in the registries' files.
    let (code, out, err) = rotate(
        &site,
        "prepare",
        &[
            "--bundle",
            &path("bundle.pem"),
            "--jwks",
            &path("jwks.json"),
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Prepared the next key token-"), "{out}");
    assert!(out.contains("keys rotate promote"), "{out}");
    let bundle = std::fs::read_to_string(site.path("bundle.pem")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2, "{bundle}");
    let published = |site: &Site| {
        let url = site.url("/.well-known/jwks.json");
        async move {
            let jwks: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            jwks["keys"].as_array().map_or(0, Vec::len)
        }
    };
    assert_eq!(
        poll(|| published(&site), |n| *n == 2).await,
        2,
        "{}",
        server.log()
    );
    assert_eq!(
        current_kid(&site).await,
        old_kid,
        "prepare must not switch keys"
    );
    // A second prepare is refused and changes nothing.
    let before = std::fs::read(site.config_path()).unwrap();
    let (code, _, err) = rotate(&site, "prepare", &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("a next key is already prepared"), "{err}");
    assert_eq!(std::fs::read(site.config_path()).unwrap(), before);

    let (v2, v3) = registries_with_alice_app(&site, "bundle.pem", "jwks.json").await;
    let image = |registry: &Registry| format!("docker://{}/alice/app:v1", registry.addr);
    let (status, body) = crate::support::token(
        &site.url(""),
        "service=registry.test&scope=repository:alice/app:pull",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert_eq!(status, 200);
    let old_token = body["token"].as_str().unwrap().to_owned();

    // Pulls in a loop (bounded), alternating between the registries,
    // while the key switches.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let pulls = {
        let (stop, done) = (stop.clone(), done.clone());
        let images = [image(&v2), image(&v3)];
        let target = site.path("pulled");
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for n in 0..2_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let dest = format!("oci:{}:n{n}", target.display());
                let (ok, out) = registry_auth_testkit::skopeo(&[
                    "copy",
                    "--src-tls-verify=false",
                    "--src-creds",
                    "alice:alice-pw",
                    &images[n % 2],
                    &dest,
                ])
                .await;
                if !ok {
                    failed.push(out);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
            failed
        })
    };
    // Until `n` pulls are done (or a minute, should pulls be slow).
    let pulled = |n: usize| {
        let done = done.clone();
        async move {
            for _ in 0..600 {
                if done.load(Ordering::SeqCst) >= n {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            done.load(Ordering::SeqCst)
        }
    };
    let before_switch = pulled(10).await;
    let (code, out, err) = rotate(&site, "promote", &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("keys rotate retire"), "{out}");
    let new_kid = poll(|| current_kid(&site), |kid| *kid != old_kid).await;
    assert_ne!(
        new_kid,
        old_kid,
        "promote was not reloaded:\n{}",
        server.log()
    );
    let at_switch = done.load(Ordering::SeqCst);
    let total = pulled(at_switch + 10).await;
    stop.store(true, Ordering::SeqCst);
    let failed = pulls.await.unwrap();
    println!(
        "{total} pulls, {before_switch} before the promotion, {} after the new key signed; \
         {} failed",
        total - at_switch,
        failed.len()
    );
    assert!(
        before_switch >= 10 && total >= at_switch + 10,
        "too few pulls"
    );
    assert!(
        failed.is_empty(),
        "{} pulls failed: {failed:?}",
        failed.len()
    );
    for registry in [&v2, &v3] {
        let (pulled, out) = skopeo_inspect(&image(registry), Some("alice:alice-pw")).await;
        assert!(pulled, "with the new key at {}: {out}", registry.addr);
        assert_eq!(
            manifest_status(registry, &old_token).await,
            200,
            "the old key's token after the switch at {}",
            registry.addr
        );
    }

    // retire: refused while the old key's tokens may live, nothing changed.
    let before = std::fs::read_to_string(site.config_path()).unwrap();
    let (code, _, err) = rotate(&site, "retire", &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(
            "registry-auth: error: too early: tokens signed by the previous key (token.crt)"
        ),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(site.config_path()).unwrap(), before);
    // The time passes (the record of it, rather than six minutes).
    let retire_after = before
        .lines()
        .find(|l| l.starts_with("retire_after = "))
        .unwrap_or_else(|| panic!("no retire_after in:\n{before}"));
    let passed = before.replace(retire_after, "retire_after = \"2020-01-01T00:00:00Z\"");
    std::fs::write(site.config_path(), passed).unwrap();
    let (code, out, err) = rotate(
        &site,
        "retire",
        &[
            "--bundle",
            &path("bundle-2.pem"),
            "--jwks",
            &path("jwks-2.json"),
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Retired token.crt"), "{out}");
    let after = std::fs::read_to_string(site.config_path()).unwrap();
    assert!(!after.contains("[token.rotation]"), "{after}");
    assert!(after.contains("published_keys = []"), "{after}");
    assert_eq!(
        poll(|| published(&site), |n| *n == 1).await,
        1,
        "{}",
        server.log()
    );
    let bundle = std::fs::read_to_string(site.path("bundle-2.pem")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 1);

    // Registries restarted with the new files: the old key is refused, the
    // new one works.
    v2.stop().await;
    v3.stop().await;
    let (v2, v3) = registries_with_alice_app(&site, "bundle-2.pem", "jwks-2.json").await;
    for registry in [&v2, &v3] {
        assert_eq!(
            manifest_status(registry, &old_token).await,
            401,
            "the retired key's token at {}",
            registry.addr
        );
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
    let metrics = crate::support::metrics_page(&site.url("")).await;
    let left: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("registry_auth_signing_certificate_expiry_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no expiry gauge in:\n{metrics}"));
    assert!(left > 8.0 * 86_400.0 && left <= 10.0 * 86_400.0, "{left}");
    drop(server);
}

/// A certificate for the key in `key_file`, valid from `from` to `until`
/// (years), self-signed; or, with `issuer`, signed by that CA.
fn certificate_for(
    key_file: &std::path::Path,
    from: i32,
    until: i32,
    issuer: Option<&rcgen::Issuer<'_, rcgen::KeyPair>>,
) -> String {
    let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "a signing key");
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(until, 1, 1);
    match issuer {
        Some(ca) => params.signed_by(&key, ca).unwrap().pem(),
        None => params.self_signed(&key).unwrap().pem(),
    }
}

/// What the rotation refuses, each with a message that names the file or
/// the step to take, and what it does when it cannot write the file.
#[test]
fn keys_rotate_refuses_what_would_break_a_registry() {
    let site = Site::new();
    let path = |name: &str| site.path(name).to_str().unwrap().to_owned();
    // Steps out of order.
    let (code, _, err) = rotate(&site, "promote", &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no next key is prepared: run `keys rotate prepare` first"),
        "{err}"
    );
    let (code, _, err) = rotate(&site, "retire", &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no key is being retired"), "{err}");

    // A brought key whose certificate has expired, or is another key's.
    let out = run(
        &["init", &path("other"), "--service", "registry.test"],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let expired = site.path("expired.crt");
    std::fs::write(
        &expired,
        certificate_for(&site.path("other/token.key"), 2020, 2021, None),
    )
    .unwrap();
    let refused = |certificate: &str| {
        let (code, _, err) = rotate(
            &site,
            "prepare",
            &[
                "--key",
                &path("other/token.key"),
                "--certificate",
                &path(certificate),
            ],
        );
        assert_eq!(code, Some(1), "{certificate}: {err}");
        err
    };
    let err = refused("expired.crt");
    assert!(
        err.contains(&format!(
            "{}: the certificate expired on 2021-01-01; registries refuse tokens that carry it",
            path("expired.crt")
        )),
        "{err}"
    );
    let err = refused("token.crt");
    assert!(
        err.contains(&format!(
            "{}: the certificate does not match the signing key (its public key differs) ({})",
            path("token.crt"),
            path("other/token.key")
        )),
        "{err}"
    );
    // `init` refuses them alike, and writes nothing.
    let out = run(
        &[
            "init",
            &path("brought"),
            "--key",
            &path("other/token.key"),
            "--certificate",
            &path("expired.crt"),
        ],
        None,
    );
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("the certificate expired on 2021-01-01"),
        "{err}"
    );
    assert!(!site.path("brought").exists());

    // A read-only configuration (a ConfigMap, a package's file): the key
    // is made, and the change is printed instead of written.
    let config = site.config_path();
    let untouched = std::fs::read(&config).unwrap();
    let writable = std::fs::metadata(&config).unwrap().permissions();
    let mut readonly = writable.clone();
    readonly.set_readonly(true);
    std::fs::set_permissions(&config, readonly).unwrap();
    let (code, out, err) = rotate(&site, "prepare", &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("is read-only."), "{out}");
    assert!(
        out.contains("Make this change to [token] yourself"),
        "{out}"
    );
    assert!(
        out.contains("[token.rotation]\nnext_key = \"token-"),
        "{out}"
    );
    assert!(out.contains("published_keys = [\"token-"), "{out}");
    assert_eq!(std::fs::read(&config).unwrap(), untouched);
    std::fs::set_permissions(&config, writable).unwrap();
}

/// A signing certificate issued by a CA: `prepare` cannot make the next
/// one (only the CA can) and says so; given the next key and its
/// CA-issued certificate, it publishes them, and `keys list` shows the
/// roles.
#[test]
fn keys_rotate_takes_the_next_ca_issued_certificate() {
    let site = Site::new();
    let path = |name: &str| site.path(name).to_str().unwrap().to_owned();
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::Issuer::new(ca_params, ca_key);
    std::fs::write(
        site.path("token.crt"),
        certificate_for(&site.path("token.key"), 2025, 2035, Some(&ca)),
    )
    .unwrap();
    let (code, _, err) = rotate(&site, "prepare", &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("is issued by a CA, and this command makes only self-signed ones"),
        "{err}"
    );
    let out = run(&["init", &path("next"), "--service", "registry.test"], None);
    assert!(out.status.success(), "{:?}", text(&out));
    std::fs::write(
        site.path("next/leaf.crt"),
        certificate_for(&site.path("next/token.key"), 2025, 2035, Some(&ca)),
    )
    .unwrap();
    let (code, out, err) = rotate(
        &site,
        "prepare",
        &[
            "--key",
            &path("next/token.key"),
            "--certificate",
            &path("next/leaf.crt"),
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let config = site.config_path();
    let out = run(
        &["keys", "list", "--config", config.to_str().unwrap()],
        None,
    );
    let (listing, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[1].starts_with("signing    ES256"), "{listing}");
    assert!(lines[1].contains("2025-01-01..2035-01-01 ("), "{listing}");
    assert!(lines[2].starts_with("next       ES256"), "{listing}");
    assert!(lines[2].ends_with("next/leaf.crt"), "{listing}");
    assert!(
        listing.contains("rotation: ") && listing.contains("next/token.key is prepared"),
        "{listing}"
    );
}
