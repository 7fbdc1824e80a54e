//! [`OidcLogin`]: a person signs in at the organisation's OpenID provider
//! (authorization code with PKCE, `state` and `nonce`), and the ID token
//! that comes back becomes an [`Identity`], checked by the same verifier
//! as workload tokens.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::BASE64URL_NOPAD;

use super::settings::{WorkloadError, WorkloadIssuerSettings};
use super::verify::{Failure, Issuer};
use crate::protocol::credentials::Secret;
use crate::protocol::identity::Identity;
use crate::token::{Clock, SystemClock};

/// The settings of a sign-in at an OpenID provider.
///
/// The subject, labels and requirements work as for
/// [`WorkloadIssuerSettings`]: `${claim}` templates, claim names or JSON
/// pointers, and exact, glob or `/regex/` patterns, over the ID token's
/// claims.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct OidcLoginSettings {
    /// The provider's issuer URL, exactly as its ID tokens' `iss`;
    /// discovery is read from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// This application's client id at the provider: the ID token's
    /// audience.
    pub client_id: String,
    /// Its client secret (sent with HTTP Basic to the token endpoint).
    #[cfg_attr(feature = "serde", serde(default))]
    pub client_secret: String,
    /// Where the provider sends the person back with the code; registered
    /// at the provider.
    pub redirect_url: String,
    /// The scopes asked for. Defaults to `openid profile email`.
    #[cfg_attr(feature = "serde", serde(default = "default_scopes"))]
    pub scopes: Vec<String>,
    /// The subject, from the ID token's claims. Defaults to
    /// `${preferred_username}`.
    #[cfg_attr(feature = "serde", serde(default = "default_subject"))]
    pub subject: String,
    /// Labels from claims: label name → claim.
    #[cfg_attr(feature = "serde", serde(default))]
    pub labels: BTreeMap<String, String>,
    /// Claims that must match (claim → pattern).
    #[cfg_attr(feature = "serde", serde(default))]
    pub require: BTreeMap<String, String>,
    /// A PEM file of the CA(s) the provider's HTTPS certificate is checked
    /// against. Defaults to the system's trust store.
    #[cfg_attr(feature = "serde", serde(default))]
    pub ca_certificate: Option<PathBuf>,
    /// The most one request to the provider may take, body included.
    /// Defaults to 5 s.
    #[cfg_attr(
        feature = "serde",
        serde(default = "default_fetch_timeout", with = "humantime_serde")
    )]
    pub fetch_timeout: Duration,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(str::to_owned).into()
}

fn default_subject() -> String {
    "${preferred_username}".to_owned()
}

fn default_fetch_timeout() -> Duration {
    Duration::from_secs(5)
}

impl std::fmt::Debug for OidcLoginSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLoginSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

impl OidcLoginSettings {
    /// A sign-in at `issuer` as `client_id` with `client_secret`, coming
    /// back to `redirect_url`; every other setting at its default.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_url: impl Into<String>,
    ) -> Self {
        OidcLoginSettings {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_url: redirect_url.into(),
            scopes: default_scopes(),
            subject: default_subject(),
            labels: BTreeMap::new(),
            require: BTreeMap::new(),
            ca_certificate: None,
            fetch_timeout: default_fetch_timeout(),
        }
    }

    /// The ID token's verifier: a workload issuer whose audience is the
    /// client id and whose keys come from discovery.
    fn verifier(&self) -> WorkloadIssuerSettings {
        let mut verifier = WorkloadIssuerSettings::new(
            "oidc_login",
            self.issuer.clone(),
            self.client_id.clone(),
            self.subject.clone(),
        );
        verifier.labels = self.labels.clone();
        verifier.require = self.require.clone();
        verifier.ca_certificate = self.ca_certificate.clone();
        verifier.fetch_timeout = self.fetch_timeout;
        verifier
    }
}

/// Why a sign-in failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcLoginError {
    /// A setting cannot work, or a file it names cannot be read.
    #[error("oidc_login: {setting}: {reason}")]
    Settings {
        /// The key inside `[oidc_login]`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The callback's `state` is not the one this sign-in began with: a
    /// forged or stale callback (or another tab's).
    #[error("the sign-in's state does not match (a forged, stale or other tab's callback)")]
    StateMismatch,
    /// The provider answered the callback or the code exchange with an
    /// error (`access_denied`, `invalid_grant` for a code used twice…).
    #[error("the provider refused: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        /// The OAuth error code.
        error: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// The ID token is refused (audience, signature, nonce…), or the
    /// subject cannot be a registry user name: the reason, for the log.
    #[error("ID token refused: {0}")]
    Refused(String),
    /// The person signed in, and a `require` condition does not hold for
    /// them: the reason, for the log (it quotes claims, so it is not for
    /// the person's page).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The provider cannot be reached or answered nonsense.
    #[error("the provider cannot be reached: {0}")]
    Unavailable(String),
}

