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

mod pattern;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use async_trait::async_trait;
use serde::Deserialize;

use crate::authn::Identity;
use crate::authz::{AccessRequest, Authorizer, AuthzError};
use crate::scope::Scope;
use pattern::{Pattern, Vars};

/// One rule as written in a configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRuleSpec {
    /// The conditions; all must hold. None at all matches every
    /// authenticated request.
    #[serde(rename = "match", default)]
    pub conditions: MatchSpec,
    /// What the rule allows: action names, `*` for all, empty to deny.
    pub actions: Vec<String>,
    /// Free text shown by `check` and in logs.
    #[serde(default)]
    pub comment: Option<String>,
}

/// The conditions of a rule; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Pattern for the subject (`""` is anonymous).
    #[serde(default)]
    pub account: Option<String>,
    /// Pattern for the resource type.
    #[serde(rename = "type", default)]
    pub resource_type: Option<String>,
    /// Pattern for the resource name.
    #[serde(default)]
    pub name: Option<String>,
    /// Pattern for the service.
    #[serde(default)]
    pub service: Option<String>,
    /// CIDR blocks (or single addresses) the client address must be in.
    #[serde(default)]
    pub ip: Option<OneOrMany>,
    /// Patterns for identity attributes.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A string or a list of strings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
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

#[derive(Clone, Debug)]
struct Rule {
    account: Option<Pattern>,
    resource_type: Option<Pattern>,
    name: Option<Pattern>,
    service: Option<Pattern>,
    ips: Vec<Cidr>,
    labels: Vec<(String, Pattern)>,
    actions: Vec<String>,
    comment: Option<String>,
}

/// The decision on one requested scope.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AclDecision {
    /// The scope as requested.
    pub requested: Scope,
    /// The index (from 0) of the rule that decided, if one matched.
    pub rule: Option<usize>,
    /// What the rule allows (empty: denied).
    pub allowed: Vec<String>,
}

impl AclDecision {
    /// The actions a token would carry for this scope: what was asked
    /// intersected with what the rule allows, by the same rule the server
    /// applies (a requested `*` gets every allowed action).
    pub fn granted(&self) -> Vec<String> {
        let allowed = Scope::new(
            self.requested.resource_type.clone(),
            self.requested.name.clone(),
            self.allowed.iter().cloned(),
        );
        crate::authz::intersect(std::slice::from_ref(&self.requested), &[allowed])
            .into_iter()
            .flat_map(|s| s.actions)
            .collect()
    }
}

/// Compiled ACL rules; an [`Authorizer`].
#[derive(Clone, Debug)]
pub struct Acl {
    rules: Vec<Rule>,
    /// Rules whose account is an exact string, by that string, in order.
    by_account: HashMap<String, Vec<usize>>,
    /// All other rules, in order.
    general: Vec<usize>,
}

impl Acl {
    /// Compiles rules; errors name the rule (from 1) and what is wrong.
    pub fn new(specs: &[AclRuleSpec]) -> Result<Acl, AclError> {
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

    /// Decides every scope of `request` for `who`.
    pub fn decide(&self, who: &Identity, request: &AccessRequest) -> Vec<AclDecision> {
        request
            .scopes
            .iter()
            .map(|scope| {
                let rule = self.first_match(who, scope, request);
                AclDecision {
                    requested: scope.clone(),
                    rule,
                    allowed: rule
                        .and_then(|i| self.rules.get(i))
                        .map(|r| r.actions.clone())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    fn first_match(&self, who: &Identity, scope: &Scope, request: &AccessRequest) -> Option<usize> {
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
            if rule_matches(rule, who, scope, request, &vars) {
                return Some(index);
            }
        }
    }
}

fn rule_matches(
    rule: &Rule,
    who: &Identity,
    scope: &Scope,
    request: &AccessRequest,
    vars: &Vars<'_>,
) -> bool {
    let account_ok = match &rule.account {
        Some(p) => p.matches(who.subject(), vars),
        None => !who.is_anonymous(),
    };
    let opt = |p: &Option<Pattern>, value: &str| p.as_ref().is_none_or(|p| p.matches(value, vars));
    account_ok
        && opt(&rule.resource_type, &scope.resource_type)
        && opt(&rule.name, &scope.name)
        && opt(&rule.service, &request.service)
        && (rule.ips.is_empty()
            || request
                .client_ip
                .is_some_and(|ip| rule.ips.iter().any(|c| c.contains(ip))))
        && rule.labels.iter().all(|(key, p)| {
            who.attribute(key)
                .iter()
                .any(|value| p.matches(value, vars))
        })
}

fn compile(spec: &AclRuleSpec) -> Result<Rule, String> {
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
        c.ip.as_ref()
            .map(|ips| ips.as_slice().iter().map(|s| Cidr::parse(s)).collect())
            .transpose()?
            .unwrap_or_default();
    let mut actions = spec.actions.clone();
    actions.sort();
    actions.dedup();
    Ok(Rule {
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
    ) -> Result<Vec<Scope>, AuthzError> {
        let decisions = self.decide(who, request);
        let rules: Vec<String> = decisions
            .iter()
            .map(|d| match d.rule {
                Some(i) => format!("{}=rule {}", d.requested, i + 1),
                None => format!("{}=no rule", d.requested),
            })
            .collect();
        tracing::Span::current().record("rules", rules.join(" ").as_str());
        Ok(decisions
            .into_iter()
            .map(|d| Scope::new(d.requested.resource_type, d.requested.name, d.allowed))
            .collect())
    }
}

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("ip: {s:?} is not an address or CIDR block");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { network, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        // A v4 client seen through a v6 socket is still a v4 client.
        let ip = ip.to_canonical();
        let (net, ip, bits) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(n.to_bits()), u128::from(i.to_bits()), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (n.to_bits(), i.to_bits(), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (ip >> shift)
    }
}

#[cfg(test)]
mod tests;
