//! The steps of a login and a refresh, in each mode.

use ldap3::{Scope, SearchEntry, dn_escape, ldap_escape};

use super::Inner;
use super::connection::{Connection, LdapPool};
use super::syntax::{ACCOUNT, DN, any_account, fill};
use crate::protocol::authn::AuthnError;
use crate::protocol::identity::Identity;

impl Inner {
    /// The one person `filter` finds under the base DN.
    pub(super) async fn find_person(
        &self,
        searcher: &mut Connection,
        filter: &str,
    ) -> Result<SearchEntry, AuthnError> {
        let attributes = self.reader.person_attributes();
        // Two are enough to tell "one" from "ambiguous".
        let found = searcher
            .search(&self.base_dn, Scope::Subtree, filter, &attributes, 2)
            .await?;
        let mut entries = found.entries.into_iter();
        match (entries.next(), entries.next()) {
            (None, _) => Err(AuthnError::NotMine),
            (Some(entry), None) => Ok(entry),
            (Some(first), Some(second)) => {
                tracing::warn!(
                    filter,
                    first = %first.dn,
                    second = %second.dn,
                    "LDAP: more than one entry matches the user filter; refusing the login"
                );
                Err(AuthnError::InvalidCredentials)
            }
        }
    }

    /// The person's groups: by the group search, or from `entry`'s
    /// `memberOf`.
    pub(super) async fn groups(
        &self,
        searcher: &mut Connection,
        entry: &SearchEntry,
        account: &str,
    ) -> Result<Vec<String>, AuthnError> {
        let Some(template) = &self.group_filter else {
            return Ok(self.reader.member_of_groups(entry));
        };
        let filter = fill(
            template,
            &[
                (DN, &ldap_escape(entry.dn.as_str())),
                (ACCOUNT, &ldap_escape(account)),
            ],
        );
        let found = searcher
            .search(
                &self.group_base_dn,
                Scope::Subtree,
                &filter,
                &[self.reader.group_name_attribute()],
                0,
            )
            .await?;
        if found.truncated {
            tracing::warn!(
                filter,
                "LDAP: the group search hit the server's size limit; some groups are missing"
            );
        }
        Ok(self.reader.searched_groups(&found.entries))
    }

    /// The identity of the person in `entry`, who is `account`.
    fn identity(
        &self,
        entry: &SearchEntry,
        account: &str,
        groups: Vec<String>,
    ) -> Result<Identity, AuthnError> {
        let subject = self.reader.subject(entry, account).ok_or_else(|| {
            tracing::warn!(
                dn = %entry.dn,
                attribute = self.reader.subject_attribute().unwrap_or_default(),
                "LDAP: the entry has no subject attribute; refusing the login"
            );
            AuthnError::InvalidCredentials
        })?;
        Ok(self.reader.identity(subject, entry, groups))
    }

    pub(super) async fn search_then_bind(
        &self,
        search_pool: &LdapPool,
        account: &str,
        password: &str,
    ) -> Result<Identity, AuthnError> {
        let filter = fill(&self.user_filter, &[(ACCOUNT, &ldap_escape(account))]);
        let mut searcher = Connection::take(search_pool).await?;
        let entry = self.find_person(&mut searcher, &filter).await?;
        // The subject first: without one there is nothing to log in as.
        self.identity(&entry, account, Vec::new())?;
        let bind = async {
            let mut checker = Connection::take(&self.bind_pool).await?;
            checker.bind(&entry.dn, password).await
        };
        let groups = self.groups(&mut searcher, &entry, account);
        let (bound, groups) = futures_util::future::join(bind, groups).await;
        bound?;
        self.identity(&entry, account, groups?)
    }

    pub(super) async fn direct_bind(
        &self,
        user_dn: &str,
        account: &str,
        password: &str,
    ) -> Result<Identity, AuthnError> {
        let dn = fill(user_dn, &[(ACCOUNT, &dn_escape(account))]);
        let mut connection = Connection::take(&self.bind_pool).await?;
        connection.bind(&dn, password).await?;
        // Bound as the person now: read their own entry on this very
        // connection, before it goes back to the pool.
        let attributes = self.reader.person_attributes();
        let found = connection
            .search(&dn, Scope::Base, "(objectClass=*)", &attributes, 0)
            .await?;
        let entry = found.entries.into_iter().next().unwrap_or_else(|| {
            tracing::warn!(
                dn,
                "LDAP: a person cannot read their own entry; no groups or labels"
            );
            SearchEntry {
                dn: dn.clone(),
                attrs: Default::default(),
                bin_attrs: Default::default(),
            }
        });
        let groups = self.groups(&mut connection, &entry, account).await?;
        self.identity(&entry, account, groups)
    }

    pub(super) async fn refresh(
        &self,
        search_pool: &LdapPool,
        identity: &Identity,
    ) -> Result<Identity, AuthnError> {
        let subject = identity.subject();
        let filter = match self.reader.subject_attribute() {
            // The user filter with its account test widened to "has a
            // value" (`${account}` → `*`), so that the restrictions it
            // adds (a group, an object class) still hold.
            Some(attribute) => format!(
                "(&({attribute}={}){})",
                ldap_escape(subject),
                any_account(&self.user_filter)
            ),
            None => fill(&self.user_filter, &[(ACCOUNT, &ldap_escape(subject))]),
        };
        let mut searcher = Connection::take(search_pool).await?;
        let entry = self.find_person(&mut searcher, &filter).await?;
        let groups = self.groups(&mut searcher, &entry, subject).await?;
        let refreshed = self.identity(&entry, subject, groups)?;
        Ok(match identity.limit() {
            Some(limit) => refreshed.with_limit(limit.to_vec()),
            None => refreshed,
        })
    }
}
