//! The sign-in page (`[oidc_login]`) through a real browser (Debian's
//! Chromium, driven by playwright-core) and a real OpenID provider (npm's
//! oidc-provider): alice signs in, gets a password, pushes with skopeo to
//! the namespace her group is given, revokes it on the page, and it stops
//! working; refusals: a callback with no sign-in under way, a forged
//! state, a form without its CSRF token, a requirement not met.
//! Screenshots of each page are kept under the target folder.

use std::path::PathBuf;

use registry_auth_testkit::{
    Browser, BrowserStep, OidcProvider, OidcSettings, require_tools, skopeo_push, write_oci_layout,
};

use crate::support::{Server, Site, poll};

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(provider: &OidcProvider, callback: &str, require: &str) -> String {
    format!(
        r#"[oidc_login]
issuer = "{issuer}"
client_id = "{client}"
client_secret_file = "oidc-client.secret"
redirect_url = "{callback}"
scopes = ["openid", "profile", "groups"]
subject = "${{preferred_username}}"
labels = {{ groups = "groups" }}
{require}
token_lifetime = "30d"
ca_certificate = "{ca}"

[[acl]]
match = {{ labels = {{ groups = "platform" }}, name = "platform/*" }}
actions = ["pull", "push"]
comment = "the platform group"
"#,
        issuer = provider.issuer(),
        client = provider.login_client_id(),
        ca = provider.ca_certificate().display(),
    )
}

/// The steps that sign `user` in from the page at `site` and ask for a
/// password, up to the page that shows it.
fn sign_in_steps(site: &Site, user: (&str, &str), shots: &str) -> Vec<BrowserStep> {
    let dir = screenshots();
    let mut steps = vec![
        BrowserStep::goto(site.url("/login")),
        BrowserStep::ExpectStatus(200),
        BrowserStep::screenshot(dir.join(format!("{shots}-1-sign-in.png"))),
    ];
    steps.extend(at_the_provider(user));
    steps.extend([
        BrowserStep::text("#username"),
        BrowserStep::screenshot(dir.join(format!("{shots}-2-signed-in.png"))),
        BrowserStep::click("#new-token"),
        BrowserStep::ExpectStatus(200),
    ]);
    steps
}

/// From the sign-in button through the provider's form, back to the page.
fn at_the_provider(user: (&str, &str)) -> [BrowserStep; 4] {
    [
        BrowserStep::click("#sign-in"),
        BrowserStep::fill("#login", user.0),
        BrowserStep::fill("#password", user.1),
        BrowserStep::click("#submit"),
    ]
}

/// A sign-in by `user` that the page refuses with 403, then `more` steps.
fn refused_sign_in(site: &Site, user: (&str, &str), more: &[BrowserStep]) -> Vec<BrowserStep> {
    let mut steps = vec![BrowserStep::goto(site.url("/login"))];
    steps.extend(at_the_provider(user));
    steps.extend([BrowserStep::ExpectStatus(403), BrowserStep::text("#error")]);
    steps.extend_from_slice(more);
    steps
}

