use std::path::Path;

use super::*;

const HASH: &str = "$2y$10$TYyKeyyopVdR.ppsm5VdCOFuNmQj67YBnG0hpjDA/W1L2I696tO/e";

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("/etc/registry-auth/config.toml")).map_err(|e| e.0)
}

fn minimal(extra: &str) -> String {
    format!("[token]\nissuer = \"i\"\nsigning_key = \"k.pem\"\n{extra}")
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("should fail:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn every_documented_key() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let htpasswd = dir.path().join("users.htpasswd");
    std::fs::write(&htpasswd, format!("carol:{HASH}\n")).unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        r#"
[server]
listen = "0.0.0.0:5443"
tls_certificate = "tls.crt"
tls_key = "/abs/tls.key"
realm = "my registry"
watch = false
watch_interval = "10s"
credential_cache = "30s"
trusted_proxies = ["10.0.0.1", "fd00::/8"]

[server.limits]
max_query_bytes = 4096
max_header_bytes = 8192
max_scopes = 20
max_body_bytes = 1024
request_timeout = "5s"
header_read_timeout = "3s"
backend_timeout = "2s"
max_connections = 50

[server.throttle]
enabled = true
free_failures = 3
free_failures_per_address = 9
base_delay = "2s"
max_delay = "1m"
forget_after = "10m"
capacity = 1000

[token]
issuer = "registry-auth"
services = ["registry.local", "mirror.local"]
lifetime = "15m"
signing_key = "token.key"
certificate = "token.crt"
key_id = "thumbprint"
algorithm = "RS512"
generate_key = true
refresh_tokens = false
refresh_lifetime = "7d"

[users]
alice = "{HASH}"
htpasswd = "users.htpasswd"
[users.bob]
password = "{HASH}"
labels = {{ groups = ["admins", "dev"] }}
disabled = true

[[acl]]
match = {{ account = "bob", type = "repository", name = "a/*", service = "registry.local", ip = ["10.0.0.0/8"], labels = {{ groups = "admins" }} }}
actions = ["pull", "push"]
comment = "everything at once"

[[acl]]
match = {{ ip = "127.0.0.1" }}
actions = []

[state]
url = "postgres://registry_auth@db.example.com/registry_auth"
password_file = "pg.pass"
"#
    );
    let c = Config::parse(&text, &dir.path().join("config.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.listen,
        "0.0.0.0:5443".parse().unwrap_or_else(|e| panic!("{e}"))
    );
    assert_eq!(
        c.tls,
        Some(Tls {
            certificate: dir.path().join("tls.crt"),
            key: PathBuf::from("/abs/tls.key")
        })
    );
    assert_eq!(c.realm, "my registry");
    assert_eq!(c.watch, None);
    assert_eq!(c.credential_cache, Duration::from_secs(30));
    assert_eq!(c.trusted_proxies, ["10.0.0.1", "fd00::/8"]);
    let mut limits = registry_auth::Limits::default();
    limits.max_query_bytes = 4096;
    limits.max_header_bytes = 8192;
    limits.max_scopes = 20;
    limits.max_body_bytes = 1024;
    limits.request_timeout = Duration::from_secs(5);
    limits.header_read_timeout = Duration::from_secs(3);
    limits.backend_timeout = Duration::from_secs(2);
    limits.max_connections = 50;
    assert_eq!(c.limits, limits);
    let mut throttling = registry_auth::Throttling::default();
    throttling.free_failures = 3;
    throttling.free_failures_per_address = 9;
    throttling.base_delay = Duration::from_secs(2);
    throttling.max_delay = Duration::from_secs(60);
    throttling.forget_after = Duration::from_secs(600);
    throttling.capacity = 1000;
    assert_eq!(c.throttling, throttling);
    assert_eq!(c.issuer, "registry-auth");
    assert_eq!(
        c.services,
        Some(vec!["registry.local".into(), "mirror.local".into()])
    );
    assert_eq!(c.lifetime, Duration::from_secs(900));
    assert_eq!(c.signing_key, dir.path().join("token.key"));
    assert_eq!(c.certificate, Some(dir.path().join("token.crt")));
    assert_eq!(c.key_id, KeyIdMode::Thumbprint);
    assert_eq!(c.algorithm, Some(Algorithm::RS512));
    assert!(c.users.is_disabled("bob") && !c.users.is_disabled("alice"));
    assert_eq!(
        c.state,
        StateLocation::Postgres {
            url: "postgres://registry_auth@db.example.com/registry_auth".into(),
            password_file: Some(dir.path().join("pg.pass")),
        }
    );
    assert!(c.generate_key);
    assert!(!c.refresh_tokens);
    assert_eq!(c.refresh_lifetime, Duration::from_secs(7 * 86400));
    assert_eq!(c.users.len(), 3);
    assert!(c.users.contains("carol"));
    assert_eq!(
        c.users
            .identity("bob")
            .map(|i| i.attribute("groups").to_vec()),
        Some(vec!["admins".to_owned(), "dev".to_owned()])
    );
    assert_eq!(c.htpasswd, Some(htpasswd));
    assert_eq!(c.acl.len(), 2);
    assert_eq!(c.acl.comment(0), Some("everything at once"));
}

#[test]
fn defaults() {
    let c = parse(&minimal("")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listen, SocketAddr::from(([127, 0, 0, 1], 5001)));
    assert_eq!(c.tls, None);
    assert_eq!(c.realm, "registry-auth");
    assert_eq!(c.watch, Some(Duration::from_secs(2)));
    assert_eq!(c.credential_cache, Duration::from_secs(60));
    assert!(c.trusted_proxies.is_empty());
    assert_eq!(c.limits, registry_auth::Limits::default());
    assert_eq!(c.throttling, registry_auth::Throttling::default());
    assert_eq!(c.services, None);
    assert_eq!(c.lifetime, Duration::from_secs(300));
    assert_eq!(c.key_id, KeyIdMode::Libtrust);
    assert!(!c.generate_key);
    assert!(c.refresh_tokens);
    assert_eq!(c.refresh_lifetime, Duration::from_secs(30 * 86400));
    assert!(c.users.is_empty());
    assert!(c.acl.is_empty());
    assert_eq!(c.signing_key, PathBuf::from("/etc/registry-auth/k.pem"));
}

#[test]
fn unknown_keys_are_refused_with_line_and_column() {
    let e = error(&minimal("lifetme = \"5m\"\n"));
    assert!(
        e.starts_with("/etc/registry-auth/config.toml: TOML parse error at line 4, column 1"),
        "{e}"
    );
    assert!(e.contains("unknown field `lifetme`"), "{e}");
    let e = error(&minimal(
        "[[acl]]\nmatch = { acount = \"a\" }\nactions = []\n",
    ));
    assert!(
        e.contains("line 5") && e.contains("unknown field `acount`"),
        "{e}"
    );
    let e = error(&minimal("[users.bob]\npassword = \"x\"\nlabel = {}\n"));
    assert!(e.contains("unknown field `label`"), "{e}");
    let e = error("[server]\nlisten = \"127.0.0.1:5001\"\n");
    assert!(e.contains("missing field `token`"), "{e}");
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        (
            minimal("lifetime = \"5 parsecs\"\n"),
            "invalid value: string \"5 parsecs\", expected a duration",
        ),
        (
            minimal("lifetime = \"30s\"\n"),
            "line 4: token.lifetime: 30s is shorter than the minimum of 60s",
        ),
        (
            format!(
                "[server]\ntrusted_proxies = [\"proxy.local\"]\n{}",
                minimal("")
            ),
            "line 2: server.trusted_proxies: \"proxy.local\" is not an address or CIDR block",
        ),
        (
            format!("[server.limits]\nmax_scopes = 0\n{}", minimal("")),
            "line 2: server.limits.max_scopes: must be at least 1",
        ),
        (
            format!("[server.limits]\nmax_scope = 5\n{}", minimal("")),
            "unknown field `max_scope`",
        ),
        (
            format!("[server.throttle]\nbase_delay = \"soon\"\n{}", minimal("")),
            "invalid value: string \"soon\", expected a duration",
        ),
        (
            minimal("services = []\n"),
            "line 4: token.services: must name at least one service (or accept any)",
        ),
        (minimal("key_id = \"sha1\"\n"), "unknown variant `sha1`"),
        (
            minimal("algorithm = \"HS256\"\n"),
            "unknown variant `HS256`",
        ),
        (
            format!("[server]\nlisten = \"localhost\"\n{}", minimal("")),
            "invalid socket address",
        ),
        (
            format!("[server]\ntls_key = \"k\"\n{}", minimal("")),
            "server.tls_certificate and server.tls_key go together",
        ),
        (
            "[token]\nissuer = \"\"\nsigning_key = \"k\"\n".to_owned(),
            "line 2: token.issuer: must not be empty",
        ),
        (
            minimal("[users]\nalice = \"plaintext\"\n"),
            "users.alice: not a bcrypt ($2a$, $2b$, $2y$) or argon2",
        ),
        (
            minimal("[users]\nalice = \"$2y$10$short\"\n"),
            "users.alice: malformed bcrypt hash",
        ),
        (
            minimal(&format!("[users]\n\"\" = \"{HASH}\"\n")),
            "users.\"\": a user name must not be empty",
        ),
        (
            minimal(&format!("[users]\n\"a:b\" = \"{HASH}\"\n")),
            "users.\"a:b\": user name \"a:b\" holds ':' or a control character",
        ),
        (
            minimal("[users.bob]\npassword = \"$argon2id$x\"\n"),
            "users.bob.password: malformed argon2 hash",
        ),
        (
            minimal("[users.htpasswd]\npassword = \"x\"\n"),
            "users.htpasswd: the path of an htpasswd file, not a user",
        ),
        (
            minimal("[users]\nhtpasswd = \"missing.htpasswd\"\n"),
            "users.htpasswd: cannot read /etc/registry-auth/missing.htpasswd",
        ),
        (
            minimal("[[acl]]\nmatch = { name = \"/(/\" }\nactions = []\n"),
            "acl rule 1: name: bad regular expression",
        ),
        (
            minimal("[[acl]]\nactions = [\"PULL\"]\n"),
            "acl rule 1: action \"PULL\" is not an action name",
        ),
        (
            minimal("[[acl]]\nmatch = { ip = \"300.0.0.1\" }\nactions = []\n"),
            "acl rule 1: ip: \"300.0.0.1\" is not an address or CIDR block",
        ),
        (minimal("[[acl]]\nmatch = {}\n"), "missing field `actions`"),
    ];
    for (text, message) in cases {
        let e = error(&text);
        assert!(e.starts_with("/etc/registry-auth/config.toml: "), "{e}");
        assert!(e.contains(message), "expected {message:?} in:\n{e}");
    }
}

