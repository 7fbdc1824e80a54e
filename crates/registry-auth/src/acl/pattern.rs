//! Match patterns of ACL rules: exact strings, globs and `/regex/`, with
//! `${…}` placeholders filled in from the request.

use std::collections::BTreeMap;

use regex::Regex;

/// What placeholders are filled from.
pub(crate) struct Vars<'a> {
    pub(crate) account: &'a str,
    pub(crate) name: &'a str,
    pub(crate) resource_type: &'a str,
    pub(crate) service: &'a str,
    pub(crate) labels: &'a BTreeMap<String, Vec<String>>,
}

/// At most this many expansions of one pattern (labels are multi-valued:
/// `${labels:team}/*` with three teams is three globs). An identity whose
/// labels would make more is not matched by a subset: the rule denies
/// ([`Matched::TooMany`]).
const MAX_EXPANSIONS: usize = 64;

/// Whether a value matches a pattern, or could not be decided because the
/// placeholders would expand to more than [`MAX_EXPANSIONS`] texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Matched {
    Yes,
    No,
    TooMany,
}

impl From<bool> for Matched {
    fn from(yes: bool) -> Self {
        if yes { Matched::Yes } else { Matched::No }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    kind: Kind,
    /// The pattern's pieces when it has placeholders (expanded per request).
    template: Option<Vec<Piece>>,
}

#[derive(Clone, Debug)]
enum Kind {
    Exact(String),
    /// The common glob shapes `prefix*` (`crosses` false: no `/` after the
    /// prefix) and `prefix**`, matched without the general algorithm.
    Prefix {
        prefix: String,
        crosses: bool,
    },
    Glob(Vec<Token>),
    Regex(Regex),
    /// Kinds of a templated pattern, compiled after expansion.
    TemplatedExact,
    TemplatedGlob,
    TemplatedRegex,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Account,
    Name,
    Type,
    Service,
    Label(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChar,
    Star,
    DoubleStar,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Pattern {
    /// Parses `source`: `/…/` is a regular expression (anchored at both
    /// ends), text with `*`, `?` or `[` a glob, anything else exact.
    pub(crate) fn parse(source: &str) -> Result<Pattern, String> {
        let (is_regex, body) = match source.strip_prefix('/').and_then(|s| s.strip_suffix('/')) {
            Some(body) => (true, body),
            None => (false, source),
        };
        let pieces = parse_placeholders(body)?;
        let templated = pieces.iter().any(|p| !matches!(p, Piece::Text(_)));
        let is_glob = !is_regex && body.contains(['*', '?', '[']);
        if templated {
            let kind = if is_regex {
                Kind::TemplatedRegex
            } else if is_glob {
                Kind::TemplatedGlob
            } else {
                Kind::TemplatedExact
            };
            // Check now that the literal parts compile, with placeholders
            // filled by a harmless value.
            let sample: String = pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.as_str(),
                    _ => "x",
                })
                .collect();
            Pattern::compile(&sample, is_regex, is_glob)?;
            return Ok(Pattern {
                kind,
                template: Some(pieces),
            });
        }
        Ok(Pattern {
            kind: Pattern::compile(body, is_regex, is_glob)?,
            template: None,
        })
    }

    fn compile(body: &str, is_regex: bool, is_glob: bool) -> Result<Kind, String> {
        if is_regex {
            Regex::new(&format!("^(?:{body})$"))
                .map(Kind::Regex)
                .map_err(|e| format!("bad regular expression /{body}/: {e}"))
        } else if is_glob {
            parse_glob(body).map(|tokens| match prefix_form(&tokens) {
                Some((prefix, crosses)) => Kind::Prefix { prefix, crosses },
                None => Kind::Glob(tokens),
            })
        } else {
            Ok(Kind::Exact(body.to_owned()))
        }
    }

    /// The exact string this pattern matches, if it is a plain string
    /// without placeholders (used to index rules).
    pub(crate) fn as_exact(&self) -> Option<&str> {
        match (&self.kind, &self.template) {
            (Kind::Exact(s), None) => Some(s),
            _ => None,
        }
    }

