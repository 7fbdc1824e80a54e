//! One issuer's check of a token: algorithm, key, signature, issuer,
//! audience, times, requirements; then the identity from the claims.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::keys::{IssuerKeys, KeyKind, Lookup};
use super::settings::{Checked, WorkloadError, WorkloadIssuerSettings};
use crate::protocol::identity::Identity;

/// The clock skew allowed on `exp`, `nbf` and `iat`: the registry's own.
pub(super) const SKEW: Duration = Duration::from_secs(60);

/// Why an issuer did not turn a token into an identity.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The token is not good: 401, the reason in the audit log.
    Refused(String),
    /// The token is good, and a `require` condition does not hold: 401
    /// for a workload token, "not allowed" on the sign-in page.
    Unmet(String),
    /// The issuer's keys cannot be had: 503.
    Unavailable(String),
}

fn refused(reason: impl Into<String>) -> Failure {
    Failure::Refused(reason.into())
}

/// One configured issuer, ready to check tokens.
#[derive(Debug, Clone)]
pub(super) struct Issuer {
    pub(super) settings: WorkloadIssuerSettings,
    checked: Checked,
    keys: Arc<IssuerKeys>,
}

impl Issuer {
    /// Takes `earlier`'s keys (its cache and any fetch under way) when it
    /// is the same issuer, set up the same way, fetching from the same
    /// place with the same CA.
    pub(super) fn keep_keys_of(&mut self, earlier: &Issuer) {
        if self.settings == earlier.settings && self.keys.fetches_like(&earlier.keys) {
            self.keys = Arc::clone(&earlier.keys);
        }
    }

    pub(super) fn new(settings: WorkloadIssuerSettings) -> Result<Issuer, WorkloadError> {
        let checked = settings.check()?;
        let keys = Arc::new(IssuerKeys::new(
            &settings,
            &checked.keys,
            checked.plain_http,
        )?);
        if checked.plain_http {
            tracing::warn!(
                issuer = %settings.name,
                "workload issuer's keys are fetched over plain http (loopback only: for tests)"
            );
        }
        Ok(Issuer {
            settings,
            checked,
            keys,
        })
    }

    /// Where a person signs in at this issuer, and the client to reach it.
    #[cfg(feature = "oidc-login")]
    pub(super) async fn login_endpoints(
        &self,
    ) -> Result<(reqwest::Client, super::keys::LoginEndpoints), String> {
        self.keys.login_endpoints().await
    }

    /// The identity `token` stands for at `now`, or why not.
    pub(super) async fn verify(&self, token: &str, now: SystemTime) -> Result<Identity, Failure> {
        self.verify_with_claims(token, now)
            .await
            .map(|(identity, _)| identity)
    }

