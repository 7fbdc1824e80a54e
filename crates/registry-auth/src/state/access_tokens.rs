//! What the store keeps of an access token: its name, owner, scopes and
//! dates, under the SHA-256 of its secret.

use std::time::SystemTime;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::BASE64URL_NOPAD;

use super::TokenId;
use crate::protocol::credentials::{ACCESS_TOKEN_PREFIX, Secret};
use crate::protocol::scope::Scope;

/// Longest access-token name: a name is typed on command lines and shown
/// in listings.
pub const MAX_ACCESS_TOKEN_NAME: usize = 64;

/// An access token as the store keeps it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessTokenRecord {
    /// Its name, unique in the store: what `revoke` takes.
    pub name: String,
    /// The user it acts for; it logs in with this user name.
    pub owner: String,
    /// The most it may be granted (names may be globs): what the owner may
    /// do at the time of use, intersected with these.
    pub scopes: Vec<Scope>,
    /// When it was made.
    pub created_at: SystemTime,
    /// When it stops working (`None`: never).
    pub expires_at: Option<SystemTime>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<SystemTime>,
}

impl AccessTokenRecord {
    /// A record of a token made now, never used.
    pub fn new(
        name: impl Into<String>,
        owner: impl Into<String>,
        scopes: Vec<Scope>,
        created_at: SystemTime,
        expires_at: Option<SystemTime>,
    ) -> Self {
        AccessTokenRecord {
            name: name.into(),
            owner: owner.into(),
            scopes,
            created_at,
            expires_at,
            last_used_at: None,
        }
    }

    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A record as a listing shows it: with the token's public id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredAccessToken {
    /// The token's public id (the start of its hash).
    pub id: TokenId,
    /// What it is.
    pub record: AccessTokenRecord,
}

impl StoredAccessToken {
    /// A listed token.
    pub fn new(id: TokenId, record: AccessTokenRecord) -> Self {
        StoredAccessToken { id, record }
    }
}

/// Why a name cannot be an access token's, if it cannot: 1 to
/// [`MAX_ACCESS_TOKEN_NAME`] letters, digits, `.`, `_` and `-`, starting
/// with a letter or digit (it is typed in shells and shown in listings).
pub fn check_access_token_name(name: &str) -> Result<(), String> {
    let well_formed = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !well_formed || name.len() > MAX_ACCESS_TOKEN_NAME {
        return Err(format!(
            "access token name {:?}: 1 to {MAX_ACCESS_TOKEN_NAME} letters, digits, '.', '_' \
             and '-', starting with a letter or digit",
            name.escape_debug().to_string()
        ));
    }
    Ok(())
}

/// A new random access token: [`ACCESS_TOKEN_PREFIX`] and 256 random bits.
/// `None` when the system has no random numbers.
pub fn new_access_token() -> Option<Secret> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(Secret::new(format!(
        "{ACCESS_TOKEN_PREFIX}{}",
        BASE64URL_NOPAD.encode(&bytes)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_prefix_and_256_bits() {
        let a = new_access_token().unwrap_or_default();
        let b = new_access_token().unwrap_or_default();
        assert!(a.expose().starts_with("raat_"));
        assert_eq!(a.expose().len(), 5 + 43);
        assert_ne!(a, b);
    }

    #[test]
    fn names_are_short_and_plain() {
        assert!(check_access_token_name("deploy-web").is_ok());
        assert!(check_access_token_name("ci_2.prod").is_ok());
        for bad in ["", "-x", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(check_access_token_name(bad).is_err(), "{bad:?}");
        }
    }
}
