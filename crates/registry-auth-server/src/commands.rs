//! The one-shot subcommands: init, hash-password, check, token.

use std::io::{BufRead, IsTerminal, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use registry_auth::identity::{PasswordHash, WorkloadVerdict};
use registry_auth::token::{JwtGenerator, TokenGenerator, Validation, decode_unverified, verify};
use registry_auth::{
    Authenticator, AuthnError, Credentials, DecidedBy, Error, Identity, Scope, Secret, TokenRequest,
};

use crate::config::{Config, MissingKey};
use crate::keys::{self, KeyType};

/// What `init` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitFiles {
    /// Key, certificate, starter configuration, JWKS and registry snippet.
    Everything,
    /// Key, certificate and JWKS, for a configuration written elsewhere
    /// (a compose file's, say).
    KeyOnly,
}

/// `init`: key, certificate, starter config, registry snippets.
/// With `brought`, the configuration names that key and certificate (a
/// CA-issued one, say) instead of a new pair; a certificate that is not in
/// force, or not the key's, is refused. With `keep_existing`, a `dir` that
/// already holds every file is left as it is (a one-shot container run on
/// every start); one that holds only some is still refused.
pub(crate) fn init(
    dir: &Path,
    service: &str,
    listen: SocketAddr,
    key_type: KeyType,
    brought: Option<(PathBuf, PathBuf)>,
    files: InitFiles,
    keep_existing: bool,
) -> Result<(), String> {
    let mut names = vec!["jwks.json"];
    if files == InitFiles::Everything {
        names.extend(["config.toml", "registry-auth.yml"]);
    }
    if brought.is_none() {
        names.extend(["token.key", "token.crt"]);
    }
    let (existing, missing): (Vec<&str>, Vec<&str>) =
        names.iter().partition(|n| dir.join(n).exists());
    if keep_existing && missing.is_empty() {
        return keep(dir, brought.is_none());
    }
    if !existing.is_empty() {
        let existing: Vec<String> = existing
            .iter()
            .map(|n| dir.join(n).display().to_string())
            .collect();
        return Err(if keep_existing {
            format!(
                "{} holds only part of a setup ({} missing): refusing to overwrite {}",
                dir.display(),
                missing.join(", "),
                existing.join(", ")
            )
        } else {
            format!("refusing to overwrite {}", existing.join(", "))
        });
    }
    if service.is_empty() || service.contains(['"', '\n']) {
        return Err("--service must be a plain, non-empty name".into());
    }
    let brought = brought
        .map(|(key, certificate)| keys::brought(&key, &certificate))
        .transpose()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let (key_path, cert_path) = match brought {
        Some(paths) => paths,
        None => {
            let (key, certificate) = (dir.join("token.key"), dir.join("token.crt"));
            keys::generate(key_type, &key, Some(&certificate))?;
            (key, certificate)
        }
    };
    // The generator the starter configuration makes, for its JWKS.
    let generator = starter_generator(&key_path, &cert_path).map_err(|e| e.to_string())?;
    let jwks = generator
        .jwks()
        .ok_or("the generator has no JWKS document")?;

    write_new(&dir.join("jwks.json"), &format!("{jwks:#}\n"))?;
    if files == InitFiles::KeyOnly {
        println!(
            "Signing key {key} ({alg}), certificate {cert} and jwks.json in {dir}.\n\
             Name them in the configuration's [token] signing_key and certificate, and give \
             the registry the certificate as its auth.token.rootcertbundle.",
            key = key_path.display(),
            alg = generator.signing_key().algorithm(),
            cert = cert_path.display(),
            dir = dir.display(),
        );
        return Ok(());
    }

    // Paths inside `dir` are written relative to the configuration.
    let in_config = |p: &Path| {
        let shown = p.strip_prefix(dir).unwrap_or(p).display().to_string();
        format!("{shown:?}")
    };
    let config = STARTER_CONFIG
        .replace("@LISTEN@", &listen.to_string())
        .replace("@SERVICE@", service)
        .replace("@KEY@", &in_config(&key_path))
        .replace("@CERTIFICATE@", &in_config(&cert_path));
    write_new(&dir.join("config.toml"), &config)?;
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    // A CA-issued certificate: the registry trusts the CA, not the leaf.
    let trusted = if keys::is_ca_issued(&generator) {
        format!(
            "/path/to/ca.crt   # the CA that issued {}",
            abs(&cert_path).display()
        )
    } else {
        abs(&cert_path).display().to_string()
    };
    let snippet = format!(
        "# Registry 2.8 (Debian's docker-registry) and v3: paste under the registry's config.yml.\n\
         auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: registry-auth\n    \
         rootcertbundle: {trusted}\n    \
         # v3 only, to find the key by kid without the certificate in the token:\n    \
         # jwks: {jwks}\n",
        realm = crate::config::realm("http", listen),
        jwks = abs(&dir.join("jwks.json")).display(),
    );
    write_new(&dir.join("registry-auth.yml"), &snippet)?;
    let alg = generator.signing_key().algorithm();
    println!(
        "Signing key {key} ({alg}), certificate {cert}.\n\
         Wrote config.toml, jwks.json and registry-auth.yml into {dir}.\n\
         Add users with `registry-auth hash-password`, then run\n  \
         registry-auth serve --config {dir}/config.toml\n\n{snippet}",
        dir = dir.display(),
        key = key_path.display(),
        cert = cert_path.display(),
    );
    Ok(())
}

