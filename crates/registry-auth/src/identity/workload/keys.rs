//! An issuer's public keys: fetched from its discovery document or a JWKS
//! URL (or read from a file), cached, and fetched again at most once per
//! interval, however many unknown key ids arrive.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::settings::{KeySource, WorkloadError, WorkloadIssuerSettings};

/// The most a discovery document or a JWKS may weigh: real ones are a few
/// KiB, and a larger answer is cut off rather than buffered.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// How long a discovery document is kept.
const DISCOVERY_KEPT: Duration = Duration::from_secs(3600);

/// The most keys kept of one set: enough for any rotation, and a bound on
/// the signatures tried for a token without `kid`.
const MAX_KEYS: usize = 32;

/// What a key can verify. Tokens name an algorithm; a key is used only
/// with the algorithms of its type and curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    /// The key type an algorithm of the allowlist needs; `None` for every
    /// other algorithm (HMAC above all: a public key is no secret).
    pub(super) fn for_algorithm(alg: Algorithm) -> Option<KeyKind> {
        match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Some(KeyKind::Rsa),
            Algorithm::ES256 => Some(KeyKind::P256),
            Algorithm::ES384 => Some(KeyKind::P384),
            Algorithm::EdDSA => Some(KeyKind::Ed25519),
            _ => None,
        }
    }
}

/// One public key of the issuer.
pub(super) struct Key {
    pub(super) kid: Option<String>,
    /// The key's own `alg`, when its JWK names one: then only that.
    pub(super) alg: Option<Algorithm>,
    pub(super) kind: KeyKind,
    pub(super) decoding: DecodingKey,
}

impl Key {
    /// The key from a JWK, or why it is skipped.
    fn from_jwk(value: Value) -> Result<Key, String> {
        let jwk: Jwk = serde_json::from_value(value).map_err(|e| format!("not a JWK: {e}"))?;
        if matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        ) {
            return Err("not a signing key (use)".into());
        }
        let kind = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyKind::Rsa,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => KeyKind::P256,
                EllipticCurve::P384 => KeyKind::P384,
                _ => return Err("an EC curve other than P-256 and P-384".into()),
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                KeyKind::Ed25519
            }
            _ => return Err("not an RSA, EC or Ed25519 public key".into()),
        };
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(named) => {
                let alg = Algorithm::try_from(named)
                    .ok()
                    .filter(|a| KeyKind::for_algorithm(*a) == Some(kind))
                    .ok_or_else(|| format!("its alg {named:?} does not fit its key type"))?;
                Some(alg)
            }
        };
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unusable: {e}"))?;
        Ok(Key {
            kid: jwk.common.key_id,
            alg,
            kind,
            decoding,
        })
    }

    /// Whether the key may verify a token signed with `alg`.
    /// Whether a token signed with `alg`, naming `kid` (or none), may be
    /// checked with this key.
    pub(super) fn matches(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        self.fits(alg) && (kid.is_none() || self.kid.as_deref() == kid)
    }

    pub(super) fn fits(&self, alg: Algorithm) -> bool {
        KeyKind::for_algorithm(alg) == Some(self.kind) && self.alg.is_none_or(|own| own == alg)
    }
}

/// The keys of one fetch.
pub(super) struct KeySet {
    pub(super) keys: Vec<Key>,
    fetched: Instant,
}

impl KeySet {
    /// Parses a JWKS (`{"keys": […]}`): keys that cannot verify tokens
    /// (encryption keys, HMAC secrets, unknown types) are skipped; a set
    /// with none left is an error.
    pub(super) fn parse(bytes: &[u8]) -> Result<KeySet, String> {
        #[derive(serde::Deserialize)]
        struct Jwks {
            keys: Vec<Value>,
        }
        let jwks: Jwks =
            serde_json::from_slice(bytes).map_err(|e| format!("not a JWK set: {e}"))?;
        let mut keys = Vec::new();
        for value in jwks.keys {
            match Key::from_jwk(value) {
                Ok(key) if keys.len() < MAX_KEYS => keys.push(key),
                Ok(_) => break,
                Err(why) => tracing::debug!(%why, "key of a JWK set skipped"),
            }
        }
        if keys.is_empty() {
            return Err("the JWK set holds no RSA, EC or Ed25519 signing key".into());
        }
        Ok(KeySet {
            keys,
            fetched: Instant::now(),
        })
    }
}

