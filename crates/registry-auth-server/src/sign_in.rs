//! The sign-in page (`[oidc_login]`): a person signs in at the
//! organisation's OpenID provider and is given an access token to use as
//! the `docker login` password, and a list of their tokens to revoke.
//!
//! Server-rendered HTML that works without JavaScript; a strict
//! Content-Security-Policy; cookies `HttpOnly; SameSite=Lax` (and `Secure`
//! when the page is served over HTTPS), signed with a key every instance
//! shares through the state store; the revoke and sign-out forms carry a
//! CSRF token. A token is shown once, in the page, never in a URL or a log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use data_encoding::BASE64URL_NOPAD;
use registry_auth::identity::{
    OidcLogin, OidcLoginError, PendingLogin, SignedInPeople, StaticUsers,
};
use registry_auth::state::{AccessTokenRecord, StateStore, TokenHash, new_access_token};
use registry_auth::{Scope, Secret};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::identity_tokens::date;

/// What `[oidc_login]` sets up, checked.
#[derive(Clone, Debug)]
pub(crate) struct SignInSettings {
    pub(crate) login: OidcLogin,
    /// Where the page is: `/login`; the callback is `<path>/callback`.
    pub(crate) path: String,
    pub(crate) token_lifetime: Duration,
    pub(crate) session_lifetime: Duration,
    /// Whether cookies are `Secure` (the page is served over HTTPS).
    pub(crate) secure_cookies: bool,
}

/// How long a sign-in may take at the provider.
const PENDING_LIFETIME: Duration = Duration::from_secs(600);
const PENDING_COOKIE: &str = "ra_sign_in";
const SESSION_COOKIE: &str = "ra_session";
/// The name of the cookie key in the state store.
const COOKIE_KEY: &str = "sign-in cookie key";

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

struct Page {
    settings: SignInSettings,
    store: Arc<dyn StateStore>,
    people: SignedInPeople,
    /// The configuration's own users: their names are not for people who
    /// sign in (a token would act with the user's rights).
    reserved: StaticUsers,
    /// The registry's name, for the `docker login` command.
    registry: String,
    key: OnceCell<hmac::Key>,
    /// The pages' templates, parsed once (HTML auto-escaped).
    templates: minijinja::Environment<'static>,
    /// What a password made here may be granted at most: everything its
    /// owner may do (the ACL decides at each use).
    token_scopes: Vec<Scope>,
}

/// The templates, by name.
const TEMPLATES: [(&str, &str); 4] = [
    ("layout.html", include_str!("sign_in/layout.html")),
    ("sign_in.html", include_str!("sign_in/sign_in.html")),
    ("tokens.html", include_str!("sign_in/tokens.html")),
    ("error.html", include_str!("sign_in/error.html")),
];

/// The most a password made on the page may be granted.
const TOKEN_SCOPES: [&str; 2] = ["repository:**:*", "registry:catalog:*"];

/// The sign-in page's routes, under its path.
pub(crate) fn router(
    settings: SignInSettings,
    store: Arc<dyn StateStore>,
    reserved: StaticUsers,
    registry: String,
) -> Result<Router, String> {
    let path = settings.path.clone();
    let mut templates = minijinja::Environment::new();
    templates.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    for (name, source) in TEMPLATES {
        templates
            .add_template(name, source)
            .map_err(|e| format!("sign-in page template {name}: {e}"))?;
    }
    let token_scopes = TOKEN_SCOPES
        .iter()
        .map(|s| Scope::parse_pattern(s).map_err(|e| format!("sign-in page scope {s}: {e}")))
        .collect::<Result<Vec<Scope>, String>>()?;
    let page = Arc::new(Page {
        people: SignedInPeople::new(Arc::clone(&store)),
        reserved,
        settings,
        store,
        registry,
        key: OnceCell::new(),
        templates,
        token_scopes,
    });
    Ok(Router::new()
        .route(&path, get(home))
        .route(&format!("{path}/start"), get(start))
        .route(&format!("{path}/callback"), get(callback))
        .route(&format!("{path}/tokens"), post(new_token))
        .route(&format!("{path}/revoke"), post(revoke))
        .route(&format!("{path}/sign-out"), post(sign_out))
        .route(&format!("{path}/assets/style.css"), get(style))
        .route(&format!("{path}/assets/copy.js"), get(script))
        .with_state(page))
}