    /// [`verify`](Self::verify), with the verified claims (an ID token's
    /// `nonce` is checked by its caller).
    #[cfg_attr(not(feature = "oidc-login"), allow(dead_code))]
    pub(super) async fn verify_with_claims(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<(Identity, Map<String, Value>), Failure> {
        let (alg, kid) = header(token)?;
        let kid = kid.as_deref();
        let set = match self.keys.lookup(kid, alg).await {
            Lookup::Found(set) => set,
            Lookup::Unknown => {
                return Err(refused(match kid {
                    Some(kid) => {
                        format!("the issuer has no {alg:?} key with kid {:?}", shown(kid))
                    }
                    None => format!("the issuer has no {alg:?} key (and the token names no kid)"),
                }));
            }
            Lookup::Unavailable(error) => return Err(Failure::Unavailable(error)),
        };
        let mut validation = Validation::new(alg);
        // Times, issuer and audience are checked below, with this
        // server's clock and reasons of its own.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let mut claims = None;
        for key in set.keys.iter().filter(|k| k.matches(kid, alg)) {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
                }
                Err(e) => return Err(refused(format!("malformed token: {e}"))),
            }
        }
        let claims = claims.ok_or_else(|| refused("bad signature"))?;
        self.check_claims(&claims, now)?;
        let identity = self.identity(&claims)?;
        Ok((identity, claims))
    }

    fn check_claims(&self, claims: &Map<String, Value>, now: SystemTime) -> Result<(), Failure> {
        let issuer = &self.settings.issuer;
        match claims.get("iss") {
            Some(Value::String(iss)) if iss == issuer => {}
            other => return Err(refused(format!("issuer {other:?} is not {issuer:?}"))),
        }
        let audience = &self.settings.audience;
        let aud_holds = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !aud_holds {
            return Err(refused(format!(
                "audience {} is not {audience:?}",
                claims.get("aud").map_or("missing".into(), Value::to_string)
            )));
        }
        let exp = time_claim(claims, "exp")?.ok_or_else(|| refused("no exp"))?;
        if now > exp + SKEW {
            return Err(refused(format!(
                "expired {} ago",
                humantime::format_duration(whole_seconds(now, exp))
            )));
        }
        if let Some(nbf) = time_claim(claims, "nbf")?
            && now + SKEW < nbf
        {
            return Err(refused(format!(
                "not valid for another {}",
                humantime::format_duration(whole_seconds(nbf, now))
            )));
        }
        let iat = time_claim(claims, "iat")?;
        if let Some(iat) = iat
            && now + SKEW < iat
        {
            return Err(refused(format!(
                "issued {} in the future",
                humantime::format_duration(whole_seconds(iat, now))
            )));
        }
        if let Some(max) = self.settings.max_lifetime {
            let iat = iat.ok_or_else(|| refused("no iat, and max_lifetime needs it"))?;
            let lifetime = exp.duration_since(iat).unwrap_or(Duration::ZERO);
            if lifetime > max {
                return Err(refused(format!(
                    "lifetime {} is longer than max_lifetime {}",
                    humantime::format_duration(lifetime),
                    humantime::format_duration(max)
                )));
            }
        }
        Ok(())
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, Failure> {
        for requirement in &self.checked.require {
            if let Some(why) = requirement.unmet(claims) {
                return Err(Failure::Unmet(why));
            }
        }
        let subject = self.checked.subject.fill(claims).map_err(|claim| {
            refused(format!(
                "no claim {claim} (or not one string), which the subject needs"
            ))
        })?;
        let mut identity = Identity::new(subject);
        for (label, claim) in &self.checked.labels {
            let values = claim.values(claims);
            if !values.is_empty() {
                identity = identity.with_attribute(label.clone(), values);
            }
        }
        // check_claims made sure it is there.
        if let Ok(Some(exp)) = time_claim(claims, "exp") {
            identity = identity.with_valid_until(exp);
        }
        Ok(identity)
    }
}

/// The header's `alg`, when it is one of the allowlist: RS*, PS*, ES256,
/// ES384, EdDSA (`none` and HMAC are named in the refusal: they are what
/// forgeries use); and its `kid`. Read once: the signature check reads
/// the header again itself.
fn header(token: &str) -> Result<(Algorithm, Option<String>), Failure> {
    #[derive(serde::Deserialize)]
    struct Header {
        alg: String,
        kid: Option<String>,
    }
    let header = token
        .split('.')
        .next()
        .and_then(|h| data_encoding::BASE64URL_NOPAD.decode(h.as_bytes()).ok())
        .and_then(|bytes| serde_json::from_slice::<Header>(&bytes).ok())
        .ok_or_else(|| refused("malformed header"))?;
    let (alg, kid) = (header.alg, header.kid);
    if alg.eq_ignore_ascii_case("none") {
        return Err(refused("alg none: an unsigned token is never accepted"));
    }
    let parsed: Result<Algorithm, _> = alg.parse();
    match parsed {
        Ok(alg) if KeyKind::for_algorithm(alg).is_some() => Ok((alg, kid)),
        Ok(_) => Err(refused(format!(
            "alg {alg}: HMAC is never accepted (the issuer's keys are public)"
        ))),
        Err(_) => Err(refused(format!("alg {:?} is not supported", shown(&alg)))),
    }
}

/// At most the first 64 characters of a text the client chose (a `kid`,
/// an `alg`, an unverified `iss`), for reasons and logs: a token of 16 KiB
/// must not become log lines of 16 KiB.
pub(super) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]).into(),
        None => text.into(),
    }
}

/// A NumericDate claim (seconds since the epoch, perhaps with a fraction).
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<SystemTime>, Failure> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e11)
            .map(|s| Some(UNIX_EPOCH + Duration::from_secs_f64(s)))
            .ok_or_else(|| refused(format!("{name} is not a time"))),
    }
}

/// `later - earlier`, in whole seconds (for messages).
fn whole_seconds(later: SystemTime, earlier: SystemTime) -> Duration {
    let d = later.duration_since(earlier).unwrap_or(Duration::ZERO);
    Duration::from_secs(d.as_secs())
}
