//! From a library error back to the configuration file: which TOML key a
//! setting came from, and on which line that key stands.
//!
//! The library checks every setting and names it as its builder does
//! (`token_lifetime`, `limits.max_scopes`); the file names it as a TOML key
//! (`token.lifetime`, `server.limits.max_scopes`). This is the one table
//! between the two.

use toml::de::{DeTable, DeValue};

/// The TOML key of a library setting (`token_lifetime` → `token.lifetime`).
pub(super) fn toml_key(setting: &str) -> String {
    let fixed = match setting {
        "issuer" => "token.issuer",
        "services" => "token.services",
        "token_lifetime" => "token.lifetime",
        "signing_key" => "token.signing_key",
        "certificate" => "token.certificate",
        "published_keys" => "token.published_keys",
        "key_id" => "token.key_id",
        "algorithm" => "token.algorithm",
        "refresh_token_lifetime" => "token.refresh_lifetime",
        "realm" => "server.realm",
        "trusted_proxies" => "server.trusted_proxies",
        "credential_cache" => "server.credential_cache",
        _ => {
            if let Some(field) = setting.strip_prefix("limits.") {
                return format!("server.limits.{field}");
            }
            if let Some(field) = setting.strip_prefix("throttling.") {
                return format!("server.throttle.{field}");
            }
            setting
        }
    };
    fixed.to_owned()
}

/// The line (from 1) where `key` (dotted: `server.limits.max_scopes`)
/// stands in `text`; when the key itself is not written (a default that
/// another key makes wrong), the line of the nearest table around it.
pub(super) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut found = None;
    for part in key_parts(key) {
        let Some((name, value)) = table.get_key_value(part.as_str()) else {
            break;
        };
        found = Some(name.span().start);
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found.map(|offset| line_at(text, offset))
}

/// The parts of a dotted key as written in errors: `users."alice/team"`
/// is `users` and `alice/team` (a quoted part may hold dots and `\"`).
fn key_parts(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut chars = key.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => part.extend(chars.next()),
            '.' if !quoted => parts.push(std::mem::take(&mut part)),
            c => part.push(c),
        }
    }
    parts.push(part);
    parts
}

/// The line (from 1) of the `index`-th (from 0) `[[name]]` table.
pub(super) fn line_of_array_entry(text: &str, name: &str, index: usize) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let entries = document.get_ref().get(name)?.get_ref().as_array()?;
    let entry = entries.get(index)?;
    Some(line_at(text, entry.span().start))
}

fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[server]\nrealm = \"r\"\n\n[server.limits]\nmax_scopes = 0\n\n\
                        [token]\nissuer = \"i\"\n\n[[acl]]\nactions = []\n\n[[acl]]\nactions = []\n";

    #[test]
    fn keys_are_found_where_they_stand() {
        assert_eq!(line_of_key(TEXT, "server.realm"), Some(2));
        assert_eq!(line_of_key(TEXT, "server.limits.max_scopes"), Some(5));
        assert_eq!(line_of_key(TEXT, "token.issuer"), Some(8));
        assert_eq!(
            line_of_key(TEXT, "server.limits.max_connections"),
            Some(4),
            "a default: the table it belongs to"
        );
        assert_eq!(line_of_key(TEXT, "nothing.here"), None);
        let users = "[users]\nalice = \"h\"\n\"a.b/c\" = \"h\"\n";
        assert_eq!(line_of_key(users, "users.\"a.b/c\""), Some(3));
        assert_eq!(line_of_array_entry(TEXT, "acl", 1), Some(13));
        assert_eq!(line_of_array_entry(TEXT, "acl", 2), None);
    }

    #[test]
    fn settings_map_to_their_keys() {
        assert_eq!(toml_key("token_lifetime"), "token.lifetime");
        assert_eq!(toml_key("limits.max_scopes"), "server.limits.max_scopes");
        assert_eq!(
            toml_key("throttling.base_delay"),
            "server.throttle.base_delay"
        );
        assert_eq!(toml_key("authenticator"), "authenticator");
    }
}