/// A signed-in person's session: who, until when, and the value the
/// CSRF token is derived from.
#[derive(Serialize, Deserialize)]
struct Session {
    sub: String,
    exp: u64,
    sid: String,
}

/// A sign-in under way at the provider.
#[derive(Serialize, Deserialize)]
struct Pending {
    login: PendingLogin,
    exp: u64,
}

/// What a sealed cookie holds: a value with an end (seconds since 1970).
trait Expiring: for<'de> Deserialize<'de> {
    fn exp(&self) -> u64;
}

impl Expiring for Session {
    fn exp(&self) -> u64 {
        self.exp
    }
}

impl Expiring for Pending {
    fn exp(&self) -> u64 {
        self.exp
    }
}

impl Page {
    /// The cookie key, made once by whichever instance needs it first
    /// and shared through the state store.
    async fn key(&self) -> Result<&hmac::Key, Response> {
        self.key
            .get_or_try_init(|| async {
                let mut candidate = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut candidate)
                    .map_err(|_| "no random numbers".to_owned())?;
                let secret = self
                    .store
                    .shared_secret(COOKIE_KEY, &candidate)
                    .await
                    .map_err(|e| format!("state store: {e}"))?;
                Ok::<_, String>(hmac::Key::new(hmac::HMAC_SHA256, &secret))
            })
            .await
            .map_err(|e| self.unavailable("no cookie key", &e))
    }

    /// The page for a backend that cannot answer (the error in the log).
    fn unavailable(&self, what: &str, error: &dyn std::fmt::Display) -> Response {
        tracing::error!(%error, "sign-in page: {what}");
        self.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The sign-in page cannot do this right now; try again in a moment.",
        )
    }

    fn cookie(&self, name: &str, value: &str, max_age: Duration) -> HeaderValue {
        let secure = if self.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let text = format!(
            "{name}={value}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            self.settings.path,
            max_age.as_secs()
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The page `template` in the layout.
    fn render(
        &self,
        status: StatusCode,
        title: &str,
        template: &str,
        context: minijinja::Value,
    ) -> Response {
        let render = |name: &str, context| {
            self.templates
                .get_template(name)
                .and_then(|template| template.render(context))
        };
        let body = render(template, context).and_then(|body| {
            render(
                "layout.html",
                minijinja::context! { title, path => &self.settings.path, body },
            )
        });
        match body {
            Ok(html) => page_response(status, html),
            Err(e) => {
                tracing::error!(error = %e, "sign-in page: template");
                page_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>The page cannot be shown.</p>".into(),
                )
            }
        }
    }

    fn error(&self, status: StatusCode, title: &str, message: &str) -> Response {
        self.render(
            status,
            title,
            "error.html",
            minijinja::context! { message, path => &self.settings.path },
        )
    }

    /// The signed-in person, if the session cookie is good and current.
    async fn session(&self, headers: &HeaderMap) -> Result<Option<Session>, Response> {
        let key = self.key().await?;
        Ok(unsealed(key, headers, SESSION_COOKIE))
    }

    async fn tokens_page(
        &self,
        session: &Session,
        new_token: Option<(String, SystemTime)>,
    ) -> Response {
        let key = match self.key().await {
            Ok(key) => key,
            Err(page) => return page,
        };
        let tokens = match self.store.access_tokens(Some(&session.sub)).await {
            Ok(tokens) => tokens,
            Err(e) => return self.unavailable("state store", &e),
        };
        let listed: Vec<BTreeMap<&str, String>> = tokens
            .iter()
            .map(|t| {
                let r = &t.record;
                BTreeMap::from([
                    ("name", r.name.clone()),
                    ("created", date(r.created_at)),
                    ("expires", r.expires_at.map_or_else(|| "never".into(), date)),
                    (
                        "last_used",
                        r.last_used_at.map_or_else(|| "never".into(), date),
                    ),
                ])
            })
            .collect();
        let (token, token_expires) = match &new_token {
            Some((token, expires)) => (Some(token.as_str()), date(*expires)),
            None => (None, String::new()),
        };
        let command = format!(
            "docker login --username {} {}",
            shell_quoted(&session.sub),
            shell_quoted(&self.registry)
        );
        self.render(
            StatusCode::OK,
            "Registry passwords",
            "tokens.html",
            minijinja::context! {
                path => &self.settings.path,
                registry => &self.registry,
                username => &session.sub,
                token,
                token_expires,
                command,
                tokens => listed,
                csrf => csrf(key, &session.sid),
            },
        )
    }
}

