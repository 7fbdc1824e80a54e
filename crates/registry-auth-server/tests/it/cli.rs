//! The `registry-auth` binary, run as a user would: every subcommand,
//! serving, reload and shutdown.

use std::time::Duration;

use serde_json::json;

use crate::support::{Server, Site, access, hash, poll, run, text, token};

#[test]
fn init_writes_a_working_setup_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(
        &[
            "init",
            d,
            "--service",
            "registry.example.com",
            "--key-type",
            "rsa",
        ],
        None,
    );
    let (stdout, _) = text(&out);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("service: registry.example.com"), "{stdout}");
    assert!(stdout.contains("rootcertbundle: "), "{stdout}");
    for f in [
        "token.key",
        "token.crt",
        "config.toml",
        "registry-auth.yml",
        "jwks.json",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("token.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("jwks.json")).unwrap())
            .unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    // The starter configuration loads as it is.
    let config = dir.path().join("config.toml");
    let out = run(
        &["registry-config", "--config", config.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("issuer: registry-auth"));

    let again = run(&["init", d], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again)
            .1
            .starts_with("registry-auth: error: refusing to overwrite "),
        "{:?}",
        text(&again)
    );
}

#[test]
fn a_server_on_all_interfaces_gets_a_realm_with_host_to_fill_in() {
    // 0.0.0.0 (a container's listen address) is no address a client can
    // reach: the registry's realm names HOST, and says what goes there.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(&["init", d, "--listen", "0.0.0.0:5001"], None);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let realm =
        "    realm: http://HOST:5001/token   # HOST: the name clients reach this server by\n";
    assert!(stdout.contains(realm), "{stdout}");
    let config = dir.path().join("config.toml");
    let out = run(
        &["registry-config", "--config", config.to_str().unwrap()],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(realm), "{stdout}");
    assert!(
        stdout.contains("(from http://HOST:5001/.well-known/jwks.json)"),
        "{stdout}"
    );
    assert!(!stdout.contains("0.0.0.0"), "{stdout}");
}

#[test]
fn init_key_only_keep_existing_is_a_one_shot_that_runs_on_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let d = keys.to_str().unwrap();
    let args = ["init", d, "--key-only", "--keep-existing"];
    let out = run(&args, None);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "Signing key {d}/token.key (ES256), certificate {d}/token.crt"
        )),
        "{stdout}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["jwks.json", "token.crt", "token.key"]);
    let key = std::fs::read(keys.join("token.key")).unwrap();

    // Every later start: kept, byte for byte, and said so.
    let again = run(&args, None);
    let (stdout, stderr) = text(&again);
    assert!(again.status.success(), "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!("registry-auth: {d} is already set up; kept as it is\n")
    );
    assert_eq!(std::fs::read(keys.join("token.key")).unwrap(), key);
    // Without --keep-existing, init still refuses.
    let refused = run(&["init", d, "--key-only"], None);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).1.contains("refusing to overwrite"));

    // Part of a setup is not guessed at: nothing is written.
    std::fs::remove_file(keys.join("jwks.json")).unwrap();
    let partial = run(&args, None);
    assert_eq!(partial.status.code(), Some(1));
    assert_eq!(
        text(&partial).1,
        format!(
            "registry-auth: error: {d} holds only part of a setup (jwks.json missing): \
             refusing to overwrite {d}/token.key, {d}/token.crt\n"
        )
    );
    assert!(!keys.join("jwks.json").exists());
    assert_eq!(std::fs::read(keys.join("token.key")).unwrap(), key);

    // A damaged key is reported by the one-shot run, not by the server.
    std::fs::write(keys.join("jwks.json"), "{}").unwrap();
    std::fs::write(keys.join("token.key"), "not a key").unwrap();
    let damaged = run(&args, None);
    assert_eq!(damaged.status.code(), Some(1));
    assert!(
        text(&damaged).1.starts_with(&format!(
            "registry-auth: error: {d} holds a key that does not load: "
        )),
        "{:?}",
        text(&damaged)
    );

    // The full setup is kept the same way; a brought key is not --key-only.
    let full = dir.path().join("full");
    let f = full.to_str().unwrap();
    assert!(run(&["init", f, "--keep-existing"], None).status.success());
    let kept = run(&["init", f, "--keep-existing"], None);
    assert!(kept.status.success(), "{:?}", text(&kept));
    let clash = run(
        &[
            "init",
            f,
            "--key-only",
            "--key",
            "k.pem",
            "--certificate",
            "c.pem",
        ],
        None,
    );
    assert_eq!(clash.status.code(), Some(2));
    assert!(
        text(&clash)
            .1
            .contains("'--key-only' cannot be used with '--key <KEY>'")
    );
}