impl OidcLoginError {
    /// Whether it is a `require` condition that failed: the person signed
    /// in, and is not allowed here.
    pub fn is_requirement(&self) -> bool {
        matches!(self, OidcLoginError::NotAllowed(_))
    }
}

/// What a sign-in keeps between sending the person to the provider and
/// their coming back: kept by the caller (in a signed, short-lived
/// cookie), never shown in a URL but the `state`.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PendingLogin {
    /// The `state` sent, to be matched by the callback's.
    pub state: String,
    /// The `nonce` sent, to be matched by the ID token's.
    pub nonce: String,
    /// The PKCE code verifier (its S256 challenge was sent).
    pub code_verifier: String,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin").finish_non_exhaustive()
    }
}

/// A sign-in begun: where to send the person, and what to keep.
#[derive(Clone, Debug)]
pub struct LoginStart {
    /// The provider's authorization URL with this sign-in's parameters.
    pub authorization_url: String,
    /// What [`OidcLogin::finish`] needs back.
    pub pending: PendingLogin,
}

/// People sign in at an OpenID provider: authorization code flow with
/// PKCE (S256), `state` and `nonce`.
///
/// [`start`](OidcLogin::start) gives the URL to send the person to and a
/// [`PendingLogin`] to keep; [`finish`](OidcLogin::finish) takes the
/// callback's `state` and `code`, exchanges the code (client secret by
/// HTTP Basic, the code verifier), and checks the ID token with the
/// workload-token verifier: asymmetric algorithms only, the provider's
/// keys from discovery, `iss`, `aud` = the client id, times with 60 s of
/// skew, the `nonce`, then the `require` conditions; its claims give the
/// subject and labels.
#[derive(Clone)]
pub struct OidcLogin {
    settings: Arc<OidcLoginSettings>,
    /// The path of the redirect URL, where the provider sends people back.
    redirect_path: String,
    issuer: Issuer,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLogin")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl OidcLogin {
    /// A sign-in with these settings; checks them and reads the CA file.
    /// Nothing is fetched until the first sign-in.
    pub fn new(settings: OidcLoginSettings) -> Result<Self, OidcLoginError> {
        let invalid = |setting, reason: &str| OidcLoginError::Settings {
            setting,
            reason: reason.to_owned(),
        };
        let redirect = reqwest::Url::parse(&settings.redirect_url)
            .map_err(|e| invalid("redirect_url", &format!("not a URL: {e}")))?;
        let host = redirect
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !(redirect.scheme() == "https" || (redirect.scheme() == "http" && loopback)) {
            return Err(invalid(
                "redirect_url",
                "must be https:// (http:// only for tests on a loopback address)",
            ));
        }
        if settings.client_id.trim().is_empty() {
            return Err(invalid("client_id", "must not be empty"));
        }
        if !settings.scopes.iter().any(|s| s == "openid") {
            return Err(invalid("scopes", "must include openid"));
        }
        let issuer = Issuer::new(settings.verifier()).map_err(|e| match e {
            WorkloadError::File {
                setting,
                path,
                reason,
                ..
            } => OidcLoginError::Settings {
                setting,
                reason: format!("{}: {reason}", path.display()),
            },
            other => OidcLoginError::Settings {
                setting: other.setting(),
                reason: match other {
                    WorkloadError::Invalid { reason, .. }
                    | WorkloadError::Duplicate { reason, .. } => reason,
                    other => other.to_string(),
                },
            },
        })?;
        Ok(OidcLogin {
            redirect_path: redirect.path().to_owned(),
            settings: Arc::new(settings),
            issuer,
            clock: Arc::new(SystemClock),
        })
    }

    /// Reads the time from `clock` (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The path of the redirect URL: where the application must answer
    /// the provider's callback.
    pub fn redirect_path(&self) -> &str {
        &self.redirect_path
    }

