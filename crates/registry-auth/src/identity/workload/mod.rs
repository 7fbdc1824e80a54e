//! [`WorkloadIdentity`]: CI jobs and pods log in with the OIDC token their
//! platform gives them (GitHub Actions, GitLab CI `id_tokens`, Kubernetes
//! projected service-account tokens) as the password.

mod claims;
mod keys;
#[cfg(feature = "oidc-login")]
mod login;
mod settings;
mod verify;

use std::sync::Arc;

use async_trait::async_trait;

use crate::protocol::authn::{Authenticator, AuthnError};
use crate::protocol::credentials::Credentials;
use crate::protocol::identity::Identity;
use crate::token::{Clock, SystemClock};

#[cfg(feature = "oidc-login")]
pub use login::{LoginStart, OidcLogin, OidcLoginError, OidcLoginSettings, PendingLogin};
pub use settings::{WorkloadError, WorkloadIssuerSettings};
use verify::{Failure, Issuer};

/// The longest password taken for a workload token; real ones are 1 to
/// 3 KiB. Longer ones are not decoded at all.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Workload tokens of trusted issuers as passwords.
///
/// A password that is a JWT whose `iss` is one of the configured issuers
/// is this source's, whatever the user name (docker demands one; it is
/// ignored). The token is checked in this order, and any failure is a
/// refusal (401) whose reason goes to the audit log
/// (`registry_auth::audit`):
/// 1. the header's `alg` is one of RS256/384/512, PS256/384/512, ES256,
///    ES384, EdDSA: never `none`, never HMAC;
/// 2. a key of the issuer with the token's `kid` fits the algorithm (its
///    type and curve, and its own `alg` when it names one), and the
///    signature verifies with it;
/// 3. `iss` is the issuer exactly; `aud` is, or contains, the audience;
///    `exp` has not passed, `nbf` has, `iat` is not in the future (60 s of
///    skew each, as the registry allows); `exp - iat` is at most
///    `max_lifetime` when that is set;
/// 4. every `require` condition holds;
/// 5. the claims the subject template names are there.
///
/// The identity is the subject, with labels from claims, valid until the
/// token's `exp` (cached no longer, and given no refresh token).
///
/// Keys come from the issuer's discovery document (or a JWKS URL or file),
/// fetched when first needed, kept, and fetched again when a token names
/// an unknown `kid` or they are older than `key_max_age`, at most once per
/// `min_refetch_interval` (30 s). An issuer that cannot be reached keeps
/// its cached keys; with none, logins are answered 503, never a token.
///
/// Any other password is [`AuthnError::NotMine`], for the next source of a
/// [`Chain`](crate::identity::Chain).
///
/// ```no_run
/// use registry_auth::identity::{WorkloadIdentity, WorkloadIssuerSettings};
///
/// let mut github = WorkloadIssuerSettings::new(
///     "github",
///     "https://token.actions.githubusercontent.com",
///     "registry.example.com",
///     "github:${repository}",
/// );
/// github.labels.insert("repository".into(), "repository".into());
/// github.require.insert("repository_owner".into(), "my-org".into());
/// let workloads = WorkloadIdentity::new(vec![github])?;
/// # let _ = workloads;
/// # Ok::<(), registry_auth::identity::WorkloadError>(())
/// ```
#[derive(Clone)]
pub struct WorkloadIdentity {
    issuers: Arc<[Issuer]>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WorkloadIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .issuers
            .iter()
            .map(|i| i.settings.name.as_str())
            .collect();
        f.debug_struct("WorkloadIdentity")
            .field("issuers", &names)
            .finish_non_exhaustive()
    }
}

/// What [`WorkloadIdentity::verdict`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkloadVerdict {
    /// Not a token of a configured issuer: not a JWT, or its `iss` (shown
    /// when it has one) is none of them.
    NotMine {
        /// The token's unverified `iss`, if it is a JWT that has one.
        iss: Option<String>,
    },
    /// The token stands for this identity.
    Accepted {
        /// The name of the issuer that vouched for it.
        issuer: String,
        /// Subject, labels, valid until the token's `exp`.
        identity: Identity,
    },
    /// The token is refused (the client gets 401).
    Refused {
        /// The name of the issuer whose token it claims to be.
        issuer: String,
        /// Why: `expired 2m ago`, `bad signature`, `requirement … not met`…
        reason: String,
    },
    /// The issuer's keys cannot be had (the client gets 503).
    Unavailable {
        /// The name of the issuer.
        issuer: String,
        /// The last fetch's error.
        reason: String,
    },
}

impl WorkloadIdentity {
    /// Trusts the tokens of these issuers. Checks every setting, reads
    /// JWKS and CA files; keys are fetched at the first login that needs
    /// them. Two issuers may not share a name or an issuer URL.
    pub fn new(settings: Vec<WorkloadIssuerSettings>) -> Result<Self, WorkloadError> {
        let mut issuers: Vec<Issuer> = Vec::with_capacity(settings.len());
        for one in settings {
            for earlier in &issuers {
                let setting = if earlier.settings.name == one.name {
                    "name"
                } else if earlier.settings.issuer == one.issuer {
                    "issuer"
                } else {
                    continue;
                };
                return Err(WorkloadError::Duplicate {
                    issuer: one.name.clone(),
                    setting,
                    reason: format!(
                        "the same {setting} as workload_identity {:?}",
                        earlier.settings.name
                    ),
                });
            }
            issuers.push(Issuer::new(one)?);
        }
        Ok(WorkloadIdentity {
            issuers: issuers.into(),
            clock: Arc::new(SystemClock),
        })
    }

