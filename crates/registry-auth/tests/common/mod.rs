//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

pub mod registry;

use std::path::PathBuf;
use std::time::Duration;

use registry_auth::{
    AccessRequest, AuthServer, AuthServerBuilder, Identity, Scope, StaticUsers, authorizer_fn,
};

pub const SERVICE: &str = "registry.test";
pub const ISSUER: &str = "registry-auth-test";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Users alice (pw "alice-pw"), bob ("bob-pw") and carol ("carol-pw"),
/// hashed at bcrypt's lowest cost to keep the tests fast.
pub fn users() -> StaticUsers {
    let hash = |pw: &str| bcrypt::hash(pw, 4).expect("bcrypt");
    StaticUsers::new()
        .user("alice", &hash("alice-pw"))
        .and_then(|u| {
            u.user_with_identity(
                "bob",
                &hash("bob-pw"),
                Identity::new("bob").with_attribute("groups", ["developers"]),
            )
        })
        .and_then(|u| u.user("carol", &hash("carol-pw")))
        .expect("test users")
}

/// The test policy:
/// - everyone who is authenticated pulls everything;
/// - alice has every action (`*`) on `alice/*` and `public/*`, and the catalog;
/// - bob pushes and pulls `bob/*` (no delete);
/// - anonymous pulls `public/*`.
pub fn policy() -> impl registry_auth::Authorizer {
    authorizer_fn(|who: Identity, req: AccessRequest| async move {
        let mut allowed = Vec::new();
        for s in &req.scopes {
            let user = who.subject();
            let actions: &[&str] = if s.resource_type == "registry" {
                if user == "alice" { &["*"] } else { &[] }
            } else if who.is_anonymous() {
                if s.name.starts_with("public/") {
                    &["pull"]
                } else {
                    &[]
                }
            } else if user == "alice"
                && (s.name.starts_with("alice/") || s.name.starts_with("public/"))
            {
                &["*"]
            } else if user == "bob" && s.name.starts_with("bob/") {
                &["pull", "push"]
            } else {
                &["pull"]
            };
            allowed.push(Scope::new(
                s.resource_type.clone(),
                s.name.clone(),
                actions.iter().copied(),
            ));
        }
        Ok(allowed)
    })
}

/// A builder with the test users, policy, service and issuer, signing with
/// the given key fixture.
pub fn builder(key: &str) -> AuthServerBuilder {
    AuthServer::builder()
        .authenticator(users())
        .authorizer(policy())
        .signing_key_pem_file(fixture(key))
        .issuer(ISSUER)
        .service(SERVICE)
        .token_lifetime(Duration::from_secs(300))
}

/// A token server on 127.0.0.1 (port picked by the OS), stopped on drop.
pub struct RunningServer {
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    pub async fn start(server: AuthServer) -> RunningServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }));
        RunningServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Decodes a JWT's header and claims without verifying it.
pub fn decode_unverified(token: &str) -> (serde_json::Value, serde_json::Value) {
    use data_encoding::BASE64URL_NOPAD;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts");
    let part = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&BASE64URL_NOPAD.decode(p.as_bytes()).expect("base64url"))
            .expect("json")
    };
    (part(parts[0]), part(parts[1]))
}
