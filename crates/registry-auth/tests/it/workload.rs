//! `WorkloadIdentity` fetching keys over HTTPS from a fixture issuer of
//! the test's own (`registry_auth_testkit::FakeIssuer`): discovery, a JWKS
//! URL, rotation, a flood of unknown key ids, an issuer that stops, drips,
//! floods or lies, and a CA that is not its own. The end-to-end tests with
//! the registry and a real OpenID provider are the server's.

use std::time::Duration;

use registry_auth::identity::{WorkloadIdentity, WorkloadIssuerSettings, WorkloadVerdict};
use registry_auth::{Authenticator, AuthnError, Credentials, Secret};
use registry_auth_testkit::{FakeIssuer, IssuerMode, KeyType, github_actions_claims};

const AUDIENCE: &str = "registry.example.com";

fn settings(issuer: &FakeIssuer) -> WorkloadIssuerSettings {
    let mut settings =
        WorkloadIssuerSettings::new("github", issuer.issuer(), AUDIENCE, "github:${repository}");
    settings.ca_certificate = Some(issuer.ca_certificate().to_owned());
    settings
        .labels
        .insert("repository".into(), "repository".into());
    settings.fetch_timeout = Duration::from_secs(2);
    settings
}

fn workloads_of(settings: WorkloadIssuerSettings) -> WorkloadIdentity {
    WorkloadIdentity::new(vec![settings]).expect("workload settings")
}

fn token(issuer: &FakeIssuer) -> String {
    issuer.sign(&github_actions_claims(
        &issuer.issuer(),
        AUDIENCE,
        "my-org/app",
        "refs/heads/main",
        Duration::from_secs(300),
    ))
}

fn accepted(verdict: WorkloadVerdict) -> String {
    match verdict {
        WorkloadVerdict::Accepted { identity, .. } => identity.subject().to_owned(),
        other => panic!("not accepted: {other:?}"),
    }
}

fn refused(verdict: WorkloadVerdict) -> String {
    match verdict {
        WorkloadVerdict::Refused { reason, .. } => reason,
        other => panic!("not refused: {other:?}"),
    }
}

fn unavailable(verdict: WorkloadVerdict) -> String {
    match verdict {
        WorkloadVerdict::Unavailable { reason, .. } => reason,
        other => panic!("not unavailable: {other:?}"),
    }
}

#[tokio::test]
async fn keys_come_from_discovery_once_and_then_from_the_cache() {
    let issuer = FakeIssuer::start();
    let workloads = workloads_of(settings(&issuer));
    for _ in 0..5 {
        assert_eq!(
            accepted(workloads.verdict(&token(&issuer)).await),
            "github:my-org/app"
        );
    }
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 1);

    // Keys named directly: no discovery.
    let mut direct = settings(&issuer);
    direct.jwks = Some(issuer.jwks_url());
    let direct = workloads_of(direct);
    assert_eq!(
        accepted(direct.verdict(&token(&issuer)).await),
        "github:my-org/app"
    );
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_its_kid_is_seen() {
    let issuer = FakeIssuer::start();
    let mut fast = settings(&issuer);
    fast.min_refetch_interval = Duration::from_secs(1);
    fast.key_max_age = Duration::from_secs(3600);
    let workloads = workloads_of(fast);
    accepted(workloads.verdict(&token(&issuer)).await);
    assert_eq!(issuer.jwks_fetches(), 1);

    issuer.rotate("key-2", KeyType::Rs256);
    // Within the interval of the last fetch, the new kid is not fetched.
    let reason = refused(workloads.verdict(&token(&issuer)).await);
    assert_eq!(reason, "the issuer has no RS256 key with kid \"key-2\"");
    assert_eq!(issuer.jwks_fetches(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        accepted(workloads.verdict(&token(&issuer)).await),
        "github:my-org/app"
    );
    assert_eq!(issuer.jwks_fetches(), 2, "one refetch");
    // The old key is still published, and known.
    accepted(workloads.verdict(&token(&issuer)).await);
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_unknown_kids_make_no_flood_of_fetches() {
    let issuer = FakeIssuer::start();
    let workloads = workloads_of(settings(&issuer));
    // No keys yet: the forged tokens arrive before any login fetched them.
    let key = issuer.signing_key();
    let claims = github_actions_claims(
        &issuer.issuer(),
        AUDIENCE,
        "my-org/app",
        "refs/heads/main",
        Duration::from_secs(300),
    );
    let mut checks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let mut header = jsonwebtoken::Header::new(key.algorithm());
        header.kid = Some(format!("forged-{i}-{}", rand_suffix(i)));
        let forged = key.sign_with_header(header, &claims);
        let workloads = workloads.clone();
        checks.spawn(async move { workloads.verdict(&forged).await });
    }
    let mut refusals = 0;
    while let Some(verdict) = checks.join_next().await {
        let reason = refused(verdict.expect("check ran"));
        assert!(reason.starts_with("the issuer has no ES256 key with kid \"forged-"));
        refusals += 1;
    }
    assert_eq!(refusals, 1000);
    assert_eq!(
        issuer.jwks_fetches(),
        1,
        "one fetch, which every forged kid waited for, and none again within 30 s"
    );
    assert_eq!(issuer.discovery_fetches(), 1);
    // The genuine key came with that fetch.
    accepted(workloads.verdict(&token(&issuer)).await);
    assert_eq!(issuer.jwks_fetches(), 1);
}

/// Different kids each time, so no two forged tokens are the same.
fn rand_suffix(i: u32) -> u32 {
    i.wrapping_mul(2_654_435_761)
}

#[tokio::test]
async fn a_stopped_issuer_keeps_its_cached_keys_and_without_them_is_503() {
    let mut issuer = FakeIssuer::start();
    let mut short = settings(&issuer);
    short.min_refetch_interval = Duration::from_secs(1);
    short.key_max_age = Duration::from_secs(1);
    let cached = workloads_of(short.clone());
    accepted(cached.verdict(&token(&issuer)).await);
    issuer.stop();
    // Past key_max_age the keys are fetched again; that fails, they stay.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        accepted(cached.verdict(&token(&issuer)).await),
        "github:my-org/app"
    );

    // A key the cache does not hold, while the issuer cannot be reached
    // (it may have rotated): 503, not a refusal.
    issuer.rotate("key-2", KeyType::Es256);
    let reason = unavailable(cached.verdict(&token(&issuer)).await);
    assert!(reason.contains(&issuer.issuer()), "{reason}");

    let fresh = workloads_of(short);
    let reason = unavailable(fresh.verdict(&token(&issuer)).await);
    assert!(reason.contains(&issuer.issuer()), "{reason}");
    let login = Credentials::password("ci", Secret::new(token(&issuer)));
    assert!(matches!(
        fresh.authenticate(&login).await,
        Err(AuthnError::Unavailable(_))
    ));

    // Back: after the interval, the fresh one fetches and accepts.
    issuer.restart();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        accepted(fresh.verdict(&token(&issuer)).await),
        "github:my-org/app"
    );
}

