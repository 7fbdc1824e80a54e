//! The one-shot subcommands: init, hash-password, check, token.

use std::io::{BufRead, IsTerminal, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use registry_auth::token::{decode_unverified, verify_token};
use registry_auth::{
    AccessRequest, Authenticator, Credentials, Identity, KeyIdMode, PasswordHash, Secret,
    SigningKey, parse_scopes,
};

use crate::config::Config;
use crate::keys::{self, KeyType};

/// `init`: key, certificate, starter config, registry snippets.
pub(crate) fn init(
    dir: &Path,
    service: &str,
    listen: SocketAddr,
    key_type: KeyType,
) -> Result<(), String> {
    let names = [
        "token.key",
        "token.crt",
        "config.toml",
        "registry-auth.yml",
        "jwks.json",
    ];
    let existing: Vec<String> = names
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(format!("refusing to overwrite {}", existing.join(", ")));
    }
    if service.is_empty() || service.contains(['"', '\n']) {
        return Err("--service must be a plain, non-empty name".into());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let (key_path, cert_path) = (dir.join("token.key"), dir.join("token.crt"));
    keys::generate(key_type, &key_path, Some(&cert_path))?;
    let key = SigningKey::from_pem_file(&key_path).map_err(|e| e.to_string())?;
    let kid = key.libtrust_key_id();
    let jwks = serde_json::json!({ "keys": [key.public_jwk(&kid)] });

    let config = STARTER_CONFIG
        .replace("@LISTEN@", &listen.to_string())
        .replace("@SERVICE@", service);
    write_new(&dir.join("config.toml"), &config)?;
    write_new(&dir.join("jwks.json"), &format!("{jwks:#}\n"))?;
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let snippet = format!(
        "# Registry 2.8 (Debian's docker-registry) and v3: paste under the registry's config.yml.\n\
         auth:\n  token:\n    realm: http://{listen}/token\n    service: {service}\n    issuer: registry-auth\n    \
         rootcertbundle: {cert}\n    \
         # v3 only, to find the key by kid without the certificate in the token:\n    \
         # jwks: {jwks}\n",
        cert = abs(&cert_path).display(),
        jwks = abs(&dir.join("jwks.json")).display(),
    );
    write_new(&dir.join("registry-auth.yml"), &snippet)?;
    let alg = key.algorithm();
    println!(
        "Wrote {dir}/token.key ({alg}), token.crt, config.toml, jwks.json and registry-auth.yml.\n\
         Add users with `registry-auth hash-password`, then run\n  \
         registry-auth serve --config {dir}/config.toml\n\n{snippet}",
        dir = dir.display()
    );
    Ok(())
}

fn write_new(path: &Path, text: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

const STARTER_CONFIG: &str = r#"# registry-auth configuration; every key is described in the README.
[server]
listen = "@LISTEN@"          # token endpoint at /token, /healthz, /metrics
# tls_certificate = "tls.crt"  # with tls_key: serve HTTPS (clients send passwords here)
# tls_key = "tls.key"

[token]
issuer = "registry-auth"      # must equal the registry's auth.token.issuer
services = ["@SERVICE@"]      # the registry's auth.token.service
lifetime = "5m"
signing_key = "token.key"
certificate = "token.crt"     # sent as x5c; the registry's rootcertbundle
key_id = "libtrust"           # or "thumbprint" (registry v3 without x5c)

[users]
# alice = "$2y$10$..."                 # registry-auth hash-password
# [users.bob]                          # or a table with labels
# password = "$2y$10$..."
# labels = { groups = ["developers"] }
# htpasswd = "users.htpasswd"          # bcrypt htpasswd file (htpasswd -B)

# Rules: first match wins; no match denies.
[[acl]]
match = { account = "/.+/", name = "${account}/*" }
actions = ["*"]
comment = "users own the namespace of their name"

[[acl]]
match = { account = "/.+/", type = "repository" }
actions = ["pull"]
comment = "users pull everything"

# [[acl]]
# match = { account = "", name = "public/*" }
# actions = ["pull"]
# comment = "anonymous pulls public/"
"#;

/// `hash-password`: prompt twice without echo on a terminal, else read one
/// line of stdin.
pub(crate) fn hash_password(argon2: bool, cost: u32) -> Result<(), String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    let hash = if argon2 {
        PasswordHash::argon2(&password)
    } else {
        PasswordHash::bcrypt(&password, cost)
    }
    .map_err(|e| e.to_string())?;
    println!("{hash}");
    Ok(())
}

/// Reads `value`, or stdin when it is `-`.
fn arg_or_stdin(value: &str, what: &str) -> Result<String, String> {
    if value != "-" {
        return Ok(value.to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the {what} from stdin: {e}"))?;
    Ok(text.trim().to_owned())
}

/// `check`: what the ACL grants, rule by rule.
pub(crate) fn check(
    config_path: &Path,
    user: Option<String>,
    password: Option<String>,
    service: Option<String>,
    ip: Option<IpAddr>,
    scopes: &[String],
) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let scopes = parse_scopes(scopes.iter().map(String::as_str)).map_err(|e| e.to_string())?;
    let service = match (service, &config.services) {
        (Some(s), Some(list)) if !list.contains(&s) => {
            return Err(format!("service {s:?} is not in token.services"));
        }
        (Some(s), _) => s,
        (None, Some(list)) if list.len() == 1 => list[0].clone(),
        (None, _) => return Err("give --service (the configuration has no single service)".into()),
    };
    let identity = match (&user, password) {
        (None, _) => {
            if !config.acl.allows_anonymous() {
                println!("anonymous clients get 401: no rule names account = \"\"");
                return Ok(());
            }
            println!("anonymous on {service}");
            Identity::anonymous()
        }
        (Some(user), Some(password)) => {
            let password = arg_or_stdin(&password, "password")?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))?;
            let credentials = Credentials::password(user.clone(), Secret::new(password));
            match runtime.block_on(config.users.authenticate(&credentials)) {
                Ok(identity) => {
                    println!("user {user}: password ok, on {service}");
                    identity
                }
                Err(_) => {
                    println!("user {user}: invalid username or password (the client gets 401)");
                    return Ok(());
                }
            }
        }
        (Some(user), None) => match config.users.identity(user) {
            Some(identity) => {
                println!("user {user} (password not checked) on {service}");
                identity.clone()
            }
            None => {
                println!(
                    "user {user} is not configured: a real client gets 401; rules as if it were:"
                );
                Identity::new(user.clone())
            }
        },
    };
    let mut request = AccessRequest::new(service, scopes);
    request.client_ip = ip;
    for decision in config.acl.decide(&identity, &request) {
        let granted = decision.granted();
        let why = match decision.rule {
            Some(i) => {
                let comment = config
                    .acl
                    .comment(i)
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                format!(
                    "rule {}{comment} allows [{}]",
                    i + 1,
                    decision.allowed.join(", ")
                )
            }
            None => "no rule matches: denied".to_owned(),
        };
        println!(
            "{}\n  {why}\n  granted: {}",
            decision.requested,
            if granted.is_empty() {
                "nothing".to_owned()
            } else {
                granted.join(",")
            }
        );
    }
    Ok(())
}

