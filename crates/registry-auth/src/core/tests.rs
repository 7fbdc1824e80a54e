//! The protocol core's decisions, with no HTTP and no socket: a
//! [`TokenRequest`] in, a [`TokenResponse`] or an [`Error`] out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::{AuthServer, AuthServerBuilder, TokenResponse};
use crate::acl::{Acl, Match, Rule};
use crate::protocol::authn::{AnonymousOnly, AuthnError, authenticator_fn};
use crate::protocol::authz::{
    AccessRequest, AllowAll, Authorizer, DecidedBy, ScopeDecision, authorizer_fn,
};
use crate::protocol::backend::BackendError;
use crate::protocol::credentials::{Credentials, Secret};
use crate::protocol::error::Error;
use crate::protocol::identity::Identity;
use crate::protocol::request::TokenRequest;
use crate::protocol::scope::Scope;
use crate::state::{BrokenStore, CredentialFingerprint, MemoryStore, StateStore};

const KEY: &[u8] = include_bytes!("../../tests/data/p256-sec1.pem");

/// alice (password "pw") and bob ("pw", group "dev"); checked without a
/// password hash, which is not what these tests are about.
fn users() -> impl crate::Authenticator {
    authenticator_fn(|credentials: Credentials| async move {
        match credentials {
            Credentials::Password { username, password }
                if ["alice", "bob"].contains(&username.as_str()) && password.ct_eq("pw") =>
            {
                let identity = Identity::new(username.clone());
                Ok(if username == "bob" {
                    identity.with_attribute("groups", ["dev"])
                } else {
                    identity
                })
            }
            _ => Err(AuthnError::InvalidCredentials),
        }
    })
}

fn base() -> AuthServerBuilder {
    AuthServer::builder()
        .authenticator(users())
        .authorizer(AllowAll)
        .signing_key_pem(KEY)
        .issuer("test")
        .service("registry.test")
}

fn build(builder: AuthServerBuilder) -> AuthServer {
    builder.build().unwrap_or_else(|e| panic!("{e}"))
}

fn password(user: &str, pw: &str) -> TokenRequest {
    TokenRequest::new(Credentials::password(user, pw))
}

fn scopes(list: &[&str]) -> Vec<Scope> {
    Scope::parse_list(list.iter().copied()).unwrap_or_else(|e| panic!("{e}"))
}

async fn issue(server: &AuthServer, request: TokenRequest) -> Result<TokenResponse, Error> {
    server.issue(request).await
}

/// Counts how often it is asked; allows pull everywhere.
#[derive(Default)]
struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl Authorizer for Counting {
    async fn authorize(
        &self,
        _: &Identity,
        request: &AccessRequest,
    ) -> Result<Vec<Scope>, BackendError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(request
            .scopes
            .iter()
            .map(|s| Scope::new(s.resource_type.clone(), s.name.clone(), ["pull"]))
            .collect())
    }
}

