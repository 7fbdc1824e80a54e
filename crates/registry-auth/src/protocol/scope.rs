//! The scope grammar of the token protocol: parse, display, merge.
//!
//! ```text
//! scope          := resourcescope [ ' ' resourcescope ]*
//! resourcescope  := resourcetype ":" resourcename ":" action [ ',' action ]*
//! resourcetype   := resourcetypevalue [ '(' resourcetypevalue ')' ]
//! resourcename   := [ hostname '/' ] component [ '/' component ]*
//! action         := /[a-z]*/      (and `*`)
//! ```
//!
//! A name may itself contain a `:` (a registry host with a port), so the type
//! ends at the *first* colon and the actions start after the *last* one.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One resource and the actions on it: `repository:alice/app:pull,push`.
///
/// Used for what a client asks for and for what a token grants (the JWT's
/// `access` entries have exactly this shape). Actions are kept sorted and
/// free of duplicates.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// The resource type, e.g. `repository` or `registry`. A deprecated
    /// `(class)` suffix is accepted by the parser and dropped here, as the
    /// registry ignores it.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The resource name, e.g. `alice/app` or `catalog`, without any
    /// registry host: the registry compares it to the repository path alone.
    pub name: String,
    /// The actions, e.g. `pull`, `push`, `delete` or `*`; sorted, no duplicates.
    pub actions: Vec<String>,
}

impl Scope {
    /// The registry's own limit on the length of a repository name.
    pub const MAX_NAME_LEN: usize = 255;

    /// The action that stands for every action.
    ///
    /// In a token it satisfies any action the registry asks for; in a
    /// request (skopeo asks for it to delete) it means "everything I may do
    /// here".
    pub const WILDCARD: &'static str = "*";

    /// A scope with the given actions (sorted and de-duplicated here).
    pub fn new<I, S>(resource_type: impl Into<String>, name: impl Into<String>, actions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut scope = Scope {
            resource_type: resource_type.into(),
            name: name.into(),
            actions: actions.into_iter().map(Into::into).collect(),
        };
        normalize_actions(&mut scope.actions);
        scope
    }

    /// `repository:NAME:ACTIONS`, the common case.
    pub fn repository<I, S>(name: impl Into<String>, actions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Scope::new("repository", name, actions)
    }

