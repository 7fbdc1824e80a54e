//! `registry-auth`: a token server for Docker / OCI registries, configured
//! by a file. The library's built-in users and ACL engine, plus wiring:
//! CLI, reload, health, metrics and logs.
//!
//! The binary is `src/main.rs`, which calls [`main`]; the code lives in this
//! library target so that the fuzz targets can reach the configuration
//! parser ([`check_config`]).

mod access_tokens;
mod commands;
mod config;
mod healthcheck;
mod identity_tokens;
mod key_report;
mod keys;
mod rotation;
mod serve;
mod service_manager;
mod sign_in;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// A token server for Docker / OCI registries: users and rules in a file.
#[derive(Debug, Parser)]
#[command(name = "registry-auth", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "REGISTRY_AUTH_LOG_FORMAT"
    )]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `registry_auth::audit=info,warn`.
    #[arg(long, global = true, default_value = "info", env = "REGISTRY_AUTH_LOG")]
    log_level: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the token server.
    Serve {
        /// The configuration file.
        #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
    },
    /// Write a signing key, its certificate, a starter configuration and the
    /// registry's auth.token block into DIR (default: the current directory).
    Init {
        /// Where to write the files; none may exist yet (but see
        /// --keep-existing).
        dir: Option<PathBuf>,
        /// The registry's service name (its auth.token.service).
        #[arg(long, default_value = "registry.local")]
        service: String,
        /// The address the token server will listen on.
        #[arg(long, default_value = "127.0.0.1:5001")]
        listen: std::net::SocketAddr,
        /// The kind of signing key to make.
        #[arg(long, value_enum, default_value = "ec", conflicts_with = "key")]
        key_type: keys::KeyType,
        #[command(flatten)]
        brought: BroughtKey,
        /// Write only the key, its certificate and jwks.json, for a
        /// configuration of your own (the compose file's, say).
        #[arg(long, conflicts_with = "key")]
        key_only: bool,
        /// When DIR already holds every file, keep them and succeed: for a
        /// one-shot service run on every start. A DIR holding only some is
        /// still refused.
        #[arg(long)]
        keep_existing: bool,
    },
    /// Read a password (prompt without echo, or one line of stdin) and
    /// print its hash for the [users] table.
    HashPassword {
        /// Hash with argon2id instead of bcrypt.
        #[arg(long)]
        argon2: bool,
        /// bcrypt cost (4 to 31).
        #[arg(long, default_value_t = 10)]
        cost: u32,
    },
    /// Ask a running server's /healthz (exit 0 on 200, 1 otherwise): for a
    /// container's HEALTHCHECK or a probe, where there is no curl.
    Healthcheck {
        /// The server's configuration: where it listens, and whether with
        /// TLS (an address for all interfaces is asked on loopback).
        #[arg(
            long,
            short,
            env = "REGISTRY_AUTH_CONFIG",
            default_value = "/etc/registry-auth/config.toml"
        )]
        config: PathBuf,
        /// Ask this URL instead (its TLS certificate is checked).
        #[arg(long)]
        url: Option<String>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Show what a user would be granted, and which rule decided, as the
    /// server built from the configuration decides (without serving).
    Check {
        /// The configuration file.
        #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
        /// The user to check.
        #[arg(
            long,
            required_unless_present_any = ["anonymous", "token"],
            conflicts_with_all = ["anonymous", "token"]
        )]
        user: Option<String>,
        /// Also check this password (`-` reads it from stdin).
        #[arg(long, requires = "user")]
        password: Option<String>,
        /// Check an anonymous client.
        #[arg(long, conflicts_with = "token")]
        anonymous: bool,
        /// Check a workload token (a CI job's OIDC JWT) used as the
        /// password: which issuer takes it, the identity it stands for, or
        /// why it is refused (`-` reads it from stdin).
        #[arg(long)]
        token: Option<String>,
        /// The service (default: the only configured one).
        #[arg(long)]
        service: Option<String>,
        /// The client address, for ip rules.
        #[arg(long)]
        ip: Option<IpAddr>,
        /// Scopes to check, e.g. repository:alice/app:pull,push.
        #[arg(long = "scope", required = true, num_args = 1..)]
        scopes: Vec<String>,
    },
    /// Show the keys a configuration signs with and publishes: ids,
    /// algorithm, certificate expiry.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Inspect tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// List or revoke identity tokens (what `docker login` stores) in the
    /// configuration's state store.
    IdentityTokens {
        #[command(subcommand)]
        command: IdentityTokensCommand,
    },
    /// Create, list or revoke access tokens: scoped, expiring passwords for
    /// robots and CI, kept (hashed) in the configuration's state store.
    AccessToken {
        #[command(subcommand)]
        command: AccessTokenCommand,
    },
    /// Print the registry's auth.token block for a configuration.
    RegistryConfig {
        #[command(flatten)]
        args: RegistryFilesArgs,
    },
}

