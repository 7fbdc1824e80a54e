//! [`SignedInPeople`]: the people who signed in through a sign-in page
//! (`OidcLogin`, feature `oidc-login`), as the owners of the access tokens
//! they made there.

use std::sync::Arc;

use async_trait::async_trait;

use crate::protocol::authn::{Authenticator, AuthnError};
use crate::protocol::credentials::Credentials;
use crate::protocol::identity::Identity;
use crate::state::{PersonRecord, StateStore};

/// People who signed in at an OpenID provider, as the state store keeps
/// them: each as of their last sign-in.
///
/// They have no password here: [`authenticate`](Authenticator::authenticate)
/// is [`AuthnError::NotMine`] for every login. What they are for is
/// [`refresh`](Authenticator::refresh): put them among the owners of
/// [`AccessTokens`](crate::identity::AccessTokens), and a token a person
/// made acts for them with the labels (groups) of their last sign-in. A
/// subject the store does not know is not theirs (`NotMine`), so that the
/// next owners' source may know it; a store that cannot answer is
/// [`AuthnError::Unavailable`].
#[derive(Clone)]
pub struct SignedInPeople {
    store: Arc<dyn StateStore>,
}

impl std::fmt::Debug for SignedInPeople {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedInPeople").finish_non_exhaustive()
    }
}

impl SignedInPeople {
    /// The people `store` keeps.
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        SignedInPeople { store }
    }

    /// Keeps `person` (subject and labels) as signed in at `at`, replacing
    /// what was kept of them: what their access tokens act as from now on.
    pub async fn signed_in(
        &self,
        person: &Identity,
        at: std::time::SystemTime,
    ) -> Result<(), AuthnError> {
        let record = PersonRecord {
            subject: person.subject().to_owned(),
            labels: person.attributes().clone(),
            signed_in_at: at,
        };
        self.store
            .record_person(&record)
            .await
            .map_err(AuthnError::Unavailable)
    }
}

#[async_trait]
impl Authenticator for SignedInPeople {
    async fn authenticate(&self, _: &Credentials) -> Result<Identity, AuthnError> {
        Err(AuthnError::NotMine)
    }

    async fn refresh(&self, identity: &Identity) -> Result<Identity, AuthnError> {
        match self.store.person(identity.subject()).await {
            Ok(Some(person)) => Ok(person.labels.into_iter().fold(
                Identity::new(person.subject),
                |identity, (label, values)| identity.with_attribute(label, values),
            )),
            Ok(None) => Err(AuthnError::NotMine),
            Err(error) => Err(AuthnError::Unavailable(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::identity::{AccessTokens, StaticUsers};
    use crate::protocol::credentials::Secret;
    use crate::protocol::scope::Scope;
    use crate::state::{AccessTokenRecord, MemoryStore, TokenHash, new_access_token};

    /// A person's token acts for them as of their last sign-in: their
    /// groups then, and a new sign-in's groups from then on.
    #[tokio::test]
    async fn an_access_token_acts_for_its_owner_as_of_their_last_sign_in() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let people = SignedInPeople::new(Arc::clone(&store));
        let alice = Identity::new("alice").with_attribute("groups", ["platform", "developers"]);
        people
            .signed_in(&alice, SystemTime::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let token = new_access_token().unwrap_or_else(|| panic!("no random numbers"));
        let scopes = vec![
            Scope::parse_pattern("repository:platform/*:pull,push")
                .unwrap_or_else(|e| panic!("{e}")),
        ];
        let record = AccessTokenRecord::new(
            "laptop",
            "alice",
            scopes,
            SystemTime::now(),
            Some(SystemTime::now() + Duration::from_secs(3600)),
        );
        assert!(
            store
                .insert_access_token(&TokenHash::of(token.expose()), &record)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        // Owners: config-file users first, then the people who signed in.
        let owners = crate::identity::Chain::new()
            .then(StaticUsers::new())
            .then(people.clone());
        let tokens = AccessTokens::new(Arc::clone(&store), owners);
        let login = Credentials::password("alice", Secret::new(token.expose()));
        let identity = tokens
            .authenticate(&login)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(identity.subject(), "alice");
        assert_eq!(identity.attribute("groups"), ["platform", "developers"]);
        assert!(identity.limit().is_some());

        people
            .signed_in(
                &Identity::new("alice").with_attribute("groups", ["developers"]),
                SystemTime::now(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let identity = tokens
            .authenticate(&login)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(identity.attribute("groups"), ["developers"]);

        // Nobody who signed in: not theirs; no password is theirs either.
        assert!(matches!(
            people.refresh(&Identity::new("bob")).await,
            Err(AuthnError::NotMine)
        ));
        assert!(matches!(
            people.authenticate(&login).await,
            Err(AuthnError::NotMine)
        ));
    }
}