#[test]
fn a_user_in_both_the_table_and_htpasswd_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("h"), format!("alice:{HASH}\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = minimal(&format!("[users]\nalice = \"{HASH}\"\nhtpasswd = \"h\"\n"));
    let e = Config::parse(&text, &dir.path().join("c.toml"))
        .map(|_| ())
        .unwrap_err()
        .0;
    assert!(e.contains("user alice is both in [users] and in"), "{e}");
}

#[test]
fn missing_or_bad_key_files_are_reported_at_build() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let c =
        Config::parse(&minimal(""), &dir.path().join("c.toml")).unwrap_or_else(|e| panic!("{e}"));
    let e = c
        .build_server(std::sync::Arc::new(registry_auth::state::MemoryStore::new()))
        .map(|_| ())
        .unwrap_err()
        .0;
    assert!(e.contains("token.signing_key: cannot read"), "{e}");
    std::fs::write(dir.path().join("k.pem"), "junk").unwrap_or_else(|e| panic!("{e}"));
    let e = c
        .build_server(std::sync::Arc::new(registry_auth::state::MemoryStore::new()))
        .map(|_| ())
        .unwrap_err()
        .0;
    assert!(
        e.contains("token.signing_key: no PEM private key found"),
        "{e}"
    );
}

#[test]
fn generate_key_makes_a_key_and_certificate_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text =
        minimal("certificate = \"dev/c.pem\"\ngenerate_key = true\n").replace("k.pem", "dev/k.pem");
    let c = Config::parse(&text, &dir.path().join("c.toml")).unwrap_or_else(|e| panic!("{e}"));
    let first = c
        .build_server(std::sync::Arc::new(registry_auth::state::MemoryStore::new()))
        .map(|s| s.jwks())
        .unwrap_or_else(|e| panic!("{e}"));
    let key_path = dir.path().join("dev/k.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
    }
    let second = c
        .build_server(std::sync::Arc::new(registry_auth::state::MemoryStore::new()))
        .map(|s| s.jwks())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, second, "an existing key is kept");
}

