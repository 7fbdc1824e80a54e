//! A granted token, what it grants and why, and its JSON body.

use std::fmt::Write;

use crate::protocol::authz::ScopeDecision;
use crate::protocol::credentials::Secret;
use crate::protocol::error::Dialect;
use crate::protocol::scope::Scope;
use crate::token::Token;

/// A granted token, what it grants, and what decided each scope.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The token.
    pub token: Token,
    /// The refresh token: a new one when offline access was asked with a
    /// password, the same one on a refresh grant, none otherwise.
    pub refresh_token: Option<Secret>,
    /// The subject it was issued to (`""` for anonymous).
    pub subject: String,
    /// The service (audience) it is for.
    pub service: String,
    /// What it grants: requested ∩ allowed, in the order of the request;
    /// resources with nothing granted are left out.
    pub granted: Vec<Scope>,
    /// One decision per requested scope, in the order of the request, with
    /// what decided it (empty for a login without scopes).
    pub decisions: Vec<ScopeDecision>,
}

impl TokenResponse {
    /// The JSON body of a success in `dialect`. Clients differ in which
    /// field they read, so both carry `token` and `access_token`; the OAuth
    /// form adds `scope` (what was granted); `refresh_token` is there when
    /// one was issued or redeemed. Keys in alphabetical order, as clients
    /// have always seen them.
    pub fn body(&self, dialect: Dialect) -> String {
        let token = self.token.token.as_str();
        let mut body = String::with_capacity(2 * token.len() + 160);
        body.push_str(r#"{"access_token":"#);
        push_json_string(&mut body, token);
        // Never below 60: clients treat smaller values as 60 anyway.
        let expires_in = self.token.expires_in.as_secs().max(60);
        let issued_at = humantime::format_rfc3339_seconds(self.token.issued_at);
        let _ = write!(
            body,
            r#","expires_in":{expires_in},"issued_at":"{issued_at}""#
        );
        if let Some(refresh) = &self.refresh_token {
            body.push_str(r#","refresh_token":"#);
            push_json_string(&mut body, refresh.expose());
        }
        if dialect == Dialect::OAuth {
            let scopes: Vec<String> = self.granted.iter().map(ToString::to_string).collect();
            body.push_str(r#","scope":"#);
            push_json_string(&mut body, &scopes.join(" "));
        }
        body.push_str(r#","token":"#);
        push_json_string(&mut body, token);
        body.push('}');
        body
    }
}

/// Appends `value` as a JSON string. A JWS (base64url and dots) needs no
/// escaping and is copied as it is; anything else (a custom generator's
/// token, a scope) goes through serde_json's escaping. A token is written
/// twice in every body, and escaping it byte by byte was 2 % of a token's
/// time on one core.
fn push_json_string(out: &mut String, value: &str) {
    // A fold without early exit, which the compiler can vectorise.
    let plain = value.bytes().fold(true, |plain, b| {
        plain & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_') | (b == b'.'))
    });
    if plain {
        out.push('"');
        out.push_str(value);
        out.push('"');
    } else {
        // Serialising a str cannot fail; were it to, an empty string keeps
        // the body valid JSON rather than writing the value unescaped.
        match serde_json::to_string(value) {
            Ok(quoted) => out.push_str(&quoted),
            Err(_) => out.push_str(r#""""#),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn response(refresh: Option<&str>) -> TokenResponse {
        TokenResponse {
            token: Token {
                token: "eyJ.e30.sig".into(),
                expires_in: Duration::from_secs(30),
                issued_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            },
            refresh_token: refresh.map(Secret::new),
            subject: "alice".into(),
            service: "registry".into(),
            granted: vec![
                Scope::repository("a/b", ["pull"]),
                Scope::repository("c", ["pull", "push"]),
            ],
            decisions: vec![],
        }
    }

    #[test]
    fn success_bodies_byte_for_byte() {
        assert_eq!(
            response(None).body(Dialect::Registry),
            r#"{"access_token":"eyJ.e30.sig","expires_in":60,"issued_at":"2027-01-15T08:00:00Z","token":"eyJ.e30.sig"}"#
        );
        assert_eq!(
            response(Some("rart_x")).body(Dialect::OAuth),
            r#"{"access_token":"eyJ.e30.sig","expires_in":60,"issued_at":"2027-01-15T08:00:00Z","refresh_token":"rart_x","scope":"repository:a/b:pull repository:c:pull,push","token":"eyJ.e30.sig"}"#
        );
    }

    #[test]
    fn a_custom_generators_token_is_escaped() {
        let mut r = response(None);
        for token in ["a\"b\\c", "line\nbreak", "é"] {
            r.token.token = token.into();
            let body: serde_json::Value = serde_json::from_str(&r.body(Dialect::Registry)).unwrap();
            assert_eq!(body["token"], token);
            assert_eq!(body["access_token"], token);
        }
    }
}