/// The keys a token may be checked with, or why there are none.
pub(super) enum Lookup {
    Found(Arc<KeySet>),
    /// No key with the token's `kid` (or, without one, of its type), even
    /// after a fetch or while fetches wait for their interval.
    Unknown,
    /// No keys at all, and the issuer could not be reached: 503.
    Unavailable(String),
}

/// The cached keys of one issuer and the fetches that renew them.
pub(super) struct IssuerKeys {
    issuer: String,
    source: Source,
    min_refetch_interval: Duration,
    max_age: Duration,
    current: RwLock<Option<Arc<KeySet>>>,
    fetching: Mutex<Fetching>,
    /// The CA file's contents, as read (`None`: the system's roots).
    ca: Option<Vec<u8>>,
    /// The issuer's discovery document, as last read: what it names
    /// changes rarely, so it is read again only after
    /// [`DISCOVERY_KEPT`] or when the JWKS it names cannot be fetched.
    discovered: Mutex<Option<(Instant, Arc<Discovery>)>>,
    /// For requests that must not follow redirects (a code exchange,
    /// which a redirect would send on with the code and its verifier).
    #[cfg_attr(not(feature = "oidc-login"), allow(dead_code))]
    direct: Option<reqwest::Client>,
}

/// The fetch under way, if any, and when the last one ended.
#[derive(Default)]
struct Fetching {
    /// When the last fetch ended: the next one waits for the interval.
    ended: Option<Instant>,
    /// The fetch running now, in a task of its own (a login that gives up
    /// waiting does not cancel it); every login that needs keys meanwhile
    /// waits for its answer.
    running: Option<Shared<BoxFuture<'static, Result<(), String>>>>,
}