#[derive(Debug, Subcommand)]
enum IdentityTokensCommand {
    /// Show stored identity tokens, oldest first: id, user, service,
    /// created, last used, expiry and the client ids seen. Never the token.
    List {
        /// The configuration file.
        #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one identity token by id, or all of a user's. The client's
    /// next refresh is refused; it must log in again.
    Revoke {
        /// The configuration file.
        #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
        /// The token's id, as `list` shows it.
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<String>,
        /// Revoke every token of this user.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AccessTokenCommand {
    /// Make a token for OWNER that may do at most what its scopes say.
    /// Prints it once, alone on the last line of stdout; the client logs
    /// in with the owner's name and the token as the password.
    Create {
        /// The configuration file.
        #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
        /// Its name, unique in the store (what `revoke` takes).
        #[arg(long)]
        name: String,
        /// The user it acts for: of [users], its htpasswd file or [ldap].
        #[arg(long)]
        owner: String,
        /// A scope it may be granted, e.g. repository:web/*:pull (`*`
        /// within a path segment, `**` across). Repeat for several.
        #[arg(long = "scope", required = true, num_args = 1..)]
        scopes: Vec<String>,
        /// How long it works, e.g. 90d, 12h, or `never`.
        #[arg(long, default_value = "90d", value_parser = parse_expiry)]
        expires: Expiry,
        /// The service the owner's rights are checked for (default: the
        /// only configured one).
        #[arg(long)]
        service: Option<String>,
    },
    /// Show the tokens, by name: owner, scopes, created, last used,
    /// expiry. Never a token itself: the store keeps only its hash.
    List {
        /// The configuration file.
        #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
        /// Only this owner's tokens.
        #[arg(long)]
        owner: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name: its next use is refused, on every instance.
    Revoke {
        /// The configuration file.
        #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
        /// The token's name.
        name: String,
    },
}

/// How long an access token works.
#[derive(Debug, Clone, Copy)]
struct Expiry(Option<std::time::Duration>);

fn parse_expiry(text: &str) -> Result<Expiry, String> {
    if text == "never" {
        return Ok(Expiry(None));
    }
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(Expiry(Some(d))),
        Ok(_) => Err("must be longer than 0".to_owned()),
        Err(e) => Err(format!("{e} (e.g. 90d, 12h, or never)")),
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// One line per key: role (signing, next, retiring, published),
    /// algorithm, libtrust id, thumbprint, certificate dates, file.
    List {
        /// The configuration file.
        #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
    },
    /// Change the signing key with no failed pull, in three steps that
    /// each edit the configuration (a running server reloads it).
    Rotate {
        #[command(subcommand)]
        step: RotateStep,
    },
}

#[derive(Debug, Subcommand)]
enum RotateStep {
    /// Make the next key and certificate beside the signing key (or take
    /// yours) and publish it without signing. Then give the registries the
    /// new bundle/JWKS and restart them.
    Prepare {
        #[command(flatten)]
        common: RegistryFilesArgs,
        /// The kind of key to make (default: like the signing key).
        #[arg(long, value_enum, conflicts_with = "key")]
        key_type: Option<keys::KeyType>,
        #[command(flatten)]
        brought: BroughtKey,
    },
    /// Sign with the prepared key; the previous one stays published.
    Promote {
        #[command(flatten)]
        common: RegistryFilesArgs,
    },
    /// Stop publishing the previous key. Refused until its tokens have
    /// expired (token lifetime + 60 s after the promotion).
    Retire {
        #[command(flatten)]
        common: RegistryFilesArgs,
    },
}

/// A signing key and certificate the operator brings instead of having
/// one made.
#[derive(Debug, clap::Args)]
struct BroughtKey {
    /// Use this key (e.g. one whose certificate a CA issued) instead of
    /// making one.
    #[arg(long, requires = "certificate")]
    key: Option<PathBuf>,
    /// The certificate of --key (leaf first, then intermediates); one that
    /// has expired, is not valid yet or is another key's is refused.
    #[arg(long, requires = "key")]
    certificate: Option<PathBuf>,
}

impl BroughtKey {
    fn files(self) -> Option<(PathBuf, PathBuf)> {
        self.key.zip(self.certificate)
    }
}

/// A configuration, and where to write the registry's files for it
/// (`registry-config`, and `keys rotate` after its step).
#[derive(Debug, clap::Args)]
struct RegistryFilesArgs {
    /// The configuration file.
    #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
    config: PathBuf,
    /// Also write the registry's rootcertbundle here: the signing
    /// certificate and every published key's certificate.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Also write the registry's jwks file here (registry v3): every key,
    /// under the kid its tokens carry.
    #[arg(long)]
    jwks: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Show a token's header and claims (nothing is checked).
    Decode {
        /// The token; `-` reads it from stdin.
        token: String,
    },
    /// Check a token's signature, issuer, audience and lifetime against a
    /// configuration's key.
    Verify {
        /// The token; `-` reads it from stdin.
        token: String,
        /// The configuration file.
        #[arg(long, short, env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
    },
}

fn init_logging(format: LogFormat, filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("--log-level {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    }
    .map_err(|e| format!("logging: {e}"))
}

/// Parses and checks configuration text as `serve` would, without reading
/// any file it names (keys, htpasswd) or starting anything. For fuzzing
/// and tools.
pub fn check_config(text: &str) -> Result<(), String> {
    config::Config::parse_text_only(text).map_err(|e| e.to_string())
}

/// The `registry-auth` command line: parses arguments, runs the
/// subcommand, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(cli.log_format, &cli.log_level) {
        eprintln!("registry-auth: error: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Serve { config } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))
            .and_then(|rt| rt.block_on(serve::run(config))),
        Command::Init {
            dir,
            service,
            listen,
            key_type,
            brought,
            key_only,
            keep_existing,
        } => commands::init(
            &dir.unwrap_or_else(|| PathBuf::from(".")),
            &service,
            listen,
            key_type,
            brought.files(),
            if key_only {
                commands::InitFiles::KeyOnly
            } else {
                commands::InitFiles::Everything
            },
            keep_existing,
        ),
        Command::HashPassword { argon2, cost } => commands::hash_password(argon2, cost),
        Command::Healthcheck {
            config,
            url,
            timeout,
        } => healthcheck::run(&config, url.as_deref(), timeout),
        Command::Check {
            config,
            user,
            password,
            anonymous: _,
            token,
            service,
            ip,
            scopes,
        } => {
            let who = match (user, token) {
                (Some(user), _) => commands::Client::User { user, password },
                (None, Some(token)) => commands::Client::WorkloadToken(token),
                (None, None) => commands::Client::Anonymous,
            };
            commands::check(&config, who, service, ip, &scopes)
        }
        Command::Keys { command } => match command {
            KeysCommand::List { config } => key_report::list(&config),
            KeysCommand::Rotate { step } => {
                let (common, step) = match step {
                    RotateStep::Prepare {
                        common,
                        key_type,
                        brought,
                    } => (
                        common,
                        rotation::Step::Prepare {
                            key_type,
                            brought: brought.files(),
                        },
                    ),
                    RotateStep::Promote { common } => (common, rotation::Step::Promote),
                    RotateStep::Retire { common } => (common, rotation::Step::Retire),
                };
                let files = rotation::RegistryFiles {
                    bundle: common.bundle,
                    jwks: common.jwks,
                };
                rotation::rotate(&common.config, step, &files)
            }
        },
        Command::Token { command } => match command {
            TokenCommand::Decode { token } => commands::token_decode(&token),
            TokenCommand::Verify { token, config } => commands::token_verify(&token, &config),
        },
        Command::IdentityTokens { command } => match command {
            IdentityTokensCommand::List { config, user, json } => {
                identity_tokens::list(&config, user.as_deref(), json)
            }
            IdentityTokensCommand::Revoke { config, id, user } => {
                identity_tokens::revoke(&config, id.as_deref(), user.as_deref())
            }
        },
        Command::AccessToken { command } => match command {
            AccessTokenCommand::Create {
                config,
                name,
                owner,
                scopes,
                expires,
                service,
            } => access_tokens::create(
                &config,
                &access_tokens::NewToken {
                    name: &name,
                    owner: &owner,
                    scopes: &scopes,
                    expires: expires.0,
                    service: service.as_deref(),
                },
            ),
            AccessTokenCommand::List {
                config,
                owner,
                json,
            } => access_tokens::list(&config, owner.as_deref(), json),
            AccessTokenCommand::Revoke { config, name } => access_tokens::revoke(&config, &name),
        },
        Command::RegistryConfig { args } => {
            commands::registry_config(&args.config, args.bundle.as_deref(), args.jwks.as_deref())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry-auth: error: {e}");
            ExitCode::FAILURE
        }
    }
}
