//! The built-in ACL engine: ordered rules, first match wins, no match
//! denies.
//!
//! A rule matches a requested scope when every condition it names holds:
//!
//! | condition | compared with |
//! |---|---|
//! | `account` | the identity's subject (`""` for anonymous) |
//! | `type` | the resource type (`repository`, `registry`) |
//! | `name` | the resource name (`alice/app`, `catalog`) |
//! | `service` | the service the token is for |
//! | `ip` | the client address, against one or more CIDR blocks |
//! | `labels` | `{KEY = pattern}`: some value of the identity's attribute KEY |
//!
//! Each pattern is an exact string, a glob (`alice/*`: `*` and `?` stop at
//! `/`, `**` crosses it, `[a-z]` classes) or a `/regular expression/`
//! (anchored at both ends, unlike docker_auth's). Patterns may hold
//! `${account}`, `${name}`, `${type}`, `${service}` and `${labels:KEY}`,
//! filled in from the request; `${labels:KEY}` tries every value.
//!
//! The rule's `actions` are what it allows: `["*"]` allows whatever was
//! asked (and answers a requested `*` with `*`, which `registry:catalog:*`
//! and skopeo's delete need); `[]` denies and stops the search.
//!
//! Anonymous clients match only rules whose `account` condition is given
//! and matches the empty string (`account = ""`): a rule that names no
//! account is for authenticated users only, so forgetting the condition
//! never opens a repository to the world.
//!
//! Layer 1: may use the protocol's words and implements its
//! [`Authorizer`]; each decision carries the rule that
//! made it ([`DecidedBy::Rule`]).

mod pattern;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;

use crate::protocol::authz::{AccessRequest, Authorizer, DecidedBy, ScopeDecision};
use crate::protocol::backend::BackendError;
use crate::protocol::cidr::Cidr;
use crate::protocol::identity::Identity;
use crate::protocol::scope::Scope;
pub(crate) use pattern::glob_matches;
use pattern::{Matched, Pattern, Vars};
#[cfg(feature = "workload-identity")]
pub(crate) use pattern::{PlainPattern, split_placeholders};

/// One rule, as written in a configuration file (`[[acl]]`).
///
/// With the `serde` feature it deserializes from the keys `match`,
/// `actions` and `comment`; unknown keys are refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Rule {
    /// The conditions; all must hold. None at all matches every
    /// authenticated request.
    #[cfg_attr(feature = "serde", serde(rename = "match", default))]
    pub conditions: Match,
    /// What the rule allows: action names, `*` for all, empty to deny.
    pub actions: Vec<String>,
    /// Free text shown by `check` and in logs.
    #[cfg_attr(feature = "serde", serde(default))]
    pub comment: Option<String>,
}

/// The conditions of a rule; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct Match {
    /// Pattern for the subject (`""` is anonymous).
    pub account: Option<String>,
    /// Pattern for the resource type.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub resource_type: Option<String>,
    /// Pattern for the resource name.
    pub name: Option<String>,
    /// Pattern for the service.
    pub service: Option<String>,
    /// CIDR blocks (or single addresses) the client address must be in;
    /// empty: any address. Deserializes from a string or a list.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "one_or_many"))]
    pub ip: Vec<String>,
    /// Patterns for identity attributes.
    pub labels: BTreeMap<String, String>,
}

