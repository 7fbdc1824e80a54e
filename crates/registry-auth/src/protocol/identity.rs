//! Who the client is, once authenticated.

use std::collections::BTreeMap;

/// Who the client is: a subject (the token's `sub`) and the attributes the
/// authenticator found (groups, labels…) for the authorizer to use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    subject: String,
    attributes: BTreeMap<String, Vec<String>>,
}

impl Identity {
    /// An authenticated identity with no attributes.
    pub fn new(subject: impl Into<String>) -> Self {
        Identity {
            subject: subject.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// The anonymous client: subject `""`, as the token spec asks.
    pub fn anonymous() -> Self {
        Identity::default()
    }

    /// Whether this is the anonymous client.
    pub fn is_anonymous(&self) -> bool {
        self.subject.is_empty()
    }

    /// The subject: the user name or id that goes into the token's `sub`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Adds values to an attribute (e.g. `("groups", ["admins"])`).
    pub fn with_attribute<I, S>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.attributes
            .entry(key.into())
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    /// The values of an attribute; empty when it is not set.
    pub fn attribute(&self, key: &str) -> &[String] {
        self.attributes.get(key).map_or(&[], Vec::as_slice)
    }

    /// All attributes.
    pub fn attributes(&self) -> &BTreeMap<String, Vec<String>> {
        &self.attributes
    }
}
