//! [`Chain`]: several identity sources asked in order.

use std::sync::Arc;

use async_trait::async_trait;

use crate::protocol::authn::{Authenticator, AuthnError};
use crate::protocol::credentials::Credentials;
use crate::protocol::fingerprint::CredentialFingerprint;
use crate::protocol::identity::Identity;

/// Identity sources asked in order: the first that claims the credentials
/// decides.
///
/// Each source answers "mine, valid" (an [`Identity`]), "mine, wrong"
/// ([`AuthnError::InvalidCredentials`]), "mine, but I cannot tell now"
/// ([`AuthnError::Unavailable`]: 503, never a token) or "not mine"
/// ([`AuthnError::NotMine`]): only the last passes the credentials on.
/// A directory that is down therefore never lets a later source decide
/// for its users, and a wrong password for a break-glass user in the
/// configuration is not tried against the directory. When no source
/// claims the credentials, the answer is [`AuthnError::NotMine`] (401).
///
/// A refresh is asked the same way: the first source that knows the
/// subject answers.
///
/// ```
/// use registry_auth::identity::{Chain, StaticUsers};
///
/// let admins = StaticUsers::new()
///     .user("root", "$2y$10$TYyKeyyopVdR.ppsm5VdCOFuNmQj67YBnG0hpjDA/W1L2I696tO/e")?
///     .pass_unknown_on();
/// let everyone = StaticUsers::new()
///     .user("alice", "$2y$10$TYyKeyyopVdR.ppsm5VdCOFuNmQj67YBnG0hpjDA/W1L2I696tO/e")?;
/// let users = Chain::new().then(admins).then(everyone);
/// # let _ = users;
/// # Ok::<(), registry_auth::identity::UserError>(())
/// ```
#[derive(Clone, Default)]
pub struct Chain {
    sources: Vec<Arc<dyn Authenticator>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl Chain {
    /// No sources: every login is refused.
    pub fn new() -> Self {
        Chain::default()
    }

    /// Adds a source, asked after those added before it.
    pub fn then(mut self, source: impl Authenticator) -> Self {
        self.sources.push(Arc::new(source));
        self
    }

    /// How many sources there are.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are no sources.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

#[async_trait]
impl Authenticator for Chain {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
        for source in &self.sources {
            match source.authenticate(credentials).await {
                Err(AuthnError::NotMine) => continue,
                decided => return decided,
            }
        }
        Err(AuthnError::NotMine)
    }

    async fn refresh(&self, identity: &Identity) -> Result<Identity, AuthnError> {
        for source in &self.sources {
            match source.refresh(identity).await {
                Err(AuthnError::NotMine) => continue,
                decided => return decided,
            }
        }
        Err(AuthnError::NotMine)
    }

    /// The fingerprint from the first source that gives one.
    fn credential_fingerprint(&self, subject: &str) -> Option<CredentialFingerprint> {
        self.sources
            .iter()
            .find_map(|source| source.credential_fingerprint(subject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{PasswordHash, StaticUsers};
    use crate::protocol::authn::authenticator_fn;
    use crate::protocol::credentials::Secret;

    fn login(user: &str, password: &str) -> Credentials {
        Credentials::Password {
            username: user.to_owned(),
            password: Secret::new(password),
        }
    }

    #[tokio::test]
    async fn the_first_source_that_claims_the_credentials_decides() {
        let hash = |pw: &str| PasswordHash::bcrypt(pw, 4).unwrap_or_default();
        let admins = StaticUsers::new()
            .user("root", &hash("root-pw"))
            .unwrap_or_default()
            .pass_unknown_on();
        // The second source knows root too, with another password: it is
        // never asked about root.
        let directory = StaticUsers::new()
            .user("root", &hash("other"))
            .and_then(|u| u.user("alice", &hash("alice-pw")))
            .unwrap_or_default();
        let chain = Chain::new().then(admins).then(directory);
        assert!(chain.authenticate(&login("root", "root-pw")).await.is_ok());
        assert!(matches!(
            chain.authenticate(&login("root", "other")).await,
            Err(AuthnError::InvalidCredentials)
        ));
        assert_eq!(
            chain
                .authenticate(&login("alice", "alice-pw"))
                .await
                .ok()
                .map(|i| i.subject().to_owned()),
            Some("alice".to_owned())
        );
        assert!(matches!(
            chain.authenticate(&login("nobody", "pw")).await,
            Err(AuthnError::NotMine)
        ));
        assert!(chain.refresh(&Identity::new("alice")).await.is_ok());
        assert!(matches!(
            chain.refresh(&Identity::new("nobody")).await,
            Err(AuthnError::NotMine)
        ));
    }

    #[tokio::test]
    async fn a_source_that_is_down_decides_for_its_users() {
        let down = authenticator_fn(|_| async { Err(AuthnError::unavailable("directory down")) });
        let always = authenticator_fn(|_| async { Ok(Identity::new("anyone")) });
        let chain = Chain::new().then(down).then(always);
        assert!(matches!(
            chain.authenticate(&login("alice", "pw")).await,
            Err(AuthnError::Unavailable(_))
        ));
        assert!(matches!(
            Chain::new().authenticate(&login("alice", "pw")).await,
            Err(AuthnError::NotMine)
        ));
    }
}