/// A string or a list of strings, as a list.
#[cfg(feature = "serde")]
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match serde::Deserialize::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// A rule that cannot be compiled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("acl rule {rule}: {reason}")]
pub struct AclError {
    /// The rule's position, from 1.
    pub rule: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// A rule, compiled.
#[derive(Clone, Debug)]
struct Compiled {
    account: Option<Pattern>,
    resource_type: Option<Pattern>,
    name: Option<Pattern>,
    service: Option<Pattern>,
    ips: Vec<Cidr>,
    labels: Vec<(String, Pattern)>,
    actions: Vec<String>,
    comment: Option<String>,
}

/// Compiled ACL rules; an [`Authorizer`].
#[derive(Clone, Debug)]
pub struct Acl {
    rules: Vec<Compiled>,
    /// Rules whose account is an exact string, by that string, in order.
    by_account: HashMap<String, Vec<usize>>,
    /// All other rules, in order.
    general: Vec<usize>,
}

impl Acl {
    /// Compiles rules; errors name the rule (from 1) and what is wrong.
    pub fn new(specs: &[Rule]) -> Result<Acl, AclError> {
        let mut rules = Vec::with_capacity(specs.len());
        let mut by_account: HashMap<String, Vec<usize>> = HashMap::new();
        let mut general = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let rule = compile(spec).map_err(|reason| AclError {
                rule: index + 1,
                reason,
            })?;
            match rule.account.as_ref().and_then(Pattern::as_exact) {
                Some(account) => by_account
                    .entry(account.to_owned())
                    .or_default()
                    .push(index),
                None => general.push(index),
            }
            rules.push(rule);
        }
        Ok(Acl {
            rules,
            by_account,
            general,
        })
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules (everything is denied).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The comment of rule `index`, if it has one.
    pub fn comment(&self, index: usize) -> Option<&str> {
        self.rules.get(index).and_then(|r| r.comment.as_deref())
    }

    /// Whether any rule can match an anonymous client. A server with no
    /// such rule can answer anonymous clients 401 straight away.
    pub fn allows_anonymous(&self) -> bool {
        let labels = BTreeMap::new();
        let vars = Vars {
            account: "",
            name: "",
            resource_type: "",
            service: "",
            labels: &labels,
        };
        self.rules
            .iter()
            .any(|r| r.account.as_ref().is_some_and(|a| a.matches("", &vars)))
    }

    /// Decides every scope of `request` for `who`, at once (the
    /// [`Authorizer`] implementation answers with this).
    pub fn evaluate(&self, who: &Identity, request: &AccessRequest) -> Vec<ScopeDecision> {
        request
            .scopes
            .iter()
            .map(|scope| {
                let rule = self
                    .first_match(who, scope, request)
                    .and_then(|(i, matched)| Some((i, matched, self.rules.get(i)?)));
                // The rule's actions were sorted and de-duplicated when it
                // was compiled: no need to do it per request.
                let (allowed, decided_by) = match rule {
                    Some((index, Matched::Yes, rule)) => {
                        (rule.actions.clone(), DecidedBy::Rule(index))
                    }
                    // A rule that cannot be decided denies (whether it
                    // allows or denies): matching a subset of the labels
                    // would make a deny rule fail open.
                    Some((index, _, _)) => {
                        tracing::warn!(
                            rule = index + 1,
                            subject = who.subject(),
                            "an ACL pattern's label placeholders expand to more than 64 values \
                             for this identity; the rule denies"
                        );
                        (Vec::new(), DecidedBy::Rule(index))
                    }
                    None => (Vec::new(), DecidedBy::NoRule),
                };
                ScopeDecision {
                    requested: scope.clone(),
                    allowed,
                    decided_by,
                }
            })
            .collect()
    }

    /// The first rule that matches (or cannot be decided:
    /// [`Matched::TooMany`]), in rule order.
    fn first_match(
        &self,
        who: &Identity,
        scope: &Scope,
        request: &AccessRequest,
    ) -> Option<(usize, Matched)> {
        let vars = Vars {
            account: who.subject(),
            name: &scope.name,
            resource_type: &scope.resource_type,
            service: &request.service,
            labels: who.attributes(),
        };
        let exact = self
            .by_account
            .get(who.subject())
            .map_or(&[][..], Vec::as_slice);
        // Walk both ordered lists in rule order: first match wins.
        let (mut a, mut b) = (exact.iter().peekable(), self.general.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x < y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => return None,
            };
            let index = *next?;
            let rule = self.rules.get(index)?;
            match rule_matches(rule, who, scope, request, &vars) {
                Matched::No => {}
                matched => return Some((index, matched)),
            }
        }
    }
}

