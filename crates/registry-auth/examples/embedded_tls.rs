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

use std::path::Path;
use std::time::Duration;

use axum::routing::get;
use registry_auth::serve::rustls_config;
use registry_auth::{
    AccessRequest, AuthServer, Authenticator, AuthnError, Authorizer, BackendError, Credentials,
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
    ) -> Result<Vec<Scope>, BackendError> {
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

    // http.Handle("/auth", srv) in the Go package: the token endpoint
    // answers at /auth and /auth/token, its keys at
    // /auth/.well-known/jwks.json.
    let app = axum::Router::new()
        .route(
            "/",
            get(|| async { "an app that also issues registry tokens\n" }),
        )
        .nest("/auth", server.router());

    // serve() hands the client address to the token server (throttling,
    // `ip` rules, the audit log) and applies the connection limits; it
    // stops on Ctrl-C or SIGTERM.
    let listener = std::net::TcpListener::bind("127.0.0.1:5001")?;
    eprintln!("token endpoint: https://localhost:5001/auth");
    registry_auth::serve(listener, app)
        .tls(rustls_config(&tls.cert, &tls.key).await?)
        .limits(server.limits())
        .await?;
    Ok(())
}
