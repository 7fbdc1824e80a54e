//! The HTTP adapter through its router, in process (no socket): every
//! status, header and JSON body a client can meet on the token endpoint.

use std::time::Duration;

use axum::http::StatusCode;
use registry_auth::{
    AuthServer, AuthnError, BackendError, Credentials, Identity, authenticator_fn, authorizer_fn,
};
use serde_json::json;

use crate::support::{
    ISSUER, SERVICE, TestClock, access, basic, builder, call, decode_unverified, fixture, get,
    policy, registry_error, server, users,
};

/// `GET uri` with a raw `Authorization` header, as a client sends it.
async fn get_raw(
    server: &AuthServer,
    uri: &str,
    authorization: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    call(server.router(), "GET", uri, authorization).await
}

fn anonymous_server() -> AuthServer {
    builder("p256-sec1.pem")
        .allow_anonymous(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn docker_login_without_scope_gets_a_token_with_no_access() {
    let uri = "/token?account=alice&client_id=docker&offline_token=true&service=registry.test";
    let (status, headers, body) = get_raw(&server(), uri, Some(&basic("alice", "alice-pw"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    let issued_at = body["issued_at"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(issued_at).is_ok(), "{issued_at}");
    let (_, claims) = decode_unverified(body["token"].as_str().unwrap());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], SERVICE);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["access"], json!([]));
}

#[tokio::test]
async fn every_scope_parameter_is_read_and_split_and_partially_granted() {
    let uri = "/token?service=registry.test\
               &scope=repository:alice/app:pull,push%20repository:bob/tool:push\
               &scope=repository:carol/x:pull&scope=repository:bob/tool:pull";
    let (status, _, body) = get_raw(&server(), uri, Some(&basic("bob", "bob-pw"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        access(&body),
        json!([
            {"type": "repository", "name": "alice/app", "actions": ["pull"]},
            {"type": "repository", "name": "bob/tool", "actions": ["pull", "push"]},
            {"type": "repository", "name": "carol/x", "actions": ["pull"]},
        ])
    );
}

#[tokio::test]
async fn nothing_granted_is_still_a_token() {
    let uri = "/token?service=registry.test&scope=repository:alice/app:push";
    let (status, _, body) = get_raw(&server(), uri, Some(&basic("carol", "carol-pw"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(access(&body), json!([]));
}

#[tokio::test]
async fn requested_wildcard_and_catalog() {
    let s = server();
    let uri = "/token?service=registry.test&scope=repository:alice/app:*&scope=registry:catalog:*";
    let (_, _, body) = get_raw(&s, uri, Some(&basic("alice", "alice-pw"))).await;
    assert_eq!(
        access(&body),
        json!([
            {"type": "repository", "name": "alice/app", "actions": ["*"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ])
    );
    let uri = "/token?service=registry.test&scope=repository:bob/x:*&scope=registry:catalog:*";
    let (_, _, body) = get_raw(&s, uri, Some(&basic("bob", "bob-pw"))).await;
    assert_eq!(
        access(&body),
        json!([{"type": "repository", "name": "bob/x", "actions": ["pull", "push"]}])
    );
}

#[tokio::test]
async fn host_port_and_class_in_scope_are_accepted_and_not_echoed() {
    let uri = "/token?service=registry.test&scope=repository(plugin):localhost:5000/alice/p:pull";
    let (status, _, body) = get_raw(&server(), uri, Some(&basic("alice", "alice-pw"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        access(&body),
        json!([{"type": "repository", "name": "alice/p", "actions": ["pull"]}])
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let s = server();
    let uri = "/token?service=registry.test&scope=repository:alice/app:pull";
    for auth in [
        basic("alice", "wrong"),
        basic("mallory", "alice-pw"),
        basic("", ""),
    ] {
        let (status, headers, body) = get_raw(&s, uri, Some(&auth)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers["www-authenticate"], "Basic realm=\"registry-auth\"");
        assert_eq!(
            body,
            registry_error("UNAUTHORIZED", "invalid username or password")
        );
    }
}

#[tokio::test]
async fn anonymous_is_refused_unless_allowed() {
    let uri = "/token?service=registry.test&scope=repository:public/base:pull";
    let (status, headers, body) = get_raw(&server(), uri, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Basic realm=\"registry-auth\"");
    assert_eq!(
        body,
        registry_error("UNAUTHORIZED", "authentication required")
    );

    let (status, _, body) = get_raw(&anonymous_server(), uri, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, claims) = decode_unverified(body["token"].as_str().unwrap());
    assert_eq!(claims["sub"], "");
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "public/base", "actions": ["pull"]}])
    );
}

#[tokio::test]
async fn anonymous_gets_only_what_policy_gives_anonymous() {
    let uri = "/token?service=registry.test&scope=repository:alice/app:pull&account=alice";
    let (status, _, body) = get_raw(&anonymous_server(), uri, None).await;
    // `account` without credentials is no identity at all.
    assert_eq!(status, StatusCode::OK);
    assert_eq!(access(&body), json!([]));
    let (_, claims) = decode_unverified(body["token"].as_str().unwrap());
    assert_eq!(claims["sub"], "");
}

#[tokio::test]
async fn account_must_match_the_basic_auth_user() {
    let s = server();
    let (status, _, body) = get(
        &s,
        "service=registry.test&account=bob",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        registry_error(
            "INVALID_REQUEST",
            "account \"bob\" does not match the user name in the Authorization header"
        )
    );
    let (status, _, _) = get(
        &s,
        "service=registry.test&account=alice",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_requests_are_400_with_a_reason() {
    let s = server();
    let alice = basic("alice", "alice-pw");
    let cases = [
        (
            "/token?service=registry.test&scope=repository:Alice:pull",
            Some(alice.as_str()),
            "INVALID_SCOPE",
            "invalid scope \"repository:Alice:pull\": invalid resource name",
        ),
        (
            "/token?service=registry.test&scope=repository",
            Some(alice.as_str()),
            "INVALID_SCOPE",
            "invalid scope \"repository\": expected type:name:actions",
        ),
        (
            "/token?service=other.registry",
            Some(alice.as_str()),
            "INVALID_REQUEST",
            "service \"other.registry\" is not served by this token server",
        ),
        (
            "/token?service=registry.test&service=registry.test",
            Some(alice.as_str()),
            "INVALID_REQUEST",
            "parameter service is given more than once",
        ),
        (
            "/token?service=registry.test",
            Some("Bearer abc"),
            "INVALID_REQUEST",
            "invalid Authorization header: only the Basic scheme is supported",
        ),
        (
            "/token?service=registry.test",
            Some("Basic bm9jb2xvbg=="),
            "INVALID_REQUEST",
            "invalid Authorization header: credentials have no ':' between user and password",
        ),
    ];
    for (uri, auth, code, message) in cases {
        let (status, _, body) = get_raw(&s, uri, auth).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body, registry_error(code, message), "{uri}");
    }
}

#[tokio::test]
async fn a_missing_service_is_inferred_only_when_unambiguous() {
    let (status, _, body) = get(
        &server(),
        "scope=repository:alice/a:pull",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        decode_unverified(body["token"].as_str().unwrap()).1["aud"],
        SERVICE
    );

    let two = builder("p256-sec1.pem")
        .service("second.test")
        .build()
        .unwrap();
    let (status, _, body) = get(&two, "service=", Some(("alice", "alice-pw"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        registry_error("INVALID_REQUEST", "the service parameter is required")
    );
    let (status, _, body) = get(&two, "service=second.test", Some(("alice", "alice-pw"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        decode_unverified(body["token"].as_str().unwrap()).1["aud"],
        "second.test"
    );
}

#[tokio::test]
async fn failing_backends_give_503_and_never_a_token() {
    let down = AuthServer::builder()
        .authenticator(authenticator_fn(|_: Credentials| async {
            Err::<Identity, _>(AuthnError::unavailable(
                "ldap://10.0.0.1 connection refused",
            ))
        }))
        .authorizer(policy())
        .signing_key_pem_file(fixture("p256-sec1.pem"))
        .issuer(ISSUER)
        .service(SERVICE)
        .build()
        .unwrap();
    let (status, headers, body) = get(&down, "service=registry.test", Some(("alice", "x"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(
        body,
        registry_error(
            "UNAVAILABLE",
            "the authentication backend is unavailable; try again later"
        )
    );

    let authz_down = AuthServer::builder()
        .authenticator(users())
        .authorizer(authorizer_fn(|_, _| async {
            Err(BackendError::from("db down"))
        }))
        .signing_key_pem_file(fixture("p256-sec1.pem"))
        .issuer(ISSUER)
        .service(SERVICE)
        .build()
        .unwrap();
    let uri = "/token?service=registry.test&scope=repository:alice/a:pull";
    let (status, _, body) = get_raw(&authz_down, uri, Some(&basic("alice", "alice-pw"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        registry_error(
            "UNAVAILABLE",
            "the authorization backend is unavailable; try again later"
        )
    );
}

#[tokio::test]
async fn nested_under_any_path() {
    let s = server();
    let app = axum::Router::new().nest("/auth", s.router());
    let alice = basic("alice", "alice-pw");
    for uri in [
        "/auth?service=registry.test",
        "/auth/token?service=registry.test",
    ] {
        let (status, _, body) = call(app.clone(), "GET", uri, Some(&alice)).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
    let (status, _, body) = call(app.clone(), "GET", "/auth/.well-known/jwks.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["keys"][0]["kid"], s.jwks().unwrap()["keys"][0]["kid"]);
    let deep = axum::Router::new().nest("/api/v1/registry", s.router());
    let (status, _, _) = call(
        deep,
        "GET",
        "/api/v1/registry/token?service=registry.test",
        Some(&alice),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_method_and_path_get_json_errors() {
    let s = server();
    let (status, _, body) = call(s.router(), "PUT", "/token", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body, registry_error("UNSUPPORTED", "method not allowed"));
    let (status, _, body) = call(s.router(), "GET", "/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, registry_error("NOT_FOUND", "not found"));
    let (status, _, body) = call(s.router(), "POST", "/token", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "the body must be application/x-www-form-urlencoded"})
    );
}

#[tokio::test]
async fn times_follow_the_clock() {
    let s = builder("p256-sec1.pem")
        .clock(TestClock::at(1_800_000_000))
        .token_lifetime(Duration::from_secs(600))
        .build()
        .unwrap();
    let (_, _, body) = get(&s, "service=registry.test", Some(("alice", "alice-pw"))).await;
    assert_eq!(body["issued_at"], "2027-01-15T08:00:00Z");
    assert_eq!(body["expires_in"], 600);
    let (_, claims) = decode_unverified(body["token"].as_str().unwrap());
    assert_eq!(claims["iat"], 1_800_000_000);
    assert_eq!(claims["nbf"], 1_800_000_000);
    assert_eq!(claims["exp"], 1_800_000_600);
}

/// A router served without the client's address (plain
/// `axum::serve(listener, app)`) would throttle nobody and match no `ip`
/// rule: refused with 500 and the reason, unless built to go without.
#[tokio::test]
async fn a_router_served_without_the_client_address_says_so() {
    let request = || {
        axum::http::Request::get("/token?service=registry.test")
            .header("authorization", crate::support::basic("alice", "alice-pw"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let refusing = builder("p256-sec1.pem").build().unwrap();
    let (status, _, body) = crate::support::send_as_is(refusing.router(), request()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"errors": [{"code": "UNKNOWN", "message": "the token server was not given the \
            client's address; serve its router with into_make_service_with_connect_info::<SocketAddr>()"}]})
    );
    let without = builder("p256-sec1.pem")
        .without_client_address()
        .build()
        .unwrap();
    let (status, _, _) = crate::support::send_as_is(without.router(), request()).await;
    assert_eq!(status, StatusCode::OK);
}