    /// Whether `value` matches, placeholders filled from `vars`.
    pub(crate) fn matches(&self, value: &str, vars: &Vars<'_>) -> bool {
        self.try_match(value, vars) == Matched::Yes
    }

    /// Whether `value` matches, placeholders filled from `vars`, or
    /// [`Matched::TooMany`] when they expand past [`MAX_EXPANSIONS`].
    pub(crate) fn try_match(&self, value: &str, vars: &Vars<'_>) -> Matched {
        let Some(pieces) = &self.template else {
            return Matched::from(match &self.kind {
                Kind::Exact(s) => s == value,
                Kind::Prefix { prefix, crosses } => prefix_match(prefix, *crosses, value),
                Kind::Glob(tokens) => glob_match(tokens, value),
                Kind::Regex(re) => re.is_match(value),
                _ => false,
            });
        };
        let escape: fn(&str) -> String = match self.kind {
            Kind::TemplatedRegex => regex::escape,
            Kind::TemplatedGlob => escape_glob,
            _ => str::to_owned,
        };
        let Some(texts) = expand(pieces, vars, escape) else {
            return Matched::TooMany;
        };
        Matched::from(texts.iter().any(|text| match self.kind {
            Kind::TemplatedExact => text == value,
            Kind::TemplatedGlob => match quick_prefix(text) {
                Some((prefix, crosses)) => prefix_match(prefix, crosses, value),
                None => parse_glob(text).is_ok_and(|t| glob_match(&t, value)),
            },
            Kind::TemplatedRegex => {
                Regex::new(&format!("^(?:{text})$")).is_ok_and(|re| re.is_match(value))
            }
            _ => false,
        }))
    }
}

/// A pattern without placeholders (exact, glob or `/regex/`), for values
/// that are not part of a request: the claims a workload token must carry.
#[cfg(feature = "workload-identity")]
#[derive(Clone, Debug)]
pub(crate) struct PlainPattern(Pattern);

#[cfg(feature = "workload-identity")]
impl PlainPattern {
    /// Parses `source` as [`Pattern::parse`] does, refusing placeholders.
    pub(crate) fn parse(source: &str) -> Result<PlainPattern, String> {
        let pattern = Pattern::parse(source)?;
        if pattern.template.is_some() {
            return Err(format!(
                "{source:?}: placeholders ${{…}} have no value here"
            ));
        }
        Ok(PlainPattern(pattern))
    }