#[tokio::test]
async fn a_login_without_scopes_asks_no_authorizer_and_grants_nothing() {
    let asked = Arc::new(AtomicUsize::new(0));
    let server = build(base().authorizer(Counting(asked.clone())));
    let response = issue(&server, password("alice", "pw")).await;
    let response = response.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.subject, "alice");
    assert_eq!(response.service, "registry.test");
    assert!(response.granted.is_empty() && response.decisions.is_empty());
    assert!(response.refresh_token.is_none(), "no offline access asked");
    assert_eq!(asked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_service_is_inferred_only_when_there_is_exactly_one() {
    let one = build(base());
    assert_eq!(
        issue(&one, password("alice", "pw"))
            .await
            .map(|r| r.service),
        Ok("registry.test".to_owned())
    );
    let long = "x".repeat(300);
    assert_eq!(
        issue(&one, password("alice", "pw").with_service(long.as_str()))
            .await
            .map(|r| r.service),
        Err(Error::UnknownService("x".repeat(100))),
        "the echoed name is cut to 100 characters"
    );
    let two = build(base().service("mirror.test"));
    assert_eq!(
        issue(&two, password("alice", "pw"))
            .await
            .map(|r| r.service),
        Err(Error::MissingService)
    );
    let any = build(base().accept_any_service());
    assert_eq!(
        issue(&any, password("alice", "pw").with_service("elsewhere"))
            .await
            .map(|r| r.service),
        Ok("elsewhere".to_owned())
    );
    assert_eq!(
        issue(&any, password("alice", "pw"))
            .await
            .map(|r| r.service),
        Err(Error::MissingService)
    );
}

#[tokio::test]
async fn account_must_agree_with_the_credentials_and_is_never_an_identity() {
    let server = build(base().allow_anonymous(true));
    let mut request = password("alice", "pw");
    request.account = Some("bob".into());
    assert_eq!(
        issue(&server, request).await.map(|r| r.subject),
        Err(Error::AccountMismatch {
            account: "bob".into()
        })
    );
    let mut request = TokenRequest::new(Credentials::Anonymous);
    request.account = Some("alice".into());
    assert_eq!(
        issue(&server, request).await.map(|r| r.subject),
        Ok(String::new())
    );
}

#[tokio::test]
async fn more_scopes_than_the_limit_are_refused_before_any_backend() {
    let asked = Arc::new(AtomicUsize::new(0));
    let limits = crate::Limits {
        max_scopes: 2,
        ..crate::Limits::default()
    };
    let server = build(base().authorizer(Counting(asked.clone())).limits(limits));
    let request =
        password("alice", "pw").with_scopes(scopes(&["repository:a:pull", "repository:b:pull"]));
    assert!(issue(&server, request).await.is_ok());
    let request = password("alice", "pw").with_scopes(scopes(&[
        "repository:a:pull",
        "repository:b:pull",
        "repository:c:pull",
    ]));
    assert_eq!(
        issue(&server, request).await.map(|r| r.granted),
        Err(Error::TooManyScopes { count: 3, max: 2 })
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn anonymous_clients_get_in_only_when_allowed() {
    let closed = build(base());
    let anonymous = || TokenRequest::new(Credentials::Anonymous);
    assert_eq!(
        issue(&closed, anonymous()).await.map(|r| r.subject),
        Err(Error::AuthenticationRequired)
    );
    let open = build(base().authenticator(AnonymousOnly).allow_anonymous(true));
    assert_eq!(
        issue(&open, anonymous()).await.map(|r| r.subject),
        Ok(String::new())
    );
    assert_eq!(
        issue(&open, password("alice", "pw"))
            .await
            .map(|r| r.subject),
        Err(Error::InvalidCredentials),
        "AnonymousOnly accepts no credentials"
    );
}

fn acl() -> Acl {
    let rule = |conditions: Match, actions: &[&str]| Rule {
        conditions,
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        comment: None,
    };
    let own = Match {
        account: Some("/.+/".into()),
        name: Some("${account}/*".into()),
        ..Match::default()
    };
    let dev = Match {
        labels: [("groups".to_owned(), "dev".to_owned())].into(),
        ..Match::default()
    };
    Acl::new(&[rule(own, &["*"]), rule(dev, &["pull"])]).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn each_decision_says_what_decided_it() {
    let server = build(base().authorizer(acl()));
    let request = password("bob", "pw").with_scopes(scopes(&[
        "repository:bob/app:push",
        "repository:alice/app:pull,push",
        "registry:catalog:*",
    ]));
    let response = issue(&server, request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let reasons: Vec<(String, DecidedBy, Vec<String>)> = response
        .decisions
        .iter()
        .map(|d| (d.requested.to_string(), d.decided_by, d.granted()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "repository:bob/app:push".to_owned(),
                DecidedBy::Rule(0),
                vec!["push".to_owned()]
            ),
            (
                "repository:alice/app:pull,push".to_owned(),
                DecidedBy::Rule(1),
                vec!["pull".to_owned()]
            ),
            (
                "registry:catalog:*".to_owned(),
                DecidedBy::Rule(1),
                vec!["pull".to_owned()]
            ),
        ]
    );
    assert_eq!(
        response.granted,
        scopes(&[
            "repository:bob/app:push",
            "repository:alice/app:pull",
            "registry:catalog:pull"
        ])
    );
    let plain = build(base());
    let response = issue(
        &plain,
        password("alice", "pw").with_scopes(scopes(&["repository:x:pull"])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.decisions[0].decided_by, DecidedBy::Authorizer);
}

/// Answers with decisions that claim more than was asked, in another
/// order, about resources nobody asked for.
struct Overreaching;

#[async_trait]
impl Authorizer for Overreaching {
    async fn authorize(&self, _: &Identity, _: &AccessRequest) -> Result<Vec<Scope>, BackendError> {
        Ok(Vec::new())
    }

    async fn decide(
        &self,
        _: &Identity,
        _: &AccessRequest,
    ) -> Result<Vec<ScopeDecision>, BackendError> {
        let all = |scope: &str| {
            ScopeDecision::new(
                Scope::parse(scope).unwrap_or_else(|e| panic!("{e}")),
                ["*"],
                DecidedBy::Rule(7),
            )
        };
        Ok(vec![
            all("repository:secret:pull,push,delete"),
            all("repository:b:pull,push,delete"),
            all("repository:a:pull,push,delete"),
        ])
    }
}

#[tokio::test]
async fn an_authorizer_cannot_grant_more_than_was_asked() {
    let server = build(base().authorizer(Overreaching));
    let request = password("alice", "pw").with_scopes(scopes(&[
        "repository:a:pull",
        "repository:b:push",
        "repository:c:pull",
    ]));
    let response = issue(&server, request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        response.granted,
        scopes(&["repository:a:pull", "repository:b:push"])
    );
    let requested: Vec<String> = response
        .decisions
        .iter()
        .map(|d| format!("{}={}", d.requested, d.decided_by))
        .collect();
    assert_eq!(
        requested,
        [
            "repository:a:pull=rule 8",
            "repository:b:push=rule 8",
            "repository:c:pull=authorizer"
        ],
        "one decision per requested scope, in order; the unanswered one is denied"
    );
}

#[tokio::test]
async fn explain_decides_like_issue_without_credentials_or_a_token() {
    let server = build(base().authorizer(acl()));
    let request = TokenRequest::new(Credentials::Anonymous)
        .with_scopes(scopes(&["repository:bob/x:push", "repository:y:pull"]));
    let bob = Identity::new("bob").with_attribute("groups", ["dev"]);
    let decisions = server
        .explain(&bob, request.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let granted: Vec<Vec<String>> = decisions.iter().map(ScopeDecision::granted).collect();
    assert_eq!(granted, [vec!["push".to_owned()], vec!["pull".to_owned()]]);
    assert_eq!(
        server
            .explain(&bob, request.with_service("other"))
            .await
            .map(|d| d.len()),
        Err(Error::UnknownService("other".into()))
    );
}

#[tokio::test]
async fn refresh_tokens_are_issued_redeemed_and_refused() {
    let store = Arc::new(MemoryStore::new());
    let server = build(base().service("mirror.test").state_store(store.clone()));
    let mut login = password("alice", "pw").with_service("registry.test");
    login.offline_token = true;
    login.client_id = Some("docker".into());
    let token = issue(&server, login.clone())
        .await
        .ok()
        .and_then(|r| r.refresh_token)
        .unwrap_or_else(|| panic!("a refresh token"));
    let refresh = |service: &str, client: Option<&str>| {
        let mut request =
            TokenRequest::new(Credentials::RefreshToken(token.clone())).with_service(service);
        request.client_id = client.map(str::to_owned);
        request
    };
    // Every client that shares docker's stored token sends its own id.
    for client in [
        Some("docker"),
        Some("containerd-client"),
        Some("buildkit-client"),
        Some("containers/image"),
        Some("go-containerregistry"),
        Some("oras-go"),
        Some("regclient/v0.8.0"),
        None,
    ] {
        let redeemed = issue(&server, refresh("registry.test", client)).await;
        let redeemed = redeemed.unwrap_or_else(|e| panic!("{client:?}: {e}"));
        assert_eq!(redeemed.subject, "alice");
        assert_eq!(redeemed.refresh_token, Some(token.clone()), "the same one");
    }
    // ...and each is recorded for audit.
    let listed = store
        .refresh_tokens(Some("alice"))
        .await
        .unwrap_or_default();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].record.client_ids,
        [
            "docker",
            "containerd-client",
            "buildkit-client",
            "containers/image",
            "go-containerregistry",
            "oras-go",
            "regclient/v0.8.0"
        ]
    );
    assert!(listed[0].record.last_used_at.is_some());
    // A client id of kilobytes is recorded cut short.
    let long = "x".repeat(4000);
    assert!(
        issue(&server, refresh("registry.test", Some(&long)))
            .await
            .is_ok()
    );
    let listed = store
        .refresh_tokens(Some("alice"))
        .await
        .unwrap_or_default();
    assert_eq!(
        listed[0].record.client_ids.last().map(String::len),
        Some(128)
    );
    assert_eq!(
        issue(&server, refresh("mirror.test", Some("docker")))
            .await
            .map(|r| r.subject),
        Err(Error::InvalidGrant(
            "refresh token issued for another service"
        ))
    );
    let unknown = TokenRequest::new(Credentials::RefreshToken(Secret::new("rart_unknown")))
        .with_service("registry.test");
    assert_eq!(
        issue(&server, unknown).await.map(|r| r.subject),
        Err(Error::InvalidGrant("unknown or revoked refresh token"))
    );

    let off = build(base().refresh_tokens(false));
    assert_eq!(
        issue(&off, login.clone())
            .await
            .map(|r| r.refresh_token.is_none()),
        Ok(true)
    );
    assert_eq!(
        issue(&off, refresh("registry.test", Some("docker")))
            .await
            .map(|r| r.subject),
        Err(Error::RefreshDisabled)
    );
}

#[tokio::test]
async fn a_down_store_refuses_refresh_tokens_but_not_password_logins() {
    let down = build(base().state_store(BrokenStore::Down));
    let mut login = password("alice", "pw").with_service("registry.test");
    // With a client address, so that the throttle asks the store (and
    // falls back to memory).
    login.client_ip = Some(std::net::IpAddr::from([192, 0, 2, 1]));
    for _ in 0..3 {
        assert_eq!(
            issue(&down, login.clone()).await.map(|r| r.subject),
            Ok("alice".to_owned()),
            "a login without offline access needs no store"
        );
    }
    // Wrong passwords are still counted, in memory: the sixth try waits.
    let mut wrong = password("alice", "nope").with_service("registry.test");
    wrong.client_ip = login.client_ip;
    for _ in 0..5 {
        assert_eq!(
            issue(&down, wrong.clone()).await.map(|r| r.subject),
            Err(Error::InvalidCredentials)
        );
    }
    assert!(matches!(
        issue(&down, login.clone()).await,
        Err(Error::Throttled { .. })
    ));
    login.client_ip = Some(std::net::IpAddr::from([192, 0, 2, 2]));
    login.offline_token = true;
    assert_eq!(
        issue(&down, login).await.map(|r| r.subject),
        Err(Error::StateStoreUnavailable)
    );
    let refresh = TokenRequest::new(Credentials::RefreshToken(Secret::new("rart_x")))
        .with_service("registry.test");
    assert_eq!(
        issue(&down, refresh).await.map(|r| r.subject),
        Err(Error::StateStoreUnavailable)
    );
}

#[tokio::test]
async fn changed_or_removed_credentials_end_refresh_tokens_for_good() {
    let store = Arc::new(MemoryStore::new());
    let server = build(base().state_store(store.clone()));
    let fingerprint = |hash: &str| CredentialFingerprint::of(&[hash.as_bytes()]);
    let users = |alice: &str| {
        vec![
            ("alice".to_owned(), fingerprint(alice)),
            ("bob".to_owned(), fingerprint("bob-1")),
        ]
    };
    assert_eq!(
        server.sync_credentials(&users("alice-1")).await.ok(),
        Some(vec![])
    );
    let login = |user: &str| {
        let mut login = password(user, "pw").with_service("registry.test");
        login.offline_token = true;
        login
    };
    let token_of = |user: &'static str| {
        let server = server.clone();
        async move {
            issue(&server, login(user))
                .await
                .ok()
                .and_then(|r| r.refresh_token)
                .unwrap_or_else(|| panic!("a refresh token"))
        }
    };
    let works = |token: Secret| {
        let server = server.clone();
        async move {
            let request =
                TokenRequest::new(Credentials::RefreshToken(token)).with_service("registry.test");
            issue(&server, request).await.map(|r| r.subject)
        }
    };
    let alice = token_of("alice").await;
    let bob = token_of("bob").await;
    assert_eq!(works(alice.clone()).await, Ok("alice".to_owned()));
    // The same users again: nothing ends.
    assert_eq!(
        server.sync_credentials(&users("alice-1")).await.ok(),
        Some(vec![])
    );
    assert_eq!(works(alice.clone()).await, Ok("alice".to_owned()));
    // Alice's password changes: her token ends, bob's lives on.
    assert_eq!(
        server.sync_credentials(&users("alice-2")).await.ok(),
        Some(vec!["alice".to_owned()])
    );
    let changed = Err(Error::InvalidGrant(
        "the user's credentials changed since the token was issued",
    ));
    assert_eq!(works(alice.clone()).await, changed);
    assert_eq!(works(bob.clone()).await, Ok("bob".to_owned()));
    // Bob is removed, then added back as he was: his old token stays dead.
    let alice_only = vec![("alice".to_owned(), fingerprint("alice-2"))];
    assert_eq!(
        server.sync_credentials(&alice_only).await.ok(),
        Some(vec!["bob".to_owned()])
    );
    assert_eq!(
        server.sync_credentials(&users("alice-2")).await.ok(),
        Some(vec!["bob".to_owned()])
    );
    assert_eq!(works(bob).await, changed);
    // A token issued after the change works; credentials_changed ends it.
    let fresh = token_of("alice").await;
    assert_eq!(works(fresh.clone()).await, Ok("alice".to_owned()));
    assert_eq!(server.credentials_changed("alice").await.ok(), Some(()));
    assert_eq!(works(fresh).await, changed);
}

#[tokio::test]
async fn failing_backends_are_503_and_never_a_token() {
    let authn_down = build(base().authenticator(authenticator_fn(|_| async {
        Err::<Identity, _>(AuthnError::unavailable("ldap down"))
    })));
    assert_eq!(
        issue(&authn_down, password("alice", "pw"))
            .await
            .map(|r| r.subject),
        Err(Error::AuthenticatorUnavailable)
    );
    let authz_down = build(base().authorizer(authorizer_fn(|_, _| async {
        Err(BackendError::from("db down"))
    })));
    let request = password("alice", "pw").with_scopes(scopes(&["repository:a:pull"]));
    assert_eq!(
        issue(&authz_down, request).await.map(|r| r.subject),
        Err(Error::AuthorizerUnavailable)
    );
}

#[tokio::test]
async fn a_throttled_client_gets_no_password_check() {
    let checks = Arc::new(AtomicUsize::new(0));
    let counted = checks.clone();
    let server = build(base().authenticator(authenticator_fn(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Err::<Identity, _>(AuthnError::InvalidCredentials) }
    })));
    let mut request = password("alice", "guess");
    request.client_ip = Some([192, 0, 2, 1].into());
    for _ in 0..5 {
        assert_eq!(
            issue(&server, request.clone()).await.map(|r| r.subject),
            Err(Error::InvalidCredentials)
        );
    }
    let throttled = issue(&server, request.clone()).await;
    assert!(
        matches!(throttled, Err(Error::Throttled { .. })),
        "{throttled:?}"
    );
    assert_eq!(
        checks.load(Ordering::SeqCst),
        5,
        "the sixth was not checked"
    );
}

#[tokio::test]
async fn a_token_issued_under_an_old_password_dies_where_the_new_one_is_known() {
    use crate::identity::{PasswordHash, StaticUsers};
    let store = Arc::new(MemoryStore::new());
    let hash = |pw: &str| PasswordHash::bcrypt(pw, 4).unwrap_or_default();
    let (old, new) = (hash("old-pw"), hash("new-pw"));
    let table = |hash: &str| StaticUsers::new().user("alice", hash).unwrap_or_default();
    let server = |hash: &str| build(base().authenticator(table(hash)).state_store(store.clone()));
    // Instance B took the new password (and recorded it); instance A has
    // not reloaded yet.
    let (a, b) = (server(&old), server(&new));
    let synced = |server: &AuthServer, hash: &str| {
        let server = server.clone();
        let list = table(hash).credential_fingerprints();
        async move { server.sync_credentials(&list).await.unwrap_or_default() }
    };
    assert_eq!(synced(&b, &old).await, Vec::<String>::new());
    assert_eq!(synced(&b, &new).await, ["alice"]);
    // Someone who knows the old password logs in at A...
    let mut login = password("alice", "old-pw").with_service("registry.test");
    login.offline_token = true;
    let stolen = issue(&a, login)
        .await
        .ok()
        .and_then(|r| r.refresh_token)
        .unwrap_or_else(|| panic!("A still takes the old password"));
    let refresh = |server: &AuthServer| {
        let server = server.clone();
        let request = TokenRequest::new(Credentials::RefreshToken(stolen.clone()))
            .with_service("registry.test");
        async move { issue(&server, request).await.map(|r| r.subject) }
    };
    let changed = Err(Error::InvalidGrant(
        "the user's credentials changed since the token was issued",
    ));
    // ...and the token is refused wherever the new password is known,
    assert_eq!(refresh(&b).await, changed);
    // including at A once it reloads, though its sync changes nothing
    // more in the store.
    let a = server(&new);
    assert_eq!(synced(&a, &new).await, Vec::<String>::new());
    assert_eq!(refresh(&a).await, changed);
}

/// 64 first logins with the same credentials at once (CI jobs starting
/// together) run the password check once, with the cache on or off, and
/// all get their token; a wrong password shared so is one failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_logins_run_one_check() {
    for cache in [
        std::time::Duration::ZERO,
        std::time::Duration::from_secs(60),
    ] {
        let checks = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&checks);
        let slow_users = authenticator_fn(move |credentials: Credentials| {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                match credentials {
                    Credentials::Password { username, password } if password.ct_eq("pw") => {
                        Ok(Identity::new(username))
                    }
                    _ => Err(AuthnError::InvalidCredentials),
                }
            }
        });
        let server = build(base().authenticator(slow_users).credential_cache(cache));
        let logins = (0..64).map(|_| issue(&server, password("alice", "pw")));
        let answers = futures_util::future::join_all(logins).await;
        assert!(answers.iter().all(Result::is_ok), "cache {cache:?}");
        assert_eq!(checks.load(Ordering::SeqCst), 1, "cache {cache:?}");
        let guesses = (0..64).map(|_| issue(&server, password("alice", "wrong")));
        let answers = futures_util::future::join_all(guesses).await;
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(Error::InvalidCredentials)))
        );
        assert_eq!(checks.load(Ordering::SeqCst), 2, "cache {cache:?}");
    }
}