#[test]
fn hash_password_reads_stdin_and_hashes_with_bcrypt_or_argon2() {
    let out = run(&["hash-password", "--cost", "4"], Some("s3cret\n"));
    let (hash, said) = text(&out);
    let hash = hash.trim().to_owned();
    assert!(hash.starts_with("$2b$04$"), "{hash}");
    assert!(
        said.starts_with("registry-auth: hashed with bcrypt cost 4;"),
        "{said}"
    );
    let parsed = registry_auth::identity::PasswordHash::parse(&hash).unwrap();
    assert!(parsed.verify("s3cret") && !parsed.verify("s3cret\n"));

    let out = run(&["hash-password", "--argon2"], Some("s3cret"));
    let hash = text(&out).0.trim().to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        registry_auth::identity::PasswordHash::parse(&hash)
            .unwrap()
            .verify("s3cret")
    );

    let out = run(&["hash-password"], Some("\n"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out).1, "registry-auth: error: empty password\n");
    let out = run(&["hash-password", "--cost", "99"], Some("x\n"));
    assert_eq!(
        text(&out).1,
        "registry-auth: error: bcrypt cost must be 4 to 31\n"
    );
    // bcrypt would ignore the bytes past 72: refused, not truncated.
    let out = run(&["hash-password"], Some(&format!("{}\n", "x".repeat(73))));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out),
        (
            String::new(),
            "registry-auth: error: bcrypt uses only the first 72 bytes of a password and this one \
             is longer: use argon2 (hash-password --argon2) or a shorter password\n"
                .to_owned()
        )
    );
}

