//! Checks of tokens with keys from a JWKS file: no HTTP here (the
//! integration tests fetch keys from a fixture issuer over HTTPS).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use registry_auth_testkit::{
    IssuerKey, KeyType, github_actions_claims, hs256_token, jwks, kubernetes_claims, tamper,
    unsigned_token,
};
use serde_json::{Value, json};

use super::*;
use crate::protocol::credentials::Secret;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const AUDIENCE: &str = "registry.example.com";

#[derive(Debug)]
struct TestClock(Mutex<SystemTime>);

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Setup {
    workloads: WorkloadIdentity,
    key: IssuerKey,
    clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

fn github_settings(jwks_file: &std::path::Path) -> WorkloadIssuerSettings {
    let mut github =
        WorkloadIssuerSettings::new("github", ISSUER, AUDIENCE, "github:${repository}");
    github.jwks = Some(jwks_file.display().to_string());
    github
        .labels
        .insert("repository".into(), "repository".into());
    github.labels.insert("ref".into(), "ref".into());
    github
        .require
        .insert("repository_owner".into(), "my-org".into());
    github.max_lifetime = Some(Duration::from_secs(3600));
    github
}

/// An issuer whose keys (`keys`, the first one signing) are in a JWKS file.
fn setup_with(keys: Vec<IssuerKey>, adjust: impl FnOnce(&mut WorkloadIssuerSettings)) -> Setup {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("jwks.json");
    let refs: Vec<&IssuerKey> = keys.iter().collect();
    std::fs::write(&file, jwks(&refs).to_string()).unwrap_or_else(|e| panic!("{e}"));
    let mut settings = github_settings(&file);
    adjust(&mut settings);
    let clock = Arc::new(TestClock(Mutex::new(SystemTime::now())));
    let workloads = WorkloadIdentity::new(vec![settings])
        .unwrap_or_else(|e| panic!("{e}"))
        .with_clock(clock.clone());
    let key = keys.into_iter().next().unwrap_or_else(|| panic!("no key"));
    Setup {
        workloads,
        key,
        clock,
        _dir: dir,
    }
}

fn setup() -> Setup {
    setup_with(vec![IssuerKey::generate("gh-1", KeyType::Es256)], |_| {})
}

fn claims() -> Value {
    github_actions_claims(
        ISSUER,
        AUDIENCE,
        "my-org/app",
        "refs/heads/main",
        Duration::from_secs(300),
    )
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn reason(setup: &Setup, token: &str) -> String {
    match setup.workloads.verdict(token).await {
        WorkloadVerdict::Refused { issuer, reason } => {
            assert_eq!(issuer, "github");
            reason
        }
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn a_token_of_each_algorithm_becomes_its_subject_and_labels() {
    for key_type in [
        KeyType::Es256,
        KeyType::Es384,
        KeyType::Rs256,
        KeyType::Ps256,
        KeyType::EdDsa,
    ] {
        let setup = setup_with(
            vec![
                IssuerKey::generate("signing", key_type),
                IssuerKey::generate("other", KeyType::Es256),
            ],
            |_| {},
        );
        let claims = claims();
        let token = setup.key.sign(&claims);
        let identity = match setup.workloads.verdict(&token).await {
            WorkloadVerdict::Accepted { issuer, identity } => {
                assert_eq!(issuer, "github");
                identity
            }
            other => panic!("{key_type:?}: {other:?}"),
        };
        assert_eq!(identity.subject(), "github:my-org/app");
        assert_eq!(identity.attribute("repository"), ["my-org/app"]);
        assert_eq!(identity.attribute("ref"), ["refs/heads/main"]);
        let exp = claims["exp"].as_u64().unwrap_or_default();
        assert_eq!(
            identity.valid_until(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(exp))
        );
        assert!(!identity.may_be_refreshed());
        // As an authenticator: whatever the user name.
        let login = Credentials::password("anything", Secret::new(token));
        let by_login = setup.workloads.authenticate(&login).await;
        assert_eq!(by_login.ok().as_ref(), Some(&identity));
    }
}

#[tokio::test]
async fn refusals_say_why() {
    let setup = setup();
    let key = &setup.key;
    // Whole seconds, so that the reasons' durations are exact.
    let now = now_secs();
    *setup.clock.0.lock().unwrap_or_else(|e| e.into_inner()) =
        SystemTime::UNIX_EPOCH + Duration::from_secs(now);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong audience",
            key.sign(&with(claims(), "aud", json!("other.example.com"))),
            "audience \"other.example.com\" is not \"registry.example.com\"",
        ),
        (
            "audience list without ours",
            key.sign(&with(claims(), "aud", json!(["a", "b"]))),
            "audience [\"a\",\"b\"] is not \"registry.example.com\"",
        ),
        (
            "expired",
            key.sign(&with(
                with(claims(), "exp", json!(now - 61)),
                "iat",
                json!(now - 400),
            )),
            "expired 1m 1s ago",
        ),
        (
            "not yet valid",
            key.sign(&with(claims(), "nbf", json!(now + 120))),
            "not valid for another 2m",
        ),
        (
            "issued in the future",
            key.sign(&with(claims(), "iat", json!(now + 120))),
            "issued 2m in the future",
        ),
        (
            "lifetime past max_lifetime",
            key.sign(&with(
                with(claims(), "exp", json!(now + 7200)),
                "iat",
                json!(now),
            )),
            "lifetime 2h is longer than max_lifetime 1h",
        ),
        (
            "no exp",
            key.sign(&{
                let mut c = claims();
                c.as_object_mut().map(|o| o.remove("exp"));
                c
            }),
            "no exp",
        ),
        (
            "alg none",
            unsigned_token(&claims()),
            "alg none: an unsigned token is never accepted",
        ),
        (
            "HS256 with the public key as the secret",
            hs256_token(key.public_key_pem().as_bytes(), "gh-1", &claims()),
            "alg HS256: HMAC is never accepted (the issuer's keys are public)",
        ),
        (
            "a key of another issuer, same kid",
            IssuerKey::generate("gh-1", KeyType::Es256).sign(&claims()),
            "bad signature",
        ),
        (
            "a key of another issuer, its own kid",
            IssuerKey::generate("elsewhere", KeyType::Es256).sign(&claims()),
            "the issuer has no ES256 key with kid \"elsewhere\"",
        ),
        (
            "our key's kid with another algorithm",
            IssuerKey::generate("gh-1", KeyType::Rs256).sign(&claims()),
            "the issuer has no RS256 key with kid \"gh-1\"",
        ),
        (
            "a tampered claim",
            tamper(&key.sign(&claims()), "repository", json!("my-org/other")),
            "bad signature",
        ),
        (
            "a requirement not met",
            key.sign(&with(claims(), "repository_owner", json!("their-org"))),
            "requirement repository_owner = \"my-org\" not met: the token has \"their-org\"",
        ),
        (
            "a claim the subject needs",
            key.sign(&{
                let mut c = claims();
                c.as_object_mut().map(|o| o.remove("repository"));
                c
            }),
            "no claim repository (or not one string), which the subject needs",
        ),
    ];
    for (case, token, expected) in cases {
        assert_eq!(reason(&setup, &token).await, expected, "{case}");
        let login = Credentials::password("ci", Secret::new(token));
        assert!(
            matches!(
                setup.workloads.authenticate(&login).await,
                Err(AuthnError::InvalidCredentials)
            ),
            "{case}: 401"
        );
    }
}

#[tokio::test]
async fn sixty_seconds_of_skew_and_no_more() {
    let setup = setup();
    let token = setup.key.sign(&claims());
    let exp = claims()["exp"].as_u64().unwrap_or_default();
    let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    *setup.clock.0.lock().unwrap_or_else(|e| e.into_inner()) = at(exp + 60);
    assert!(matches!(
        setup.workloads.verdict(&token).await,
        WorkloadVerdict::Accepted { .. }
    ));
    *setup.clock.0.lock().unwrap_or_else(|e| e.into_inner()) = at(exp + 61);
    assert_eq!(reason(&setup, &token).await, "expired 1m 1s ago");
}

#[tokio::test]
async fn other_passwords_and_other_issuers_are_not_mine() {
    let setup = setup();
    let other_issuer = setup
        .key
        .sign(&with(claims(), "iss", json!("https://gitlab.com")));
    for (password, iss) in [
        ("s3cret", None),
        ("raat_abc", None),
        ("a.b.c", None),
        (other_issuer.as_str(), Some("https://gitlab.com")),
    ] {
        assert_eq!(
            setup.workloads.verdict(password).await,
            WorkloadVerdict::NotMine {
                iss: iss.map(str::to_owned)
            }
        );
        let login = Credentials::password("alice", Secret::new(password));
        assert!(matches!(
            setup.workloads.authenticate(&login).await,
            Err(AuthnError::NotMine)
        ));
    }
}

#[tokio::test]
async fn kubernetes_tokens_read_nested_claims_and_audience_lists() {
    const K8S: &str = "https://kubernetes.default.svc.cluster.local";
    let key = IssuerKey::generate("k8s", KeyType::Rs256);
    let setup = setup_with(vec![key], |s| {
        s.name = "k8s".into();
        s.issuer = K8S.into();
        s.subject = "k8s:${/kubernetes.io/namespace}:${/kubernetes.io/serviceaccount/name}".into();
        s.labels = [(
            "namespace".to_owned(),
            "/kubernetes.io/namespace".to_owned(),
        )]
        .into();
        s.require = [("sub".to_owned(), "system:serviceaccount:ci:*".to_owned())].into();
    });
    let token = setup.key.sign(&kubernetes_claims(
        K8S,
        AUDIENCE,
        "ci",
        "builder",
        Duration::from_secs(600),
    ));
    match setup.workloads.verdict(&token).await {
        WorkloadVerdict::Accepted { identity, .. } => {
            assert_eq!(identity.subject(), "k8s:ci:builder");
            assert_eq!(identity.attribute("namespace"), ["ci"]);
        }
        other => panic!("{other:?}"),
    }
    let elsewhere = setup.key.sign(&kubernetes_claims(
        K8S,
        AUDIENCE,
        "default",
        "builder",
        Duration::from_secs(600),
    ));
    assert!(matches!(
        setup.workloads.verdict(&elsewhere).await,
        WorkloadVerdict::Refused { reason, .. } if reason.starts_with("requirement sub")
    ));
}

#[test]
fn settings_that_cannot_work_are_named() {
    let base = || WorkloadIssuerSettings::new("github", ISSUER, AUDIENCE, "github:${repository}");
    let error = |adjust: &dyn Fn(&mut WorkloadIssuerSettings)| {
        let mut settings = base();
        adjust(&mut settings);
        settings
            .validate()
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default()
    };
    assert_eq!(
        error(&|s| s.name = "git hub".into()),
        "workload_identity \"git hub\": name: must be 1 to 64 letters, digits, '-' or '_'"
    );
    assert_eq!(
        error(&|s| s.issuer = "http://issuer.example.com".into()),
        "workload_identity \"github\": issuer: must be https:// (http:// only on a loopback address)"
    );
    assert_eq!(error(&|s| s.issuer = "http://127.0.0.1:8080".into()), "");
    assert_eq!(
        error(&|s| s.audience = " ".into()),
        "workload_identity \"github\": audience: must not be empty"
    );
    assert_eq!(
        error(&|s| s.subject = "github:${repository".into()),
        "workload_identity \"github\": subject: unclosed placeholder in \"github:${repository\""
    );
    assert_eq!(
        error(&|s| {
            s.require.insert("ref".into(), "/refs/(/".into());
        })
        .split(':')
        .take(2)
        .collect::<Vec<_>>()
        .join(":"),
        "workload_identity \"github\": require"
    );
    assert_eq!(
        error(&|s| s.min_refetch_interval = Duration::from_millis(10)),
        "workload_identity \"github\": min_refetch_interval: must be at least 1s"
    );
    assert_eq!(
        error(&|s| s.jwks = Some("ftp://keys.example.com/jwks".into())),
        "workload_identity \"github\": jwks: must be https://, not ftp://"
    );
    let twice = WorkloadIdentity::new(vec![base(), {
        let mut s = base();
        s.name = "github2".into();
        s
    }]);
    assert_eq!(
        twice.map(|_| ()).map_err(|e| e.to_string()),
        Err("workload_identity \"github2\": issuer: the same issuer as workload_identity \"github\"".into())
    );
    let missing = WorkloadIdentity::new(vec![{
        let mut s = base();
        s.jwks = Some("/nonexistent/jwks.json".into());
        s
    }]);
    assert!(matches!(
        missing,
        Err(WorkloadError::File {
            setting: "jwks",
            ..
        })
    ));
}