fn page_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    response
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("sign_in/style.css"))
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("sign_in/copy.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure_headers(response.headers_mut());
    response
}

/// `GET <path>`: the person's tokens when signed in, else the button.
async fn home(State(page): State<Arc<Page>>, headers: HeaderMap) -> Response {
    match page.session(&headers).await {
        Ok(Some(session)) => page.tokens_page(&session, None).await,
        Ok(None) => page.render(
            StatusCode::OK,
            "Sign in to the registry",
            "sign_in.html",
            minijinja::context! { path => &page.settings.path, registry => &page.registry },
        ),
        Err(response) => response,
    }
}

/// `GET <path>/start`: off to the provider, with this sign-in's state,
/// nonce and PKCE verifier in a signed cookie.
async fn start(State(page): State<Arc<Page>>) -> Response {
    let key = match page.key().await {
        Ok(key) => key,
        Err(response) => return response,
    };
    let begun = match page.settings.login.start().await {
        Ok(begun) => begun,
        Err(e) => return page.unavailable("the sign-in cannot start", &e),
    };
    let pending = Pending {
        login: begun.pending,
        exp: now_secs() + PENDING_LIFETIME.as_secs(),
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(&begun.authorization_url) {
        Ok(location) => {
            headers.insert(header::LOCATION, location);
        }
        Err(_) => {
            return page.error(
                StatusCode::BAD_GATEWAY,
                "Unavailable",
                "The sign-in service's address cannot be used.",
            );
        }
    }
    headers.append(
        header::SET_COOKIE,
        page.cookie(
            PENDING_COOKIE,
            &seal(key, PENDING_COOKIE, &pending),
            PENDING_LIFETIME,
        ),
    );
    secure_headers(headers);
    response
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET <path>/callback`: the provider sends the person back; the code is
/// exchanged, the ID token checked, and the person signed in here (a
/// session cookie; a password is made only when they ask for one).
async fn callback(
    State(page): State<Arc<Page>>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Response {
    let mut response = signed_in(&page, &headers, query).await;
    let result = match response.status() {
        StatusCode::SEE_OTHER => "signed_in",
        StatusCode::FORBIDDEN => "not_allowed",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "refused",
    };
    metrics::counter!("registry_auth_sign_ins_total", "result" => result).increment(1);
    // Whatever became of it, this sign-in is over.
    response.headers_mut().append(
        header::SET_COOKIE,
        page.cookie(PENDING_COOKIE, "", Duration::ZERO),
    );
    response
}

async fn signed_in(page: &Page, headers: &HeaderMap, query: Callback) -> Response {
    let key = match page.key().await {
        Ok(key) => key,
        Err(response) => return response,
    };
    let Some(pending) = unsealed::<Pending>(key, headers, PENDING_COOKIE) else {
        tracing::info!(target: "registry_auth::audit", "sign-in refused: no sign-in under way (expired, or a replayed callback)");
        return page.error(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "No sign-in is under way in this browser (it took too long, or this link was used already). Start again.",
        );
    };
    let (Some(code), Some(state)) = (query.code, query.state) else {
        let error = query.error.unwrap_or_else(|| "no code".into());
        let error: String = error.chars().take(64).collect();
        tracing::info!(target: "registry_auth::audit", %error, "sign-in refused by the provider");
        return page.error(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "The sign-in was cancelled or refused at the sign-in service.",
        );
    };
    let person = match page
        .settings
        .login
        .finish(&pending.login, &state, &code)
        .await
    {
        Ok(person) => person,
        Err(e) => return refused(page, &e),
    };
    if page.reserved.contains(person.subject()) {
        tracing::warn!(target: "registry_auth::audit", subject = %person.subject(), "sign-in refused: the subject is a user of the configuration");
        return page.error(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your account's name belongs to another account of this registry. Ask its administrators.",
        );
    }
    if let Err(e) = page.people.signed_in(&person, SystemTime::now()).await {
        return page.unavailable("state store", &e);
    }
    tracing::info!(target: "registry_auth::audit", subject = %person.subject(), "signed in");
    let session = Session {
        sub: person.subject().to_owned(),
        exp: now_secs() + page.settings.session_lifetime.as_secs(),
        sid: match random_text() {
            Some(sid) => sid,
            None => return page.unavailable("session", &"no random numbers"),
        },
    };
    let mut response = see_other(&page.settings.path);
    response.headers_mut().append(
        header::SET_COOKIE,
        page.cookie(
            SESSION_COOKIE,
            &seal(key, SESSION_COOKIE, &session),
            page.settings.session_lifetime,
        ),
    );
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// `POST <path>/tokens`: a fresh password, shown this once.
async fn new_token(
    State(page): State<Arc<Page>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match checked_session(&page, &headers, &form.csrf).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match make_token(&page, &session.sub).await {
        Ok(made) => {
            tracing::info!(target: "registry_auth::audit", subject = %session.sub, "access token made on the sign-in page");
            page.tokens_page(&session, Some(made)).await
        }
        Err(response) => response,
    }
}

/// The page for a sign-in that failed: what the person may know, the
/// reason in the audit log.
fn refused(page: &Page, error: &OidcLoginError) -> Response {
    tracing::info!(target: "registry_auth::audit", reason = %error, "sign-in refused");
    match error {
        OidcLoginError::StateMismatch => page.error(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in does not belong to this browser's (another tab, or a forged link). Start again.",
        ),
        e if e.is_requirement() => page.error(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "You signed in, but your account is not allowed to use this registry. Ask its administrators.",
        ),
        OidcLoginError::Unavailable(_) => page.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The sign-in service cannot be reached right now; try again in a moment.",
        ),
        _ => page.error(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "The sign-in could not be completed. Start again.",
        ),
    }
}

/// A fresh access token of `owner`'s, for everything its owner may do
/// (the ACL decides at each use), for `token_lifetime`.
async fn make_token(page: &Page, owner: &str) -> Result<(String, SystemTime), Response> {
    let token =
        new_access_token().ok_or_else(|| page.unavailable("access token", &"no random numbers"))?;
    let suffix =
        random_text().ok_or_else(|| page.unavailable("access token", &"no random numbers"))?;
    let now = SystemTime::now();
    let expires = now + page.settings.token_lifetime;
    // A name of its own: the date, and random hex.
    let day: String = date(now)
        .chars()
        .filter(char::is_ascii_digit)
        .take(8)
        .collect();
    let name = format!("sign-in-{day}-{}", &suffix[..8]);
    let record = AccessTokenRecord::new(name, owner, page.token_scopes.clone(), now, Some(expires));
    match page
        .store
        .insert_access_token(&TokenHash::of(token.expose()), &record)
        .await
    {
        Ok(true) => Ok((token.expose().to_owned(), expires)),
        Ok(false) => Err(page.unavailable("access token", &"a token of that name exists")),
        Err(e) => Err(page.unavailable("state store", &e)),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: String,
    name: String,
}

/// `POST <path>/revoke`: one of the person's own tokens goes.
async fn revoke(
    State(page): State<Arc<Page>>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    let session = match checked_session(&page, &headers, &form.csrf).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let own = match page.store.access_tokens(Some(&session.sub)).await {
        Ok(tokens) => tokens.iter().any(|t| t.record.name == form.name),
        Err(e) => {
            tracing::error!(error = %e, "sign-in page: state store");
            false
        }
    };
    if !own || page.store.revoke_access_token(&form.name).await.is_err() {
        return page.error(
            StatusCode::NOT_FOUND,
            "Not revoked",
            "You have no registry password of that name (or it cannot be revoked right now).",
        );
    }
    tracing::info!(target: "registry_auth::audit", subject = %session.sub, token = %form.name, "access token revoked on the sign-in page");
    see_other(&page.settings.path)
}

/// `POST <path>/sign-out`: the session cookie goes (the tokens stay).
async fn sign_out(
    State(page): State<Arc<Page>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(response) = checked_session(&page, &headers, &form.csrf).await {
        return response;
    }
    let mut response = see_other(&page.settings.path);
    response.headers_mut().append(
        header::SET_COOKIE,
        page.cookie(SESSION_COOKIE, "", Duration::ZERO),
    );
    response
}

/// The session of a form's sender, whose CSRF token must be the
/// session's.
async fn checked_session(
    page: &Page,
    headers: &HeaderMap,
    token: &str,
) -> Result<Session, Response> {
    let key = page.key().await?;
    match unsealed::<Session>(key, headers, SESSION_COOKIE) {
        Some(session) if Secret::new(csrf(key, &session.sid)).ct_eq(token) => Ok(session),
        Some(_) => {
            tracing::info!(target: "registry_auth::audit", "sign-in page: a form without its CSRF token refused");
            Err(page.error(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form did not come from this page. Reload the page and try again.",
            ))
        }
        None => Err(page.error(
            StatusCode::FORBIDDEN,
            "Signed out",
            "You are not signed in (or your session ended). Sign in again.",
        )),
    }
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    secure_headers(response.headers_mut());
    response
}

/// `value`, signed: base64url(JSON) "." base64url(HMAC(name, JSON)).
fn seal<T: Serialize>(key: &hmac::Key, name: &str, value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let tag = mac(key, name, &json);
    format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(&json),
        BASE64URL_NOPAD.encode(&tag)
    )
}

/// A sealed value, if its signature is ours (for this cookie name).
fn open<T: for<'de> Deserialize<'de>>(key: &hmac::Key, name: &str, sealed: &str) -> Option<T> {
    let (json, tag) = sealed.split_once('.')?;
    let json = BASE64URL_NOPAD.decode(json.as_bytes()).ok()?;
    let tag = BASE64URL_NOPAD.decode(tag.as_bytes()).ok()?;
    hmac::verify(key, &message(name, &json), &tag).ok()?;
    serde_json::from_slice(&json).ok()
}

fn mac(key: &hmac::Key, name: &str, json: &[u8]) -> Vec<u8> {
    hmac::sign(key, &message(name, json)).as_ref().to_vec()
}

/// What is signed: the purpose (the cookie's name), a zero byte, the value.
fn message(name: &str, json: &[u8]) -> Vec<u8> {
    let mut message = name.as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(json);
    message
}

/// The CSRF token of a session.
fn csrf(key: &hmac::Key, sid: &str) -> String {
    BASE64URL_NOPAD.encode(&mac(key, "csrf", sid.as_bytes()))
}

/// The cookie `name`, if it is sealed by us for that purpose and has not
/// ended.
fn unsealed<T: Expiring>(key: &hmac::Key, headers: &HeaderMap, name: &str) -> Option<T> {
    read_cookie(headers, name)
        .and_then(|value| open::<T>(key, name, &value))
        .filter(|value| value.exp() > now_secs())
}

fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

fn random_text() -> Option<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(data_encoding::HEXLOWER.encode(&bytes))
}

/// `text` as one shell word: in single quotes, its own quotes escaped.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use registry_auth::identity::OidcLoginSettings;
    use registry_auth::state::MemoryStore;
    use tower::ServiceExt as _;

    use super::*;

    const SECRET: [u8; 32] = [9; 32];

    async fn page_with_tokens() -> (Router, Arc<dyn StateStore>) {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        // The cookie key the page will use: made here first.
        store
            .shared_secret(COOKIE_KEY, &SECRET)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for (name, owner) in [("alices", "alice"), ("bobs", "bob")] {
            let record = AccessTokenRecord::new(name, owner, Vec::new(), SystemTime::now(), None);
            let token = new_access_token().unwrap_or_else(|| panic!("no random numbers"));
            store
                .insert_access_token(&TokenHash::of(token.expose()), &record)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let login = OidcLogin::new(OidcLoginSettings::new(
            "https://sso.example.com",
            "registry",
            "secret",
            "https://auth.example.com/login/callback",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let settings = SignInSettings {
            login,
            path: "/login".into(),
            token_lifetime: Duration::from_secs(3600),
            session_lifetime: Duration::from_secs(3600),
            secure_cookies: true,
        };
        (
            router(
                settings,
                Arc::clone(&store),
                StaticUsers::new(),
                "registry.example.com".into(),
            )
            .unwrap_or_else(|e| panic!("{e}")),
            store,
        )
    }

    fn alices_session() -> (String, String) {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &SECRET);
        let session = Session {
            sub: "alice".into(),
            exp: now_secs() + 600,
            sid: "s1".into(),
        };
        (
            format!("{SESSION_COOKIE}={}", seal(&key, SESSION_COOKIE, &session)),
            csrf(&key, "s1"),
        )
    }

    async fn revoke(router: &Router, cookie: &str, name: &str, csrf: &str) -> StatusCode {
        post(
            router,
            "/login/revoke",
            cookie,
            &format!("name={name}&csrf={csrf}"),
        )
        .await
    }

    async fn post(router: &Router, path: &str, cookie: &str, body: &str) -> StatusCode {
        let body = body.to_owned();
        let request = Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap_or_else(|e| panic!("{e}"));
        router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {})
            .status()
    }

    async fn names(store: &Arc<dyn StateStore>) -> Vec<String> {
        store
            .access_tokens(None)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|t| t.record.name)
            .collect()
    }

    /// The revoke form needs the session's CSRF token, and revokes only
    /// the person's own tokens.
    #[tokio::test]
    async fn revoking_needs_the_csrf_token_and_ones_own_token() {
        let (router, store) = page_with_tokens().await;
        let (cookie, csrf) = alices_session();
        assert_eq!(
            revoke(&router, &cookie, "alices", "").await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            revoke(&router, &cookie, "alices", "forged").await,
            StatusCode::FORBIDDEN
        );
        // Another cookie key's session is no session.
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[1; 32]);
        let forged = Session {
            sub: "alice".into(),
            exp: now_secs() + 600,
            sid: "s1".into(),
        };
        let forged = format!("{SESSION_COOKIE}={}", seal(&other, SESSION_COOKIE, &forged));
        assert_eq!(
            revoke(&router, &forged, "alices", &csrf).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(names(&store).await, ["alices", "bobs"]);
        // Bob's token is not hers to revoke.
        assert_eq!(
            revoke(&router, &cookie, "bobs", &csrf).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            revoke(&router, &cookie, "alices", &csrf).await,
            StatusCode::SEE_OTHER
        );
        assert_eq!(names(&store).await, ["bobs"]);

        // A new password needs the CSRF token too.
        assert_eq!(
            post(&router, "/login/tokens", &cookie, "csrf=forged").await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(names(&store).await, ["bobs"]);
        assert_eq!(
            post(&router, "/login/tokens", &cookie, &format!("csrf={csrf}")).await,
            StatusCode::OK
        );
        let mine = store
            .access_tokens(Some("alice"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mine.len(), 1);
        assert!(mine[0].record.name.starts_with("sign-in-"));
    }

    #[test]
    fn the_docker_login_command_quotes_what_it_shows() {
        assert_eq!(shell_quoted("alice"), "'alice'");
        assert_eq!(shell_quoted("o'neil"), "'o'\\''neil'");
    }

    /// A cookie sealed for one purpose does not open as another.
    #[test]
    fn sealed_cookies_open_only_as_what_they_were_sealed_for() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &SECRET);
        let session = Session {
            sub: "alice".into(),
            exp: 1,
            sid: "s".into(),
        };
        let sealed = seal(&key, SESSION_COOKIE, &session);
        assert!(open::<Session>(&key, SESSION_COOKIE, &sealed).is_some());
        assert!(open::<Session>(&key, PENDING_COOKIE, &sealed).is_none());
        let tampered = sealed.replacen('e', "f", 1);
        assert!(open::<Session>(&key, SESSION_COOKIE, &tampered).is_none());
    }
}
