//! `access-token create | list | revoke`: tokens for robots and CI, kept
//! (hashed) in the configuration's state store, which every instance of
//! the server reads at each use.

use std::path::Path;
use std::time::{Duration, SystemTime};

use registry_auth::state::{
    AccessTokenRecord, StoredAccessToken, TokenHash, check_access_token_name, new_access_token,
};
use registry_auth::{
    AuthServer, Authenticator, AuthnError, DecidedBy, Identity, Scope, TokenRequest,
};

use crate::config::{Config, with_store};
use crate::identity_tokens::date;

/// What `access-token create` is asked to make.
#[derive(Debug)]
pub(crate) struct NewToken<'a> {
    pub(crate) name: &'a str,
    pub(crate) owner: &'a str,
    pub(crate) scopes: &'a [String],
    /// `None`: never expires.
    pub(crate) expires: Option<Duration>,
    pub(crate) service: Option<&'a str>,
}

/// `access-token create`: checks the name, the owner and that the owner
/// could be granted every scope today, stores the token's hash, and prints
/// the token once, alone on the last line.
pub(crate) fn create(path: &Path, new: &NewToken<'_>) -> Result<(), String> {
    check_access_token_name(new.name)?;
    if new.scopes.is_empty() {
        return Err("give at least one --scope, e.g. repository:web/*:pull".to_owned());
    }
    let scopes = new
        .scopes
        .iter()
        .map(|s| Scope::parse_pattern(s).map_err(|e| e.to_string()))
        .collect::<Result<Vec<Scope>, String>>()?;
    let (token, record) = with_store(path, async |config, store| {
        let owner = owner_now(config, new.owner).await?;
        let server = config.explaining_server().map_err(|e| e.to_string())?;
        for scope in &scopes {
            could_be_granted(config, &server, &owner, scope, new.service).await?;
        }
        let token = new_access_token().ok_or("no random numbers for the token")?;
        let now = SystemTime::now();
        let expires_at = match new.expires {
            Some(after) => Some(now.checked_add(after).ok_or("--expires is too far away")?),
            None => None,
        };
        let record = AccessTokenRecord::new(new.name, new.owner, scopes.clone(), now, expires_at);
        let inserted = store
            .insert_access_token(&TokenHash::of(token.expose()), &record)
            .await
            .map_err(|e| format!("state store: {e}"))?;
        if !inserted {
            return Err(format!(
                "an access token named {} exists already (revoke it first, or pick another name)",
                new.name
            ));
        }
        Ok((token, record))
    })?;
    println!(
        "access token {} for {}: {}; expires {}",
        record.name,
        record.owner.escape_debug(),
        display_scopes(&record.scopes),
        record.expires_at.map_or_else(|| "never".to_owned(), date),
    );
    println!(
        "log in as {} with it as the password, e.g. docker login -u {} --password-stdin REGISTRY",
        record.owner.escape_debug(),
        record.owner.escape_debug()
    );
    println!("it is shown this once; the store keeps only its hash:");
    println!("{}", token.expose());
    Ok(())
}

/// The owner's identity as the configuration's users and directory give
/// it now, or why there is none.
async fn owner_now(config: &Config, owner: &str) -> Result<Identity, String> {
    match config.owners().refresh(&Identity::new(owner)).await {
        Ok(identity) if identity.subject() == owner => Ok(identity),
        Ok(_) | Err(AuthnError::NotMine) => Err(format!(
            "owner {:?} is not a user of the configuration{}",
            owner.escape_debug().to_string(),
            if config.directory.is_some() {
                " or of the directory"
            } else {
                ""
            }
        )),
        Err(AuthnError::InvalidCredentials) => Err(format!(
            "owner {:?} may not log in (disabled)",
            owner.escape_debug().to_string()
        )),
        Err(e) => Err(format!("cannot look the owner up: {e}")),
    }
}

