//! Smoke tests of the daemon harnesses: each starts, answers, and leaves
//! nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use registry_auth_testkit::{Containerd, Dockerd, Haproxy, Postgres, Slapd, free_port};

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains(needle)
                .then(|| format!("{pid}: {cmdline}"))
        })
        .collect()
}

fn mounts_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn two_dockerds_start_import_and_stop_cleanly() {
    let key_json_before = std::path::Path::new("/etc/docker/key.json").exists();
    let started = Instant::now();
    let (one, two) = tokio::join!(Dockerd::start(), Dockerd::start());
    eprintln!("two dockerds started in {:?}", started.elapsed());
    let dirs: Vec<String> = [&one, &two]
        .iter()
        .map(|d| {
            let socket = d.host().strip_prefix("unix://").unwrap();
            std::path::Path::new(socket)
                .parent()
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_ne!(dirs[0], dirs[1]);

    let (ok, out) = one
        .run(&["version", "--format", "{{.Server.Version}}"])
        .await;
    assert!(ok, "{out}");
    assert!(out.starts_with("20.10"), "{out}");

    one.import_image("127.0.0.1:5000/smoke/one:1", "hello.txt", b"hello")
        .await;
    let (ok, out) = one
        .run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "127.0.0.1:5000/smoke/one:1");
    // The other daemon has its own image store.
    let (ok, out) = two.run(&["images", "-q"]).await;
    assert!(ok && out.trim().is_empty(), "{out}");

    // The password goes in on stdin; nothing listens there, so it fails.
    let nowhere = format!("127.0.0.1:{}", free_port());
    let (ok, out) = two.login(&nowhere, "alice", "secret").await;
    assert!(!ok, "{out}");
    assert!(out.contains("connection refused"), "{out}");
    assert!(two.config_dir().is_dir());

    one.stop().await;
    assert!(processes_mentioning(&dirs[0]).is_empty());
    assert!(!processes_mentioning(&dirs[1]).is_empty());
    let stopped = Instant::now();
    drop(two);
    eprintln!("dockerd stopped on drop in {:?}", stopped.elapsed());
    for dir in &dirs {
        assert_eq!(processes_mentioning(dir), Vec::<String>::new());
        assert_eq!(mounts_mentioning(dir), Vec::<String>::new());
        assert!(!std::path::Path::new(dir).exists(), "{dir} left behind");
    }
    assert!(!std::path::Path::new("/var/run/docker.sock").exists());
    assert_eq!(
        std::path::Path::new("/etc/docker/key.json").exists(),
        key_json_before
    );
}

#[tokio::test]
async fn containerd_starts_answers_and_stops() {
    let started = Instant::now();
    let containerd = Containerd::start().await;
    eprintln!("containerd started in {:?}", started.elapsed());
    let (ok, out) = containerd.ctr(&["version"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("1.6"), "{out}");
    let (ok, out) = containerd.ctr(&["images", "ls", "-q"]).await;
    assert!(ok && out.trim().is_empty(), "{out}");
    let dir = containerd.address().parent().unwrap().display().to_string();
    containerd.stop().await;
    assert_eq!(processes_mentioning(&dir), Vec::<String>::new());
    assert!(!std::path::Path::new(&dir).exists());
}

#[tokio::test]
async fn postgres_serves_the_url_and_survives_a_restart() {
    let started = Instant::now();
    let mut postgres = Postgres::start().await;
    eprintln!("postgres (initdb + start) ready in {:?}", started.elapsed());
    let url = postgres.url();
    assert!(url.starts_with("postgres://registry_auth:"), "{url}");
    assert!(url.ends_with(&format!("@127.0.0.1:{}/registry_auth", postgres.port())));
    assert_eq!(
        postgres.url_without_password(),
        format!(
            "postgres://registry_auth@127.0.0.1:{}/registry_auth",
            postgres.port()
        )
    );
    assert_eq!(postgres.psql("select 1").await, (true, "1\n".to_owned()));
    let (ok, out) = postgres
        .psql("create table t (x int); insert into t values (42)")
        .await;
    assert!(ok, "{out}");
    // TCP needs the password.
    let out = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
        .args([
            &postgres.url_without_password(),
            "-X",
            "-w",
            "-c",
            "select 1",
        ])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());

    let stopping = Instant::now();
    postgres.stop_server().await;
    eprintln!("postgres fast shutdown in {:?}", stopping.elapsed());
    assert!(!postgres.is_running());
    let (ok, out) = postgres.psql("select 1").await;
    assert!(!ok, "{out}");
    assert!(TcpStream::connect(("127.0.0.1", postgres.port())).is_err());

    let restarting = Instant::now();
    postgres.start_server().await;
    eprintln!("postgres restarted in {:?}", restarting.elapsed());
    assert_eq!(
        postgres.psql("select x from t").await,
        (true, "42\n".to_owned())
    );

    postgres.kill_server().await;
    postgres.restart().await;
    assert_eq!(
        postgres.psql("select x from t").await,
        (true, "42\n".to_owned())
    );

    let port = postgres.port();
    drop(postgres);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert_eq!(
        processes_mentioning(&format!("-p {port} ")),
        Vec::<String>::new()
    );
}

/// A tiny HTTP server on a thread: answers every request, `/healthz`
/// included, with `200` and a body naming it, the method and the body
/// length. Closed on drop: then connections to it are refused.
struct Backend {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Backend {
    fn start(name: &'static str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => answer(stream, name),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        Backend {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn answer(mut stream: TcpStream, name: &str) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let method = head.split(' ').next().unwrap_or_default().to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while request.len() < head_end + length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let body = format!("{name} {method} {length}");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

#[tokio::test]
async fn haproxy_balances_and_retries_on_the_other_backend() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let started = Instant::now();
    let haproxy = Haproxy::start(&[a.addr.clone(), b.addr.clone()]).await;
    eprintln!("haproxy started in {:?}", started.elapsed());
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let client = client.clone();
        let url = format!("{}{path}", haproxy.url());
        async move {
            let r = client.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let post = || {
        let client = client.clone();
        let url = format!("{}/token", haproxy.url());
        async move {
            let r = client
                .post(url)
                .body("grant_type=password&username=alice")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(get("/v2/").await);
    }
    assert!(seen.contains(&"a GET 0".to_owned()), "{seen:?}");
    assert!(seen.contains(&"b GET 0".to_owned()), "{seen:?}");
    assert_eq!(post().await.split_once(' ').unwrap().1, "POST 34");

    // Before the health checks notice: the retries hide it.
    drop(a);
    for _ in 0..5 {
        assert_eq!(get("/v2/").await, "b GET 0");
        assert_eq!(post().await, "b POST 34");
    }
    // After they have.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for _ in 0..5 {
        assert_eq!(get("/v2/").await, "b GET 0");
        assert_eq!(post().await, "b POST 34");
    }
    let log = haproxy.log();
    assert!(log.contains("back/s0 is DOWN"), "{log}");
    let port: u16 = haproxy.addr.rsplit(':').next().unwrap().parse().unwrap();
    haproxy.stop().await;
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    drop(b);
}

/// Runs an OpenLDAP client tool (no ldaprc), trusting `ca` for TLS when
/// given; returns (success, stdout+stderr).
async fn ldap_tool(program: &str, args: &[&str], ca: Option<&std::path::Path>) -> (bool, String) {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_remove("LDAPNOINIT")
        .env_remove("LDAPTLS_CACERT")
        .env("LDAPRC", "/nonexistent")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(ca) = ca {
        command.env("LDAPTLS_CACERT", ca);
    }
    let out = command.output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `ldapsearch -x -LLL` on `url`, bound as `(dn, password)` or anonymous.
async fn ldapsearch(url: &str, bind: Option<(&str, &str)>, args: &[&str]) -> (bool, String) {
    let mut all = vec!["-x", "-LLL", "-H", url];
    if let Some((dn, password)) = bind {
        all.extend(["-D", dn, "-w", password]);
    }
    all.extend(args);
    ldap_tool("ldapsearch", &all, None).await
}

#[tokio::test]
async fn slapd_binds_searches_speaks_tls_and_survives_a_restart() {
    let started = Instant::now();
    let mut slapd = Slapd::start().await;
    eprintln!(
        "slapd (certificates + slapadd + start) ready in {:?}",
        started.elapsed()
    );
    let url = slapd.url();
    let ldaps_url = slapd.ldaps_url();
    assert!(url.starts_with("ldap://127.0.0.1:"), "{url}");
    assert!(ldaps_url.starts_with("ldaps://127.0.0.1:"), "{ldaps_url}");
    let bob = "uid=bob,ou=people,dc=example,dc=com";
    let service = Some((Slapd::SERVICE_DN, Slapd::SERVICE_PASSWORD));
    // `ldapwhoami` as bob, with StartTLS (`-ZZ`) or not, trusting `ca`.
    let whoami = |url: String, starttls: bool, ca: Option<std::path::PathBuf>| async move {
        let mut args = vec!["-x", "-H", &url, "-D", bob, "-w", "bob-pw"];
        if starttls {
            args.push("-ZZ");
        }
        ldap_tool("ldapwhoami", &args, ca.as_deref()).await
    };

    // Bob reads his own entry, with his two groups; not his password.
    let attrs = ["memberOf", "departmentNumber", "userPassword"];
    let mut args = vec!["-b", bob, "-s", "base", "(objectClass=*)"];
    args.extend(attrs);
    let (ok, out) = ldapsearch(&url, Some((bob, "bob-pw")), &args).await;
    assert!(ok, "{out}");
    let mut member_of: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("memberOf: "))
        .collect();
    member_of.sort_unstable();
    assert_eq!(
        member_of,
        [
            "cn=developers,ou=groups,dc=example,dc=com",
            "cn=platform,ou=groups,dc=example,dc=com"
        ],
        "{out}"
    );
    assert!(out.contains("departmentNumber: web-team"), "{out}");
    assert!(!out.contains("userPassword"), "{out}");
    let (ok, out) = ldap_tool(
        "ldapwhoami",
        &["-x", "-H", &url, "-D", bob, "-w", "not-bob-pw"],
        None,
    )
    .await;
    assert!(!ok && out.contains("Invalid credentials"), "{out}");

    // The service account finds all four people, the odd uid included.
    let args = ["-b", Slapd::PEOPLE_DN, "(uid=we\\2aird\\29)", "memberOf"];
    let (ok, out) = ldapsearch(&url, service, &args).await;
    assert!(ok, "{out}");
    // With the continuation reference of the partners' referral, as a
    // directory answers a subtree search that reaches one.
    assert_eq!(
        out.trim(),
        "dn: uid=we*ird),ou=people,dc=example,dc=com\n\
         memberOf: cn=developers,ou=groups,dc=example,dc=com\n\n\
         # refldap://partners.example.com/ou=partners,dc=example,dc=com??sub"
    );
    let args = ["-b", Slapd::PEOPLE_DN, "(objectClass=inetOrgPerson)", "1.1"];
    let (ok, out) = ldapsearch(&url, service, &args).await;
    assert!(ok, "{out}");
    assert_eq!(out.matches("dn: uid=").count(), 4, "{out}");

    // An anonymous search finds nothing.
    let args = ["-b", Slapd::PEOPLE_DN, "(objectClass=*)"];
    let (_, out) = ldapsearch(&url, None, &args).await;
    assert!(
        !out.contains("dn:") && out.contains("No such object (32)"),
        "{out}"
    );

    // ldaps and StartTLS with the right CA, and not with another one.
    let ca = Some(slapd.ca_certificate().to_owned());
    let other_ca = Some(slapd.other_ca_certificate().to_owned());
    for (url, starttls) in [(&ldaps_url, false), (&url, true)] {
        let (ok, out) = whoami(url.clone(), starttls, ca.clone()).await;
        assert!(ok, "{url}: {out}");
        assert_eq!(out.trim(), format!("dn:{bob}"));
        let (ok, out) = whoami(url.clone(), starttls, other_ca.clone()).await;
        assert!(!ok, "{url} with the other CA: {out}");
    }
    // localhost is in the certificate too (libldap would replace
    // `localhost` by the machine's name, so openssl checks it).
    let out = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(ldaps_url.strip_prefix("ldaps://").unwrap())
        .arg("-CAfile")
        .arg(slapd.ca_certificate())
        .args(["-verify_hostname", "localhost", "-verify_return_error"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");

    let stopping = Instant::now();
    slapd.stop().await;
    eprintln!("slapd stopped in {:?}", stopping.elapsed());
    slapd.stop().await;
    let (ok, out) = whoami(url.clone(), false, None).await;
    assert!(!ok && out.contains("Can't contact LDAP server"), "{out}");
    let restarting = Instant::now();
    slapd.restart().await;
    eprintln!("slapd restarted in {:?}", restarting.elapsed());
    assert_eq!(
        (slapd.url(), slapd.ldaps_url()),
        (url.clone(), ldaps_url.clone())
    );
    let (ok, out) = whoami(url.clone(), false, None).await;
    assert!(ok, "{out}");
    // A restart of a running slapd, then ldaps on the same port.
    slapd.restart().await;
    let (ok, out) = whoami(ldaps_url.clone(), false, ca).await;
    assert!(ok, "{out}");

    let dir = slapd.dir().display().to_string();
    drop(slapd);
    assert_eq!(processes_mentioning(&dir), Vec::<String>::new());
    assert!(!std::path::Path::new(&dir).exists(), "{dir} left behind");
    let (ok, out) = whoami(url, false, None).await;
    assert!(!ok, "{out}");
}

/// The header and the payload of a JWT, decoded.
fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a signed JWT: {token}");
    let decode = |part: &str| -> serde_json::Value {
        let bytes = data_encoding::BASE64URL_NOPAD
            .decode(part.as_bytes())
            .unwrap_or_else(|e| panic!("{part}: {e}"));
        serde_json::from_slice(&bytes).unwrap()
    };
    (decode(parts[0]), decode(parts[1]))
}

#[tokio::test]
async fn oidc_provider_issues_jwt_access_tokens_and_stops_cleanly() {
    use registry_auth_testkit::{OidcProvider, OidcSettings};

    let started = Instant::now();
    let settings =
        OidcSettings::new("registry.example.com").redirect_uri("http://127.0.0.1:1/login/callback");
    let mut provider = OidcProvider::start(settings).await;
    eprintln!("oidc-provider started in {:?}", started.elapsed());
    let issuer = provider.issuer();
    assert!(issuer.starts_with("https://127.0.0.1:"), "{issuer}");
    assert!(!issuer.ends_with('/'), "{issuer}");

    let token = provider.client_credentials_token().await;
    let (header, claims) = jwt_parts(&token);
    assert!(
        ["RS256", "ES256"].contains(&header["alg"].as_str().unwrap()),
        "{header}"
    );
    assert_eq!(claims["iss"], issuer.as_str(), "{claims}");
    let aud = &claims["aud"];
    assert!(
        aud == "registry.example.com"
            || aud
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "registry.example.com")),
        "{claims}"
    );
    assert_eq!(claims["sub"], provider.client_id(), "{claims}");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert!(exp > iat, "{claims}");

    // Discovery and the JWKS, trusting only the provider's CA.
    let client = provider.http_client();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200, "{url}");
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let discovery = get(format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(discovery["issuer"], issuer.as_str(), "{discovery}");
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap().to_owned();
    let jwks = get(jwks_uri).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert!(
        keys.iter().any(|k| k["kid"] == header["kid"]),
        "no key {} in {jwks}",
        header["kid"]
    );
    // The certificate is for localhost too.
    let port = issuer.rsplit(':').next().unwrap();
    get(format!("https://localhost:{port}/jwks")).await;
    // A client that trusts the usual roots only refuses it.
    let usual = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(usual.get(&issuer).send().await.is_err());

    let running = |provider_issuer: &str| -> Vec<String> {
        processes_mentioning("oidc-provider/provider.mjs")
            .into_iter()
            .filter(|p| p.contains(provider_issuer))
            .collect()
    };
    assert_eq!(running(&issuer).len(), 1, "{:?}", running(&issuer));
    let stopping = Instant::now();
    provider.stop().await;
    eprintln!("oidc-provider stopped in {:?}", stopping.elapsed());
    assert_eq!(running(&issuer), Vec::<String>::new());
    assert!(
        provider.log().contains("SIGTERM: stopping"),
        "{}",
        provider.log()
    );
    assert!(
        client
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .is_err()
    );
    provider.stop().await;
    drop(provider);
}

#[tokio::test]
async fn a_browser_signs_alice_in_at_the_openid_provider() {
    use registry_auth_testkit::{Browser, BrowserStep, OidcProvider, OidcSettings};

    // Nobody listens at the redirect URI: the browser's navigation there is
    // refused, and the browser still reports its URL.
    let redirect_uri = format!("http://127.0.0.1:{}/login/callback", free_port());
    let provider =
        OidcProvider::start(OidcSettings::new("registry.example.com").redirect_uri(&redirect_uri))
            .await;
    let http = provider.http_client();
    let discovery: serde_json::Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            provider.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // An authorization request with PKCE (S256), as a relying party makes.
    let mut verifier = [0u8; 32];
    aws_lc_rs::rand::fill(&mut verifier).unwrap();
    let verifier = data_encoding::BASE64URL_NOPAD.encode(&verifier);
    let challenge = data_encoding::BASE64URL_NOPAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    let authorize = reqwest::Url::parse_with_params(
        discovery["authorization_endpoint"].as_str().unwrap(),
        [
            ("response_type", "code"),
            ("client_id", provider.login_client_id()),
            ("redirect_uri", &redirect_uri),
            ("scope", "openid profile groups"),
            ("state", "s123"),
            ("nonce", "n456"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();

    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    let (login, password) = provider.user();
    let browser = Browser::new();
    // The browser trusts the provider's throwaway CA, and only it.
    browser.trust(provider.ca_certificate());
    let started = Instant::now();
    let report = browser
        .run(&[
            BrowserStep::goto(authorize.as_str()),
            BrowserStep::ExpectStatus(200),
            BrowserStep::screenshot(screenshots.join("oidc-login-form.png")),
            BrowserStep::fill("#login", login),
            BrowserStep::fill("#password", "wrong-password"),
            BrowserStep::click("#submit"),
            BrowserStep::ExpectStatus(401),
            BrowserStep::text(".error"),
            BrowserStep::screenshot(screenshots.join("oidc-login-refused.png")),
            BrowserStep::fill("#login", login),
            BrowserStep::fill("#password", password),
            BrowserStep::click("#submit"),
            BrowserStep::wait_for_url(&redirect_uri, Duration::from_secs(10)),
        ])
        .await;
    eprintln!(
        "browser: Chromium started in {:?}, the run took {:?} in node, {:?} in all",
        report.launch,
        report.elapsed,
        started.elapsed()
    );
    report.assert_ok();
    assert_eq!(
        report.text(".error"),
        "Invalid login or password.",
        "{report:?}"
    );
    assert!(report.statuses.contains(&401), "{report:?}");
    let captured = report.captured_url.clone().unwrap();
    assert!(captured.starts_with(&redirect_uri), "{captured}");
    assert_eq!(
        report.captured_param("state").as_deref(),
        Some("s123"),
        "{captured}"
    );
    let code = report
        .captured_param("code")
        .unwrap_or_else(|| panic!("no code in {captured}"));
    for png in ["oidc-login-form.png", "oidc-login-refused.png"] {
        let bytes = std::fs::read(screenshots.join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{png}");
    }
    assert!(
        provider.log().contains("login refused"),
        "{}",
        provider.log()
    );

    // The relying party's side: the code for tokens, with the verifier.
    let response = http
        .post(discovery["token_endpoint"].as_str().unwrap())
        .basic_auth(
            provider.login_client_id(),
            Some(provider.login_client_secret()),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{tokens}; log:\n{}", provider.log());
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["iss"], provider.issuer().as_str(), "{claims}");
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(claims["nonce"], "n456", "{claims}");
    assert!(
        claims["groups"]
            .as_array()
            .is_some_and(|groups| groups.iter().any(|g| g == "platform")),
        "{claims}"
    );

    // A browser that was not told to trust the CA refuses the provider,
    // and shows why.
    let untrusting = Browser::new();
    let refused = untrusting
        .run(&[BrowserStep::goto(authorize.as_str())])
        .await;
    assert!(!refused.ok, "{refused:?}");
    assert_eq!(refused.step, Some(0), "{refused:?}");
    assert!(
        refused
            .error
            .as_deref()
            .is_some_and(|e| e.contains("ERR_CERT_AUTHORITY_INVALID")),
        "{refused:?}"
    );
    assert!(
        refused.screenshot.as_ref().unwrap().is_file(),
        "{refused:?}"
    );

    // Nothing of the browsers runs once the runs are over, and nothing is
    // left once they are dropped.
    for browser in [browser, untrusting] {
        let dir = browser.dir().display().to_string();
        assert_eq!(processes_mentioning(&dir), Vec::<String>::new());
        drop(browser);
        assert!(!std::path::Path::new(&dir).exists(), "{dir} left behind");
        assert_eq!(processes_mentioning(&dir), Vec::<String>::new());
    }
}