/// The README's configuration reference and ACL examples must load as
/// written (with real hashes in place of `$2y$10$...`).
#[test]
fn the_readme_examples_load() {
    let readme = include_str!("../../../../README.md");
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    let reference = blocks
        .iter()
        .find(|b| b.contains("[server]"))
        .unwrap_or_else(|| panic!("no reference block"));
    let rules = blocks
        .iter()
        .find(|b| b.contains("${labels:team}/*") && !b.contains("[server]"))
        .unwrap_or_else(|| panic!("no ACL examples block"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("users.htpasswd"), format!("carol:{HASH}\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = format!("{reference}\n{rules}").replace("$2y$10$...", HASH);
    let c = Config::parse(&text, &dir.path().join("config.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.acl.len(), 7);
    assert_eq!(c.users.len(), 3);
    let example = include_str!("../../../../config/example.toml");
    let c =
        Config::parse(example, &dir.path().join("example.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.acl.allows_anonymous());
}

/// A builder with default limits but for `change`.
fn with_limits(
    builder: registry_auth::AuthServerBuilder,
    change: fn(&mut registry_auth::Limits),
) -> registry_auth::AuthServerBuilder {
    let mut limits = registry_auth::Limits::default();
    change(&mut limits);
    builder.limits(limits)
}

/// The library and the configuration file refuse the same values for the
/// same reason: the file's error is the library's, named by its key and
/// line.
#[test]
fn library_and_file_refuse_the_same_settings_for_the_same_reason() {
    use registry_auth::{AllowAll, AnonymousOnly, AuthServer, AuthServerBuilder};
    use std::time::Duration;

    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../registry-auth/tests/data/p256-sec1.pem"
    );
    let library = || {
        AuthServer::builder()
            .authenticator(AnonymousOnly)
            .authorizer(AllowAll)
            .signing_key_pem_file(key)
            .issuer("i")
            .accept_any_service()
    };
    type Case = (
        &'static str,
        fn(AuthServerBuilder) -> AuthServerBuilder,
        &'static str,
    );
    let cases: [Case; 12] = [
        (
            "[server.limits]\nmax_scopes = 0\n",
            |b| with_limits(b, |l| l.max_scopes = 0),
            "line 2: server.limits.max_scopes",
        ),
        (
            "[server.limits]\nmax_connections = 0\n",
            |b| with_limits(b, |l| l.max_connections = 0),
            "line 2: server.limits.max_connections",
        ),
        (
            "[server.limits]\nbackend_timeout = \"0s\"\n",
            |b| with_limits(b, |l| l.backend_timeout = Duration::ZERO),
            "line 2: server.limits.backend_timeout",
        ),
        (
            "[server.throttle]\nbase_delay = \"1m\"\nmax_delay = \"10s\"\n",
            |b| {
                let mut throttling = registry_auth::Throttling::default();
                throttling.base_delay = Duration::from_secs(60);
                throttling.max_delay = Duration::from_secs(10);
                b.throttling(throttling)
            },
            "line 3: server.throttle.max_delay",
        ),
        (
            "[server]\nrealm = \"a \\\"b\\\"\"\n",
            |b| b.realm("a \"b\""),
            "line 2: server.realm",
        ),
        (
            "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
            |b| b.trusted_proxies(["10.0.0.0/33"]),
            "line 2: server.trusted_proxies",
        ),
        (
            "[token]\nservices = [\"\"]\n",
            |b| b.service(""),
            "line 2: token.services",
        ),
        (
            "[token]\nissuer = \"\"\n",
            |b| b.issuer(""),
            "line 2: token.issuer",
        ),
        (
            "[token]\nlifetime = \"59s\"\n",
            |b| b.token_lifetime(Duration::from_secs(59)),
            "line 2: token.lifetime",
        ),
        (
            "[token]\nrefresh_lifetime = \"30s\"\n",
            |b| b.refresh_token_lifetime(Duration::from_secs(30)),
            "line 2: token.refresh_lifetime",
        ),
        (
            // Large enough to overflow the clock arithmetic, were it let in.
            "[token]\nrefresh_lifetime = \"500000000000y\"\n",
            |b| b.refresh_token_lifetime(Duration::from_secs(500_000_000_000 * 31_557_600)),
            "line 2: token.refresh_lifetime",
        ),
        (
            "[server.throttle]\nmax_delay = \"2days\"\n",
            |b| {
                let mut throttling = registry_auth::Throttling::default();
                throttling.max_delay = Duration::from_secs(2 * 86_400);
                b.throttling(throttling)
            },
            "line 2: server.throttle.max_delay",
        ),
    ];
    for (toml, change, where_) in cases {
        let reason = match change(library()).build() {
            Ok(_) => panic!("the library accepts what the file refuses: {toml}"),
            Err(e) => e.reason().to_owned(),
        };
        // The case's keys, merged into a configuration that is otherwise
        // valid (a [token] in the case replaces the default one).
        let text = if toml.starts_with("[token]") {
            let issuer = if toml.contains("issuer") {
                ""
            } else {
                "issuer = \"i\"\n"
            };
            format!("{toml}{issuer}signing_key = \"k.pem\"\n")
        } else {
            format!("{toml}[token]\nissuer = \"i\"\nsigning_key = \"k.pem\"\n")
        };
        let refused = error(&text);
        assert_eq!(
            refused,
            format!("/etc/registry-auth/config.toml: {where_}: {reason}"),
            "{text}"
        );
    }
}

#[test]
fn key_files_that_do_not_fit_name_their_key() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../registry-auth/tests/data");
    let refused_at_build = |extra: &str| {
        let text =
            format!("[token]\nissuer = \"i\"\nsigning_key = \"{data}/p256-sec1.pem\"\n{extra}");
        let config = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        match config.build_server(std::sync::Arc::new(registry_auth::state::MemoryStore::new())) {
            Ok(_) => panic!("built with {extra}"),
            Err(e) => e.0,
        }
    };
    assert_eq!(
        refused_at_build(&format!("certificate = \"{data}/p384.crt\"\n")),
        format!(
            "/etc/registry-auth/config.toml: line 4: token.certificate: {data}/p384.crt: \
             the certificate does not match the signing key (its public key differs) \
             ({data}/p256-sec1.pem)"
        )
    );
    assert_eq!(
        refused_at_build("algorithm = \"RS384\"\n"),
        "/etc/registry-auth/config.toml: line 4: token.algorithm: \
         RS384 does not fit the signing key, whose algorithm is ES256"
    );
}

#[test]
fn commands_that_only_read_never_make_a_key() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text = minimal("certificate = \"c.pem\"\ngenerate_key = true\n");
    let c = Config::parse(&text, &dir.path().join("c.toml")).unwrap_or_else(|e| panic!("{e}"));
    // check: decides with no signing key at all.
    assert!(c.explaining_server().is_ok());
    // token verify: the key must exist.
    let e = c
        .jwt_generator(MissingKey::Refuse)
        .map(|_| ())
        .unwrap_err()
        .0;
    assert!(e.contains("line 3: token.signing_key: cannot read"), "{e}");
    assert!(!dir.path().join("k.pem").exists() && !dir.path().join("c.pem").exists());
    // serve: makes it.
    assert!(
        c.build_server(std::sync::Arc::new(registry_auth::state::MemoryStore::new()))
            .is_ok()
    );
    assert!(dir.path().join("k.pem").exists() && dir.path().join("c.pem").exists());
}

#[test]
fn state_defaults_to_a_sqlite_file_beside_the_config() {
    let sqlite = |path: &str| StateLocation::Sqlite(PathBuf::from(path));
    let c = parse(&minimal("")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.state, sqlite("/etc/registry-auth/state.db"));
    let c = parse(&minimal("[state]\nurl = \"sqlite://data/s.db\"\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.state, sqlite("/etc/registry-auth/data/s.db"));
    let c = parse(&minimal("[state]\nurl = \"sqlite:///var/lib/ra.db\"\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.state, sqlite("/var/lib/ra.db"));
    let c = parse(&minimal("[state]\nurl = \"memory\"\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.state, StateLocation::Memory);
}

#[test]
fn bad_state_settings_are_named_by_key_and_line() {
    let path = "/etc/registry-auth/config.toml";
    for (extra, message) in [
        (
            "[state]\nurl = \"mysql://db/x\"\n",
            "line 5: state.url: expected \"memory\", sqlite://PATH or postgres://USER@HOST/DATABASE",
        ),
        (
            "[state]\nurl = \"sqlite://s.db?mode=ro\"\n",
            "line 5: state.url: \"sqlite://s.db?mode=ro\": expected sqlite://PATH (no ?options)",
        ),
        (
            "[state]\nurl = \"memory\"\npassword_file = \"p\"\n",
            "line 6: state.password_file: the memory store takes no password",
        ),
        (
            "[state]\npassword_file = \"p\"\n",
            "line 5: state.password_file: a SQLite file takes no password",
        ),
    ] {
        assert_eq!(
            error(&minimal(extra)),
            format!("{path}: {message}"),
            "{extra}"
        );
    }
    assert!(
        error(&minimal("[state]\nuri = \"memory\"\n")).contains("unknown field `uri`"),
        "unknown keys refused"
    );
}

#[test]
fn a_rotation_in_progress_is_read_and_a_broken_record_is_refused() {
    let prepared = parse(&minimal(
        "published_keys = [\"next.crt\"]\n[token.rotation]\nnext_key = \"next.key\"\n\
         next_certificate = \"next.crt\"\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        prepared.rotation,
        Rotation::Prepared {
            key: "/etc/registry-auth/next.key".into(),
            certificate: "/etc/registry-auth/next.crt".into(),
        }
    );
    let promoted = parse(&minimal(
        "[token.rotation]\npromoted = \"2026-12-01T06:00:00Z\"\n\
         retire_after = \"2026-12-01T06:06:02Z\"\nretiring = \"/keys/old.crt\"\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let at = |s| humantime::parse_rfc3339(s).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        promoted.rotation,
        Rotation::Promoted {
            at: at("2026-12-01T06:00:00Z"),
            retire_after: at("2026-12-01T06:06:02Z"),
            retiring: "/keys/old.crt".into(),
        }
    );
    assert_eq!(
        error(&minimal("[token.rotation]\nnext_key = \"next.key\"\n")),
        "/etc/registry-auth/config.toml: line 4: token.rotation: written by `registry-auth \
         keys rotate`: either next_key and next_certificate (prepared), or promoted, \
         retire_after and retiring (promoted)"
    );
    assert_eq!(
        error(&minimal(
            "[token.rotation]\npromoted = \"yesterday\"\nretire_after = \"2026-12-01T06:06:02Z\"\n\
             retiring = \"old.crt\"\n"
        )),
        "/etc/registry-auth/config.toml: line 5: token.rotation.promoted: \"yesterday\": \
         expected a time like 2026-12-01T06:00:00Z: timestamp format is invalid"
    );
}

#[test]
fn user_names_that_would_break_the_rules_are_named() {
    assert_eq!(
        error(&minimal(&format!("[users]\n\"alice/team\" = \"{HASH}\"\n"))),
        "/etc/registry-auth/config.toml: line 5: users.\"alice/team\": user name \"alice/team\" \
         holds '/', which would reach into another namespace through ${account}/* rules"
    );
    assert_eq!(
        error(&minimal(&format!("[users]\n\"\" = \"{HASH}\"\n"))),
        "/etc/registry-auth/config.toml: line 5: users.\"\": a user name must not be empty (the empty \
         subject is the anonymous client's)"
    );
}

/// `[ldap]` is the library's settings type: its checks, named by the key
/// and line they concern; a file it names that cannot be read is named.
#[test]
fn ldap_settings_are_checked_and_named_by_key() {
    let ldap = |extra: &str| {
        minimal(&format!(
            "[ldap]\nurl = \"ldaps://ldap.example.com\"\nbase_dn = \"ou=people,dc=example,dc=com\"\n{extra}"
        ))
    };
    let e = error(&ldap(
        "bind_dn = \"cn=registry\"\nbind_password = \"x\"\nuser_filter = \"(uid=alice)\"\n",
    ));
    assert!(e.contains("line 9: ldap.user_filter: "), "{e}");
    assert!(e.contains("${account}"), "{e}");
    let e = error(&ldap(
        "start_tls = true\nuser_dn = \"uid=${account},dc=x\"\n",
    ));
    assert!(e.contains("line 7: ldap.start_tls: "), "{e}");
    let e = error(&ldap(
        "bind_dn = \"cn=registry\"\nbind_password_file = \"nowhere.secret\"\n",
    ));
    assert!(
        e.contains("ldap.bind_password_file: /etc/registry-auth/nowhere.secret: "),
        "{e}"
    );
    let e = error(&ldap("uri = \"x\"\n"));
    assert!(e.contains("unknown field `uri`"), "{e}");
    // Checked without reading files too (`check-config` on text).
    assert!(Config::parse_text_only(&ldap("user_dn = \"uid=${account},dc=x\"\n")).is_ok());
    let c = parse(&ldap("user_dn = \"uid=${account},dc=x\"\n")).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.directory.is_some());
}

/// The README's `[ldap]` examples (OpenLDAP and Active Directory) are
/// valid settings as written.
#[test]
fn the_readme_ldap_examples_are_valid() {
    let blocks = readme_toml_blocks("[ldap]");
    assert_eq!(blocks.len(), 2, "the OpenLDAP and the AD example");
    for block in blocks {
        let text = minimal(&format!("\n{block}"));
        Config::parse_text_only(&text).unwrap_or_else(|e| panic!("{e}\n{block}"));
    }
}

/// `[[workload_identity]]` is the library's settings type: its checks,
/// named by the issuer, the key and the line of the issuer's table; a file
/// it names that cannot be read is named.
#[test]
fn workload_identity_settings_are_checked_and_named_by_issuer_and_line() {
    let github = "[[workload_identity]]\nname = \"github\"\n\
                  issuer = \"https://token.actions.githubusercontent.com\"\n\
                  audience = \"registry.example.com\"\nsubject = \"github:${repository}\"\n";
    let gitlab = |extra: &str| {
        format!(
            "[[workload_identity]]\nname = \"gitlab\"\nissuer = \"https://gitlab.com\"\n\
             audience = \"registry.example.com\"\nsubject = \"gitlab:${{project_path}}\"\n{extra}"
        )
    };
    let c = parse(&minimal(&format!("{github}\n{}", gitlab("")))).unwrap_or_else(|e| panic!("{e}"));
    let workloads = c.workloads.unwrap_or_else(|| panic!("no workloads"));
    assert_eq!(
        workloads.issuers().collect::<Vec<_>>(),
        [
            ("github", "https://token.actions.githubusercontent.com"),
            ("gitlab", "https://gitlab.com")
        ]
    );
    // The second issuer's table begins on line 10.
    let second = |extra: &str| error(&minimal(&format!("{github}\n{}", gitlab(extra))));
    assert_eq!(
        second("require = { ref = \"/refs/(/\" }\n")
            .split(": regex parse error")
            .next()
            .unwrap_or_default(),
        "/etc/registry-auth/config.toml: line 10: workload_identity \"gitlab\": require: ref: \
         bad regular expression /refs/(/"
    );
    assert_eq!(
        second("jwks = \"http://keys.example.com/jwks\"\n"),
        "/etc/registry-auth/config.toml: line 10: workload_identity \"gitlab\": jwks: must be \
         https:// (http:// only on a loopback address)"
    );
    let e = second("max_lifetime = \"soon\"\n");
    assert!(
        e.contains("line 15, column 16") && e.contains("string \"soon\", expected a duration"),
        "{e}"
    );
    let e = second("jwks = \"gitlab.jwks.json\"\n");
    assert!(
        e.starts_with(
            "/etc/registry-auth/config.toml: line 10: workload_identity \"gitlab\": jwks: \
             /etc/registry-auth/gitlab.jwks.json: "
        ),
        "{e}"
    );
    let e = error(&minimal(&format!("{github}\n{github}")));
    assert_eq!(
        e,
        "/etc/registry-auth/config.toml: line 10: workload_identity \"github\": name: the same \
         name as workload_identity \"github\""
    );
    let e = error(&minimal(&format!("{github}audiences = [\"x\"]\n")));
    assert!(e.contains("unknown field `audiences`"), "{e}");
    // Checked without reading files too (`check-config` on text).
    assert!(Config::parse_text_only(&minimal(&gitlab("jwks = \"gitlab.jwks.json\"\n"))).is_ok());
}

/// The README's `[[workload_identity]]` examples (GitHub Actions, GitLab
/// CI, Kubernetes) are valid settings as written.
#[test]
fn the_readme_workload_identity_examples_are_valid() {
    let blocks = readme_toml_blocks("[[workload_identity]]");
    assert_eq!(
        blocks.len(),
        3,
        "the GitHub, GitLab and Kubernetes examples"
    );
    for block in blocks {
        let text = minimal(&format!("\n{block}"));
        Config::parse_text_only(&text).unwrap_or_else(|e| panic!("{e}\n{block}"));
    }
}

/// `[oidc_login]`: the sign-in page's settings, checked and named by key
/// and line.
#[test]
fn oidc_login_settings_are_checked_and_named_by_key() {
    let section = |extra: &str| {
        minimal(&format!(
            "[oidc_login]\nissuer = \"https://sso.example.com\"\nclient_id = \"registry\"\n\
             redirect_url = \"https://auth.example.com/login/callback\"\n{extra}"
        ))
    };
    let c = parse(&section("client_secret = \"s\"\n")).unwrap_or_else(|e| panic!("{e}"));
    let sign_in = c.sign_in.unwrap_or_else(|| panic!("no sign-in"));
    assert_eq!(sign_in.path, "/login");
    assert_eq!(sign_in.token_lifetime, Duration::from_secs(30 * 24 * 3600));
    assert!(sign_in.secure_cookies);

    assert_eq!(
        error(&section("client_secret = \"s\"\npath = \"/sso\"\n")),
        "/etc/registry-auth/config.toml: line 7: oidc_login.redirect_url: \
         \"https://auth.example.com/login/callback\" must end in this page's callback, \
         /sso/callback (the path is /sso)"
    );
    assert!(
        error(&section("client_secret = \"s\"\npath = \"/token\"\n"))
            .starts_with("/etc/registry-auth/config.toml: line 9: oidc_login.path: \"/token\": ")
    );
    assert_eq!(
        error(&section("")),
        "/etc/registry-auth/config.toml: line 4: oidc_login.client_secret_file: give \
         client_secret_file (or client_secret)"
    );
    assert!(
        error(&section("client_secret_file = \"sso.secret\"\n"))
            .contains("oidc_login.client_secret_file: /etc/registry-auth/sso.secret: ")
    );
    assert_eq!(
        error(&section("client_secret = \"s\"\nscopes = [\"profile\"]\n")),
        "/etc/registry-auth/config.toml: line 9: oidc_login.scopes: must include openid"
    );
    assert!(
        error(&section("client_secret = \"s\"\nissuer2 = \"x\"\n"))
            .contains("unknown field `issuer2`")
    );
    // Checked without reading files too (`check-config` on text).
    assert!(Config::parse_text_only(&section("client_secret_file = \"sso.secret\"\n")).is_ok());
}

/// The README's `[oidc_login]` examples (Keycloak, Entra ID, Google) are
/// valid settings as written.
#[test]
fn the_readme_oidc_login_examples_are_valid() {
    let blocks = readme_toml_blocks("[oidc_login]");
    assert_eq!(
        blocks.len(),
        3,
        "the Keycloak, Entra ID and Google examples"
    );
    for block in blocks {
        let text = minimal(&format!("\n{block}"));
        Config::parse_text_only(&text).unwrap_or_else(|e| panic!("{e}\n{block}"));
    }
}

/// The README's ```toml blocks that begin with `start`.
fn readme_toml_blocks(start: &str) -> Vec<&'static str> {
    include_str!("../../../../README.md")
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.starts_with(start))
        .collect()
}