/// Whether `rule` matches: every condition must. A rule that a condition
/// certainly rules out does not match; otherwise one condition that
/// cannot be decided makes it [`Matched::TooMany`] (which denies).
fn rule_matches(
    rule: &Compiled,
    who: &Identity,
    scope: &Scope,
    request: &AccessRequest,
    vars: &Vars<'_>,
) -> Matched {
    // In order; the first condition that rules the rule out ends the
    // walk, as a short-circuit would. An undecided one is remembered.
    let mut undecided = false;
    let mut rules_out = |matched: Matched| match matched {
        Matched::Yes => false,
        Matched::No => true,
        Matched::TooMany => {
            undecided = true;
            false
        }
    };
    let optional = |p: &Option<Pattern>, value: &str| {
        p.as_ref()
            .map_or(Matched::Yes, |p| p.try_match(value, vars))
    };
    let account = match &rule.account {
        Some(p) => p.try_match(who.subject(), vars),
        None => Matched::from(!who.is_anonymous()),
    };
    if rules_out(account) {
        return Matched::No;
    }
    let ip_ok = rule.ips.is_empty()
        || request
            .client_ip
            .is_some_and(|ip| rule.ips.iter().any(|c| c.contains(ip)));
    if !ip_ok
        || rules_out(optional(&rule.resource_type, &scope.resource_type))
        || rules_out(optional(&rule.name, &scope.name))
        || rules_out(optional(&rule.service, &request.service))
    {
        return Matched::No;
    }
    for (key, p) in &rule.labels {
        // Some value of the label matches.
        let mut found = Matched::No;
        for value in who.attribute(key) {
            match p.try_match(value, vars) {
                Matched::Yes => {
                    found = Matched::Yes;
                    break;
                }
                Matched::TooMany => found = Matched::TooMany,
                Matched::No => {}
            }
        }
        if rules_out(found) {
            return Matched::No;
        }
    }
    if undecided {
        Matched::TooMany
    } else {
        Matched::Yes
    }
}

fn compile(spec: &Rule) -> Result<Compiled, String> {
    let c = &spec.conditions;
    let pattern = |field: &str, p: &Option<String>| {
        p.as_deref()
            .map(Pattern::parse)
            .transpose()
            .map_err(|e| format!("{field}: {e}"))
    };
    for action in &spec.actions {
        if action != "*" && (action.is_empty() || !action.bytes().all(|b| b.is_ascii_lowercase())) {
            return Err(format!(
                "action {action:?} is not an action name (lowercase letters) or *"
            ));
        }
    }
    let mut labels = Vec::new();
    for (key, p) in &c.labels {
        labels.push((
            key.clone(),
            Pattern::parse(p).map_err(|e| format!("labels.{key}: {e}"))?,
        ));
    }
    let ips =
        c.ip.iter()
            .map(|s| Cidr::parse(s).map_err(|e| format!("ip: {e}")))
            .collect::<Result<_, _>>()?;
    let mut actions = spec.actions.clone();
    actions.sort();
    actions.dedup();
    Ok(Compiled {
        account: pattern("account", &c.account)?,
        resource_type: pattern("type", &c.resource_type)?,
        name: pattern("name", &c.name)?,
        service: pattern("service", &c.service)?,
        ips,
        labels,
        actions,
        comment: spec.comment.clone(),
    })
}

#[async_trait]
impl Authorizer for Acl {
    async fn authorize(
        &self,
        who: &Identity,
        request: &AccessRequest,
    ) -> Result<Vec<Scope>, BackendError> {
        Ok(self
            .evaluate(who, request)
            .into_iter()
            .map(|d| Scope::new(d.requested.resource_type, d.requested.name, d.allowed))
            .collect())
    }

    async fn decide(
        &self,
        who: &Identity,
        request: &AccessRequest,
    ) -> Result<Vec<ScopeDecision>, BackendError> {
        Ok(self.evaluate(who, request))
    }
}

// The tests write rules as JSON, through the `serde` feature.
#[cfg(all(test, feature = "serde"))]
mod tests;