/// Waits until the server has reloaded its configuration `times` times.
async fn reloaded(server: &Server, times: usize) {
    let seen = poll(
        || async { server.log().matches("configuration reloaded").count() },
        |n| *n >= times,
    )
    .await;
    assert_eq!(seen, times, "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_pushes_with_the_password_and_revokes_it() {
    require_tools(&["docker-registry", "skopeo", "node", "chromium"]);
    let site = Site::new();
    let callback = site.url("/login/callback");
    let mut provider =
        OidcProvider::start(OidcSettings::new("registry.test").redirect_uri(&callback)).await;
    std::fs::write(
        site.path("oidc-client.secret"),
        provider.login_client_secret(),
    )
    .unwrap();
    site.write_config(&config(&provider, &callback, ""));
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let browser = Browser::new();
    browser.trust(provider.ca_certificate());
    let shots = screenshots();

    // Sign in: the page shows the user name and a password of its own.
    let mut steps = sign_in_steps(&site, provider.user(), "first");
    steps.extend([
        BrowserStep::text("#token"),
        BrowserStep::text("#command"),
        BrowserStep::text("tbody td"),
        BrowserStep::screenshot(shots.join("first-3-password.png")),
    ]);
    let report = browser.run(&steps).await;
    if !report.ok {
        panic!(
            "{report:?}\n--- server:\n{}\n--- provider:\n{}",
            server.log(),
            provider.log()
        );
    }
    assert_eq!(report.text("#username"), "alice");
    let token = report.text("#token").to_owned();
    assert!(token.starts_with("raat_"), "{token}");
    assert_eq!(
        report.text("#command"),
        "docker login --username 'alice' 'registry.test'"
    );
    let first_name = report.text("tbody td").to_owned();
    assert!(first_name.starts_with("sign-in-"), "{first_name}");
    assert!(!report.url.contains(&token), "the token is in no URL");

    // It is a registry password: pushes where alice's group may.
    let registry = site.registry(&site.url("/token")).await;
    let layout_dir = site.path("layout");
    write_oci_layout(&layout_dir, "v1", "hello");
    let layout = format!("oci:{}:v1", layout_dir.display());
    let push = |repo: &str, creds: String| {
        let (layout, image) = (
            layout.clone(),
            format!("docker://{}/{repo}:v1", registry.addr),
        );
        async move { skopeo_push(&layout, &image, &creds).await }
    };
    let (pushed, out) = push("platform/app", format!("alice:{token}")).await;
    assert!(pushed, "{out}\n--- server:\n{}", server.log());
    let (pushed, _) = push("elsewhere/app", format!("alice:{token}")).await;
    assert!(!pushed, "outside the group's namespace");

    // Signed in again (another browser): a second password; the first is
    // revoked on the page and stops working.
    let mut steps = sign_in_steps(&site, provider.user(), "second");
    steps.extend([
        BrowserStep::text("#token"),
        BrowserStep::click(format!("#revoke-{first_name}")),
        BrowserStep::ExpectStatus(200),
        BrowserStep::text("#your-tokens"),
        BrowserStep::text("tbody"),
        BrowserStep::screenshot(shots.join("second-4-revoked.png")),
    ]);
    let report = browser.run(&steps).await;
    if !report.ok {
        panic!("{report:?}\n--- server:\n{}", server.log());
    }
    let second = report.text("#token").to_owned();
    assert!(
        !report.text("tbody").contains(&first_name),
        "{}",
        report.text("tbody")
    );
    let (pushed, _) = push("platform/app", format!("alice:{token}")).await;
    assert!(!pushed, "a revoked password");
    let (pushed, out) = push("platform/app", format!("alice:{second}")).await;
    assert!(pushed, "the second password: {out}");

    // Refusals without a browser.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client
        .get(site.url("/login/callback?code=stolen&state=stolen"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400, "no sign-in under way");
    let started = client.get(site.url("/login/start")).send().await.unwrap();
    assert_eq!(started.status(), 303);
    let pending = started
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let forged = client
        .get(site.url("/login/callback?code=x&state=forged"))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400, "a forged state");
    let page = forged.text().await.unwrap();
    assert!(page.contains("does not belong to this browser"), "{page}");
    let revoke = client
        .post(site.url("/login/revoke"))
        .form(&[("name", second.as_str()), ("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 403, "a revoke without a session");
    let headers = revoke.headers().clone();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );

    // A requirement the person does not meet: signed in, not allowed, and
    // the page says no more than that.
    site.write_config(&config(
        &provider,
        &callback,
        "require = { groups = \"admins\" }",
    ));
    reloaded(&server, 1).await;
    let report = browser
        .run(&refused_sign_in(
            &site,
            provider.user(),
            &[
                BrowserStep::text("main"),
                BrowserStep::screenshot(shots.join("refused-not-allowed.png")),
            ],
        ))
        .await;
    if !report.ok {
        panic!("{report:?}\n--- server:\n{}", server.log());
    }
    assert!(report.text("#error").contains("not allowed"));
    assert!(!report.text("main").contains("platform"), "no claims shown");
    assert!(
        server.log().contains("requirement groups"),
        "{}",
        server.log()
    );

    // A person whose name is a user of the configuration's own: refused
    // (a token of theirs would act with that user's rights).
    site.write_config(&format!(
        "[users]\nalice = \"{}\"\n\n{}",
        crate::support::hash("not-for-sso"),
        config(&provider, &callback, "")
    ));
    reloaded(&server, 2).await;
    let report = browser
        .run(&refused_sign_in(&site, provider.user(), &[]))
        .await;
    if !report.ok {
        panic!("{report:?}\n--- server:\n{}", server.log());
    }
    assert!(report.text("#error").contains("belongs to another account"));

    // Each sign-in counted by its outcome.
    let metrics = crate::support::metrics_page(&site.url("")).await;
    for line in [
        "registry_auth_sign_ins_total{result=\"signed_in\"} 2",
        "registry_auth_sign_ins_total{result=\"refused\"} 2",
        "registry_auth_sign_ins_total{result=\"not_allowed\"} 2",
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }

    // No password is ever in the log.
    let log = server.log();
    assert!(!log.contains(&token) && !log.contains(&second));
    drop(registry);
    let _ = server.terminate().await;
    provider.stop().await;
}
