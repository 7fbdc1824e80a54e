//! Who is asking: a password (throttled, then cached or checked), a
//! refresh token (stored, expiring, tied to the user's credential
//! generation, re-checked), or nobody.

use std::net::IpAddr;

use super::decide::{Backend, Core};
use crate::guard::throttle::Verdict;
use crate::protocol::authn::AuthnError;
use crate::protocol::credentials::{Credentials, Secret};
use crate::protocol::error::Error;
use crate::protocol::identity::Identity;
use crate::protocol::request::TokenRequest;
use crate::state::{MAX_CLIENT_IDS, RefreshRecord, TokenHash, new_refresh_token};

/// How often a token's last use is written at most: a listing shows it to
/// the minute, and most refreshes then only read the store.
const USE_RECORDED_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest client id recorded (longer ones are cut).
const MAX_CLIENT_ID_CHARS: usize = 128;

impl Core {
    /// The identity the credentials of `request` stand for, and the
    /// refresh token to answer with: a new one for a password login that
    /// asked for offline access, the same one on a refresh grant (oauth.md).
    pub(super) async fn identify(
        &self,
        request: &TokenRequest,
        service: &str,
    ) -> Result<(Identity, Option<Secret>), Error> {
        // Kept to a length that names any real client, so a client that
        // sends kilobytes cannot grow the store by them.
        let client_id: Option<String> = request
            .client_id
            .as_deref()
            .map(|id| id.chars().take(MAX_CLIENT_ID_CHARS).collect());
        let client_id = client_id.as_deref();
        match &request.credentials {
            Credentials::RefreshToken(token) => {
                let identity = self
                    .redeem(token, service, client_id, request.client_ip)
                    .await?;
                Ok((identity, Some(token.clone())))
            }
            credentials => {
                let identity = self.authenticate(credentials, request.client_ip).await?;
                // A restricted identity (an access token) gets none: the
                // token it logged in with is the long-lived credential, and
                // a refresh token would outlive its revocation. Nor does
                // one with an end (a workload token): it would outlive it.
                let refresh_token = match credentials {
                    Credentials::Password { .. }
                        if request.offline_token && identity.may_be_refreshed() =>
                    {
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
        self.check_throttle(None, ip).await?;
        let redeemed = self.redeem_unthrottled(token, service, client_id).await;
        if let (Err(Error::InvalidGrant(_)), Some(throttle)) = (&redeemed, &self.throttle) {
            throttle.failed(None, ip).await;
        }
        redeemed
    }

    async fn redeem_unthrottled(
        &self,
        token: &Secret,
        service: &str,
        client_id: Option<&str>,
    ) -> Result<Identity, Error> {
        if self.refresh_lifetime.is_none() {
            return Err(Error::RefreshDisabled);
        }
        let hash = TokenHash::of(token.expose());
        let (record, generation) = self
            .guard(Backend::StateStore, self.state.refresh_token(&hash))
            .await?
            .map_err(|e| Backend::StateStore.failed(&e))?
            .ok_or(Error::InvalidGrant("unknown or revoked refresh token"))?;
        let refuse = |why: &'static str| {
            tracing::info!(
                target: "registry_auth::audit",
                subject = record.identity.subject(),
                token = %hash.id(),
                reason = why,
                "refresh token refused"
            );
            Error::InvalidGrant(why)
        };
        let now = self.clock.now();
        if record.expires_at <= now {
            return Err(refuse("expired refresh token"));
        }
        if record.service != service {
            return Err(refuse("refresh token issued for another service"));
        }
        // Issued under other credentials than the authenticator knows now:
        // a login with an old password at an instance (or a configuration)
        // that had not taken the change yet.
        let issued_under_other_credentials = record.fingerprint.is_some_and(|issued| {
            self.authenticator
                .credential_fingerprint(record.identity.subject())
                .is_some_and(|now| now != issued)
        });
        if record.generation != generation || issued_under_other_credentials {
            return Err(refuse(
                "the user's credentials changed since the token was issued",
            ));
        }
        let identity = match self
            .guard(
                Backend::Authenticator,
                self.authenticator.refresh(&record.identity),
            )
            .await?
        {
            Ok(identity) if identity.subject() == record.identity.subject() => identity,
            Ok(_) => return Err(refuse("authenticator changed the subject")),
            Err(AuthnError::InvalidCredentials | AuthnError::NotMine) => {
                return Err(refuse("user may no longer log in"));
            }
            Err(AuthnError::Unavailable(e)) => return Err(Backend::Authenticator.failed(&e)),
        };
        // The client id is recorded, never checked: every client that
        // shares docker's stored token sends its own. A use is written
        // when the id is new to the token or the last one is a minute
        // old, so that most refreshes only read.
        let new_client = client_id.is_some_and(|id| {
            record.client_ids.len() < MAX_CLIENT_IDS && !record.client_ids.iter().any(|c| c == id)
        });
        let stale = record.last_used_at.is_none_or(|at| {
            now.duration_since(at)
                .is_ok_and(|age| age >= USE_RECORDED_EVERY)
        });
        if new_client || stale {
            let mut client_ids = record.client_ids.clone();
            if let Some(id) = client_id.filter(|_| new_client) {
                client_ids.push(id.to_owned());
            }
            // Bookkeeping, not a gate: a failed write costs the listing a
            // date, never the client its token.
            let noted = self
                .guard(
                    Backend::StateStore,
                    self.state.note_refresh_token_use(&hash, now, &client_ids),
                )
                .await;
            if !matches!(noted, Ok(Ok(()))) {
                tracing::warn!(token = %hash.id(), "could not record a refresh token's use");
            }
        }
        Ok(identity)
    }

    async fn mint_refresh_token(
        &self,
        identity: &Identity,
        service: &str,
        client_id: Option<&str>,
    ) -> Result<Option<Secret>, Error> {
        let Some(lifetime) = self.refresh_lifetime else {
            return Ok(None);
        };
        let token = new_refresh_token(&self.rng).ok_or(Error::TokenGeneration)?;
        let now = self.clock.now();
        // A clock near the end of time: no token rather than a panic.
        let expires_at = now.checked_add(lifetime).ok_or(Error::TokenGeneration)?;
        let generation = self
            .guard(
                Backend::StateStore,
                self.state.credential_generation(identity.subject()),
            )
            .await?
            .map_err(|e| Backend::StateStore.failed(&e))?;
        let record = RefreshRecord::new(
            identity.clone(),
            service.to_owned(),
            generation,
            client_id.map(str::to_owned),
            now,
            expires_at,
        )
        .with_fingerprint(
            self.authenticator
                .credential_fingerprint(identity.subject()),
        );
        self.guard(
            Backend::StateStore,
            self.state
                .insert_refresh_token(&TokenHash::of(token.expose()), &record),
        )
        .await?
        .map_err(|e| Backend::StateStore.failed(&e))?;
        Ok(Some(token))
    }

    async fn check_throttle(
        &self,
        account: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<Verdict, Error> {
        let Some(throttle) = &self.throttle else {
            return Ok(Verdict::default());
        };
        let verdict = throttle.check(account, ip).await;
        match verdict.wait {
            Some(retry_after) => Err(Error::Throttled { retry_after }),
            None => Ok(verdict),
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
        let verdict = self.check_throttle(Some(username), ip).await?;
        self.cache
            .get_or_check(
                username,
                password.expose(),
                self.check_password(credentials, username, ip, &verdict),
            )
            .await
    }

    /// The password check itself, reserved with the throttle first (so
    /// that it counts as a failure while it runs). Requests with the same
    /// credentials at the same moment share its answer (see
    /// [`CredentialCache::get_or_check`](crate::guard::cache::CredentialCache::get_or_check)).
    async fn check_password(
        &self,
        credentials: &Credentials,
        username: &str,
        ip: Option<IpAddr>,
        verdict: &Verdict,
    ) -> Result<Identity, Error> {
        let attempt = match self.throttle.as_ref().map(|t| t.reserve(verdict)) {
            Some(Ok(attempt)) => Some(attempt),
            Some(Err(refused)) => return Err(refused),
            None => None,
        };
        let result = self
            .guard(
                Backend::Authenticator,
                self.authenticator.authenticate(credentials),
            )
            .await?;
        match result {
            Ok(identity) => {
                if let Some(throttle) = &self.throttle {
                    throttle
                        .succeeded(username, ip, verdict.account_failed_before())
                        .await;
                }
                drop(attempt);
                Ok(identity)
            }
            Err(AuthnError::InvalidCredentials | AuthnError::NotMine) => {
                // Counted before the reservation ends, so that the budget
                // never has a gap.
                if let Some(throttle) = &self.throttle {
                    throttle.failed(Some(username), ip).await;
                }
                drop(attempt);
                Err(Error::InvalidCredentials)
            }
            Err(AuthnError::Unavailable(e)) => Err(Backend::Authenticator.failed(&e)),
        }
    }

    /// Empties the verified-credential cache.
    pub(crate) fn clear_credential_cache(&self) {
        self.cache.clear();
    }
}