enum Source {
    Fixed,
    Discovery {
        client: reqwest::Client,
        url: reqwest::Url,
        plain_http: bool,
    },
    Url {
        client: reqwest::Client,
        url: reqwest::Url,
    },
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// Keys of the issuer `settings` name, from `source`; a JWKS file is
    /// read now, and any CA file.
    pub(super) fn new(
        settings: &WorkloadIssuerSettings,
        source: &KeySource,
        plain_http: bool,
    ) -> Result<IssuerKeys, WorkloadError> {
        let name = &settings.name;
        let ca = match &settings.ca_certificate {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| WorkloadError::file(name, "ca_certificate", path, e))?,
            ),
            None => None,
        };
        let source_is_discovery = matches!(source, KeySource::Discovery(_));
        let (source, current) = match source {
            KeySource::File(path) => {
                let bytes =
                    std::fs::read(path).map_err(|e| WorkloadError::file(name, "jwks", path, e))?;
                let set = KeySet::parse(&bytes)
                    .map_err(|e| WorkloadError::file(name, "jwks", path, e))?;
                (Source::Fixed, Some(Arc::new(set)))
            }
            KeySource::Discovery(issuer) => {
                let url = discovery_url(issuer);
                let client = http_client(settings, ca.as_deref(), plain_http)?;
                (
                    Source::Discovery {
                        client,
                        url,
                        plain_http,
                    },
                    None,
                )
            }
            KeySource::Url(url) => (
                Source::Url {
                    client: http_client(settings, ca.as_deref(), plain_http)?,
                    url: url.clone(),
                },
                None,
            ),
        };
        Ok(IssuerKeys {
            issuer: settings.issuer.clone(),
            source,
            min_refetch_interval: settings.min_refetch_interval,
            max_age: settings.key_max_age,
            current: RwLock::new(current),
            fetching: Mutex::new(Fetching::default()),
            discovered: Mutex::new(None),
            direct: if source_is_discovery {
                Some(client_with(
                    settings,
                    ca.as_deref(),
                    plain_http,
                    reqwest::redirect::Policy::none(),
                )?)
            } else {
                None
            },
            ca,
        })
    }

    /// Whether these keys are fetched from where `other`'s are, trusting
    /// the same CA: then `other`'s cache can serve for them (a reload).
    pub(super) fn fetches_like(&self, other: &IssuerKeys) -> bool {
        let same_place = match (&self.source, &other.source) {
            (
                Source::Discovery {
                    url, plain_http, ..
                },
                Source::Discovery {
                    url: other_url,
                    plain_http: other_plain,
                    ..
                },
            ) => url == other_url && plain_http == other_plain,
            (Source::Url { url, .. }, Source::Url { url: other_url, .. }) => url == other_url,
            // A file is read again: its change is what reloaded.
            _ => false,
        };
        same_place && self.ca == other.ca
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The keys to check a token with `kid` (or none) signed with `alg`:
    /// the cached ones when they hold a fitting key (renewed in the
    /// background once older than `key_max_age`); else after a fetch, if
    /// the last one ended longer than the interval ago.
    pub(super) async fn lookup(self: &Arc<Self>, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let holds = |set: &KeySet| set.keys.iter().any(|k| k.matches(kid, alg));
        if let Some(set) = self.current()
            && holds(&set)
        {
            if set.fetched.elapsed() >= self.max_age {
                // Not awaited: the keys in hand answer this login.
                let _ = self.start_fetch();
            }
            return Lookup::Found(set);
        }
        let failure = match self.start_fetch() {
            Some(fetch) => fetch.await.err(),
            None => None,
        };
        match (self.current(), failure) {
            (Some(set), _) if holds(&set) => Lookup::Found(set),
            // The issuer may have rotated while it cannot be reached: the
            // client is told to come back, not that its token is bad.
            (_, Some(error)) => Lookup::Unavailable(error),
            (Some(_), None) => Lookup::Unknown,
            (None, None) => Lookup::Unavailable(format!(
                "no keys of {} yet: the last fetch failed less than {} ago",
                self.issuer,
                humantime::format_duration(self.min_refetch_interval)
            )),
        }
    }

    /// The fetch to wait for: the one running, or a new one when the last
    /// ended longer than the interval ago; `None` when it is too soon (or
    /// the keys are a file's).
    fn start_fetch(self: &Arc<Self>) -> Option<Shared<BoxFuture<'static, Result<(), String>>>> {
        if matches!(self.source, Source::Fixed) {
            return None;
        }
        let mut fetching = self
            .fetching
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(running) = &fetching.running {
            return Some(running.clone());
        }
        if fetching
            .ended
            .is_some_and(|at| at.elapsed() < self.min_refetch_interval)
        {
            return None;
        }
        let keys = Arc::clone(self);
        let task = tokio::spawn(async move { keys.fetch_and_keep().await });
        let running = async move {
            task.await
                .unwrap_or_else(|e| Err(format!("the fetch of the keys stopped: {e}")))
        }
        .boxed()
        .shared();
        fetching.running = Some(running.clone());
        Some(running)
    }

    /// Fetches the keys and keeps them; the keys already cached stay when
    /// it fails. However it ends (a panic too), the next fetch waits for
    /// the interval from now.
    async fn fetch_and_keep(&self) -> Result<(), String> {
        struct Ended<'a>(&'a Mutex<Fetching>);
        impl Drop for Ended<'_> {
            fn drop(&mut self) {
                let mut fetching = self.0.lock().unwrap_or_else(|p| p.into_inner());
                fetching.ended = Some(Instant::now());
                fetching.running = None;
            }
        }
        let _ended = Ended(&self.fetching);
        match self.fetch().await {
            Ok(set) => {
                tracing::info!(issuer = %self.issuer, keys = set.keys.len(), "workload issuer's keys fetched");
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(set));
                Ok(())
            }
            Err(error) => {
                tracing::warn!(issuer = %self.issuer, %error, "cannot fetch a workload issuer's keys");
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        match &self.source {
            Source::Fixed => Err("keys from a file are not fetched".into()),
            Source::Url { client, url } => {
                KeySet::parse(&get(client, url).await?).map_err(|e| format!("{url}: {e}"))
            }
            Source::Discovery {
                client,
                url,
                plain_http,
            } => {
                let jwks_uri = self.jwks_uri(client, url, *plain_http).await?;
                let keys = match get(client, &jwks_uri).await {
                    Ok(body) => KeySet::parse(&body).map_err(|e| format!("{jwks_uri}: {e}")),
                    Err(e) => Err(e),
                };
                if keys.is_err() {
                    // The JWKS may have moved: read the document again.
                    *self
                        .discovered
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
                }
                keys
            }
        }
    }

    /// The `jwks_uri` of the discovery document.
    async fn jwks_uri(
        &self,
        client: &reqwest::Client,
        url: &reqwest::Url,
        plain_http: bool,
    ) -> Result<reqwest::Url, String> {
        let document = self.discovery(client, url).await?;
        endpoint(url, "jwks_uri", document.jwks_uri.as_deref(), plain_http)
    }

    /// The issuer's discovery document, which must be its own (its
    /// `issuer` is ours, exactly): the one kept, or read now.
    async fn discovery(
        &self,
        client: &reqwest::Client,
        url: &reqwest::Url,
    ) -> Result<Arc<Discovery>, String> {
        let kept = self
            .discovered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some((at, document)) = kept
            && at.elapsed() < DISCOVERY_KEPT
        {
            return Ok(document);
        }
        let body = get(client, url).await?;
        let document: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("{url}: not a discovery document: {e}"))?;
        if document.issuer != self.issuer {
            return Err(format!(
                "{url}: the document is of issuer {:?}, not {:?}",
                document.issuer, self.issuer
            ));
        }
        let document = Arc::new(document);
        *self
            .discovered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some((Instant::now(), Arc::clone(&document)));
        Ok(document)
    }

    /// Where a person signs in and where the code is exchanged (from the
    /// discovery document), and the client to exchange it with (one that
    /// follows no redirect).
    #[cfg(feature = "oidc-login")]
    pub(super) async fn login_endpoints(
        &self,
    ) -> Result<(reqwest::Client, LoginEndpoints), String> {
        let Source::Discovery {
            client,
            url,
            plain_http,
        } = &self.source
        else {
            return Err(format!(
                "{}: signing in needs the issuer's discovery document",
                self.issuer
            ));
        };
        let document = self.discovery(client, url).await?;
        let endpoints = LoginEndpoints {
            authorization: endpoint(
                url,
                "authorization_endpoint",
                document.authorization_endpoint.as_deref(),
                *plain_http,
            )?,
            token: endpoint(
                url,
                "token_endpoint",
                document.token_endpoint.as_deref(),
                *plain_http,
            )?,
        };
        let direct = self.direct.clone().unwrap_or_else(|| client.clone());
        Ok((direct, endpoints))
    }
}