#[test]
fn check_explains_each_decision() {
    let site = Site::new();
    let config = site.config_path();
    let c = config.to_str().unwrap();
    let out = run(
        &[
            "check",
            "-c",
            c,
            "--user",
            "bob",
            "--scope",
            "repository:web/site:push,pull",
            "repository:alice/x:push",
            "registry:catalog:*",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "user bob (password not checked) on registry.test\n\
         repository:web/site:pull,push\n  rule 3 (team namespace) allows [pull, push]\n  granted: pull,push\n\
         repository:alice/x:push\n  rule 5 (users pull) allows [pull]\n  granted: nothing\n\
         registry:catalog:*\n  no rule matches: denied\n  granted: nothing\n"
    );
    let out = run(
        &[
            "check",
            "-c",
            c,
            "--user",
            "admin",
            "--password",
            "-",
            "--scope",
            "registry:catalog:*",
        ],
        Some("admin-pw"),
    );
    assert_eq!(
        text(&out).0,
        "user admin: password ok, on registry.test\nregistry:catalog:*\n  rule 1 (admins) allows [*]\n  granted: *\n"
    );
    let out = run(
        &[
            "check",
            "-c",
            c,
            "--user",
            "admin",
            "--password",
            "nope",
            "--scope",
            "registry:catalog:*",
        ],
        None,
    );
    assert_eq!(
        text(&out).0,
        "user admin: invalid username or password (the client gets 401)\n"
    );
    let out = run(
        &[
            "check",
            "-c",
            c,
            "--anonymous",
            "--scope",
            "repository:public/x:pull",
            "repository:alice/x:pull",
        ],
        None,
    );
    assert_eq!(
        text(&out).0,
        "anonymous on registry.test\n\
         repository:public/x:pull\n  rule 4 (anonymous pulls public) allows [pull]\n  granted: pull\n\
         repository:alice/x:pull\n  no rule matches: denied\n  granted: nothing\n"
    );
    let out = run(
        &[
            "check",
            "-c",
            c,
            "--user",
            "bob",
            "--scope",
            "repository:Bad:pull",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out).1,
        "registry-auth: error: invalid scope \"repository:Bad:pull\": invalid resource name\n"
    );
    let out = run(
        &[
            "check",
            "-c",
            c,
            "--user",
            "bob",
            "--service",
            "other",
            "--scope",
            "repository:a:pull",
        ],
        None,
    );
    assert_eq!(
        text(&out).1,
        "registry-auth: error: service \"other\" is not in token.services\n"
    );
}

#[test]
fn a_bad_configuration_stops_the_start_with_its_reason() {
    let site = Site::new();
    std::fs::write(
        site.config_path(),
        "[token]\nissuer = \"x\"\nsigning_key = \"token.key\"\nbogus = 1\n",
    )
    .unwrap();
    let out = run(
        &["serve", "--config", site.config_path().to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out).1;
    assert!(stderr.starts_with("registry-auth: error: "), "{stderr}");
    assert!(
        stderr.contains("config.toml: TOML parse error at line 4, column 1"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown field `bogus`"), "{stderr}");
    let out = run(&["serve", "--config", "/nonexistent/config.toml"], None);
    assert_eq!(
        text(&out).1,
        "registry-auth: error: /nonexistent/config.toml: cannot read: No such file or directory (os error 2)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tokens_health_metrics_and_stops_on_sigterm() {
    let site = Site::new();
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let health = reqwest::get(site.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);

    let (status, body) = token(
        &site.url(""),
        "service=registry.test&scope=repository:alice/app:push,pull",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        access(&body),
        json!([{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}])
    );
    let (status, body) = token(
        &site.url(""),
        "service=registry.test",
        Some(("alice", "wrong")),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]})
        )
    );
    let (status, body) = token(
        &site.url(""),
        "service=registry.test&scope=repository:public/x:pull",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        access(&body),
        json!([{"type": "repository", "name": "public/x", "actions": ["pull"]}])
    );

    let metrics = crate::support::metrics_page(&site.url("")).await;
    for line in [
        "registry_auth_token_requests_total{outcome=\"issued\"} 2",
        "registry_auth_token_requests_total{outcome=\"unauthorized\"} 1",
        "registry_auth_failed_logins_total 1",
        "registry_auth_scopes_total{result=\"granted\"} 2",
        "registry_auth_request_duration_seconds_count 3",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }

    // The token verifies against the configuration's key.
    let t = body["token"].as_str().unwrap().to_owned();
    let c = site.config_path();
    let out = run(
        &["token", "verify", "-", "--config", c.to_str().unwrap()],
        Some(&t),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.starts_with("valid\n"));
    let out = run(&["token", "decode", &t], None);
    assert!(text(&out).0.contains("\"sub\": \"\""), "{:?}", text(&out));
    let mut forged = t.clone();
    forged.truncate(t.len() - 4);
    forged.push_str("AAAA");
    let out = run(
        &["token", "verify", &forged, "--config", c.to_str().unwrap()],
        None,
    );
    assert_eq!(
        text(&out).1,
        "registry-auth: error: invalid token: bad signature\n"
    );

    let status = server.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_on_file_change_takes_valid_edits_and_refuses_broken_ones() {
    let site = Site::new();
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let bob_push = "service=registry.test&scope=repository:web/x:push";
    let (_, body) = token(&site.url(""), bob_push, Some(("bob", "bob-pw"))).await;
    assert_eq!(access(&body)[0]["actions"], json!(["push"]));
    // Identity tokens, as docker login gets them.
    let login = "service=registry.test&client_id=docker&offline_token=true";
    let bob_rt = token(&site.url(""), login, Some(("bob", "bob-pw"))).await.1["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice_rt = token(&site.url(""), login, Some(("alice", "alice-pw")))
        .await
        .1["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(refresh(&site, &bob_rt).await.0, 200);

    // bob is removed: the next token request fails.
    site.write_config(&site.users_and_rules(false));
    let url = &site.url("");
    let bob_status = move || async move { token(url, bob_push, Some(("bob", "bob-pw"))).await.0 };
    let status = poll(bob_status, |s| *s == 401).await;
    assert_eq!(
        status,
        401,
        "bob still gets tokens after the reload:\n{}",
        server.log()
    );
    // ... nor can he refresh; alice's identity token survived the reload.
    assert_eq!(
        refresh(&site, &bob_rt).await,
        (
            400,
            json!({"error": "invalid_grant", "error_description": "invalid refresh token"})
        )
    );
    assert_eq!(refresh(&site, &alice_rt).await.0, 200);

    // A broken edit is refused; the rules in force keep serving.
    std::fs::write(
        site.config_path(),
        "[token]\nissuer = \"x\"\nthis is not toml",
    )
    .unwrap();
    poll(
        || async { server.log() },
        |log| log.contains("configuration refused"),
    )
    .await;
    assert!(
        server
            .log()
            .contains("configuration refused; the previous one stays in force"),
        "{}",
        server.log()
    );
    let (status, body) = token(
        &site.url(""),
        "service=registry.test&scope=repository:alice/a:push",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(access(&body)[0]["actions"], json!(["push"]));
    assert_eq!(
        token(&site.url(""), bob_push, Some(("bob", "bob-pw")))
            .await
            .0,
        401
    );

    // bob comes back, with the same password: he logs in again, but the
    // identity token from before his removal stays dead.
    site.write_config(&site.users_and_rules(true));
    let status = poll(bob_status, |s| *s == 200).await;
    assert_eq!(status, 200, "bob is back:\n{}", server.log());
    assert_eq!(
        refresh(&site, &bob_rt).await,
        (
            400,
            json!({"error": "invalid_grant", "error_description": "invalid refresh token"})
        )
    );
    assert_eq!(refresh(&site, &alice_rt).await.0, 200);

    // alice disabled: her identity token ends; enabled again, it stays dead.
    let alice_line = format!("alice = \"{}\"", hash("alice-pw"));
    let disabled = site.users_and_rules(true).replace(
        &alice_line,
        &format!(
            "alice = {{ password = \"{}\", disabled = true }}",
            hash("alice-pw")
        ),
    );
    let alice_pull = "service=registry.test&scope=repository:alice/a:pull";
    let alice_status =
        move || async move { token(url, alice_pull, Some(("alice", "alice-pw"))).await.0 };
    let until_alice = |want: u16| poll(alice_status, move |s| *s == want);
    site.write_config(&disabled);
    assert_eq!(
        until_alice(401).await,
        401,
        "alice disabled:\n{}",
        server.log()
    );
    assert_eq!(refresh(&site, &alice_rt).await.0, 400);
    site.write_config(&site.users_and_rules(true));
    assert_eq!(
        until_alice(200).await,
        200,
        "alice enabled:\n{}",
        server.log()
    );
    assert_eq!(refresh(&site, &alice_rt).await.0, 400);
    drop(server);
}

/// POST /token with a refresh grant, as docker sends it.
async fn refresh(site: &Site, refresh_token: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(site.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "docker"),
            ("service", "registry.test"),
            ("refresh_token", refresh_token),
            ("scope", "repository:web/x:pull"),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_on_sighup_when_not_watching() {
    let site = Site::new();
    site.write_config_with(&site.users_and_rules(true), "watch = false\n");
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let bob = "service=registry.test";
    assert_eq!(
        token(&site.url(""), bob, Some(("bob", "bob-pw"))).await.0,
        200
    );
    site.write_config_with(&site.users_and_rules(false), "watch = false\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        token(&site.url(""), bob, Some(("bob", "bob-pw"))).await.0,
        200,
        "no reload without a signal"
    );
    server.signal("-HUP");
    let url = &site.url("");
    let status = poll(
        move || async move { token(url, bob, Some(("bob", "bob-pw"))).await.0 },
        |s| *s == 401,
    )
    .await;
    assert_eq!(status, 401, "{}", server.log());
    assert!(
        server.log().contains("trigger=\"SIGHUP\"") || server.log().contains("trigger=SIGHUP"),
        "{}",
        server.log()
    );
}

/// Users whose hashes cost more or less than most are told apart by the
/// time of a wrong password: the start says so, naming them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_password_hash_costs_are_named_at_start() {
    let site = Site::new();
    let costly = registry_auth::identity::PasswordHash::bcrypt("carol-pw", 5).unwrap();
    site.write_config(&site.users_and_rules(true).replacen(
        "[users]\n",
        &format!("[users]\ncarol = \"{costly}\"\n"),
        1,
    ));
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let log = server.log();
    let warning = log
        .lines()
        .find(|l| l.contains("users' password hashes differ in cost"))
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    assert!(
        warning.contains(r#"groups="bcrypt cost 4: admin, alice, bob; bcrypt cost 5: carol""#),
        "{warning}"
    );
}

/// A user name is written quoted and escaped in the text log, so that a
/// name cannot forge fields of its own line. (Control characters, which
/// could start another line, are refused before: 400.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_log_quotes_what_clients_send() {
    let site = Site::new();
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let name = r#"mallory outcome="issued" account=admin \"#;
    let (status, _) = token(&site.url(""), "service=registry.test", Some((name, "x"))).await;
    assert_eq!(status, 401);
    let (status, _) = token(&site.url(""), "service=registry.test", Some(("eve\n", "x"))).await;
    assert_eq!(status, 400);
    let log = server.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("token request"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains(
            r#"outcome="unauthorized" account="mallory outcome=\"issued\" account=admin \\""#
        ),
        "{}",
        lines[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_audit_log_has_one_event_per_decision_and_no_secrets() {
    let site = Site::new();
    let server = Server::start(
        &site.config_path(),
        &["--log-format", "json"],
        &site.url("/healthz"),
    )
    .await;
    let (_, body) = token(
        &site.url(""),
        "service=registry.test&scope=repository:web/x:push&scope=repository:zzz/y:push",
        Some(("bob", "bob-pw")),
    )
    .await;
    let issued = body["token"].as_str().unwrap().to_owned();
    token(
        &site.url(""),
        "service=registry.test",
        Some(("bob", "hunter2-wrong")),
    )
    .await;
    let log = server.log();
    let audit: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "registry_auth::audit")
        .collect();
    assert_eq!(audit.len(), 2, "{log}");
    let ok = &audit[0]["fields"];
    assert_eq!(ok["outcome"], "issued");
    assert_eq!(ok["account"], "bob");
    assert_eq!(ok["client_ip"], "127.0.0.1");
    assert_eq!(
        ok["requested"],
        "repository:web/x:push repository:zzz/y:push"
    );
    assert_eq!(ok["granted"], "repository:web/x:push");
    assert_eq!(
        audit[0]["fields"]["rules"],
        "repository:web/x:push=rule 3 repository:zzz/y:push=rule 5"
    );
    assert_eq!(audit[1]["fields"]["outcome"], "unauthorized");
    for secret in ["bob-pw", "hunter2-wrong", &issued[issued.len() - 20..]] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_when_configured() {
    let site = Site::new();
    let tls = run(&["init", site.path("tls").to_str().unwrap()], None);
    assert!(tls.status.success());
    // Any key and certificate do for TLS; reuse init's, from another folder.
    site.write_config_with(
        &site.users_and_rules(true),
        "tls_certificate = \"tls/token.crt\"\ntls_key = \"tls/token.key\"\n",
    );
    let url = format!("https://127.0.0.1:{}", site.port);
    let server = Server::start(&site.config_path(), &[], &format!("{url}/healthz")).await;
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let resp = client
        .get(format!("{url}/token?service=registry.test"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        reqwest::get(format!("http://127.0.0.1:{}/healthz", site.port))
            .await
            .is_err_or_not_ok()
    );
    drop(server);
}

trait NotOk {
    fn is_err_or_not_ok(&self) -> bool;
}

impl NotOk for reqwest::Result<reqwest::Response> {
    fn is_err_or_not_ok(&self) -> bool {
        self.as_ref().map_or(true, |r| !r.status().is_success())
    }
}

/// The SHA-256 fingerprint of the certificate a TLS server presents, as
/// the openssl command line sees it.
fn presented_certificate(port: u16) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn fingerprint_of(file: &std::path::Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_certificate_is_reloaded_without_a_restart() {
    registry_auth_testkit::require_tools(&["openssl"]);
    let site = Site::new();
    for dir in ["tls-a", "tls-b"] {
        assert!(
            run(&["init", site.path(dir).to_str().unwrap()], None)
                .status
                .success()
        );
    }
    std::fs::create_dir_all(site.path("tls")).unwrap();
    for f in ["token.crt", "token.key"] {
        std::fs::copy(site.path("tls-a").join(f), site.path("tls").join(f)).unwrap();
    }
    site.write_config_with(
        &site.users_and_rules(true),
        "watch_interval = \"100ms\"\ntls_certificate = \"tls/token.crt\"\ntls_key = \"tls/token.key\"\n",
    );
    let url = format!("https://127.0.0.1:{}", site.port);
    let server = Server::start(&site.config_path(), &[], &format!("{url}/healthz")).await;
    let a = fingerprint_of(&site.path("tls-a/token.crt"));
    let b = fingerprint_of(&site.path("tls-b/token.crt"));
    assert_ne!(a, b);
    assert_eq!(presented_certificate(site.port), a);

    // Renewal: key first, then certificate, each replaced whole.
    for f in ["token.key", "token.crt"] {
        let tmp = site.path("tls").join(format!("{f}.new"));
        std::fs::copy(site.path("tls-b").join(f), &tmp).unwrap();
        std::fs::rename(&tmp, site.path("tls").join(f)).unwrap();
    }
    let mut presented = String::new();
    for _ in 0..100 {
        presented = presented_certificate(site.port);
        if presented == b {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        presented,
        b,
        "the new certificate is served:\n{}",
        server.log()
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_tokens_commands_say_what_is_wrong() {
    let site = Site::new();
    let config = site.config_path();
    let config = config.to_str().unwrap();
    // No store yet: said, and none is made.
    let out = run(&["identity-tokens", "list", "--config", config], None);
    let db = site.path("state.db");
    assert_eq!(
        text(&out).1,
        format!(
            "registry-auth: error: {config}: no state store at {} yet (the server makes it when \
             it first starts)\n",
            db.display()
        )
    );
    assert!(!db.exists());
    // The server makes it; empty, it lists a header and nothing else.
    drop(Server::start(&site.config_path(), &[], &site.url("/healthz")).await);
    let out = run(&["identity-tokens", "list", "--config", config], None);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.lines().count(), 1);
    assert!(text(&out).0.starts_with("ID "));
    for (args, message) in [
        (
            vec!["revoke", "xyz"],
            "registry-auth: error: \"xyz\" is not a token id (16 hex digits, as `identity-tokens list` shows)\n",
        ),
        (
            vec!["revoke", "00000000DEADBEEF"],
            "registry-auth: error: no identity token with id 00000000deadbeef\n",
        ),
    ] {
        let mut full = vec!["identity-tokens"];
        full.extend(args);
        full.extend(["--config", config]);
        let out = run(&full, None);
        assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
        assert_eq!(text(&out).1, message);
    }
    let out = run(&["identity-tokens", "revoke", "--config", config], None);
    assert_eq!(out.status.code(), Some(2), "neither an id nor --user");
    let out = run(
        &[
            "identity-tokens",
            "revoke",
            "0123456789abcdef",
            "--user",
            "bob",
            "--config",
            config,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "both an id and --user");

    site.write_config(&format!(
        "{}\n[state]\nurl = \"memory\"\n",
        site.users_and_rules(true)
    ));
    let out = run(&["identity-tokens", "list", "--config", config], None);
    assert_eq!(
        text(&out).1,
        format!(
            "registry-auth: error: {config}: state.url is \"memory\": nothing outlives the \
             running server, so there is nothing to list or change from outside it\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throttle_keeps_its_counts_across_a_reload_and_a_restart() {
    let site = Site::new();
    // A first wait long enough to outlive the restart below.
    site.write_config_with(
        &site.users_and_rules(true),
        "watch = false\n[server.throttle]\nbase_delay = \"5m\"\n",
    );
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let login = |password: &'static str| {
        let url = site.url("");
        async move {
            token(&url, "service=registry.test", Some(("bob", password)))
                .await
                .0
        }
    };
    for _ in 0..4 {
        assert_eq!(login("wrong").await, 401);
    }
    // A reload builds a new server: the counts are in the state store.
    server.signal("-HUP");
    poll(
        || async { server.log() },
        |log| log.contains("configuration reloaded"),
    )
    .await;
    assert!(
        server.log().contains("configuration reloaded"),
        "{}",
        server.log()
    );
    assert_eq!(login("wrong").await, 401, "the fifth failure");
    assert_eq!(login("bob-pw").await, 429, "five in all, across the reload");
    // ... and across a crash and restart (the SQLite file beside the config).
    server.kill();
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    assert_eq!(
        login("bob-pw").await,
        429,
        "still throttled after a restart"
    );
    drop(server);
}

/// `access-token` refuses what cannot make a usable token, each with the
/// reason, and changes nothing.
#[tokio::test]
async fn access_token_commands_say_what_is_wrong() {
    let site = Site::new();
    let config = site.config_path();
    let config = config.to_str().unwrap();
    let out = run(&["access-token", "list", "--config", config], None);
    assert_eq!(
        text(&out).1,
        format!(
            "registry-auth: error: {config}: no state store at {} yet (the server makes it \
             when it first starts)\n",
            site.path("state.db").display()
        )
    );
    // The server makes the store.
    let server =
        crate::support::Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    server.terminate().await;
    let create = |name: &str, owner: &str, scope: &str, expires: &str| {
        let out = run(
            &[
                "access-token",
                "create",
                "--config",
                config,
                "--name",
                name,
                "--owner",
                owner,
                "--scope",
                scope,
                "--expires",
                expires,
            ],
            None,
        );
        let (stdout, stderr) = text(&out);
        (out.status.code(), stdout, stderr)
    };
    let refused = |(code, stdout, stderr): (Option<i32>, String, String), expected: &str| {
        assert_eq!(code, Some(1), "{stdout}{stderr}");
        assert_eq!(stderr, format!("registry-auth: error: {expected}\n"));
        assert_eq!(stdout, "");
    };
    refused(
        create("deploy web", "alice", "repository:alice/*:pull", "1d"),
        "access token name \"deploy web\": 1 to 64 letters, digits, '.', '_' and '-', \
         starting with a letter or digit",
    );
    refused(
        create("deploy", "alice", "repository:Alice/*:pull", "1d"),
        "invalid scope \"repository:Alice/*:pull\": a name pattern is lower-case letters, \
         digits, '.', '_', '-', '/', '*' and '?'",
    );
    refused(
        create("deploy", "alice", "repository:alice/*:", "1d"),
        "invalid scope \"repository:alice/*:\": no actions",
    );
    refused(
        create("deploy", "mallory", "repository:alice/*:pull", "1d"),
        "owner \"mallory\" is not a user of the configuration",
    );
    refused(
        create("deploy", "bob", "repository:alice/*:push", "1d"),
        "bob may not push repository:alice/*:push today (on alice/x, rule 5 \"users pull\" \
         allows pull): a token cannot be given more than its owner has",
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
            "alice",
            "--scope",
            "repository:a:pull",
            "--expires",
            "0s",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses --expires 0s: {:?}",
        text(&out)
    );
    assert!(
        text(&out).1.contains("must be longer than 0"),
        "{:?}",
        text(&out)
    );

    let (code, stdout, _) = create("deploy", "alice", "repository:alice/**:*", "never");
    assert_eq!(code, Some(0));
    assert!(stdout.contains("expires never"), "{stdout}");
    refused(
        create("deploy", "alice", "repository:alice/*:pull", "1d"),
        "an access token named deploy exists already (revoke it first, or pick another name)",
    );
    let out = run(
        &["access-token", "revoke", "--config", config, "nothing"],
        None,
    );
    assert_eq!(
        text(&out).1,
        "registry-auth: error: no access token named \"nothing\"\n"
    );
    let out = run(&["access-token", "list", "--config", config], None);
    let (stdout, _) = text(&out);
    assert_eq!(
        stdout.lines().count(),
        2,
        "a heading and one token:\n{stdout}"
    );
    assert!(
        stdout.contains("repository:alice/**:*") && stdout.contains("never"),
        "{stdout}"
    );
}
