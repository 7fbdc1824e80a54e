//! A granted token, what it grants and why, and its JSON body.

use serde::Serialize;

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
    /// one was issued or redeemed.
    pub fn body(&self, dialect: Dialect) -> String {
        let token = &self.token;
        let scope = (dialect == Dialect::OAuth).then(|| {
            let scopes: Vec<String> = self.granted.iter().map(ToString::to_string).collect();
            scopes.join(" ")
        });
        let body = Body {
            access_token: &token.token,
            // Never below 60: clients treat smaller values as 60 anyway.
            expires_in: token.expires_in.as_secs().max(60),
            issued_at: humantime::format_rfc3339_seconds(token.issued_at),
            refresh_token: self.refresh_token.as_ref().map(Secret::expose),
            scope: scope.as_deref(),
            token: &token.token,
        };
        // A struct of borrowed fields serialised straight into the
        // string: no copies of the token in a `serde_json::Value` tree.
        serde_json::to_string(&body).unwrap_or_default()
    }
}

/// The fields of a success body, in the order clients have always seen
/// them (alphabetical, as `serde_json::Value` wrote them).
#[derive(Serialize)]
struct Body<'a> {
    access_token: &'a str,
    expires_in: u64,
    #[serde(serialize_with = "display")]
    issued_at: humantime::Rfc3339Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    token: &'a str,
}

fn display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
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
        r.token.token = "a\"b\\c".into();
        let body: serde_json::Value = serde_json::from_str(&r.body(Dialect::Registry)).unwrap();
        assert_eq!(body["token"], "a\"b\\c");
    }
}
