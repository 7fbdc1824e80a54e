//! Who is asking: a password (throttled, then cached or checked), a
//! refresh token (stored, bound, expiring, re-checked), or nobody.

use std::net::IpAddr;

use super::decide::{Backend, Core};
use crate::protocol::authn::AuthnError;
use crate::protocol::credentials::{Credentials, Secret};
use crate::protocol::error::Error;
use crate::protocol::identity::Identity;
use crate::protocol::request::TokenRequest;
use crate::refresh::{RefreshRecord, TokenHash, new_refresh_token};

impl Core {
    /// The identity the credentials of `request` stand for, and the
    /// refresh token to answer with: a new one for a password login that
    /// asked for offline access, the same one on a refresh grant (oauth.md).
    pub(super) async fn identify(
        &self,
        request: &TokenRequest,
        service: &str,
    ) -> Result<(Identity, Option<Secret>), Error> {
        let client_id = request.client_id.as_deref();
        match &request.credentials {
            Credentials::RefreshToken(token) => {
                let identity = self
                    .redeem(token, service, client_id, request.client_ip)
                    .await?;
                Ok((identity, Some(token.clone())))
            }
            credentials => {
                let identity = self.authenticate(credentials, request.client_ip).await?;
                let refresh_token = match credentials {
                    Credentials::Password { .. } if request.offline_token => {
                        self.mint_refresh_token(&identity, service, client_id)
                            .await?
                    }
                    _ => None,
                };
                Ok((identity, refresh_token))
            }
        }
    }

    /// Checks a refresh token and returns whom it stands for now.
    async fn redeem(
        &self,
        token: &Secret,
        service: &str,
        client_id: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<Identity, Error> {
        self.check_throttle(None, ip)?;
        let redeemed = self.redeem_unthrottled(token, service, client_id).await;
        if let (Err(Error::InvalidGrant(_)), Some(throttle)) = (&redeemed, &self.throttle) {
            throttle.failed(None, ip);
        }
        redeemed
    }

    async fn redeem_unthrottled(
        &self,
        token: &Secret,
        service: &str,
        client_id: Option<&str>,
    ) -> Result<Identity, Error> {
        let refresh = self.refresh.as_ref().ok_or(Error::RefreshDisabled)?;
        let record = self
            .guard(
                Backend::RefreshStore,
                refresh.store.get(&TokenHash::of(token.expose())),
            )
            .await?
            .map_err(|e| Backend::RefreshStore.failed(&e))?
            .ok_or(Error::InvalidGrant("unknown or revoked refresh token"))?;
        let refuse = |why: &'static str| {
            tracing::info!(
                target: "registry_auth::audit",
                subject = record.identity.subject(),
                reason = why,
                "refresh token refused"
            );
            Error::InvalidGrant(why)
        };
        if record.expires_at <= self.clock.now() {
            return Err(refuse("expired refresh token"));
        }
        if record.service != service {
            return Err(refuse("refresh token issued for another service"));
        }
        if record.client_id.as_deref() != client_id {
            return Err(refuse("refresh token issued to another client"));
        }
        match self
            .guard(
                Backend::Authenticator,
                self.authenticator.refresh(&record.identity),
            )
            .await?
        {
            Ok(identity) if identity.subject() == record.identity.subject() => Ok(identity),
            Ok(_) => Err(refuse("authenticator changed the subject")),
            Err(AuthnError::InvalidCredentials) => Err(refuse("user may no longer log in")),
            Err(AuthnError::Unavailable(e)) => Err(Backend::Authenticator.failed(&e)),
        }
    }

    async fn mint_refresh_token(
        &self,
        identity: &Identity,
        service: &str,
        client_id: Option<&str>,
    ) -> Result<Option<Secret>, Error> {
        let Some(refresh) = &self.refresh else {
            return Ok(None);
        };
        let token = new_refresh_token(&self.rng).ok_or(Error::TokenGeneration)?;
        let now = self.clock.now();
        // A clock near the end of time: no token rather than a panic.
        let expires_at = now
            .checked_add(refresh.lifetime)
            .ok_or(Error::TokenGeneration)?;
        let record = RefreshRecord::new(
            identity.clone(),
            service.to_owned(),
            client_id.map(str::to_owned),
            now,
            expires_at,
        );
        self.guard(
            Backend::RefreshStore,
            refresh.store.insert(TokenHash::of(token.expose()), record),
        )
        .await?
        .map_err(|e| Backend::RefreshStore.failed(&e))?;
        Ok(Some(token))
    }

    fn check_throttle(&self, account: Option<&str>, ip: Option<IpAddr>) -> Result<(), Error> {
        match self.throttle.as_ref().and_then(|t| t.check(account, ip)) {
            Some(retry_after) => Err(Error::Throttled { retry_after }),
            None => Ok(()),
        }
    }

    async fn authenticate(
        &self,
        credentials: &Credentials,
        ip: Option<IpAddr>,
    ) -> Result<Identity, Error> {
        let Credentials::Password { username, password } = credentials else {
            return if self.anonymous {
                Ok(Identity::anonymous())
            } else {
                Err(Error::AuthenticationRequired)
            };
        };
        // Throttle first: a throttled client gets no password check at
        // all, not even against the cache.
        self.check_throttle(Some(username), ip)?;
        if let Some(identity) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(username, password.expose()))
        {
            return Ok(identity);
        }
        let result = self
            .guard(
                Backend::Authenticator,
                self.authenticator.authenticate(credentials),
            )
            .await?;
        match result {
            Ok(identity) => {
                if let Some(throttle) = &self.throttle {
                    throttle.succeeded(username, ip);
                }
                if let Some(cache) = &self.cache {
                    cache.put(username, password.expose(), identity.clone());
                }
                Ok(identity)
            }
            Err(AuthnError::InvalidCredentials) => {
                if let Some(throttle) = &self.throttle {
                    throttle.failed(Some(username), ip);
                }
                Err(Error::InvalidCredentials)
            }
            Err(AuthnError::Unavailable(e)) => Err(Backend::Authenticator.failed(&e)),
        }
    }

    /// Empties the verified-credential cache.
    pub(crate) fn clear_credential_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }
}
