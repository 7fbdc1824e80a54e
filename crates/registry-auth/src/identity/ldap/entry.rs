//! Reading an identity out of directory entries: the subject, the groups
//! (from `memberOf` DNs or from group entries) and the labels.

use std::collections::BTreeMap;

use ldap3::SearchEntry;

use super::settings::{GROUPS_LABEL, LdapSettings};
use crate::protocol::identity::Identity;

/// What to read from a person's entry, and how, as the settings say.
#[derive(Debug, Clone)]
pub(super) struct Reader {
    subject_attribute: Option<String>,
    /// `None` when groups come from a group search instead.
    member_of_attribute: Option<String>,
    group_name_attribute: String,
    labels: BTreeMap<String, String>,
}

impl Reader {
    pub(super) fn new(settings: &LdapSettings) -> Self {
        Reader {
            subject_attribute: settings.subject_attribute.clone(),
            member_of_attribute: match settings.group_filter {
                Some(_) => None,
                None => Some(settings.member_of_attribute.clone()),
            },
            group_name_attribute: settings.group_name_attribute.clone(),
            labels: settings.labels.clone(),
        }
    }

    /// The attributes to ask a person's entry for: the subject's, the
    /// groups' (without a group search) and the labels'. No more: a
    /// directory entry may hold photos and certificates.
    pub(super) fn person_attributes(&self) -> Vec<&str> {
        let mut attributes: Vec<&str> = self
            .subject_attribute
            .iter()
            .chain(&self.member_of_attribute)
            .chain(self.labels.values())
            .map(String::as_str)
            .collect();
        attributes.sort_unstable_by_key(|a| a.to_ascii_lowercase());
        attributes.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        attributes
    }

    /// The attribute that names a group, to ask group entries for.
    pub(super) fn group_name_attribute(&self) -> &str {
        &self.group_name_attribute
    }

    /// The attribute to find a person by on refresh, if the subject is
    /// one of the entry's values rather than the name the client sent.
    pub(super) fn subject_attribute(&self) -> Option<&str> {
        self.subject_attribute.as_deref()
    }

    /// The subject of the person in `entry`, who logged in as `account`:
    /// `account` itself, or the value of the subject attribute (the one
    /// equal to `account` but for case, if there is one, so that a
    /// many-valued attribute gives a stable answer). `None` when the
    /// attribute is set and the entry has no usable value.
    pub(super) fn subject(&self, entry: &SearchEntry, account: &str) -> Option<String> {
        let Some(attribute) = &self.subject_attribute else {
            return Some(account.to_owned());
        };
        let mut candidates =
            values(entry, attribute).filter(|v| !v.is_empty() && !v.contains('\0'));
        let first = candidates.next()?;
        let same = std::iter::once(first)
            .chain(candidates)
            .find(|v| v.eq_ignore_ascii_case(account));
        Some(same.unwrap_or(first).to_owned())
    }

    /// The groups named by the `memberOf` DNs of `entry` (nothing when
    /// groups come from a group search).
    pub(super) fn member_of_groups(&self, entry: &SearchEntry) -> Vec<String> {
        let Some(attribute) = &self.member_of_attribute else {
            return Vec::new();
        };
        values(entry, attribute)
            .filter_map(|dn| rdn_value(dn, &self.group_name_attribute))
            .collect()
    }

    /// The names of the groups found by a group search.
    pub(super) fn searched_groups(&self, groups: &[SearchEntry]) -> Vec<String> {
        groups
            .iter()
            .flat_map(|group| values(group, &self.group_name_attribute))
            .map(str::to_owned)
            .collect()
    }

    /// The identity: `subject`, the label `groups` (sorted, each once)
    /// and the configured labels, read from `entry`. A label the entry
    /// has no value for is left out.
    pub(super) fn identity(
        &self,
        subject: String,
        entry: &SearchEntry,
        groups: Vec<String>,
    ) -> Identity {
        let mut identity = Identity::new(subject);
        let groups = sorted(groups);
        if !groups.is_empty() {
            identity = identity.with_attribute(GROUPS_LABEL, groups);
        }
        for (label, attribute) in &self.labels {
            let label_values = sorted(values(entry, attribute).map(str::to_owned).collect());
            if !label_values.is_empty() {
                identity = identity.with_attribute(label.clone(), label_values);
            }
        }
        identity
    }
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort_unstable();
    list.dedup();
    list
}

/// The values of `attribute` in `entry`, however the server spells the
/// name (`memberOf`, `memberof`).
pub(super) fn values<'a>(
    entry: &'a SearchEntry,
    attribute: &'a str,
) -> impl Iterator<Item = &'a str> {
    entry
        .attrs
        .iter()
        .filter(move |(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, values)| values.iter().map(String::as_str))
}

