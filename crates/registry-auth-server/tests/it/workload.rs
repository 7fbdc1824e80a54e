//! CI jobs that log in with their own OIDC tokens (`[[workload_identity]]`),
//! through the binary and the real registry: fixture issuers of the test's
//! own minting the claim sets of GitHub Actions, GitLab CI and Kubernetes,
//! ACL rules on those claims, skopeo pushing with a job token as the
//! password, each refusal's reason in the log and a 401 to the client,
//! `check --token`; and a real OpenID provider (npm's oidc-provider) whose
//! `client_credentials` tokens push.

use std::time::Duration;

use registry_auth_testkit::{
    FakeIssuer, IssuerKey, KeyType, OidcProvider, OidcSettings, github_actions_claims,
    gitlab_ci_claims, hs256_token, kubernetes_claims, require_tools, skopeo_push, tamper,
    unsigned_token, write_oci_layout,
};
use serde_json::{Value, json};

use crate::support::{Server, Site, access, run, text, token};

const AUDIENCE: &str = "registry.test";

/// Three issuers as a team would configure them, and rules on their
/// claims: a GitHub repository of my-org pushes its own image, a GitLab
/// project on a protected ref pushes under its path, the `ci` namespace's
/// service accounts push under `ci/`.
fn config(github: &FakeIssuer, gitlab: &FakeIssuer, k8s: &FakeIssuer) -> String {
    format!(
        r#"[[workload_identity]]
name = "github"
issuer = "{github}"
ca_certificate = "{github_ca}"
audience = "{AUDIENCE}"
subject = "github:${{repository}}"
labels = {{ repository = "repository", owner = "repository_owner", ref = "ref" }}
require = {{ repository_owner = "my-org" }}
max_lifetime = "1h"

[[workload_identity]]
name = "gitlab"
issuer = "{gitlab}"
ca_certificate = "{gitlab_ca}"
audience = "{AUDIENCE}"
subject = "gitlab:${{project_path}}"
labels = {{ project = "project_path" }}
require = {{ ref_protected = "true" }}

[[workload_identity]]
name = "k8s"
issuer = "{k8s}"
jwks = "{k8s_jwks}"
ca_certificate = "{k8s_ca}"
audience = "{AUDIENCE}"
subject = "k8s:${{/kubernetes.io/namespace}}:${{/kubernetes.io/serviceaccount/name}}"
labels = {{ namespace = "/kubernetes.io/namespace" }}
require = {{ sub = "system:serviceaccount:*" }}

[[acl]]
match = {{ labels = {{ owner = "my-org" }}, name = "${{labels:repository}}" }}
actions = ["pull", "push"]
comment = "a repository's own image"

[[acl]]
match = {{ labels = {{ project = "/.+/" }}, name = "${{labels:project}}/*" }}
actions = ["pull", "push"]
comment = "a project's images"

[[acl]]
match = {{ labels = {{ namespace = "ci" }}, name = "ci/*" }}
actions = ["pull", "push"]
comment = "the ci namespace"
"#,
        github = github.issuer(),
        github_ca = github.ca_certificate().display(),
        gitlab = gitlab.issuer(),
        gitlab_ca = gitlab.ca_certificate().display(),
        k8s = k8s.issuer(),
        k8s_jwks = k8s.jwks_url(),
        k8s_ca = k8s.ca_certificate().display(),
    )
}

