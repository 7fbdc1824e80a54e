//! Criterion benchmarks of the token path, piece by piece and whole:
//! scope parsing, signing per key type, ACL decisions at 10 / 1 000 /
//! 10 000 rules, and a full request through the router without sockets.
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

fn full_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let acl = Acl::new(&[Rule {
        conditions: Match {
            account: Some(String::new()),
            name: Some("bench/*".into()),
            ..Match::default()
        },
        actions: vec!["pull".into()],
        comment: None,
    }])
    .unwrap();
    let server = AuthServer::builder()
        .authenticator(registry_auth::AnonymousOnly)
        .allow_anonymous(true)
        .authorizer(acl)
        .signing_key_pem_file(fixture("p256-sec1.pem"))
        .issuer("bench")
        .service("registry.bench")
        .build()
        .unwrap();
    let router = server.router();
    c.bench_function("request_anonymous_es256", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut req =
                    Request::get("/token?service=registry.bench&scope=repository:bench/app:pull")
                        .body(Body::empty())
                        .unwrap();
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

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = scope_parsing, signing, acl_decisions, full_request
}
criterion_main!(benches);
