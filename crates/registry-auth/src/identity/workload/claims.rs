//! From a verified token's claims to an identity: claim names, the
//! subject template, labels and requirements.

use serde_json::{Map, Value};

use crate::acl::{PlainPattern, split_placeholders};

/// A claim: a top-level name (`repository`) or a JSON pointer into nested
/// claims (`/kubernetes.io/namespace`, RFC 6901).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ClaimPath(String);

impl ClaimPath {
    pub(super) fn parse(text: &str) -> Result<ClaimPath, String> {
        if text.is_empty() || text == "/" {
            return Err("a claim name is empty".into());
        }
        Ok(ClaimPath(text.to_owned()))
    }

    /// As written in the settings.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    fn find<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        match self.0.strip_prefix('/') {
            Some(_) => {
                let (first, rest) = split_pointer(&self.0);
                claims.get(&first)?.pointer(rest)
            }
            None => claims.get(&self.0),
        }
    }

    /// The claim's values as text: a string, number or boolean is one
    /// value, a list one value per such element; anything else (absent, an
    /// object, null) none.
    pub(super) fn values(&self, claims: &Map<String, Value>) -> Vec<String> {
        match self.find(claims) {
            Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
            Some(value) => scalar(value).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// The claim's one value as text, when it is a string, number or
    /// boolean.
    pub(super) fn value(&self, claims: &Map<String, Value>) -> Option<String> {
        self.find(claims).and_then(scalar)
    }
}

/// `/a~1b/c` → the first token unescaped (`a/b`) and the rest of the
/// pointer (`/c`), which serde_json follows within that claim.
fn split_pointer(pointer: &str) -> (String, &str) {
    let body = &pointer[1..];
    let (first, rest) = match body.find('/') {
        Some(at) => (&body[..at], &body[at..]),
        None => (body, ""),
    };
    (first.replace("~1", "/").replace("~0", "~"), rest)
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `github:${repository}`: text and claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SubjectTemplate(Vec<Piece>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Claim(ClaimPath),
}

impl SubjectTemplate {
    pub(super) fn parse(text: &str) -> Result<SubjectTemplate, String> {
        if text.trim().is_empty() {
            return Err("must not be empty".into());
        }
        let pieces = split_placeholders(
            text,
            |literal| Piece::Text(literal.to_owned()),
            |name| {
                ClaimPath::parse(name)
                    .map(Piece::Claim)
                    .map_err(|e| format!("{text:?}: {e}"))
            },
        )?;
        Ok(SubjectTemplate(pieces))
    }

    /// The subject for these claims, or the claim that is missing (or not
    /// a single string, number or boolean).
    pub(super) fn fill(&self, claims: &Map<String, Value>) -> Result<String, String> {
        let mut subject = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => subject.push_str(text),
                Piece::Claim(claim) => match claim.value(claims) {
                    Some(value) if !value.is_empty() => subject.push_str(&value),
                    _ => return Err(claim.as_str().to_owned()),
                },
            }
        }
        Ok(subject)
    }
}

/// A claim that must match a pattern.
#[derive(Clone, Debug)]
pub(super) struct Requirement {
    claim: ClaimPath,
    source: String,
    pattern: PlainPattern,
}

impl PartialEq for Requirement {
    fn eq(&self, other: &Self) -> bool {
        self.claim == other.claim && self.source == other.source
    }
}
impl Eq for Requirement {}

impl Requirement {
    pub(super) fn parse(claim: &str, pattern: &str) -> Result<Requirement, String> {
        Ok(Requirement {
            claim: ClaimPath::parse(claim)?,
            source: pattern.to_owned(),
            pattern: PlainPattern::parse(pattern).map_err(|e| format!("{claim}: {e}"))?,
        })
    }

    /// `None` when it holds, or why not (for the audit log and `check`).
    pub(super) fn unmet(&self, claims: &Map<String, Value>) -> Option<String> {
        let values = self.claim.values(claims);
        if values.iter().any(|v| self.pattern.matches(v)) {
            return None;
        }
        let claim = self.claim.as_str();
        let wanted = &self.source;
        Some(match values.as_slice() {
            [] => format!("requirement {claim} = {wanted:?} not met: the token has no {claim}"),
            [one] => format!("requirement {claim} = {wanted:?} not met: the token has {one:?}"),
            many => format!("requirement {claim} = {wanted:?} not met: the token has {many:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap_or_default()
    }

    #[test]
    fn names_and_pointers_find_strings_numbers_and_lists() {
        let c = claims(
            r#"{"repository":"org/app","run":7,"ok":true,"groups":["a","b",3,{}],
                "kubernetes.io":{"namespace":"ci","serviceaccount":{"name":"builder"}},
                "a/b":{"c":"slash"}}"#,
        );
        let path = |p: &str| ClaimPath::parse(p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(path("repository").values(&c), ["org/app"]);
        assert_eq!(path("run").values(&c), ["7"]);
        assert_eq!(path("ok").value(&c).as_deref(), Some("true"));
        assert_eq!(path("groups").values(&c), ["a", "b", "3"]);
        assert_eq!(path("groups").value(&c), None, "a list is not one value");
        assert_eq!(path("/kubernetes.io/namespace").values(&c), ["ci"]);
        assert_eq!(
            path("/kubernetes.io/serviceaccount/name")
                .value(&c)
                .as_deref(),
            Some("builder")
        );
        assert_eq!(path("/a~1b/c").values(&c), ["slash"]);
        assert!(path("/kubernetes.io").values(&c).is_empty(), "an object");
        assert!(path("missing").values(&c).is_empty());
        assert!(ClaimPath::parse("").is_err());
    }

    #[test]
    fn the_subject_needs_every_claim_it_names() {
        let c = claims(r#"{"repository":"org/app","ref":"refs/heads/main","empty":""}"#);
        let t =
            SubjectTemplate::parse("github:${repository}@${ref}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.fill(&c).as_deref(), Ok("github:org/app@refs/heads/main"));
        let t = SubjectTemplate::parse("x:${missing}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.fill(&c), Err("missing".to_owned()));
        let t = SubjectTemplate::parse("x:${empty}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.fill(&c), Err("empty".to_owned()));
        assert!(SubjectTemplate::parse("x:${open").is_err());
        assert!(SubjectTemplate::parse("x:${}").is_err());
        assert!(SubjectTemplate::parse(" ").is_err());
    }

    #[test]
    fn requirements_match_exactly_by_glob_or_regex_and_say_why_not() {
        let c = claims(r#"{"owner":"my-org","ref":"refs/heads/main","groups":["x","dev"]}"#);
        let req = |claim: &str, p: &str| {
            Requirement::parse(claim, p)
                .unwrap_or_else(|e| panic!("{e}"))
                .unmet(&c)
        };
        assert_eq!(req("owner", "my-org"), None);
        assert_eq!(req("ref", "refs/heads/*"), None);
        assert_eq!(req("ref", "/refs/(heads|tags)/.+/"), None);
        assert_eq!(req("groups", "dev"), None, "one value of a list suffices");
        assert_eq!(
            req("owner", "other").as_deref(),
            Some(r#"requirement owner = "other" not met: the token has "my-org""#)
        );
        assert_eq!(
            req("environment", "prod").as_deref(),
            Some(r#"requirement environment = "prod" not met: the token has no environment"#)
        );
        // A near miss is a miss: an exact pattern is not a prefix.
        assert!(req("owner", "my-or").is_some());
        assert!(Requirement::parse("owner", "${account}").is_err());
        assert!(Requirement::parse("owner", "/(/").is_err());
    }
}
