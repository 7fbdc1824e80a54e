//! The OAuth 2 form of the token endpoint and refresh tokens, replayed
//! request by request as docker, containerd, containers/image and crane
//! send them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use registry_auth::state::MemoryStore;
use registry_auth::{
    AccessRequest, AuthServer, Authenticator, AuthnError, Credentials, Identity, Scope,
    async_trait, authorizer_fn,
};
use serde_json::{Value, json};

use crate::support::{TestClock, access, builder, decode_unverified, enc, oauth_error, post};

/// `GET /token?query` as the OAuth tests read it: status and body.
async fn get(server: &AuthServer, query: &str, creds: Option<(&str, &str)>) -> (StatusCode, Value) {
    let (status, _, body) = crate::support::get(server, query, creds).await;
    (status, body)
}

/// docker login (GET with offline_token) and the refresh token it then
/// uses from its credential store.
async fn docker_login(server: &AuthServer, client_id: &str) -> String {
    let query = format!(
        "account=alice&client_id={}&offline_token=true&service=registry.test",
        enc(client_id)
    );
    let (status, body) = get(server, &query, Some(("alice", "alice-pw"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(access(&body), json!([]));
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

#[tokio::test]
async fn docker_classic_login_then_refresh_with_space_joined_scopes() {
    let server = builder("p256-sec1.pem").build().unwrap();
    let rt = docker_login(&server, "docker").await;
    assert!(rt.starts_with(registry_auth::state::REFRESH_TOKEN_PREFIX));
    let form = format!(
        "grant_type=refresh_token&client_id=docker&refresh_token={}&service=registry.test&scope={}",
        enc(&rt),
        enc("repository:alice/app:pull repository:alice/app:push")
    );
    let (status, body) = post(&server, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["refresh_token"], rt,
        "a refresh grant returns the same refresh token"
    );
    assert_eq!(body["scope"], "repository:alice/app:pull,push");
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].is_string());
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(
        access(&body),
        json!([{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}])
    );
    assert_eq!(
        decode_unverified(body["access_token"].as_str().unwrap()).1["sub"],
        "alice"
    );
}

#[tokio::test]
async fn a_login_without_offline_gets_no_refresh_token() {
    let server = builder("p256-sec1.pem").build().unwrap();
    let (_, body) = get(
        &server,
        "service=registry.test&client_id=docker",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert!(body.get("refresh_token").is_none());
    let (_, body) = get(
        &server,
        "service=registry.test&offline_token=false",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn containerd_posts_a_password_grant_with_repeated_scopes() {
    let server = builder("p256-sec1.pem").build().unwrap();
    let form = "grant_type=password&client_id=containerd-client&username=bob&password=bob-pw\
                &service=registry.test&scope=repository%3Abob%2Ftool%3Apull&scope=repository%3Abob%2Ftool%3Apush\
                &scope=repository%3Aalice%2Fapp%3Apull";
    let (status, body) = post(&server, form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("refresh_token").is_none(),
        "containerd did not ask for offline access"
    );
    assert_eq!(
        body["scope"],
        "repository:bob/tool:pull,push repository:alice/app:pull"
    );

    // Wrong password: 400 invalid_grant, on which containerd falls back to GET.
    let (status, body) = post(&server, &form.replace("bob-pw", "nope")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        oauth_error("invalid_grant", "invalid username or password")
    );

    // With access_type=offline it gets a refresh token (client ids are
    // recorded, not bound).
    let (_, body) = post(&server, &format!("{form}&access_type=offline")).await;
    let rt = body["refresh_token"].as_str().unwrap();
    let refresh = format!(
        "grant_type=refresh_token&client_id=containerd-client&refresh_token={}&service=registry.test",
        enc(rt)
    );
    assert_eq!(post(&server, &refresh).await.0, StatusCode::OK);
    // containerd's GET fallback sends the identity token as "":token.
    let (status, body) = get(
        &server,
        "service=registry.test&scope=repository:bob/tool:pull",
        Some(("", rt)),
    )
    .await;
    // ... without a client_id: the same token works there too.
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        access(&body),
        json!([{"type": "repository", "name": "bob/tool", "actions": ["pull"]}])
    );
}

#[tokio::test]
async fn an_identity_token_on_get_as_empty_basic_user() {
    let server = builder("p256-sec1.pem").build().unwrap();
    let query = "account=alice&offline_token=true&service=registry.test";
    let (_, body) = get(&server, query, Some(("alice", "alice-pw"))).await;
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = get(
        &server,
        "service=registry.test&scope=repository:alice/x:push",
        Some(("", &rt)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        access(&body),
        json!([{"type": "repository", "name": "alice/x", "actions": ["push"]}])
    );
    assert_eq!(body["refresh_token"], rt.as_str());
}

#[tokio::test]
async fn containers_image_refresh_with_repeated_scope_fields() {
    let server = builder("p256-sec1.pem").build().unwrap();
    let rt = docker_login(&server, "containers/image").await;
    let form = format!(
        "service=registry.test&scope=repository%3Aalice%2Fapp%3Apull%2Cpush&scope=repository%3Apublic%2Fbase%3Apull\
         &grant_type=refresh_token&refresh_token={}&client_id=containers%2Fimage",
        enc(&rt)
    );
    let (status, body) = post(&server, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        access(&body),
        json!([
            {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "public/base", "actions": ["pull"]},
        ])
    );
}

#[tokio::test]
async fn crane_gets_with_empty_service_then_refreshes_by_post() {
    let server = builder("p256-sec1.pem").build().unwrap();
    let (status, body) = get(
        &server,
        "scope=repository%3Aalice%2Fapp%3Apull&scope=repository%3Aalice%2Fapp%3Apush&service=",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none());
    let rt = docker_login(&server, "go-containerregistry").await;
    let form = format!(
        "grant_type=refresh_token&refresh_token={}&client_id=go-containerregistry&service=registry.test&scope=repository%3Aalice%2Fapp%3Apull",
        enc(&rt)
    );
    assert_eq!(post(&server, &form).await.0, StatusCode::OK);
}

#[tokio::test]
async fn refused_refresh_tokens_get_invalid_grant() {
    let clock = TestClock::at(1_800_000_000);
    let server = builder("p256-sec1.pem")
        .service("mirror.test")
        .clock(clock.clone())
        .refresh_token_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap();
    let rt = docker_login(&server, "docker").await;
    let form = |token: &str, client: &str, service: &str| {
        format!(
            "grant_type=refresh_token&client_id={client}&refresh_token={}&service={service}",
            enc(token)
        )
    };
    let invalid = oauth_error("invalid_grant", "invalid refresh token");
    assert_eq!(
        post(&server, &form(&rt, "docker", "registry.test")).await.0,
        StatusCode::OK
    );

    let mut tampered = rt.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for (token, client, service) in [
        (tampered.as_str(), "docker", "registry.test"),
        ("not-a-token", "docker", "registry.test"),
        (rt.as_str(), "docker", "mirror.test"),
    ] {
        let (status, body) = post(&server, &form(token, client, service)).await;
        assert_eq!(
            (status, body),
            (StatusCode::BAD_REQUEST, invalid.clone()),
            "{token} {client} {service}"
        );
    }

    // Expired: one second past its 3600 s lifetime.
    clock.advance(Duration::from_secs(3601));
    assert_eq!(
        post(&server, &form(&rt, "docker", "registry.test")).await.1,
        invalid
    );

    // Revoked one at a time, and all of a subject.
    clock.rewind(Duration::from_secs(3601));
    assert!(server.revoke_refresh_token(&rt).await.unwrap());
    assert_eq!(
        post(&server, &form(&rt, "docker", "registry.test")).await.1,
        invalid
    );
    let a = docker_login(&server, "docker").await;
    let b = docker_login(&server, "docker").await;
    assert_eq!(server.revoke_refresh_tokens_of("alice").await.unwrap(), 2);
    for t in [a, b] {
        assert_eq!(
            post(&server, &form(&t, "docker", "registry.test")).await.1,
            invalid
        );
    }
}

/// Users that can be disabled; permissions that can change.
struct Switchable {
    enabled: Arc<AtomicBool>,
}

#[async_trait]
impl Authenticator for Switchable {
    async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthnError> {
        match c {
            Credentials::Password { username, password } if password.ct_eq("pw") => {
                Ok(Identity::new(username.clone()))
            }
            _ => Err(AuthnError::InvalidCredentials),
        }
    }
    async fn refresh(&self, identity: &Identity) -> Result<Identity, AuthnError> {
        if self.enabled.load(Ordering::SeqCst) {
            Ok(identity.clone())
        } else {
            Err(AuthnError::InvalidCredentials)
        }
    }
}

#[tokio::test]
async fn refresh_reruns_authorization_and_honours_a_disabled_user() {
    let enabled = Arc::new(AtomicBool::new(true));
    let may_push = Arc::new(AtomicBool::new(true));
    let push = may_push.clone();
    let server = AuthServer::builder()
        .authenticator(Switchable {
            enabled: enabled.clone(),
        })
        .authorizer(authorizer_fn(move |_, req: AccessRequest| {
            let actions: &[&str] = if push.load(Ordering::SeqCst) {
                &["pull", "push"]
            } else {
                &["pull"]
            };
            let allowed = req
                .scopes
                .iter()
                .map(|s| Scope::repository(s.name.clone(), actions.iter().copied()))
                .collect();
            async move { Ok(allowed) }
        }))
        .signing_key_pem_file(crate::support::fixture("p256-sec1.pem"))
        .issuer(crate::support::ISSUER)
        .service(crate::support::SERVICE)
        .build()
        .unwrap();
    let (_, body) = get(
        &server,
        "service=registry.test&offline_token=true&client_id=docker",
        Some(("dave", "pw")),
    )
    .await;
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let form = format!(
        "grant_type=refresh_token&client_id=docker&refresh_token={}&service=registry.test&scope=repository%3Ax%3Apush",
        enc(&rt)
    );
    assert_eq!(
        access(&post(&server, &form).await.1)[0]["actions"],
        json!(["push"])
    );
    may_push.store(false, Ordering::SeqCst);
    assert_eq!(
        access(&post(&server, &form).await.1),
        json!([]),
        "permissions are not frozen into the refresh token"
    );
    enabled.store(false, Ordering::SeqCst);
    assert_eq!(
        post(&server, &form).await.1,
        oauth_error("invalid_grant", "invalid refresh token")
    );
}

#[tokio::test]
async fn malformed_oauth_requests_are_invalid_request() {
    let server = builder("p256-sec1.pem").build().unwrap();
    let cases = [
        (
            "service=registry.test&client_id=docker&refresh_token=x",
            "invalid_request",
            "grant_type is required",
        ),
        (
            "grant_type=refresh_token&client_id=docker&refresh_token=x",
            "invalid_request",
            "service is required",
        ),
        (
            "grant_type=refresh_token&service=registry.test&refresh_token=x",
            "invalid_request",
            "client_id is required",
        ),
        (
            "grant_type=password&service=registry.test&client_id=c&username=alice",
            "invalid_request",
            "password is required",
        ),
        (
            "grant_type=authorization_code&service=registry.test&client_id=c",
            "unsupported_grant_type",
            "grant_type \"authorization_code\" is not supported (use password or refresh_token)",
        ),
        (
            "grant_type=password&service=registry.test&client_id=c&username=alice&password=alice-pw&scope=repository%3AUPPER%3Apull",
            "invalid_scope",
            "invalid scope \"repository:UPPER:pull\": invalid resource name",
        ),
        (
            "grant_type=password&service=other&client_id=c&username=alice&password=alice-pw",
            "invalid_request",
            "service \"other\" is not served by this token server",
        ),
        (
            "grant_type=password&service=registry.test&client_id=c&username=alice&password=alice-pw&access_type=forever",
            "invalid_request",
            "access_type must be online or offline",
        ),
    ];
    for (form, code, description) in cases {
        let (status, body) = post(&server, form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form}");
        assert_eq!(body, oauth_error(code, description), "{form}");
    }
    let req = axum::http::Request::post("/token")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    assert_eq!(
        crate::support::send(server.router(), req).await.2["error"],
        "invalid_request"
    );
    let big = format!(
        "grant_type=password&service=registry.test&client_id=c&scope={}",
        "a".repeat(70_000)
    );
    let (status, body) = post(&server, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        body,
        oauth_error("invalid_request", "the body is larger than 65536 bytes")
    );
}

#[tokio::test]
async fn with_refresh_tokens_off_nothing_offline_is_issued_or_honoured() {
    let on = builder("p256-sec1.pem").build().unwrap();
    let rt = docker_login(&on, "docker").await;
    let off = builder("p256-sec1.pem")
        .refresh_tokens(false)
        .build()
        .unwrap();
    let (status, body) = get(
        &off,
        "account=alice&client_id=docker&offline_token=true&service=registry.test",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("refresh_token").is_none());
    let (_, body) = post(&off, "grant_type=password&service=registry.test&client_id=c&username=alice&password=alice-pw&access_type=offline").await;
    assert!(body.get("access_token").is_some() && body.get("refresh_token").is_none());
    let form = format!(
        "grant_type=refresh_token&client_id=docker&refresh_token={}&service=registry.test",
        enc(&rt)
    );
    let (status, body) = post(&off, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        oauth_error(
            "unsupported_grant_type",
            "refresh tokens are not accepted by this server"
        )
    );
}

#[tokio::test]
async fn a_shared_store_outlives_the_server_that_issued_the_token() {
    let store = Arc::new(MemoryStore::new());
    let first = builder("p256-sec1.pem")
        .state_store(store.clone())
        .build()
        .unwrap();
    let rt = docker_login(&first, "docker").await;
    assert_eq!(store.len(), 1);
    let second = builder("p256-sec1.pem")
        .state_store(store.clone())
        .build()
        .unwrap();
    let form = format!(
        "grant_type=refresh_token&client_id=docker&refresh_token={}&service=registry.test",
        enc(&rt)
    );
    assert_eq!(post(&second, &form).await.0, StatusCode::OK);
}