    /// Parses one resource scope, `type[(class)]:name:action[,action]*`.
    ///
    /// Empty actions (`repository:a:` or `pull,,push`) are dropped, so the
    /// result may have no actions at all.
    pub fn parse(input: &str) -> Result<Scope, ScopeError> {
        let err = |reason: &'static str| ScopeError::new(input, reason);
        let (type_part, rest) = input
            .split_once(':')
            .ok_or_else(|| err("expected type:name:actions"))?;
        let (name_part, actions_part) = rest
            .rsplit_once(':')
            .ok_or_else(|| err("expected type:name:actions"))?;
        let resource_type = parse_type(type_part).ok_or_else(|| err("invalid resource type"))?;
        if name_part.len() > Scope::MAX_NAME_LEN {
            return Err(err("resource name is longer than 255 characters"));
        }
        let name = parse_name(name_part).ok_or_else(|| err("invalid resource name"))?;
        let mut actions = Vec::new();
        for action in actions_part.split(',') {
            if action.is_empty() {
                continue;
            }
            if action != Scope::WILDCARD && !action.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(err("invalid action (actions are lowercase letters or *)"));
            }
            actions.push(action.to_owned());
        }
        normalize_actions(&mut actions);
        Ok(Scope {
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
            actions,
        })
    }

    /// Parses a scope whose name may be a glob, as a limit on what some
    /// credentials may be granted ([`Identity::with_limit`](crate::Identity::with_limit)):
    /// `repository:web/*:pull`, `repository:**:pull`. The name is lower-case
    /// letters, digits, `.`, `_`, `-`, `/`, `*` (within one path segment),
    /// `**` (across segments) and `?`; at least one action is needed.
    pub fn parse_pattern(input: &str) -> Result<Scope, ScopeError> {
        let err = |reason: &'static str| ScopeError::new(input, reason);
        let (type_part, rest) = input
            .split_once(':')
            .ok_or_else(|| err("expected type:name:actions"))?;
        let (name, actions_part) = rest
            .rsplit_once(':')
            .ok_or_else(|| err("expected type:name:actions"))?;
        // The resource type and actions follow the scope grammar: check
        // them with the parser, on a plain name.
        let checked = Scope::parse(&format!("{type_part}:x:{actions_part}"))?;
        if name.is_empty() || name.len() > Scope::MAX_NAME_LEN {
            return Err(err("the name must have 1 to 255 characters"));
        }
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/*?".contains(&b);
        if !name.bytes().all(allowed) {
            return Err(err(
                "a name pattern is lower-case letters, digits, '.', '_', '-', '/', '*' and '?'",
            ));
        }
        if checked.actions.is_empty() {
            return Err(err("no actions"));
        }
        Ok(Scope {
            name: name.to_owned(),
            ..checked
        })
    }

    /// Whether the actions include `action`, directly or through `*`.
    pub fn allows(&self, action: &str) -> bool {
        self.actions
            .iter()
            .any(|a| a == action || a == Scope::WILDCARD)
    }

    /// Whether this names the same resource as `other`.
    pub fn same_resource(&self, other: &Scope) -> bool {
        self.resource_type == other.resource_type && self.name == other.name
    }

    /// Parses every scope in `values` (each value may hold several scopes
    /// separated by spaces, as crane and the OAuth form send them), drops scopes
    /// without actions and merges scopes naming the same resource.
    pub fn parse_list<'a, I>(values: I) -> Result<Vec<Scope>, ScopeError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut scopes = Vec::new();
        for value in values {
            for part in value.split(' ').filter(|p| !p.is_empty()) {
                scopes.push(Scope::parse(part)?);
            }
        }
        Ok(Scope::merge(scopes))
    }

    /// Merges scopes naming the same resource (union of actions), keeping the
    /// order of first appearance, and drops scopes without actions.
    pub fn merge(scopes: impl IntoIterator<Item = Scope>) -> Vec<Scope> {
        let mut merged: Vec<Scope> = Vec::new();
        // Where each resource's hash was first seen in `merged`: linear time
        // for the requests of 50 and more scopes that CI tools send, with no
        // copies of the names. A hash collision falls back to a scan.
        let mut index: HashMap<u64, usize> = HashMap::new();
        for scope in scopes {
            if scope.actions.is_empty() {
                continue;
            }
            let hash = resource_hash(&scope);
            let found = match index.get(&hash) {
                Some(&i) if merged[i].same_resource(&scope) => Some(i),
                Some(_) => merged.iter().position(|m| m.same_resource(&scope)),
                None => None,
            };
            match found {
                Some(i) => {
                    let existing = &mut merged[i];
                    existing.actions.extend(scope.actions);
                    normalize_actions(&mut existing.actions);
                }
                None => {
                    index.entry(hash).or_insert(merged.len());
                    merged.push(scope);
                }
            }
        }
        merged
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.resource_type,
            self.name,
            self.actions.join(",")
        )
    }
}

impl std::str::FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s)
    }
}

/// A scope that does not follow the grammar.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {scope:?}: {reason}")]
pub struct ScopeError {
    scope: String,
    reason: &'static str,
}

impl ScopeError {
    fn new(scope: &str, reason: &'static str) -> Self {
        // Keep error messages small even for a hostile, huge scope.
        const SHOWN: usize = 80;
        let scope = match scope.char_indices().nth(SHOWN) {
            Some((cut, _)) => format!("{}…", &scope[..cut]),
            None => scope.to_owned(),
        };
        ScopeError { scope, reason }
    }

    /// What was wrong with it.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

fn resource_hash(scope: &Scope) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    static STATE: std::sync::LazyLock<std::collections::hash_map::RandomState> =
        std::sync::LazyLock::new(Default::default);
    let mut h = STATE.build_hasher();
    scope.resource_type.hash(&mut h);
    scope.name.hash(&mut h);
    h.finish()
}

fn normalize_actions(actions: &mut Vec<String>) {
    actions.retain(|a| !a.is_empty());
    actions.sort_unstable();
    actions.dedup();
}

/// `value [ '(' value ')' ]` where value is `[a-z0-9]+`; returns the value.
fn parse_type(s: &str) -> Option<&str> {
    let (value, class) = match s.split_once('(') {
        Some((value, rest)) => (value, Some(rest.strip_suffix(')')?)),
        None => (s, None),
    };
    let is_value = |v: &str| {
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (is_value(value) && class.is_none_or(is_value)).then_some(value)
}

/// Validates a resource name and returns it without a leading hostname.
///
/// The first component is taken as a hostname only when it cannot be a path
/// component (it has a port or upper-case letters): `example.com/app` is a
/// valid two-component repository name on its own, and the registry would
/// treat it so.
fn parse_name(s: &str) -> Option<&str> {
    let (first, rest) = match s.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (s, None),
    };
    let path = if is_path_component(first) {
        s
    } else if is_hostname(first) {
        rest?
    } else {
        return None;
    };
    path.split('/').all(is_path_component).then_some(path)
}

/// `[a-z0-9]+ ( ( '.' | '_' | '__' | '-'+ ) [a-z0-9]+ )*`
fn is_path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of alphanumerics is required here.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // Then a separator.
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `hostcomponent ('.' hostcomponent)* [':' port]`, or `[ipv6][:port]`.
fn is_hostname(s: &str) -> bool {
    let is_port = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(bracketed) = s.strip_prefix('[') {
        let Some((ip, after)) = bracketed.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok && ip.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let host = match s.split_once(':') {
        Some((host, port)) if is_port(port) => host,
        Some(_) => return false,
        None => s,
    };
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Scope {
        match Scope::parse(s) {
            Ok(scope) => scope,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn plain_repository_scope() {
        assert_eq!(
            ok("repository:alice/app:push,pull"),
            Scope::repository("alice/app", ["pull", "push"])
        );
    }

    #[test]
    fn type_ends_at_first_colon_and_actions_start_after_last() {
        let s = ok("repository:localhost:5000/alice/app:pull");
        assert_eq!(s.name, "alice/app");
        assert_eq!(s.actions, ["pull"]);
        let s = ok("repository:Registry.Example.com:443/x:pull");
        assert_eq!(s.name, "x");
        let s = ok("repository:[::1]:5000/x:pull");
        assert_eq!(s.name, "x");
    }

    #[test]
    fn dotted_first_component_is_a_path_not_a_host() {
        assert_eq!(
            ok("repository:example.com/app:pull").name,
            "example.com/app"
        );
    }

    #[test]
    fn class_is_accepted_and_dropped() {
        let s = ok("repository(plugin):vieux/sshfs:pull");
        assert_eq!(s.resource_type, "repository");
        assert_eq!(s.to_string(), "repository:vieux/sshfs:pull");
    }

    #[test]
    fn catalog_and_wildcard() {
        let s = ok("registry:catalog:*");
        assert_eq!(s, Scope::new("registry", "catalog", ["*"]));
        assert!(s.allows("anything"));
        assert_eq!(ok("repository:a:*").actions, ["*"]);
    }

    #[test]
    fn empty_actions_are_dropped() {
        assert!(ok("repository:a:").actions.is_empty());
        assert_eq!(ok("repository:a:pull,,pull").actions, ["pull"]);
    }

    #[test]
    fn path_component_separators() {
        for name in ["a", "a.b", "a_b", "a__b", "a---b", "a1/b-2/c.3", "x/y__z"] {
            assert_eq!(ok(&format!("repository:{name}:pull")).name, name);
        }
    }

    #[test]
    fn malformed_scopes_are_rejected_with_a_reason() {
        let cases = [
            ("repository", "expected type:name:actions"),
            ("repository:alice", "expected type:name:actions"),
            (":alice:pull", "invalid resource type"),
            ("Repository:a:pull", "invalid resource type"),
            ("repository(:a:pull", "invalid resource type"),
            ("repository():a:pull", "invalid resource type"),
            ("repository::pull", "invalid resource name"),
            ("repository:Alice:pull", "invalid resource name"),
            ("repository:a//b:pull", "invalid resource name"),
            ("repository:/a:pull", "invalid resource name"),
            ("repository:a/:pull", "invalid resource name"),
            ("repository:-a:pull", "invalid resource name"),
            ("repository:a..b:pull", "invalid resource name"),
            ("repository:a___b:pull", "invalid resource name"),
            ("repository:host:5000:pull", "invalid resource name"),
            ("repository:host:99999999/a:pull", "invalid resource name"),
            ("repository:a\u{0}b:pull", "invalid resource name"),
            (
                "repository:a:PULL",
                "invalid action (actions are lowercase letters or *)",
            ),
            (
                "repository:a:pu ll",
                "invalid action (actions are lowercase letters or *)",
            ),
            (
                "repository:a:pull*",
                "invalid action (actions are lowercase letters or *)",
            ),
        ];
        for (input, reason) in cases {
            match Scope::parse(input) {
                Ok(s) => panic!("{input:?} parsed as {s:?}"),
                Err(e) => assert_eq!(e.reason(), reason, "{input:?}"),
            }
        }
    }

    #[test]
    fn name_longer_than_255_is_malformed() {
        let name = "a".repeat(255);
        assert_eq!(ok(&format!("repository:{name}:pull")).name, name);
        let long = "a".repeat(256);
        let err = Scope::parse(&format!("repository:{long}:pull")).err();
        assert_eq!(
            err.map(|e| e.reason()),
            Some("resource name is longer than 255 characters")
        );
    }

    #[test]
    fn error_message_is_bounded() {
        let huge = format!("repository:{}:pull", "A".repeat(10_000));
        let msg = Scope::parse(&huge).err().map(|e| e.to_string());
        assert!(msg.is_some_and(|m| m.len() < 200));
    }

    #[test]
    fn several_values_each_split_on_spaces_then_merged() {
        let scopes = Scope::parse_list([
            "repository:a:pull repository:b:push",
            "repository:a:push",
            "",
            "repository:c:",
            "registry:catalog:*",
        ]);
        assert_eq!(
            scopes,
            Ok(vec![
                Scope::repository("a", ["pull", "push"]),
                Scope::repository("b", ["push"]),
                Scope::new("registry", "catalog", ["*"]),
            ])
        );
    }

    #[test]
    fn same_name_different_type_is_not_merged() {
        let scopes = Scope::parse_list(["repository:a:pull", "registry:a:pull"]);
        assert_eq!(scopes.map(|s| s.len()), Ok(2));
    }

    #[test]
    fn host_and_plain_name_merge() {
        let scopes = Scope::parse_list(["repository:a:pull", "repository:localhost:5000/a:push"]);
        assert_eq!(scopes, Ok(vec![Scope::repository("a", ["pull", "push"])]));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "repository:a/b:pull,push",
            "registry:catalog:*",
            "repository:x:delete",
        ] {
            assert_eq!(ok(s).to_string(), s);
        }
    }
}