#[tokio::test]
async fn an_issuer_that_drips_floods_fails_or_lies_gives_no_keys() {
    let issuer = FakeIssuer::start();
    let check = |settings: WorkloadIssuerSettings| async {
        unavailable(workloads_of(settings).verdict(&token(&issuer)).await)
    };

    issuer.set_mode(IssuerMode::Drip {
        every: Duration::from_millis(200),
    });
    let mut impatient = settings(&issuer);
    impatient.fetch_timeout = Duration::from_secs(1);
    let reason = check(impatient).await;
    assert!(reason.contains("timed out"), "{reason}");

    issuer.set_mode(IssuerMode::Huge(1024 * 1024));
    let reason = check(settings(&issuer)).await;
    assert!(reason.ends_with("larger than 262144 bytes"), "{reason}");
    // Without an announced length: cut off while reading.
    issuer.set_mode(IssuerMode::Flood(1024 * 1024));
    let reason = check(settings(&issuer)).await;
    assert!(reason.ends_with("larger than 262144 bytes"), "{reason}");

    issuer.set_mode(IssuerMode::Status(500));
    let reason = check(settings(&issuer)).await;
    assert!(
        reason.ends_with("answered 500 Internal Server Error"),
        "{reason}"
    );

    // The discovery document must be the configured issuer's own.
    issuer.set_mode(IssuerMode::Normal);
    let mut other_name = settings(&issuer);
    other_name.issuer = issuer.issuer().replace("127.0.0.1", "localhost");
    let lying = workloads_of(other_name);
    let forged = issuer.sign(&github_actions_claims(
        &issuer.issuer().replace("127.0.0.1", "localhost"),
        AUDIENCE,
        "my-org/app",
        "refs/heads/main",
        Duration::from_secs(300),
    ));
    let reason = unavailable(lying.verdict(&forged).await);
    assert!(reason.contains("the document is of issuer"), "{reason}");

    // Another CA than the issuer's: the TLS handshake fails.
    let stranger = FakeIssuer::start();
    let mut wrong_ca = settings(&issuer);
    wrong_ca.ca_certificate = Some(stranger.ca_certificate().to_owned());
    let reason = check(wrong_ca).await;
    assert!(reason.contains(&issuer.issuer()), "{reason}");
    assert!(reason.contains("certificate"), "a TLS failure: {reason}");
}

#[tokio::test]
async fn a_login_that_gives_up_does_not_cancel_the_fetch_of_the_keys() {
    let issuer = FakeIssuer::start();
    // Discovery and JWKS, a byte each millisecond: well under a second.
    issuer.set_mode(IssuerMode::Drip {
        every: Duration::from_millis(1),
    });
    let workloads = workloads_of(settings(&issuer));
    let impatient = tokio::time::timeout(
        Duration::from_millis(50),
        workloads.verdict(&token(&issuer)),
    )
    .await;
    assert!(impatient.is_err(), "gave up while the keys were fetched");
    // The fetch went on without it: the next login finds the keys, and
    // no second fetch was needed (nor allowed, within 30 s).
    for _ in 0..100 {
        if issuer.jwks_fetches() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        accepted(workloads.verdict(&token(&issuer)).await),
        "github:my-org/app"
    );
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_reload_keeps_the_keys_of_issuers_set_up_as_before() {
    let mut issuer = FakeIssuer::start();
    let before = workloads_of(settings(&issuer));
    accepted(before.verdict(&token(&issuer)).await);
    assert_eq!(issuer.jwks_fetches(), 1);

    // The same settings, built anew (a reload): the keys in hand serve,
    // even with the issuer unreachable.
    let same = workloads_of(settings(&issuer)).keeping_keys_of(&before);
    issuer.stop();
    assert_eq!(
        accepted(same.verdict(&token(&issuer)).await),
        "github:my-org/app"
    );
    // Changed settings start afresh (and, the issuer down, cannot log in).
    let mut changed = settings(&issuer);
    changed.labels.insert("ref".into(), "ref".into());
    let changed = workloads_of(changed).keeping_keys_of(&before);
    unavailable(changed.verdict(&token(&issuer)).await);
    issuer.restart();
    assert_eq!(issuer.jwks_fetches(), 1);
}