    /// Begins a sign-in: fresh `state`, `nonce` and PKCE verifier, and the
    /// provider's authorization URL (from its discovery document).
    pub async fn start(&self) -> Result<LoginStart, OidcLoginError> {
        let (_, endpoints) = self.endpoints().await?;
        let pending = PendingLogin {
            state: random_text()?,
            nonce: random_text()?,
            code_verifier: random_text()?,
        };
        let challenge = BASE64URL_NOPAD.encode(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pending.code_verifier.as_bytes())
                .as_ref(),
        );
        let mut url = endpoints.authorization;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_url)
            .append_pair("scope", &self.settings.scopes.join(" "))
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(LoginStart {
            authorization_url: url.into(),
            pending,
        })
    }

    /// Ends a sign-in: the callback's `state` must be `pending`'s; the
    /// `code` is exchanged and the ID token checked. The identity is the
    /// person's subject and labels.
    pub async fn finish(
        &self,
        pending: &PendingLogin,
        state: &str,
        code: &str,
    ) -> Result<Identity, OidcLoginError> {
        if !Secret::new(pending.state.as_str()).ct_eq(state) {
            return Err(OidcLoginError::StateMismatch);
        }
        let (client, endpoints) = self.endpoints().await?;
        let id_token = self
            .exchange(&client, &endpoints.token, pending, code)
            .await?;
        let (identity, claims) = self
            .issuer
            .verify_with_claims(&id_token, self.clock.now())
            .await
            .map_err(|failure| match failure {
                Failure::Refused(reason) => OidcLoginError::Refused(reason),
                Failure::Unmet(reason) => OidcLoginError::NotAllowed(reason),
                Failure::Unavailable(reason) => OidcLoginError::Unavailable(reason),
            })?;
        match claims.get("nonce").and_then(|n| n.as_str()) {
            Some(nonce) if Secret::new(pending.nonce.as_str()).ct_eq(nonce) => {}
            Some(_) => {
                return Err(OidcLoginError::Refused(
                    "nonce is not this sign-in's (a replayed ID token)".into(),
                ));
            }
            None => return Err(OidcLoginError::Refused("no nonce".into())),
        }
        // OIDC Core §3.1.3.7: an authorized party, when named, is us.
        if let Some(azp) = claims.get("azp").and_then(|a| a.as_str())
            && azp != self.settings.client_id
        {
            return Err(OidcLoginError::Refused(format!(
                "azp {:?} is not the client id {:?}",
                super::verify::shown(azp),
                self.settings.client_id
            )));
        }
        registry_user_name(identity.subject())?;
        Ok(identity)
    }

    /// The provider's endpoints and the client for the code exchange,
    /// from its discovery document (kept with its keys: a sign-in page
    /// anyone can load is no stream of requests to the provider).
    async fn endpoints(
        &self,
    ) -> Result<(reqwest::Client, super::keys::LoginEndpoints), OidcLoginError> {
        self.issuer
            .login_endpoints()
            .await
            .map_err(OidcLoginError::Unavailable)
    }

    /// The ID token the token endpoint gives for `code`.
    async fn exchange(
        &self,
        client: &reqwest::Client,
        token_endpoint: &reqwest::Url,
        pending: &PendingLogin,
        code: &str,
    ) -> Result<String, OidcLoginError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            id_token: Option<String>,
            error: Option<String>,
            error_description: Option<String>,
        }
        // RFC 6749 §2.3.1: the id and secret are form-encoded, then Basic.
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let response = client
            .post(token_endpoint.clone())
            .basic_auth(
                encode(&self.settings.client_id),
                Some(encode(&self.settings.client_secret)),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.settings.redirect_url.as_str()),
                ("code_verifier", pending.code_verifier.as_str()),
            ])
            .send()
            .await
            .map_err(|e| OidcLoginError::Unavailable(format!("{token_endpoint}: {e}")))?;
        let status = response.status();
        let body = super::keys::limited_body(response, token_endpoint)
            .await
            .map_err(OidcLoginError::Unavailable)?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
            OidcLoginError::Unavailable(format!(
                "{token_endpoint}: answered {status} without a JSON body"
            ))
        })?;
        match (answer.id_token, answer.error) {
            (Some(id_token), None) if status.is_success() => Ok(id_token),
            (_, Some(error)) => Err(OidcLoginError::Provider {
                error,
                description: answer.error_description,
            }),
            _ => Err(OidcLoginError::Unavailable(format!(
                "{token_endpoint}: answered {status} without an id_token"
            ))),
        }
    }
}

/// A subject a client can send as a user name and that the ACL's
/// `${account}/*` rules keep in its own namespace: what the configuration
/// asks of its users (not empty, no `:`, no control character, no `/`).
fn registry_user_name(subject: &str) -> Result<(), OidcLoginError> {
    let why = if subject.is_empty() {
        "is empty"
    } else if subject.contains(':') {
        "holds ':' (docker cannot send it as a user name)"
    } else if subject.contains('/') {
        "holds '/' (it would reach into other namespaces through ${account}/* rules)"
    } else if subject.chars().any(char::is_control) {
        "holds a control character"
    } else {
        return Ok(());
    };
    Err(OidcLoginError::Refused(format!(
        "subject {:?} {why}",
        super::verify::shown(subject)
    )))
}

/// 32 random bytes, base64url: a `state`, a `nonce`, a PKCE verifier (43
/// characters, within RFC 7636's 43 to 128).
fn random_text() -> Result<String, OidcLoginError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| OidcLoginError::Unavailable("no random numbers".into()))?;
    Ok(BASE64URL_NOPAD.encode(&bytes))
}