/// What is read of a discovery document.
#[derive(serde::Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: Option<String>,
    #[cfg(feature = "oidc-login")]
    authorization_endpoint: Option<String>,
    #[cfg(feature = "oidc-login")]
    token_endpoint: Option<String>,
}

/// Where a person signs in and where the code is exchanged.
#[cfg(feature = "oidc-login")]
#[derive(Clone, Debug)]
pub(super) struct LoginEndpoints {
    pub(super) authorization: reqwest::Url,
    pub(super) token: reqwest::Url,
}

/// The URL a discovery document at `document` gives as `name`: there, and
/// https:// (http:// only for a loopback issuer).
fn endpoint(
    document: &reqwest::Url,
    name: &str,
    value: Option<&str>,
    plain_http: bool,
) -> Result<reqwest::Url, String> {
    let value = value.ok_or_else(|| format!("{document}: the document has no {name}"))?;
    let url =
        reqwest::Url::parse(value).map_err(|e| format!("{document}: {name} is not a URL: {e}"))?;
    if url.scheme() != "https" && !(plain_http && url.scheme() == "http") {
        return Err(format!("{document}: {name} {url} is not https://"));
    }
    Ok(url)
}

/// `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery
/// 1.0, §4: appended to the issuer's path).
fn discovery_url(issuer: &reqwest::Url) -> reqwest::Url {
    let mut url = issuer.clone();
    let path = format!(
        "{}/.well-known/openid-configuration",
        issuer.path().trim_end_matches('/')
    );
    url.set_path(&path);
    url.set_query(None);
    url
}