/// Refuses a scope its owner could not be granted today: the ACL decides
/// on a name the pattern matches (each `*`, `**` or `?` standing for `x`),
/// as if the owner asked.
async fn could_be_granted(
    config: &Config,
    server: &AuthServer,
    owner: &Identity,
    scope: &Scope,
    service: Option<&str>,
) -> Result<(), String> {
    let probe_name = scope.name.replace("**", "x").replace(['*', '?'], "x");
    let probe = Scope::new(
        scope.resource_type.clone(),
        probe_name,
        scope.actions.clone(),
    );
    let mut request =
        TokenRequest::new(registry_auth::Credentials::Anonymous).with_scopes(vec![probe.clone()]);
    request.service = service.map(str::to_owned);
    let decisions = server.explain(owner, request).await.map_err(|e| match e {
        registry_auth::Error::MissingService => {
            "give --service (the configuration has no single service)".to_owned()
        }
        other => other.to_string(),
    })?;
    let decision = decisions.first().ok_or("the ACL gave no decision")?;
    let granted = decision.granted();
    let missing: Vec<&str> = if scope.actions.iter().any(|a| a == Scope::WILDCARD) {
        if granted.is_empty() {
            vec!["*"]
        } else {
            vec![]
        }
    } else {
        scope
            .actions
            .iter()
            .filter(|a| !granted.contains(a))
            .map(String::as_str)
            .collect()
    };
    if missing.is_empty() {
        return Ok(());
    }
    let allowed = match decision.allowed.as_slice() {
        [] => "nothing".to_owned(),
        some => some.join(","),
    };
    let why = match decision.decided_by {
        DecidedBy::Rule(i) => match config.acl.comment(i) {
            Some(comment) => format!("rule {} {comment:?} allows {allowed}", i + 1),
            None => format!("rule {} allows {allowed}", i + 1),
        },
        DecidedBy::NoRule => "no rule matches".to_owned(),
        other => format!("{other} allows {allowed}"),
    };
    Err(format!(
        "{} may not {} {} today (on {}, {why}): a token cannot be given more than its owner has",
        owner.subject().escape_debug(),
        missing.join(","),
        scope,
        probe.name,
    ))
}

fn display_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `access-token list`: one line per token (or a JSON object with
/// `--json`), by name. Never the secret: the store does not have it.
pub(crate) fn list(path: &Path, owner: Option<&str>, json: bool) -> Result<(), String> {
    let tokens = with_store(path, async |_, store| {
        store
            .access_tokens(owner)
            .await
            .map_err(|e| format!("state store: {e}"))
    })?;
    let now = SystemTime::now();
    if json {
        for token in &tokens {
            println!("{}", as_json(token, now));
        }
        return Ok(());
    }
    println!(
        "{:<24}  {:<16}  {:<20}  {:<20}  {:<20}  {:<32}  SCOPES",
        "NAME", "ID", "OWNER", "CREATED", "LAST USED", "EXPIRES"
    );
    for token in &tokens {
        let r = &token.record;
        let expires = match r.expires_at {
            Some(at) if r.is_expired(now) => format!("{} (expired)", date(at)),
            Some(at) => date(at),
            None => "never".to_owned(),
        };
        println!(
            "{:<24}  {:<16}  {:<20}  {:<20}  {:<20}  {:<32}  {}",
            r.name,
            token.id,
            r.owner.escape_debug(),
            date(r.created_at),
            r.last_used_at.map_or_else(|| "never".to_owned(), date),
            expires,
            display_scopes(&r.scopes),
        );
    }
    Ok(())
}

fn as_json(token: &StoredAccessToken, now: SystemTime) -> serde_json::Value {
    let r = &token.record;
    serde_json::json!({
        "name": r.name,
        "id": token.id.as_str(),
        "owner": r.owner,
        "scopes": r.scopes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "created": date(r.created_at),
        "last_used": r.last_used_at.map(date),
        "expires": r.expires_at.map(date),
        "expired": r.is_expired(now),
    })
}

/// `access-token revoke NAME`: the token stops at its next use, on every
/// instance.
pub(crate) fn revoke(path: &Path, name: &str) -> Result<(), String> {
    let found = with_store(path, async |_, store| {
        store
            .revoke_access_token(name)
            .await
            .map_err(|e| format!("state store: {e}"))
    })?;
    if !found {
        return Err(format!(
            "no access token named {:?}",
            name.escape_debug().to_string()
        ));
    }
    println!("revoked access token {name}");
    Ok(())
}