/// The value of `attribute` in the first RDN of `dn`, unescaped (RFC
/// 4514): `cn=web\, ops,ou=groups,dc=example,dc=com` gives `web, ops` for
/// `cn`. `None` when the first RDN has no such attribute, the value is
/// hex-encoded BER (`cn=#04…`) or the DN is malformed.
pub(super) fn rdn_value(dn: &str, attribute: &str) -> Option<String> {
    let bytes = dn.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        // One attribute=value of the first RDN: up to an unescaped '+'
        // (another of the same RDN), ',' or ';' (the next RDN) or the end.
        let end = loop {
            match bytes.get(i) {
                None | Some(b'+' | b',' | b';') => break i,
                Some(b'\\') => i += 2,
                Some(_) => i += 1,
            }
        };
        let ava = dn.get(start..end.min(dn.len()))?;
        let (name, value) = ava.split_once('=')?;
        if name.trim().eq_ignore_ascii_case(attribute) {
            return unescape(value);
        }
        if bytes.get(end) != Some(&b'+') {
            return None;
        }
        i = end + 1;
        start = i;
    }
}

/// Undoes RFC 4514 escapes (`\,`, `\2C`, multi-byte UTF-8 as `\C3\A9`)
/// and drops unescaped spaces around the value.
fn unescape(value: &str) -> Option<String> {
    let raw = value.trim_start_matches(' ');
    if raw.starts_with('#') {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    // Length of `out` up to the last byte that is not an unescaped space.
    let mut kept = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            let next = *bytes.get(i + 1)?;
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok());
            match hex {
                Some(decoded) => {
                    out.push(decoded);
                    i += 3;
                }
                None => {
                    out.push(next);
                    i += 2;
                }
            }
            kept = out.len();
        } else {
            out.push(b);
            if b != b' ' {
                kept = out.len();
            }
            i += 1;
        }
    }
    out.truncate(kept);
    String::from_utf8(out).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn search_then_bind() -> LdapSettings {
        let mut settings = LdapSettings::new("ldap://127.0.0.1:1", "ou=people,dc=example,dc=com");
        settings.bind_dn = Some("cn=registry,dc=example,dc=com".into());
        settings.bind_password = Some("service-secret".into());
        settings
    }

    #[test]
    fn member_of_dns_give_the_first_rdn_unescaped() {
        let cn = |dn: &str| rdn_value(dn, "cn");
        assert_eq!(
            cn("cn=platform,ou=groups,dc=example,dc=com").as_deref(),
            Some("platform")
        );
        assert_eq!(
            cn("CN=Web\\, Ops,OU=Groups,DC=corp").as_deref(),
            Some("Web, Ops")
        );
        assert_eq!(cn(r"cn=a\2cb\2B\5c,ou=g").as_deref(), Some(r"a,b+\"));
        assert_eq!(cn(r"cn=caf\C3\A9,ou=g").as_deref(), Some("café"));
        assert_eq!(cn(r"cn=\ lead\ ,ou=g").as_deref(), Some(" lead "));
        assert_eq!(cn("cn = spaced ,ou=g").as_deref(), Some("spaced"));
        assert_eq!(cn("ou=x+cn=multi,dc=example").as_deref(), Some("multi"));
        assert_eq!(cn("uid=bob,ou=people").as_deref(), None);
        assert_eq!(cn("ou=groups,cn=deeper").as_deref(), None);
        assert_eq!(cn("cn=#04024869,ou=g").as_deref(), None);
        assert_eq!(cn("cn=,ou=g").as_deref(), None);
        assert_eq!(cn("garbage").as_deref(), None);
        assert_eq!(cn("cn=trailing\\").as_deref(), None);
    }

    #[test]
    fn identities_carry_sorted_groups_and_the_labels() {
        let mut settings = search_then_bind();
        settings.subject_attribute = Some("uid".into());
        settings
            .labels
            .insert("team".into(), "departmentNumber".into());
        let reader = Reader::new(&settings);
        assert_eq!(
            reader.person_attributes(),
            ["departmentNumber", "memberOf", "uid"]
        );
        let entry = SearchEntry {
            dn: "uid=bob,ou=people,dc=example,dc=com".into(),
            attrs: HashMap::from([
                (
                    "UID".to_owned(),
                    vec!["robert".to_owned(), "Bob".to_owned()],
                ),
                (
                    "memberof".to_owned(),
                    vec![
                        "cn=platform,ou=groups,dc=example,dc=com".to_owned(),
                        "cn=developers,ou=groups,dc=example,dc=com".to_owned(),
                        "uid=not-a-group,dc=example,dc=com".to_owned(),
                    ],
                ),
                ("departmentNumber".to_owned(), vec!["web-team".to_owned()]),
            ]),
            bin_attrs: HashMap::new(),
        };
        let groups = reader.member_of_groups(&entry);
        let subject = reader.subject(&entry, "bob");
        assert_eq!(subject.as_deref(), Some("Bob"));
        let identity = reader.identity("Bob".into(), &entry, groups);
        assert_eq!(identity.attribute("groups"), ["developers", "platform"]);
        assert_eq!(identity.attribute("team"), ["web-team"]);
        // The attribute set but missing: no subject.
        let bare = SearchEntry {
            attrs: HashMap::new(),
            ..entry
        };
        assert_eq!(reader.subject(&bare, "bob"), None);
        // With a group search, memberOf is neither asked for nor read.
        settings.group_filter = Some("(member=${dn})".into());
        settings.subject_attribute = None;
        settings.labels.clear();
        let reader = Reader::new(&settings);
        assert!(reader.person_attributes().is_empty());
        assert_eq!(reader.subject(&bare, "bob").as_deref(), Some("bob"));
    }
}
