//! `identity-tokens list` and `identity-tokens revoke`: the operator's view
//! of the stored refresh tokens (what `docker login` keeps), read straight
//! from the configuration's state store. Never shows a token's secret: the
//! store does not have it.

use std::path::Path;
use std::time::SystemTime;

use registry_auth::state::{StoredRefreshToken, TokenId};

use crate::config::with_store;

/// A time as listings show it: RFC 3339, to the second.
pub(crate) fn date(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `identity-tokens list`: one line per token (or one JSON object with
/// `--json`), oldest first.
pub(crate) fn list(path: &Path, user: Option<&str>, json: bool) -> Result<(), String> {
    let tokens = with_store(path, async |_, store| {
        store
            .refresh_tokens(user)
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
        "{:<16}  {:<20}  {:<24}  {:<20}  {:<20}  {:<20}  CLIENTS",
        "ID", "USER", "SERVICE", "CREATED", "LAST USED", "EXPIRES"
    );
    for token in &tokens {
        let r = &token.record;
        let expires = if r.expires_at <= now {
            format!("{} (expired)", date(r.expires_at))
        } else {
            date(r.expires_at)
        };
        println!(
            "{:<16}  {:<20}  {:<24}  {:<20}  {:<20}  {:<20}  {}",
            token.id,
            r.identity.subject().escape_debug(),
            r.service.escape_debug(),
            date(r.issued_at),
            r.last_used_at.map_or_else(|| "never".to_owned(), date),
            expires,
            r.client_ids.join(",").escape_debug(),
        );
    }
    Ok(())
}

fn as_json(token: &StoredRefreshToken, now: SystemTime) -> serde_json::Value {
    let r = &token.record;
    serde_json::json!({
        "id": token.id.as_str(),
        "user": r.identity.subject(),
        "service": r.service,
        "client_ids": r.client_ids,
        "created": date(r.issued_at),
        "last_used": r.last_used_at.map(date),
        "expires": date(r.expires_at),
        "expired": r.expires_at <= now,
    })
}

/// `identity-tokens revoke`: one token by id, or every token of a user.
pub(crate) fn revoke(path: &Path, id: Option<&str>, user: Option<&str>) -> Result<(), String> {
    match (id, user) {
        (Some(id), None) => {
            let parsed = TokenId::parse(id).ok_or_else(|| {
                format!("{id:?} is not a token id (16 hex digits, as `identity-tokens list` shows)")
            })?;
            let found = with_store(path, async |_, store| {
                store
                    .revoke_refresh_token(&parsed)
                    .await
                    .map_err(|e| format!("state store: {e}"))
            })?;
            if !found {
                return Err(format!("no identity token with id {parsed}"));
            }
            println!("revoked identity token {parsed}");
            Ok(())
        }
        (None, Some(user)) => {
            let count = with_store(path, async |_, store| {
                store
                    .revoke_refresh_tokens_of(user)
                    .await
                    .map_err(|e| format!("state store: {e}"))
            })?;
            println!(
                "revoked {count} identity token{} of {}",
                if count == 1 { "" } else { "s" },
                user.escape_debug()
            );
            Ok(())
        }
        _ => Err("name a token id or --user, not both".to_owned()),
    }
}