    /// This set of issuers, with `earlier`'s cached keys (and any fetch
    /// under way) for every issuer whose settings, key source and CA are
    /// unchanged: what a configuration reload uses, so that it neither
    /// fetches every issuer's keys again nor turns logins into 503s while
    /// an issuer is unreachable. Keys from a JWKS file are always the
    /// file's, read anew.
    pub fn keeping_keys_of(self, earlier: &WorkloadIdentity) -> Self {
        let issuers: Vec<Issuer> = self
            .issuers
            .iter()
            .map(|issuer| {
                let mut issuer = issuer.clone();
                if let Some(old) = earlier
                    .issuers
                    .iter()
                    .find(|old| old.settings.name == issuer.settings.name)
                {
                    issuer.keep_keys_of(old);
                }
                issuer
            })
            .collect();
        WorkloadIdentity {
            issuers: issuers.into(),
            clock: self.clock,
        }
    }

    /// Reads the time from `clock` (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configured issuers, in order: each one's name and issuer URL.
    pub fn issuers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.issuers
            .iter()
            .map(|i| (i.settings.name.as_str(), i.settings.issuer.as_str()))
    }

    /// What becomes of `token` used as a password: whose it is, and the
    /// identity it stands for or why not. This is the check
    /// [`authenticate`](Authenticator::authenticate) makes (which also
    /// logs refusals).
    pub async fn verdict(&self, token: &str) -> WorkloadVerdict {
        let iss = match unverified_issuer(token) {
            Some(iss) => iss,
            None => return WorkloadVerdict::NotMine { iss: None },
        };
        let Some(issuer) = self.issuers.iter().find(|i| i.settings.issuer == iss) else {
            return WorkloadVerdict::NotMine { iss: Some(iss) };
        };
        let name = issuer.settings.name.clone();
        match issuer.verify(token, self.clock.now()).await {
            Ok(identity) => WorkloadVerdict::Accepted {
                issuer: name,
                identity,
            },
            Err(Failure::Refused(reason) | Failure::Unmet(reason)) => WorkloadVerdict::Refused {
                issuer: name,
                reason,
            },
            Err(Failure::Unavailable(reason)) => WorkloadVerdict::Unavailable {
                issuer: name,
                reason,
            },
        }
    }
}

/// Counts a workload token checked by `issuer` (a token the credential
/// cache holds is not checked again): accepted, refused or unavailable.
fn checked(issuer: String, result: &'static str) {
    metrics::counter!(
        "registry_auth_workload_token_checks_total",
        "issuer" => issuer,
        "result" => result
    )
    .increment(1);
}

/// The `iss` of what looks like a JWT (three base64url parts, the middle
/// one a JSON object), unverified: only to choose the issuer that checks
/// it.
fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: String,
    }
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(payload.as_bytes())
        .ok()?;
    serde_json::from_slice::<Claims>(&bytes).ok().map(|c| c.iss)
}

#[async_trait]
impl Authenticator for WorkloadIdentity {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthnError> {
        let Credentials::Password { password, .. } = credentials else {
            return Err(AuthnError::NotMine);
        };
        match self.verdict(password.expose()).await {
            WorkloadVerdict::NotMine { iss: Some(iss) } => {
                // Most often a misconfigured issuer URL (a trailing slash, the
                // wrong tenant): say so, then let the other sources decide
                // (to them it is only a password).
                tracing::info!(
                    target: "registry_auth::audit",
                    reason = %format!(
                        "issuer unknown: its iss {:?} is none of the configured issuers",
                        verify::shown(&iss)
                    ),
                    "not a workload token"
                );
                Err(AuthnError::NotMine)
            }
            WorkloadVerdict::NotMine { iss: None } => Err(AuthnError::NotMine),
            WorkloadVerdict::Accepted { issuer, identity } => {
                checked(issuer, "accepted");
                Ok(identity)
            }
            WorkloadVerdict::Refused { issuer, reason } => {
                tracing::info!(
                    target: "registry_auth::audit",
                    issuer = %issuer,
                    reason = %reason,
                    "workload token refused"
                );
                checked(issuer, "refused");
                Err(AuthnError::InvalidCredentials)
            }
            WorkloadVerdict::Unavailable { issuer, reason } => {
                let error = AuthnError::unavailable(format!("workload issuer {issuer}: {reason}"));
                checked(issuer, "unavailable");
                Err(error)
            }
        }
    }

    /// A workload identity is never refreshed: it gets no refresh token,
    /// and its token cannot be checked again without the token.
    async fn refresh(&self, _: &Identity) -> Result<Identity, AuthnError> {
        Err(AuthnError::NotMine)
    }
}

#[cfg(test)]
mod tests;
