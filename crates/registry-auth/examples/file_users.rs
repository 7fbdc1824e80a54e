//! Users from a file of the example's own, rules in code, plain HTTP on
//! 127.0.0.1:5001 for development.
//!
//! ```text
//! cargo run -p registry-auth --example file_users [-- USERS_FILE]
//! ```
//!
//! The users file has one `NAME:BCRYPT-HASH[:GROUP,GROUP…]` per line (see
//! `examples/users.txt`). The rules: members of `admins` may do anything,
//! catalog included; users push, pull and delete in their own namespace
//! (`alice/…`) and pull from `library/…`; anyone, even anonymous, pulls
//! from `public/…`. The signing key and certificate are made in `dev-data/`
//! on first start, and the registry configuration to use them is printed.

#[path = "common/dev_certs.rs"]
mod dev_certs;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use registry_auth::identity::StaticUsers;
use registry_auth::{AccessRequest, AuthServer, Identity, Scope, authorizer_fn};

const SERVICE: &str = "registry.local";
const ISSUER: &str = "registry-auth";

/// Reads the users file into the library's bcrypt user table, groups as
/// the identity's `groups` attribute. Errors name the line.
fn load_users(path: &Path) -> Result<StaticUsers, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut users = StaticUsers::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.splitn(3, ':');
        let (Some(name), Some(hash)) = (fields.next(), fields.next()) else {
            return Err(format!(
                "{}:{}: expected NAME:BCRYPT-HASH[:GROUPS]",
                path.display(),
                n + 1
            ));
        };
        if name.is_empty() || !hash.starts_with("$2") {
            return Err(format!(
                "{}:{}: expected a name and a bcrypt hash ($2a$, $2b$ or $2y$)",
                path.display(),
                n + 1
            ));
        }
        let groups = fields
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|g| !g.is_empty());
        let identity = Identity::new(name).with_attribute("groups", groups);
        users = users
            .user_with_identity(name, hash, identity)
            .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
    }
    Ok(users)
}

/// The rules described at the top of this file.
fn allowed(who: &Identity, scope: &Scope) -> Vec<&'static str> {
    if who.attribute("groups").iter().any(|g| g == "admins") {
        return vec!["*"];
    }
    if scope.resource_type != "repository" {
        return vec![];
    }
    let own = format!("{}/", who.subject());
    if !who.is_anonymous() && scope.name.starts_with(&own) {
        vec!["pull", "push", "delete"]
    } else if scope.name.starts_with("public/")
        || (!who.is_anonymous() && scope.name.starts_with("library/"))
    {
        vec!["pull"]
    } else {
        vec![]
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users_file = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.txt"));
    let users = load_users(&users_file)?;
    let signing = dev_certs::ensure(Path::new("dev-data"), "token", &["registry-auth"])?;

    let server = AuthServer::builder()
        .authenticator(users)
        .authorizer(authorizer_fn(
            |who: Identity, req: AccessRequest| async move {
                Ok(req
                    .scopes
                    .iter()
                    .map(|s| Scope::new(s.resource_type.clone(), s.name.clone(), allowed(&who, s)))
                    .collect())
            },
        ))
        .allow_anonymous(true)
        .signing_key_pem_file(&signing.key)
        .certificate_pem_file(&signing.cert)
        .issuer(ISSUER)
        .service(SERVICE)
        .token_lifetime(Duration::from_secs(300))
        .build()?;

    let addr: SocketAddr = "127.0.0.1:5001".parse()?;
    let bundle = std::fs::canonicalize(&signing.cert)?;
    println!(
        "registry-auth example listening on http://{addr}/token\n\n\
         Registry configuration (config.yml):\n\
         auth:\n  token:\n    realm: http://{addr}/token\n    service: {SERVICE}\n    \
         issuer: {ISSUER}\n    rootcertbundle: {}\n",
        bundle.display()
    );
    server.serve(addr).await?;
    Ok(())
}
