//! A granted token, what it grants and why, and its JSON body.

use serde_json::json;

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
        // Never below 60: clients treat smaller values as 60 anyway.
        let expires_in = token.expires_in.as_secs().max(60);
        let mut body = json!({
            "token": token.token,
            "access_token": token.token,
            "expires_in": expires_in,
            "issued_at": humantime::format_rfc3339_seconds(token.issued_at).to_string(),
        });
        if dialect == Dialect::OAuth {
            let scope: Vec<String> = self.granted.iter().map(ToString::to_string).collect();
            body["scope"] = json!(scope.join(" "));
        }
        if let Some(refresh) = &self.refresh_token {
            body["refresh_token"] = json!(refresh.expose());
        }
        body.to_string()
    }
}
