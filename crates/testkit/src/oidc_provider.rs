//! A throwaway OpenID provider (npm's `oidc-provider` 9, run by node over
//! HTTPS), for tests of the OIDC login and of workload identity: JWT
//! access tokens from the client-credentials grant, ID tokens with groups
//! from the authorization-code flow.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::Child;

use crate::process::{
    daemon_command, random_password, short_tempdir, stop_child, stop_child_blocking,
};
use crate::registry::free_port;
use crate::tls::write_certificates;

/// Where `provider.mjs`, `package.json` and (after `npm ci`) `node_modules`
/// are.
const PROVIDER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/oidc-provider");

/// The resource indicator (RFC 8707) that stands for the audience: the
/// indicator must be an absolute URI, the audience need not be.
const RESOURCE: &str = "urn:registry-auth-testkit:audience";

/// Lifetime of the access and ID tokens, in seconds.
const TOKEN_TTL: u64 = 600;

/// The login client's redirect URI when the settings give none.
const UNUSED_REDIRECT_URI: &str = "http://127.0.0.1:1/no-redirect-uri-given";

const ROBOT_CLIENT_ID: &str = "ci-robot";
const LOGIN_CLIENT_ID: &str = "registry-login";
const USER_LOGIN: &str = "alice";
const USER_PASSWORD: &str = "alice-password";

/// What an [`OidcProvider`] is set up with: the audience of its access
/// tokens and the redirect URIs of its authorization-code client.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    audience: String,
    redirect_uris: Vec<String>,
}

impl OidcSettings {
    /// Settings whose JWT access tokens (from the client-credentials grant)
    /// have `aud` = `audience`, and no redirect URI yet (without any, the
    /// login client gets `http://127.0.0.1:1/no-redirect-uri-given`).
    pub fn new(audience: &str) -> Self {
        OidcSettings {
            audience: audience.to_owned(),
            redirect_uris: Vec::new(),
        }
    }

    /// Adds a redirect URI of the authorization-code client (`http://` on
    /// 127.0.0.1 is fine); may be called several times.
    pub fn redirect_uri(mut self, uri: &str) -> Self {
        self.redirect_uris.push(uri.to_owned());
        self
    }
}

/// An OpenID provider: `node provider.mjs` (npm's `oidc-provider`, see
/// `crates/testkit/oidc-provider`; `npm ci` there first) listening on
/// 127.0.0.1 on a free port, over HTTPS with a certificate for `127.0.0.1`
/// and `localhost` signed by a throwaway CA,
/// [`ca_certificate`](Self::ca_certificate).
///
/// It signs with a fresh RSA key (RS256, a `kid` in every token header and
/// in its JWKS) and holds, in memory:
/// - the client-credentials client [`client_id`](Self::client_id) /
///   [`client_secret`](Self::client_secret) (`client_secret_basic` or
///   `_post`): it gets JWT access tokens (`typ` `at+jwt`) with `iss` =
///   [`issuer`](Self::issuer), `sub` = its client id, `aud` = the
///   settings' audience, valid for 600 s, without asking for a resource;
/// - the confidential authorization-code client
///   [`login_client_id`](Self::login_client_id) /
///   [`login_client_secret`](Self::login_client_secret), with the
///   settings' redirect URIs, PKCE (S256) allowed but not required, scopes
///   `openid profile email groups` (and `offline_access`). Scope claims go
///   into the ID token as well as to the userinfo endpoint. Without a
///   `resource` parameter its access token is an opaque one for the
///   userinfo endpoint; with `resource=` the audience it is a JWT for it;
/// - the user [`user`](Self::user), alice: `sub` and `preferred_username`
///   `alice`, `name` `Alice`, `email` `alice@example.com` (verified),
///   `groups` `["platform", "developers"]`.
///
/// Logging in is a plain HTML form at `/interaction/UID` (inputs `login`,
/// `password`, button `#submit`; nothing fetched from elsewhere). A wrong
/// password gets the form again with status 401 and "Invalid login or
/// password."; consent is given without asking. Node is stopped on drop.
#[derive(Debug)]
pub struct OidcProvider {
    issuer: String,
    robot_secret: String,
    login_secret: String,
    http: reqwest::Client,
    child: Option<Child>,
    log: PathBuf,
    ca: PathBuf,
    dir: tempfile::TempDir,
}

