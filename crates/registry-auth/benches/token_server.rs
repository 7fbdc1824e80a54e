//! Criterion benchmarks of the token path, piece by piece and whole:
//! scope parsing, signing per key type, ACL decisions at 10 / 1 000 /
//! 10 000 rules, and full requests through the router without sockets
//! (anonymous, a cached password, a workload token cached and verified).
//!
//! `cargo bench -p registry-auth` (add `-- --quick` for a short run).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use registry_auth::acl::{Acl, Match, Rule};
use registry_auth::token::{JwtGenerator, TokenGenerator};
use registry_auth::{AccessRequest, AuthServer, Identity, Scope};
use tower::ServiceExt;

fn fixture(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn scopes(n: usize) -> String {
    (0..n)
        .map(|i| format!("repository:team{i}/service-{i}:pull,push"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn scope_parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("scope_parse");
    for n in [1, 10, 50] {
        let text = scopes(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| Scope::parse_list([black_box(text.as_str())]).unwrap())
        });
    }
    group.finish();
}

fn signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    let who = Identity::new("alice");
    let request = AccessRequest::new("registry.bench", vec![]);
    let granted = [Scope::repository("alice/app", ["pull", "push"])];
    for (name, key) in [
        ("ES256", "p256-sec1.pem"),
        ("ES384", "p384-sec1.pem"),
        ("RS256-2048", "rsa2048-pkcs1.pem"),
        ("EdDSA", "ed25519-pkcs8.pem"),
    ] {
        let generator = JwtGenerator::builder()
            .signing_key_pem_file(fixture(key))
            .issuer("bench")
            .build()
            .unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                generator
                    .generate(&who, black_box(&granted), &request)
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// `n` rules shaped like a real configuration: one namespace rule per
/// user, plus a few general rules at the end.
fn rules(n: usize) -> Vec<Rule> {
    let mut specs: Vec<Rule> = (0..n.saturating_sub(3))
        .map(|i| Rule {
            conditions: Match {
                account: Some(format!("user{i}")),
                name: Some(format!("user{i}/*")),
                ..Match::default()
            },
            actions: vec!["*".into()],
            comment: None,
        })
        .collect();
    for (name, actions) in [
        ("${labels:team}/*", vec!["pull", "push"]),
        ("library/*", vec!["pull"]),
        ("**", vec!["pull"]),
    ] {
        specs.push(Rule {
            conditions: Match {
                account: Some("/.+/".into()),
                name: Some(name.into()),
                ..Match::default()
            },
            actions: actions.into_iter().map(String::from).collect(),
            comment: None,
        });
    }
    specs
}

fn acl_decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("acl_decide");
    for n in [10, 1_000, 10_000] {
        let acl = Acl::new(&rules(n)).unwrap();
        // A user in the middle, asking for their own repository and for
        // one that only the general rules decide.
        let user = format!("user{}", n / 2);
        let who = Identity::new(user.clone()).with_attribute("team", ["web"]);
        let request = AccessRequest::new(
            "registry.bench",
            vec![
                Scope::repository(format!("{user}/app"), ["pull", "push"]),
                Scope::repository("other/app", ["pull"]),
            ],
        );
        group.bench_with_input(BenchmarkId::from_parameter(n), &acl, |b, acl| {
            b.iter(|| acl.evaluate(black_box(&who), black_box(&request)))
        });
    }
    group.finish();
}

/// The router of a server that signs ES256 with `authenticator`, pull on
/// `bench/*` for anonymous clients and pull/push for everyone else, and
/// credentials cached for `cache`.
fn router_with(
    authenticator: impl registry_auth::Authenticator,
    cache: Option<Duration>,
) -> axum::Router {
    let acl = Acl::new(&[
        Rule {
            conditions: Match {
                account: Some(String::new()),
                name: Some("bench/*".into()),
                ..Match::default()
            },
            actions: vec!["pull".into()],
            comment: None,
        },
        Rule {
            conditions: Match {
                account: Some("/.+/".into()),
                ..Match::default()
            },
            actions: vec!["pull".into(), "push".into()],
            comment: None,
        },
    ])
    .unwrap();
    let mut builder = AuthServer::builder()
        .authenticator(authenticator)
        .allow_anonymous(true)
        .authorizer(acl)
        .signing_key_pem_file(fixture("p256-sec1.pem"))
        .issuer("bench")
        .service("registry.bench");
    if let Some(ttl) = cache {
        builder = builder.credential_cache(ttl);
    }
    builder.build().unwrap().router()
}

/// One `GET /token` for `bench/app:pull` through `router`, with this
/// `Authorization` header (or none), asserted 200.
fn bench_request(
    c: &mut Criterion,
    name: &str,
    router: &axum::Router,
    authorization: Option<String>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    c.bench_function(name, |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut req =
                    Request::get("/token?service=registry.bench&scope=repository:bench/app:pull");
                if let Some(value) = &authorization {
                    req = req.header("authorization", value);
                }
                let mut req = req.body(Body::empty()).unwrap();
                req.extensions_mut().insert(axum::extract::ConnectInfo(
                    std::net::SocketAddr::from(([192, 0, 2, 1], 40_000)),
                ));
                let resp = router.clone().oneshot(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                resp
            })
        })
    });
}

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!("Basic {}", data_encoding::BASE64.encode(pair.as_bytes()))
}

/// Whole requests side by side: anonymous, a cached password login (what
/// a directory or bcrypt user costs once cached), and with the
/// `workload-identity` feature a workload token cached and verified each
/// time.
fn full_request(c: &mut Criterion) {
    let anonymous = router_with(registry_auth::AnonymousOnly, None);
    bench_request(c, "request_anonymous_es256", &anonymous, None);

    let hash = registry_auth::identity::PasswordHash::bcrypt("bench-password", 4).unwrap();
    let users = registry_auth::identity::StaticUsers::new()
        .user("ci", &hash)
        .unwrap();
    let cached = router_with(users, Some(Duration::from_secs(60)));
    bench_request(
        c,
        "request_cached_password_es256",
        &cached,
        Some(basic("ci", "bench-password")),
    );

    #[cfg(feature = "workload-identity")]
    workload_requests(c);
}

#[cfg(feature = "workload-identity")]
fn workload_requests(c: &mut Criterion) {
    use registry_auth::identity::{WorkloadIdentity, WorkloadIssuerSettings};
    use registry_auth_testkit::{IssuerKey, KeyType, github_actions_claims, jwks};

    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    let key = IssuerKey::generate("bench-1", KeyType::Rs256);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[&key]).to_string()).unwrap();
    let mut github =
        WorkloadIssuerSettings::new("github", ISSUER, "registry.bench", "github:${repository}");
    github.jwks = Some(file.display().to_string());
    github
        .labels
        .insert("repository".into(), "repository".into());
    github
        .require
        .insert("repository_owner".into(), "my-org".into());
    let token = key.sign(&github_actions_claims(
        ISSUER,
        "registry.bench",
        "my-org/app",
        "refs/heads/main",
        Duration::from_secs(3600),
    ));
    let job = basic("github-actions", &token);
    for (name, cache) in [
        (
            "request_workload_token_cached",
            Some(Duration::from_secs(60)),
        ),
        ("request_workload_token_verified", None),
    ] {
        let workloads = WorkloadIdentity::new(vec![github.clone()]).unwrap();
        let router = router_with(workloads, cache);
        bench_request(c, name, &router, Some(job.clone()));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = scope_parsing, signing, acl_decisions, full_request
}
criterion_main!(benches);
