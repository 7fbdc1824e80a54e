//! The original Go package's example, translated: a custom authenticator
//! and authorizer, the token server mounted under `/auth` of an existing
//! app, served over HTTPS.
//!
//! ```text
//! cargo run -p registry-auth --example embedded_tls
//! curl --cacert dev-data/tls.crt -u john:hello123 \
//!   'https://localhost:5001/auth?service=registry.local&scope=repository:john/hello:pull,push'
//! ```
//! Registry side: `realm: https://localhost:5001/auth`, `service:
//! registry.local`, `issuer: Authz`, `rootcertbundle: dev-data/token.crt`.

#[path = "common/dev_certs.rs"]
mod dev_certs;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::routing::get;
use axum_server::tls_rustls::RustlsConfig;
use registry_auth::{
    AccessRequest, AuthServer, Authenticator, AuthnError, Authorizer, AuthzError, Credentials,
    Identity, Scope, async_trait,
};

/// The Go example's users, kept in code. (`file_users.rs` shows a real
/// store with hashed passwords.)
struct ExampleAuthenticator;

#[async_trait]
impl Authenticator for ExampleAuthenticator {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
        const USERS: [(&str, &str); 2] = [("john", "hello123"), ("mike", "pass")];
        let Credentials::Password { username, password } = credentials else {
            return Err(AuthnError::InvalidCredentials);
        };
        USERS
            .iter()
            .find(|(name, pw)| name == username && password.ct_eq(pw))
            .map(|(name, _)| Identity::new(*name))
            .ok_or(AuthnError::InvalidCredentials)
    }
}

/// The Go example's rule: mike may not touch `john/hello`; everything else
/// that was asked is granted.
struct ExampleAuthorizer;

#[async_trait]
impl Authorizer for ExampleAuthorizer {
    async fn authorize(
        &self,
        who: &Identity,
        req: &AccessRequest,
    ) -> Result<Vec<Scope>, AuthzError> {
        Ok(req
            .scopes
            .iter()
            .filter(|s| !(who.subject() == "mike" && s.name == "john/hello"))
            .cloned()
            .collect())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new("dev-data");
    let signing = dev_certs::ensure(dir, "token", &["registry-auth"])?;
    let tls = dev_certs::ensure(dir, "tls", &["localhost", "127.0.0.1"])?;

    // Option{Authenticator, Authorizer, Certfile, Keyfile, TokenExpiration,
    // TokenIssuer} in the Go package.
    let server = AuthServer::builder()
        .authenticator(ExampleAuthenticator)
        .authorizer(ExampleAuthorizer)
        .signing_key_pem_file(&signing.key)
        .certificate_pem_file(&signing.cert)
        .token_lifetime(Duration::from_secs(24 * 60 * 60))
        .issuer("Authz")
        .service("registry.local")
        .build()?;

    // http.Handle("/auth", srv) in the Go package.
    let app = axum::Router::new()
        .route(
            "/",
            get(|| async { "an app that also issues registry tokens\n" }),
        )
        .nest_service("/auth", server);

    let addr: SocketAddr = "127.0.0.1:5001".parse()?;
    let config = RustlsConfig::from_pem_file(&tls.cert, &tls.key).await?;
    eprintln!("token endpoint: https://localhost:5001/auth");
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        registry_auth::shutdown_signal().await;
        on_signal.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    axum_server::bind_rustls(addr, config)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    Ok(())
}
