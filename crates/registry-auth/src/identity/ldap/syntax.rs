//! What the strings of the settings must look like: the URL, the
//! templates and their placeholders, attribute names; and filling the
//! templates in.

use super::error::LdapError;

/// The placeholder for the account name a client sent.
pub(super) const ACCOUNT: &str = "account";
/// The placeholder for the DN of the user's entry.
pub(super) const DN: &str = "dn";

/// What the URL says about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// `ldaps://`: TLS from the start.
    pub(super) tls: bool,
    /// The host as written (brackets of an IPv6 address removed).
    pub(super) host: String,
}

impl Endpoint {
    pub(super) fn parse(url: &str) -> Result<Endpoint, LdapError> {
        let bad = |why: &str| LdapError::invalid("url", format!("{url:?}: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected ldap://host[:port] or ldaps://host[:port]"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "ldap" => false,
            "ldaps" => true,
            _ => return Err(bad("the scheme must be ldap:// or ldaps://")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(bad("only a host and a port may follow the scheme"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| bad("unclosed '[' in the host"))?;
                match after {
                    "" => (host, None),
                    _ => (
                        host,
                        Some(after.strip_prefix(':').ok_or_else(|| bad("bad port"))?),
                    ),
                }
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if let Some(port) = port
            && !port.parse::<u16>().is_ok_and(|p| p != 0)
        {
            return Err(bad("the port must be a number from 1 to 65535"));
        }
        Ok(Endpoint {
            tls,
            host: host.to_owned(),
        })
    }

    /// Whether the host is this machine (127.0.0.0/8, ::1, localhost):
    /// plain text to it crosses no network.
    pub(super) fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

pub(super) fn not_empty(setting: &'static str, value: &str) -> Result<(), LdapError> {
    if value.trim().is_empty() {
        return Err(LdapError::invalid(setting, "must not be empty"));
    }
    Ok(())
}

/// An attribute description a filter can hold: a name (`memberOf`) or an
/// OID (`2.5.4.3`), so that it cannot change a filter it is put into.
pub(super) fn attribute_name(setting: &'static str, name: &str) -> Result<(), LdapError> {
    let named = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !name.is_empty()
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()));
    if named || oid {
        Ok(())
    } else {
        Err(LdapError::invalid(
            setting,
            format!("{name:?} is not an attribute name (letters, digits and '-')"),
        ))
    }
}

/// A filter template: only the `known` placeholders, at least one of them
/// used, and a valid RFC 4515 filter once they are filled.
pub(super) fn filter_template(
    setting: &'static str,
    filter: &str,
    known: &[&str],
) -> Result<(), LdapError> {
    template(setting, filter, known, known)?;
    let sample = fill(
        filter,
        &known.iter().map(|name| (*name, "x")).collect::<Vec<_>>(),
    );
    // Parenthesised, as RFC 4515 has it (some parsers take `uid=x`), so
    // that it can go into `(&…)` whole.
    let enclosed = filter.starts_with('(') && filter.ends_with(')');
    if !enclosed || ldap3::parse_filter(&sample).is_err() {
        return Err(LdapError::invalid(
            setting,
            format!("{filter:?} is not an LDAP filter (RFC 4515), e.g. \"(uid=${{account}})\""),
        ));
    }
    Ok(())
}

/// Checks that every `${…}` in `value` is one of `known`, and that at
/// least one of `needs` is there.
pub(super) fn template(
    setting: &'static str,
    value: &str,
    known: &[&str],
    needs: &[&str],
) -> Result<(), LdapError> {
    not_empty(setting, value)?;
    let mut rest = value;
    let mut used = Vec::new();
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| LdapError::invalid(setting, "a \"${\" is not closed by \"}\""))?;
        let name = &after[..end];
        if !known.contains(&name) {
            let known: Vec<String> = known.iter().map(|k| format!("${{{k}}}")).collect();
            return Err(LdapError::invalid(
                setting,
                format!(
                    "unknown placeholder ${{{name}}} (known: {})",
                    known.join(", ")
                ),
            ));
        }
        used.push(name);
        rest = &after[end + 1..];
    }
    if !needs.iter().any(|n| used.contains(n)) {
        let needs: Vec<String> = needs.iter().map(|k| format!("${{{k}}}")).collect();
        return Err(LdapError::invalid(
            setting,
            format!("must contain {}", needs.join(" or ")),
        ));
    }
    Ok(())
}

/// The user filter matching every account (`${account}` → `*`, a
/// presence or substring test), its other conditions kept: what a
/// refresh by the subject attribute adds to `(ATTR=subject)`.
pub(super) fn any_account(user_filter: &str) -> String {
    fill(user_filter, &[(ACCOUNT, "*")])
}

/// Puts the values, already escaped for where they go, in place of their
/// placeholders, in one pass: a value holding `${dn}` stays as it is.
pub(super) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let found = after.find('}').and_then(|end| {
            let name = &after[..end];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| (end, *value))
        });
        match found {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use ldap3::{dn_escape, ldap_escape};

    use super::*;

    #[test]
    fn a_filter_value_is_escaped_rfc_4515() {
        let filter = fill("(uid=${account})", &[(ACCOUNT, &ldap_escape("*)(uid=*"))]);
        assert_eq!(filter, r"(uid=\2a\29\28uid=\2a)");
        assert_eq!(ldap_escape(r"a\b"), r"a\5cb");
        assert_eq!(ldap_escape("a\0b"), r"a\00b");
        assert!(ldap3::parse_filter(&filter).is_ok());
    }

    #[test]
    fn a_dn_value_is_escaped_rfc_4514() {
        assert_eq!(
            dn_escape(r#"a,b+c"d\e<f>g;h=i"#),
            r"a\2cb\2bc\22d\5ce\3cf\3eg\3bh\3di"
        );
        assert_eq!(dn_escape("#admin"), r"\23admin");
        assert_eq!(dn_escape(" admin "), r"\20admin\20");
        let dn = fill(
            "uid=${account},ou=people,dc=example,dc=com",
            &[(ACCOUNT, &dn_escape("x,ou=admins"))],
        );
        assert_eq!(dn, r"uid=x\2cou\3dadmins,ou=people,dc=example,dc=com");
    }

    #[test]
    fn templates_are_filled_in_one_pass() {
        let values = [(DN, "${account}"), (ACCOUNT, "bob")];
        assert_eq!(
            fill("(|(member=${dn})(memberUid=${account}))", &values),
            "(|(member=${account})(memberUid=bob))"
        );
        assert_eq!(fill("${account}${account}", &[(ACCOUNT, "a")]), "aa");
        assert_eq!(
            fill("$ {x} ${other} $", &[(ACCOUNT, "a")]),
            "$ {x} ${other} $"
        );
        assert_eq!(fill("(uid=${account", &[(ACCOUNT, "a")]), "(uid=${account");
    }

    #[test]
    fn loopback_hosts_are_told_apart() {
        let loopback = |url: &str| Endpoint::parse(url).map(|e| e.is_loopback()).ok();
        assert_eq!(loopback("ldap://127.0.0.1:389"), Some(true));
        assert_eq!(loopback("ldap://127.1.2.3"), Some(true));
        assert_eq!(loopback("ldap://[::1]:389"), Some(true));
        assert_eq!(loopback("ldap://LOCALHOST"), Some(true));
        assert_eq!(loopback("ldap://ldap.example.com"), Some(false));
        assert_eq!(loopback("ldap://10.0.0.1"), Some(false));
    }
}