impl OidcProvider {
    /// Starts the provider (`node` from `PATH`, 20.19 or later) and waits
    /// until its discovery document answers over HTTPS; panics with node's
    /// log on failure, and asks for `npm ci` when the npm packages are
    /// missing. Takes about half a second.
    pub async fn start(settings: OidcSettings) -> OidcProvider {
        let script = Path::new(PROVIDER_DIR).join("provider.mjs");
        assert!(
            Path::new(PROVIDER_DIR)
                .join("node_modules/oidc-provider/package.json")
                .is_file(),
            "oidc-provider is not installed: run `npm ci` in crates/testkit/oidc-provider"
        );
        let dir = short_tempdir("oidc");
        let ca = dir.path().join("ca.pem");
        let ca_pem = write_certificates(dir.path(), "registry-auth testkit OIDC CA");
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA")])
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("HTTP client");
        let mut provider = OidcProvider {
            issuer: String::new(),
            robot_secret: random_password(),
            login_secret: random_password(),
            http,
            child: None,
            log: dir.path().join("node.log"),
            ca,
            dir,
        };
        // Another test may take the free port before node binds it: node
        // then exits with status 98, and we try another one.
        for _ in 0..3 {
            provider.issuer = format!("https://127.0.0.1:{}", free_port());
            let config = provider.dir.path().join("config.json");
            std::fs::write(&config, provider.config(&settings).to_string())
                .expect("write the provider's config");
            let mut command = daemon_command("node", "TERM", &provider.log);
            command
                .current_dir(PROVIDER_DIR)
                .env_remove("NODE_OPTIONS")
                .arg(&script)
                .arg(&config)
                // Only for whoever looks for this process.
                .arg(&provider.issuer);
            provider.child = Some(command.spawn().unwrap_or_else(|e| {
                panic!("start `setpriv -- node` (util-linux; Node.js 20.19 or later): {e}")
            }));
            if provider.wait_ready().await {
                return provider;
            }
        }
        panic!("oidc-provider found no free port; log:\n{}", provider.log());
    }

    /// `https://127.0.0.1:PORT`: the exact `iss` of its tokens, no trailing
    /// slash; the discovery document is at
    /// `/.well-known/openid-configuration` under it.
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    /// The PEM file of the throwaway CA that signed the provider's TLS
    /// certificate (for `127.0.0.1` and `localhost`).
    pub fn ca_certificate(&self) -> &Path {
        &self.ca
    }

    /// The client-credentials client's id.
    pub fn client_id(&self) -> &str {
        ROBOT_CLIENT_ID
    }

    /// The client-credentials client's secret (random).
    pub fn client_secret(&self) -> &str {
        &self.robot_secret
    }

    /// A JWT access token for the client-credentials client: POSTs
    /// `grant_type=client_credentials` to the token endpoint with
    /// `client_secret_basic`, trusting only the CA; panics with the answer
    /// and node's log on failure.
    pub async fn client_credentials_token(&self) -> String {
        let response = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(ROBOT_CLIENT_ID, Some(&self.robot_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap_or_else(|e| panic!("token request: {e}; log:\n{}", self.log()));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "token request: {status} {body}; log:\n{}",
            self.log()
        );
        let body: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("token response {body:?}: {e}"));
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {body}"))
            .to_owned()
    }

    /// An HTTP client that trusts only the provider's CA: for requests a
    /// test makes to it (discovery, the JWKS, a code exchange).
    pub fn http_client(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// The authorization-code client's id.
    pub fn login_client_id(&self) -> &str {
        LOGIN_CLIENT_ID
    }

    /// The authorization-code client's secret (random).
    pub fn login_client_secret(&self) -> &str {
        &self.login_secret
    }

    /// The test user's login and password: `("alice", "alice-password")`.
    pub fn user(&self) -> (&str, &str) {
        (USER_LOGIN, USER_PASSWORD)
    }

    /// What node wrote so far: a line per request, logins, errors.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops node (SIGTERM, then SIGKILL after 10 s) and waits for it;
    /// does nothing if it is not running.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "TERM", Duration::from_secs(10)).await;
        }
    }

    /// What `provider.mjs` reads: see the comment at its top.
    fn config(&self, settings: &OidcSettings) -> serde_json::Value {
        let dir = self.dir.path();
        // oidc-provider wants at least one.
        let redirect_uris = if settings.redirect_uris.is_empty() {
            vec![UNUSED_REDIRECT_URI.to_owned()]
        } else {
            settings.redirect_uris.clone()
        };
        serde_json::json!({
            "issuer": self.issuer,
            "tls": {
                "cert": dir.join("server.crt"),
                "key": dir.join("server.key"),
            },
            "audience": settings.audience,
            "resource": RESOURCE,
            "access_token_ttl": TOKEN_TTL,
            "robot": {
                "client_id": ROBOT_CLIENT_ID,
                "client_secret": self.robot_secret,
            },
            "login": {
                "client_id": LOGIN_CLIENT_ID,
                "client_secret": self.login_secret,
                "redirect_uris": redirect_uris,
            },
            "users": [{
                "login": USER_LOGIN,
                "password": USER_PASSWORD,
                "claims": {
                    "sub": "alice",
                    "preferred_username": "alice",
                    "name": "Alice",
                    "email": "alice@example.com",
                    "email_verified": true,
                    "groups": ["platform", "developers"],
                },
            }],
        })
    }

    /// Waits until the discovery document names the issuer: true; false
    /// when node found its port taken; panics with the log otherwise.
    async fn wait_ready(&mut self) -> bool {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                if status.code() == Some(98) {
                    return false;
                }
                panic!("oidc-provider exited ({status}); log:\n{}", self.log());
            }
            let answer = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(response) = answer
                && response.status().is_success()
            {
                let document: serde_json::Value = response
                    .json()
                    .await
                    .unwrap_or_else(|e| panic!("discovery document: {e}; log:\n{}", self.log()));
                assert_eq!(
                    document["issuer"].as_str(),
                    Some(self.issuer.as_str()),
                    "discovery document {document}; log:\n{}",
                    self.log()
                );
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("oidc-provider did not start; log:\n{}", self.log());
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child_blocking(&mut child, "TERM", Duration::from_secs(10));
        }
    }
}