/// `token decode`.
pub(crate) fn token_decode(token: &str) -> Result<(), String> {
    let token = arg_or_stdin(token, "token")?;
    let decoded = decode_unverified(&token).map_err(|e| e.to_string())?;
    println!("{:#}\n{:#}", decoded.header, decoded.claims);
    Ok(())
}

/// `token verify`.
pub(crate) fn token_verify(token: &str, config_path: &Path) -> Result<(), String> {
    let token = arg_or_stdin(token, "token")?;
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let key = SigningKey::from_pem_file(&config.signing_key).map_err(|e| e.to_string())?;
    let key = match config.algorithm {
        Some(alg) => key.with_algorithm(alg).map_err(|e| e.to_string())?,
        None => key,
    };
    let verified = verify_token(
        &token,
        &key,
        &config.issuer,
        config.services.as_deref(),
        SystemTime::now(),
        Duration::from_secs(60),
    )
    .map_err(|e| format!("invalid token: {e}"))?;
    let kid = verified.header["kid"].as_str().unwrap_or_default();
    let expected = match config.key_id {
        KeyIdMode::Thumbprint => key.jwk_thumbprint(),
        _ => key.libtrust_key_id(),
    };
    if kid != expected {
        println!("warning: kid {kid:?} is not this key's ({expected})");
    }
    println!("valid\n{:#}", verified.claims);
    Ok(())
}