/// An identity with a limit (an access token's) gets what the authorizer
/// allows intersected with the limit, globs in names; no refresh token
/// even when asked; and it is checked again at every login.
#[tokio::test]
async fn a_limited_identity_gets_the_intersection_and_no_refresh_token() {
    let checks = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&checks);
    let robot = authenticator_fn(move |_| {
        let counted = Arc::clone(&counted);
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let limit = ["repository:web/*:pull", "repository:web/app:push"]
                .iter()
                .map(|s| Scope::parse_pattern(s).unwrap_or_else(|e| panic!("{e}")))
                .collect();
            Ok(Identity::new("alice").with_limit(limit))
        }
    });
    let server = build(
        base()
            .authenticator(robot)
            .credential_cache(std::time::Duration::from_secs(60)),
    );
    let mut request = password("alice", "raat_x");
    request.scopes = scopes(&[
        "repository:web/app:pull,push,delete",
        "repository:web/db:*",
        "repository:web/a/b:pull",
        "repository:other:pull",
    ]);
    request.offline_token = true;
    let response = issue(&server, request.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let granted: Vec<String> = response.granted.iter().map(ToString::to_string).collect();
    assert_eq!(
        granted,
        ["repository:web/app:pull,push", "repository:web/db:pull"]
    );
    assert!(response.refresh_token.is_none());
    assert!(
        response
            .decisions
            .iter()
            .all(|d| d.decided_by == DecidedBy::Limit)
    );
    let _ = issue(&server, request).await;
    assert_eq!(checks.load(Ordering::SeqCst), 2, "never cached");
}