    /// Whether `value` matches.
    pub(crate) fn matches(&self, value: &str) -> bool {
        static NO_LABELS: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let nothing = Vars {
            account: "",
            name: "",
            resource_type: "",
            service: "",
            labels: &NO_LABELS,
        };
        self.0.matches(value, &nothing)
    }
}

/// Whether `value` matches `glob`, a pattern without placeholders: `*`
/// within one path segment, `**` across them, `?`, `[…]`. A text with
/// none of these is matched exactly; one that is not a valid glob matches
/// nothing.
pub(crate) fn glob_matches(glob: &str, value: &str) -> bool {
    if !glob.contains(['*', '?', '[']) {
        return glob == value;
    }
    parse_glob(glob).is_ok_and(|tokens| glob_match(&tokens, value))
}

fn parse_placeholders(text: &str) -> Result<Vec<Piece>, String> {
    split_placeholders(
        text,
        |literal| Piece::Text(literal.to_owned()),
        |name| match name {
            "account" => Ok(Piece::Account),
            "name" => Ok(Piece::Name),
            "type" => Ok(Piece::Type),
            "service" => Ok(Piece::Service),
            _ => match name.strip_prefix("labels:") {
                Some(key) if !key.is_empty() => Ok(Piece::Label(key.to_owned())),
                _ => Err(format!(
                    "unknown placeholder ${{{name}}} (use ${{account}}, ${{name}}, ${{type}}, ${{service}} or ${{labels:KEY}})"
                )),
            },
        },
    )
}

/// `text` split at its `${…}` placeholders, in order: the text between
/// them through `literal`, each placeholder's name through `placeholder`.
/// The one syntax of ACL patterns and of templates elsewhere (a workload
/// token's subject).
pub(crate) fn split_placeholders<P>(
    text: &str,
    literal: impl Fn(&str) -> P,
    placeholder: impl Fn(&str) -> Result<P, String>,
) -> Result<Vec<P>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            pieces.push(literal(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
        pieces.push(placeholder(&after[..end])?);
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        pieces.push(literal(rest));
    }
    Ok(pieces)
}

/// Every text the template can become (labels may have several values);
/// `None` when that is more than [`MAX_EXPANSIONS`].
fn expand(pieces: &[Piece], vars: &Vars<'_>, escape: fn(&str) -> String) -> Option<Vec<String>> {
    let mut out = vec![String::new()];
    for piece in pieces {
        let values: Vec<String> = match piece {
            Piece::Text(t) => {
                out.iter_mut().for_each(|o| o.push_str(t));
                continue;
            }
            Piece::Account => vec![escape(vars.account)],
            Piece::Name => vec![escape(vars.name)],
            Piece::Type => vec![escape(vars.resource_type)],
            Piece::Service => vec![escape(vars.service)],
            Piece::Label(key) => vars
                .labels
                .get(key)
                .map(|v| v.iter().map(|s| escape(s)).collect())
                .unwrap_or_default(),
        };
        if out.len().saturating_mul(values.len()) > MAX_EXPANSIONS {
            return None;
        }
        let mut next = Vec::with_capacity(out.len() * values.len());
        for prefix in &out {
            for value in &values {
                next.push(format!("{prefix}{value}"));
            }
        }
        out = next;
    }
    Some(out)
}

fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Glob syntax of Go's `path.Match` (which docker_auth uses): `*` any run
/// of characters except `/`, `?` one character except `/`, `[a-z]` and
/// `[^a-z]` classes, `\` escapes. Added: `**` also crosses `/`.
fn parse_glob(glob: &str) -> Result<Vec<Token>, String> {
    let ends_with_backslash = || format!("glob {glob:?} ends with \\");
    let unclosed = || format!("unclosed [ in glob {glob:?}");
    let mut tokens = Vec::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                if chars.peek() == Some(&'*') {
                    chars.next();
                    tokens.push(Token::DoubleStar);
                } else {
                    tokens.push(Token::Star);
                }
            }
            '?' => tokens.push(Token::AnyChar),
            '\\' => tokens.push(Token::Char(chars.next().ok_or_else(ends_with_backslash)?)),
            '[' => {
                let negated = matches!(chars.peek(), Some('^' | '!'));
                if negated {
                    chars.next();
                }
                let mut ranges = Vec::new();
                loop {
                    let lo = match chars.next() {
                        None => return Err(unclosed()),
                        Some(']') if !ranges.is_empty() => break,
                        Some('\\') => chars.next().ok_or_else(ends_with_backslash)?,
                        Some(c) => c,
                    };
                    let hi = if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.next() {
                            Some('\\') => chars.next().ok_or_else(ends_with_backslash)?,
                            Some(c) => c,
                            None => return Err(unclosed()),
                        }
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                tokens.push(Token::Class { negated, ranges });
            }
            c => tokens.push(Token::Char(c)),
        }
    }
    Ok(tokens)
}

/// `prefix*` or `prefix**` with a literal prefix, as tokens.
fn prefix_form(tokens: &[Token]) -> Option<(String, bool)> {
    let (last, init) = tokens.split_last()?;
    let crosses = match last {
        Token::Star => false,
        Token::DoubleStar => true,
        _ => return None,
    };
    let prefix = init
        .iter()
        .map(|t| match t {
            Token::Char(c) => Some(*c),
            _ => None,
        })
        .collect::<Option<String>>()?;
    Some((prefix, crosses))
}

/// The same shape found in glob text without parsing it (for expanded
/// templates such as `alice/*`); `None` when the text has any other
/// glob syntax.
fn quick_prefix(text: &str) -> Option<(&str, bool)> {
    let (prefix, crosses) = match text.strip_suffix("**") {
        Some(p) => (p, true),
        None => (text.strip_suffix('*')?, false),
    };
    (!prefix.contains(['*', '?', '[', '\\'])).then_some((prefix, crosses))
}