fn github_token(github: &FakeIssuer, repository: &str) -> String {
    github.sign(&github_actions_claims(
        &github.issuer(),
        AUDIENCE,
        repository,
        "refs/heads/main",
        Duration::from_secs(300),
    ))
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn now_secs() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_jobs_push_by_their_claims_and_every_bad_token_is_refused_with_its_reason() {
    require_tools(&["docker-registry", "skopeo"]);
    let github = FakeIssuer::start();
    let gitlab = FakeIssuer::start();
    gitlab.publish(vec![IssuerKey::generate("gitlab-1", KeyType::Rs256)]);
    let k8s = FakeIssuer::start();
    k8s.publish(vec![IssuerKey::generate("k8s-1", KeyType::Ps256)]);
    let site = Site::new();
    site.write_config(&config(&github, &gitlab, &k8s));
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let base = site.url("");

    // Each platform's token gets what the rules on its claims give, and
    // the user name it comes with does not matter.
    let cases = [
        (
            "GitHub Actions",
            github_token(&github, "my-org/app"),
            "my-org/app",
        ),
        (
            "GitLab CI",
            gitlab.sign(&gitlab_ci_claims(
                &gitlab.issuer(),
                AUDIENCE,
                "group/sub/project",
                "main",
                Duration::from_secs(300),
            )),
            "group/sub/project/image",
        ),
        (
            "Kubernetes",
            k8s.sign(&kubernetes_claims(
                &k8s.issuer(),
                AUDIENCE,
                "ci",
                "builder",
                Duration::from_secs(600),
            )),
            "ci/builder",
        ),
    ];
    for (platform, job_token, repository) in &cases {
        let scope = format!("repository:{repository}:push,pull");
        let (status, body) = token(
            &base,
            &format!("service={AUDIENCE}&scope={scope}"),
            Some(("whatever-user", job_token)),
        )
        .await;
        assert_eq!(status, 200, "{platform}: {body}\n{}", server.log());
        assert_eq!(
            access(&body),
            json!([{"type": "repository", "name": repository, "actions": ["pull", "push"]}]),
            "{platform}"
        );
        // A workload identity ends with its token: no refresh token.
        assert!(body["refresh_token"].is_null(), "{platform}: {body}");
        // Not another repository.
        let (status, body) = token(
            &base,
            &format!("service={AUDIENCE}&scope=repository:someone/else:push"),
            Some(("ci", job_token)),
        )
        .await;
        assert_eq!(status, 200, "{platform}");
        assert_eq!(access(&body), json!([]), "{platform}");
    }

    // skopeo pushes through the real registry with a job token.
    let registry = site.registry(&site.url("/token")).await;
    let layout_dir = site.path("layout");
    write_oci_layout(&layout_dir, "v1", "hello");
    let layout = format!("oci:{}:v1", layout_dir.display());
    let github_job = github_token(&github, "my-org/app");
    let (pushed, out) = skopeo_push(
        &layout,
        &format!("docker://{}/my-org/app:v1", registry.addr),
        &format!("github-actions:{github_job}"),
    )
    .await;
    assert!(pushed, "{out}\n--- token server:\n{}", server.log());
    let (pushed, out) = skopeo_push(
        &layout,
        &format!("docker://{}/my-org/other:v1", registry.addr),
        &format!("github-actions:{github_job}"),
    )
    .await;
    assert!(!pushed, "another repository's image: {out}");

    // Every refusal: 401 with the usual body, the reason in the audit log.
    let now = now_secs();
    let claims = || {
        github_actions_claims(
            &github.issuer(),
            AUDIENCE,
            "my-org/app",
            "refs/heads/main",
            Duration::from_secs(300),
        )
    };
    let key = github.signing_key();
    let refusals: Vec<(&str, String, String)> = vec![
        (
            "wrong audience",
            github.sign(&with(claims(), "aud", json!("other.example.com"))),
            "audience \"other.example.com\" is not \"registry.test\"".into(),
        ),
        (
            "expired",
            github.sign(&with(
                with(claims(), "exp", json!(now - 300)),
                "iat",
                json!(now - 600),
            )),
            "expired 5m".into(),
        ),
        (
            "not yet valid",
            github.sign(&with(claims(), "nbf", json!(now + 600))),
            "not valid for another".into(),
        ),
        (
            "lifetime past max_lifetime",
            github.sign(&with(claims(), "exp", json!(now + 3 * 3600))),
            "is longer than max_lifetime 1h".into(),
        ),
        (
            "requirement not met",
            github_token(&github, "their-org/app"),
            "requirement repository_owner = \"my-org\" not met: the token has \"their-org\"".into(),
        ),
        (
            "another issuer's key",
            IssuerKey::generate(key.kid(), KeyType::Es256).sign(&claims()),
            "bad signature".into(),
        ),
        (
            "a tampered claim",
            tamper(&github.sign(&claims()), "repository", json!("my-org/admin")),
            "bad signature".into(),
        ),
        (
            "unknown kid",
            IssuerKey::generate("forged", KeyType::Es256).sign(&claims()),
            "the issuer has no ES256 key with kid \"forged\"".into(),
        ),
        (
            "alg none",
            unsigned_token(&claims()),
            "alg none: an unsigned token is never accepted".into(),
        ),
        (
            "HMAC with the public key",
            hs256_token(key.public_key_pem().as_bytes(), key.kid(), &claims()),
            "alg HS256: HMAC is never accepted (the issuer's keys are public)".into(),
        ),
        (
            "GitLab: an unprotected ref",
            gitlab.sign(&with(
                gitlab_ci_claims(
                    &gitlab.issuer(),
                    AUDIENCE,
                    "group/project",
                    "feature",
                    Duration::from_secs(300),
                ),
                "ref_protected",
                json!("false"),
            )),
            "requirement ref_protected = \"true\" not met: the token has \"false\"".into(),
        ),
    ];
    // A user name each, so the failed-login throttle (5 per account and
    // address) leaves every case its own answer.
    for (n, (case, bad, reason)) in refusals.iter().enumerate() {
        let (status, body) = token(
            &base,
            &format!("service={AUDIENCE}&scope=repository:my-org/app:pull"),
            Some((&format!("ci-{n}"), bad)),
        )
        .await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(
            body,
            json!({"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]}),
            "{case}"
        );
        let log = server.log();
        let line = log
            .lines()
            .filter(|l| l.contains("workload token refused"))
            .find(|l| l.contains(reason.as_str()));
        assert!(
            line.is_some(),
            "{case}: no refusal with {reason:?} in\n{log}"
        );
    }
    // An issuer that is not configured: not a workload token at all, just
    // a wrong password.
    let stranger = FakeIssuer::start();
    let (status, _) = token(
        &base,
        &format!("service={AUDIENCE}&scope=repository:my-org/app:pull"),
        Some(("ci", &github_token(&stranger, "my-org/app"))),
    )
    .await;
    assert_eq!(status, 401, "unknown issuer");
    let unknown = format!(
        "reason=issuer unknown: its iss \"{}\" is none of the configured issuers",
        stranger.issuer()
    );
    assert!(server.log().contains(&unknown), "{}", server.log());
    // No token is ever written to the log.
    let log = server.log();
    for (case, bad, _) in &refusals {
        let signature = bad.rsplit('.').next().unwrap_or_default();
        assert!(
            signature.is_empty() || !log.contains(signature),
            "{case}: the token is in the log"
        );
    }
    assert!(!log.contains(&github_job), "a job token is in the log");
    // Counted per issuer and result (checks: the credential cache is off).
    let metrics = crate::support::metrics_page(&base).await;
    for line in [
        "registry_auth_workload_token_checks_total{issuer=\"gitlab\",result=\"accepted\"} 2",
        "registry_auth_workload_token_checks_total{issuer=\"gitlab\",result=\"refused\"} 1",
        "registry_auth_workload_token_checks_total{issuer=\"k8s\",result=\"accepted\"} 2",
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }
    assert!(
        metrics.contains(
            "registry_auth_workload_token_checks_total{issuer=\"github\",result=\"refused\"} 10"
        ),
        "{metrics}"
    );

    // A reload keeps the issuers' keys: with GitHub's issuer unreachable
    // after an unrelated edit, its jobs still log in.
    let mut github = github;
    site.write_config(&format!("{}\n# edited\n", config(&github, &gitlab, &k8s)));
    let reloaded = crate::support::poll(
        || async { server.log().matches("configuration reloaded").count() },
        |n| *n >= 1,
    )
    .await;
    assert_eq!(reloaded, 1, "{}", server.log());
    github.stop();
    let (status, body) = token(
        &base,
        &format!("service={AUDIENCE}&scope=repository:my-org/app:pull"),
        Some(("ci", &github_token(&github, "my-org/app"))),
    )
    .await;
    assert_eq!(status, 200, "{body}\n{}", server.log());
    drop(registry);
    let _ = server.terminate().await;
}

#[test]
fn check_token_shows_the_issuer_the_identity_and_the_grant_or_why_not() {
    let github = FakeIssuer::start();
    let gitlab = FakeIssuer::start();
    let k8s = FakeIssuer::start();
    let site = Site::new();
    site.write_config(&config(&github, &gitlab, &k8s));
    let config = site.config_path();
    let c = config.to_str().unwrap();
    let check = |token: &str| {
        let out = run(
            &[
                "check",
                "-c",
                c,
                "--token",
                "-",
                "--scope",
                "repository:my-org/app:push,pull",
            ],
            Some(token),
        );
        let (stdout, stderr) = text(&out);
        (out.status.code(), stdout, stderr)
    };

    let job = github_token(&github, "my-org/app");
    let (code, stdout, stderr) = check(&job);
    assert_eq!(code, Some(0), "{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("workload token accepted by issuer github")
    );
    assert_eq!(lines.next(), Some("  subject: github:my-org/app"));
    assert_eq!(lines.next(), Some("  label owner: my-org"));
    assert_eq!(lines.next(), Some("  label ref: refs/heads/main"));
    assert_eq!(lines.next(), Some("  label repository: my-org/app"));
    assert!(
        lines
            .next()
            .unwrap_or_default()
            .starts_with("  valid until: "),
        "{stdout}"
    );
    assert_eq!(
        lines.collect::<Vec<_>>().join("\n"),
        "subject github:my-org/app on registry.test\n\
         repository:my-org/app:pull,push\n  rule 1 (a repository's own image) allows [pull, push]\n  granted: pull,push"
    );

    let (code, stdout, _) = check(&github_token(&github, "their-org/app"));
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "workload token refused by issuer github: requirement repository_owner = \"my-org\" not \
         met: the token has \"their-org\" (the client gets 401)\n"
    );

    let stranger = FakeIssuer::start();
    let (code, stdout, _) = check(&github_token(&stranger, "my-org/app"));
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!(
            "issuer unknown: the token's iss {:?} is none of the configured issuers (github {}, \
             gitlab {}, k8s {}); it is only a password here (the client gets 401)\n",
            stranger.issuer(),
            github.issuer(),
            gitlab.issuer(),
            k8s.issuer()
        )
    );

    // An issuer whose keys cannot be had: an error, and the client's 503.
    let mut github = github;
    github.stop();
    let (code, stdout, stderr) = check(&job);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stderr.contains("workload issuer github: cannot get its keys: ")
            && stderr.ends_with("(the client gets 503)\n"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_openid_providers_client_credentials_token_pushes_with_skopeo() {
    require_tools(&["docker-registry", "skopeo", "node"]);
    let mut provider = OidcProvider::start(OidcSettings::new(AUDIENCE)).await;
    let site = Site::new();
    site.write_config(&format!(
        r#"[[workload_identity]]
name = "sso"
issuer = "{issuer}"
ca_certificate = "{ca}"
audience = "{AUDIENCE}"
subject = "robot:${{sub}}"

[[acl]]
match = {{ account = "robot:{client}", name = "robots/*" }}
actions = ["pull", "push"]
comment = "the CI robot"
"#,
        issuer = provider.issuer(),
        ca = provider.ca_certificate().display(),
        client = provider.client_id(),
    ));
    let server = Server::start(&site.config_path(), &[], &site.url("/healthz")).await;
    let job = provider.client_credentials_token().await;

    let (status, body) = token(
        &site.url(""),
        &format!("service={AUDIENCE}&scope=repository:robots/app:push,pull"),
        Some(("robot", &job)),
    )
    .await;
    assert_eq!(status, 200, "{body}\n{}", server.log());
    assert_eq!(
        access(&body),
        json!([{"type": "repository", "name": "robots/app", "actions": ["pull", "push"]}])
    );

    let registry = site.registry(&site.url("/token")).await;
    let layout_dir = site.path("layout");
    write_oci_layout(&layout_dir, "v1", "hello");
    let layout = format!("oci:{}:v1", layout_dir.display());
    let (pushed, out) = skopeo_push(
        &layout,
        &format!("docker://{}/robots/app:v1", registry.addr),
        &format!("robot:{job}"),
    )
    .await;
    assert!(
        pushed,
        "{out}\n--- token server:\n{}\n--- provider:\n{}",
        server.log(),
        provider.log()
    );
    drop(registry);
    let _ = server.terminate().await;
    provider.stop().await;
}