/// The client that fetches one issuer's documents: its CA (or the
/// system's), its time limit for a whole fetch, body included, no proxy
/// from the environment, redirects only to HTTPS (or to loopback HTTP for
/// a loopback issuer).
fn http_client(
    settings: &WorkloadIssuerSettings,
    ca: Option<&[u8]>,
    plain_http: bool,
) -> Result<reqwest::Client, WorkloadError> {
    client_with(
        settings,
        ca,
        plain_http,
        reqwest::redirect::Policy::limited(3),
    )
}

fn client_with(
    settings: &WorkloadIssuerSettings,
    ca: Option<&[u8]>,
    plain_http: bool,
    redirects: reqwest::redirect::Policy,
) -> Result<reqwest::Client, WorkloadError> {
    let name = &settings.name;
    let mut builder = reqwest::Client::builder()
        .timeout(settings.fetch_timeout)
        .no_proxy()
        .https_only(!plain_http)
        .redirect(redirects)
        .user_agent(concat!("registry-auth/", env!("CARGO_PKG_VERSION")));
    if let (Some(path), Some(pem)) = (&settings.ca_certificate, ca) {
        builder = builder.tls_certs_only(certificates(name, path, pem)?);
    }
    builder
        .build()
        .map_err(|e| WorkloadError::invalid(name, "ca_certificate", e.to_string()))
}

fn certificates(
    name: &str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<reqwest::Certificate>, WorkloadError> {
    let certificates = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| WorkloadError::file(name, "ca_certificate", path, e))?;
    if certificates.is_empty() {
        return Err(WorkloadError::file(
            name,
            "ca_certificate",
            path,
            "holds no PEM certificate",
        ));
    }
    Ok(certificates)
}

/// The body of a `200` answer, at most [`MAX_DOCUMENT_BYTES`].
async fn get(client: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, String> {
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| fetch_error(url, &e))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("{url}: answered {}", response.status()));
    }
    limited_body(response, url).await
}

/// What went wrong with a request to `url`: its innermost cause (refused,
/// a certificate not trusted…), which says more than reqwest's own words.
pub(super) fn fetch_error(url: &reqwest::Url, e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else {
        "failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let why = causes.last().cloned().unwrap_or_else(|| e.to_string());
    format!("{url}: {kind}: {why}")
}

/// The body of `response` (from `url`), at most [`MAX_DOCUMENT_BYTES`]:
/// a larger one is cut off, whether its length is announced or not.
pub(super) async fn limited_body(
    mut response: reqwest::Response,
    url: &reqwest::Url,
) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(format!("{url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fetch_error(url, &e))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("{url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_is_under_the_issuers_path() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            discovery_url(&url("https://token.actions.githubusercontent.com")).as_str(),
            "https://token.actions.githubusercontent.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url(&url("https://sso.example.com/realms/ci/")).as_str(),
            "https://sso.example.com/realms/ci/.well-known/openid-configuration"
        );
    }

    #[test]
    fn only_signing_keys_that_fit_their_algorithm_are_kept() {
        let p256 = r#"{"kty":"EC","crv":"P-256","kid":"ec","alg":"ES256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let set = format!(
            r#"{{"keys":[{p256},
                {{"kty":"oct","k":"c2VjcmV0","kid":"hmac"}},
                {{"kty":"EC","crv":"P-256","use":"enc","kid":"enc",
                  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}},
                {{"kty":"EC","crv":"P-256","alg":"RS256","kid":"mislabelled",
                  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}},
                {{"kty":"XYZ"}}]}}"#
        );
        let set = KeySet::parse(set.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, [Some("ec")]);
        assert!(set.keys[0].fits(Algorithm::ES256));
        assert!(!set.keys[0].fits(Algorithm::ES384));
        assert!(!set.keys[0].fits(Algorithm::RS256));
        assert!(!set.keys[0].fits(Algorithm::HS256));
        let only_secrets = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        assert!(KeySet::parse(only_secrets.as_bytes()).is_err());
        assert!(KeySet::parse(b"[]").is_err());
    }
}