/// `init --keep-existing` on a folder it already set up: checks that the
/// key and certificate there still load, so that a damaged volume is
/// reported by the one-shot run rather than by the server after it.
fn keep(dir: &Path, made_key: bool) -> Result<(), String> {
    if made_key {
        starter_generator(&dir.join("token.key"), &dir.join("token.crt"))
            .map_err(|e| format!("{} holds a key that does not load: {e}", dir.display()))?;
    }
    eprintln!(
        "registry-auth: {} is already set up; kept as it is",
        dir.display()
    );
    Ok(())
}

/// A generator of the key and certificate `init` wrote (or was brought),
/// with the issuer its starter configuration names.
fn starter_generator(
    key: &Path,
    certificate: &Path,
) -> Result<JwtGenerator, registry_auth::BuildError> {
    JwtGenerator::builder()
        .signing_key_pem_file(key)
        .certificate_pem_file(certificate)
        .issuer("registry-auth")
        .build()
}

fn write_new(path: &Path, text: &str) -> Result<(), String> {
    keys::write_new(path, text.as_bytes())
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
signing_key = @KEY@
certificate = @CERTIFICATE@     # sent as x5c; the registry's rootcertbundle
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
    // Said on stderr, so that the hash alone goes to stdout (scripts).
    if let Ok(parsed) = PasswordHash::parse(&hash) {
        eprintln!(
            "registry-auth: hashed with {}; give every user the same cost, or the time of a \
             wrong password tells users apart",
            parsed.cost()
        );
    }
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

/// Whom `check` asks about.
pub(crate) enum Client {
    Anonymous,
    /// A user, whose password is checked first when given.
    User {
        user: String,
        password: Option<String>,
    },
    /// A workload token used as the password.
    WorkloadToken(String),
}

/// `check`: what the server would grant, scope by scope, and which rule
/// decided: the server's own decision ([`AuthServer::explain`]), for a
/// user whose password is checked first when given, or for the identity
/// a workload token stands for.
///
/// [`AuthServer::explain`]: registry_auth::AuthServer::explain
pub(crate) fn check(
    config_path: &Path,
    client: Client,
    service: Option<String>,
    ip: Option<IpAddr>,
    scopes: &[String],
) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let scopes = Scope::parse_list(scopes.iter().map(String::as_str)).map_err(|e| e.to_string())?;
    let server = config.explaining_server().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    // The service the server resolves when none is given: the only one.
    let service_shown = service
        .clone()
        .or_else(|| config.services.as_ref().and_then(|s| s.first().cloned()))
        .unwrap_or_default();
    let mut request = TokenRequest::new(Credentials::Anonymous).with_scopes(scopes);
    request.service = service;
    request.client_ip = ip;
    // Errors about the service, in the words of the configuration file.
    let explained = |error: Error| match error {
        Error::UnknownService(s) => format!("service {s:?} is not in token.services"),
        Error::MissingService => "give --service (the configuration has no single service)".into(),
        other => other.to_string(),
    };
    let (who, heading, decisions) = match client {
        Client::Anonymous => {
            if !config.acl.allows_anonymous() {
                println!("anonymous clients get 401: no rule names account = \"\"");
                return Ok(());
            }
            let decisions = runtime.block_on(server.explain(&Identity::anonymous(), request));
            ("anonymous".to_owned(), " on", decisions)
        }
        Client::WorkloadToken(token) => {
            let token = arg_or_stdin(&token, "token")?;
            let Some(identity) = runtime.block_on(workload_identity(&config, &token))? else {
                return Ok(());
            };
            let decisions = runtime.block_on(server.explain(&identity, request));
            (format!("subject {}", identity.subject()), " on", decisions)
        }
        Client::User {
            user,
            password: Some(password),
        } => {
            let password = arg_or_stdin(&password, "password")?;
            let credentials = Credentials::password(user.clone(), Secret::new(password));
            match runtime.block_on(config.owners().authenticate(&credentials)) {
                Ok(identity) => (
                    format!("user {user}"),
                    ": password ok, on",
                    runtime.block_on(server.explain(&identity, request)),
                ),
                Err(_) => {
                    println!("user {user}: invalid username or password (the client gets 401)");
                    return Ok(());
                }
            }
        }
        Client::User {
            user,
            password: None,
        } => {
            let identity = match config.users.identity(&user) {
                Some(identity) if config.users.is_disabled(&user) => {
                    println!(
                        "user {user} is disabled: a real client gets 401; rules as if it were not:"
                    );
                    identity.clone()
                }
                Some(identity) => identity.clone(),
                None if config.directory.is_some() => {
                    match runtime.block_on(config.owners().refresh(&Identity::new(user.clone()))) {
                        Ok(identity) => {
                            println!(
                                "user {user} is in the directory, with {:?}",
                                identity.attributes()
                            );
                            identity
                        }
                        Err(AuthnError::Unavailable(e)) => {
                            return Err(format!("cannot ask the directory about {user}: {e}"));
                        }
                        Err(_) => {
                            println!(
                                "user {user} is neither configured nor in the directory: a real \
                                 client gets 401; rules as if it were:"
                            );
                            Identity::new(user.clone())
                        }
                    }
                }
                None => {
                    println!(
                        "user {user} is not configured: a real client gets 401; rules as if it were:"
                    );
                    Identity::new(user.clone())
                }
            };
            let decisions = runtime.block_on(server.explain(&identity, request));
            (
                format!("user {user}"),
                " (password not checked) on",
                decisions,
            )
        }
    };
    let decisions = decisions.map_err(explained)?;
    println!("{who}{heading} {service_shown}");
    for decision in decisions {
        let granted = decision.granted();
        let why = match decision.decided_by {
            DecidedBy::Rule(i) => {
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
            _ => "no rule matches: denied".to_owned(),
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

/// What the configuration's workload issuers make of `token`, printed:
/// the identity when one accepts it (`None` when the client would get
/// 401, which is said). An issuer whose keys cannot be had is an error.
async fn workload_identity(config: &Config, token: &str) -> Result<Option<Identity>, String> {
    let Some(workloads) = &config.workloads else {
        println!(
            "no [[workload_identity]] is configured: a token is only a password here (the client \
             gets 401)"
        );
        return Ok(None);
    };
    match workloads.verdict(token).await {
        WorkloadVerdict::Accepted { issuer, identity } => {
            println!("workload token accepted by issuer {issuer}");
            println!("  subject: {}", identity.subject());
            for (label, values) in identity.attributes() {
                println!("  label {label}: {}", values.join(", "));
            }
            if let Some(end) = identity.valid_until() {
                println!("  valid until: {}", humantime::format_rfc3339_seconds(end));
            }
            Ok(Some(identity))
        }
        WorkloadVerdict::Refused { issuer, reason } => {
            println!("workload token refused by issuer {issuer}: {reason} (the client gets 401)");
            Ok(None)
        }
        WorkloadVerdict::Unavailable { issuer, reason } => Err(format!(
            "workload issuer {issuer}: cannot get its keys: {reason} (the client gets 503)"
        )),
        WorkloadVerdict::NotMine { iss } => {
            let configured: Vec<String> = workloads
                .issuers()
                .map(|(name, url)| format!("{name} {url}"))
                .collect();
            match iss {
                Some(iss) => println!(
                    "issuer unknown: the token's iss {iss:?} is none of the configured issuers \
                     ({}); it is only a password here (the client gets 401)",
                    configured.join(", ")
                ),
                None => {
                    println!("not a JWT with an iss: not a workload token (the client gets 401)")
                }
            }
            Ok(None)
        }
        other => Err(format!("workload token: {other:?}")),
    }
}

/// `token decode`.
pub(crate) fn token_decode(token: &str) -> Result<(), String> {
    let token = arg_or_stdin(token, "token")?;
    let decoded = decode_unverified(&token).map_err(|e| e.to_string())?;
    println!("{:#}\n{:#}", decoded.header, decoded.claims);
    Ok(())
}

/// `token verify`: the configuration's own generator checks the token.
pub(crate) fn token_verify(token: &str, config_path: &Path) -> Result<(), String> {
    let token = arg_or_stdin(token, "token")?;
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let generator = config
        .jwt_generator(MissingKey::Refuse)
        .map_err(|e| e.to_string())?;
    let mut validation = Validation::new(generator.issuer());
    if let Some(services) = &config.services {
        validation = validation.audiences(services.iter().cloned());
    }
    let verified = verify(&token, generator.signing_key(), &validation)
        .map_err(|e| format!("invalid token: {e}"))?;
    let kid = verified.header["kid"].as_str().unwrap_or_default();
    if kid != generator.key_id() {
        println!(
            "warning: kid {kid:?} is not this key's ({})",
            generator.key_id()
        );
    }
    println!("valid\n{:#}", verified.claims);
    Ok(())
}

/// `registry-config`: the registry's `auth.token` block, and with
/// `--bundle`/`--jwks` the files it names, holding every key the server
/// signs with or publishes (so a registry restarted with them trusts the
/// next key of a rotation before it signs).
pub(crate) fn registry_config(
    config_path: &Path,
    bundle: Option<&Path>,
    jwks: Option<&Path>,
) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    if bundle.is_some() || jwks.is_some() {
        let generator = config
            .jwt_generator(MissingKey::Refuse)
            .map_err(|e| e.to_string())?;
        write_registry_files(&config, &generator, bundle, jwks)?;
    }
    print!("{}", config.registry_snippet_with(bundle, jwks));
    Ok(())
}

/// Writes the registry's `rootcertbundle` (every certificate of
/// `generator`: the signing one and the published ones) and `jwks` file
/// (every key, under the `kid` its tokens carry), where asked.
pub(crate) fn write_registry_files(
    config: &Config,
    generator: &JwtGenerator,
    bundle: Option<&Path>,
    jwks: Option<&Path>,
) -> Result<(), String> {
    if let Some(file) = bundle {
        let pem = generator.trust_bundle_pem();
        if pem.is_empty() {
            return Err(format!(
                "--bundle: {} has no token.certificate; a registry's rootcertbundle \
                 holds certificates",
                config.path.display()
            ));
        }
        for (n, key) in generator.published_keys().iter().enumerate() {
            if key.certificate_der().is_none() {
                eprintln!(
                    "registry-auth: published key {} ({}) is a bare public key: only a \
                     registry given the jwks file trusts it",
                    n + 1,
                    key.key_id(config.key_id)
                );
            }
        }
        write_file(file, &pem)?;
    }
    if let Some(file) = jwks {
        let document = generator.jwks().unwrap_or_default();
        let text = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
        write_file(file, &format!("{text}\n"))?;
    }
    Ok(())
}

/// Writes a file whole (beside, then renamed), so a reader (a registry,
/// the server's reload) never sees half; an existing file keeps its
/// permissions.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), String> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let kept = std::fs::metadata(path).ok().map(|m| m.permissions());
    std::fs::write(&partial, text)
        .and_then(|()| match kept {
            Some(permissions) => std::fs::set_permissions(&partial, permissions),
            None => Ok(()),
        })
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            format!("cannot write {}: {e}", path.display())
        })
}