fn prefix_match(prefix: &str, crosses: bool, value: &str) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|rest| crosses || !rest.contains('/'))
}

/// Dynamic programming over (token, position): time linear in the product
/// of the sizes whatever the pattern, so no glob can make it backtrack
/// exponentially.
fn glob_match(tokens: &[Token], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    // reach[i]: the tokens so far can consume exactly text[..i].
    let mut reach = vec![false; text.len() + 1];
    reach[0] = true;
    for token in tokens {
        let mut next = vec![false; text.len() + 1];
        match token {
            Token::Star | Token::DoubleStar => {
                let crosses = *token == Token::DoubleStar;
                let mut on = false;
                for (i, slot) in next.iter_mut().enumerate() {
                    on |= reach[i];
                    *slot = on;
                    if !crosses && text.get(i) == Some(&'/') {
                        on = false;
                    }
                }
            }
            _ => {
                for (i, c) in text.iter().enumerate() {
                    if reach[i] && single_matches(token, *c) {
                        next[i + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[text.len()]
}

fn single_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Char(x) => *x == c,
        Token::AnyChar => c != '/',
        Token::Class { negated, ranges } => {
            c != '/' && ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Token::Star | Token::DoubleStar => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, value: &str) -> bool {
        let labels =
            BTreeMap::from([("team".to_owned(), vec!["red".to_owned(), "blue".to_owned()])]);
        let vars = Vars {
            account: "alice",
            name: "alice/app",
            resource_type: "repository",
            service: "registry.test",
            labels: &labels,
        };
        match Pattern::parse(pattern) {
            Ok(p) => p.matches(value, &vars),
            Err(e) => panic!("{pattern}: {e}"),
        }
    }

    #[test]
    fn exact_glob_regex() {
        assert!(m("alice", "alice"));
        assert!(!m("alice", "alice2"));
        assert!(m("", ""));
        assert!(m("alice/*", "alice/app"));
        assert!(!m("alice/*", "alice/team/app"));
        assert!(m("alice/**", "alice/team/app"));
        assert!(!m("alice/*", "bob/app"));
        assert!(m("*", ""));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "a/c"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(m("/alice|bob/", "bob"));
        assert!(!m("/alice/", "malice"), "regexes are anchored");
        assert!(m("/ali.*/", "alice/x"));
        assert!(m("/.+/", "x"));
        assert!(!m("/.+/", ""));
    }

    #[test]
    fn placeholders() {
        assert!(m("${account}/*", "alice/x"));
        assert!(!m("${account}/*", "bob/x"));
        assert!(m("${labels:team}/*", "blue/x"));
        assert!(!m("${labels:team}/*", "green/x"));
        assert!(!m("${labels:missing}/*", "x/y"));
        assert!(m("/${account}-[0-9]+/", "alice-42"));
        assert!(m("${name}", "alice/app"));
        assert!(m("${type}:${service}", "repository:registry.test"));
    }

    #[test]
    fn placeholder_values_are_literal() {
        let labels = BTreeMap::new();
        let vars = Vars {
            account: "a*",
            name: "",
            resource_type: "",
            service: "",
            labels: &labels,
        };
        let check = |p: &str, v: &str| Pattern::parse(p).is_ok_and(|p| p.matches(v, &vars));
        assert!(check("${account}/x", "a*/x"));
        assert!(!check("${account}/*", "ab/x"));
        assert!(!check("/${account}.*/", "aaa"));
        assert!(check("/${account}.*/", "a*zz"));
    }

    #[test]
    fn bad_patterns() {
        for (p, msg) in [
            ("/a(/", "bad regular expression"),
            ("a[b", "unclosed ["),
            ("${nope}", "unknown placeholder ${nope}"),
            ("${account", "unclosed placeholder"),
            ("a*\\", "ends with \\"),
        ] {
            let err = Pattern::parse(p).err().unwrap_or_default();
            assert!(err.contains(msg), "{p}: {err}");
        }
    }

    #[test]
    fn pathological_globs_stay_linear() {
        let value = "a".repeat(200);
        assert!(!m(&format!("{}b", "a*".repeat(50)), &value));
    }
}
