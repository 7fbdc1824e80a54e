//! `OidcLogin` against a fixture issuer of the test's own
//! (`registry_auth_testkit::FakeIssuer`, whose token endpoint answers
//! what the test sets): the authorization URL, the code exchange, and each
//! refusal: a wrong `state`, the provider's error (a code used twice), an
//! ID token for another audience, another sign-in's nonce, HMAC, a
//! requirement not met.

use registry_auth::identity::{LoginStart, OidcLogin, OidcLoginError, OidcLoginSettings};
use registry_auth_testkit::{FakeIssuer, hs256_token};
use serde_json::{Value, json};

const CLIENT: &str = "registry-login";
const SECRET: &str = "s3cret:with/odd chars";
const REDIRECT: &str = "https://auth.example.com/login/callback";

fn login(issuer: &FakeIssuer) -> OidcLogin {
    let mut settings = OidcLoginSettings::new(issuer.issuer(), CLIENT, SECRET, REDIRECT);
    settings.ca_certificate = Some(issuer.ca_certificate().to_owned());
    settings.scopes = ["openid", "profile", "groups"].map(str::to_owned).into();
    settings.labels.insert("groups".into(), "groups".into());
    settings
        .require
        .insert("email_verified".into(), "true".into());
    OidcLogin::new(settings).expect("settings")
}

fn id_token_claims(issuer: &FakeIssuer, start: &LoginStart) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    json!({
        "iss": issuer.issuer(),
        "sub": "00u1a2b3c",
        "aud": CLIENT,
        "iat": now,
        "exp": now + 300,
        "nonce": start.pending.nonce,
        "preferred_username": "alice",
        "email_verified": true,
        "groups": ["platform", "developers"],
    })
}

fn query(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .expect("URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(url: &str, name: &str) -> String {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_sign_in_sends_pkce_state_and_nonce_and_turns_the_id_token_into_the_person() {
    let issuer = FakeIssuer::start();
    let login = login(&issuer);
    let start = login.start().await.expect("start");
    let url = &start.authorization_url;
    assert!(
        url.starts_with(&format!("{}/authorize?", issuer.issuer())),
        "{url}"
    );
    assert_eq!(param(url, "response_type"), "code");
    assert_eq!(param(url, "client_id"), CLIENT);
    assert_eq!(param(url, "redirect_uri"), REDIRECT);
    assert_eq!(param(url, "scope"), "openid profile groups");
    assert_eq!(param(url, "state"), start.pending.state);
    assert_eq!(param(url, "nonce"), start.pending.nonce);
    assert_eq!(param(url, "code_challenge_method"), "S256");
    let challenge = data_encoding::BASE64URL_NOPAD.encode(
        aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            start.pending.code_verifier.as_bytes(),
        )
        .as_ref(),
    );
    assert_eq!(param(url, "code_challenge"), challenge);
    assert_eq!(start.pending.code_verifier.len(), 43);
    assert!(!url.contains(&start.pending.code_verifier));
    // Each sign-in its own.
    let other = login.start().await.expect("start");
    assert_ne!(other.pending.state, start.pending.state);
    assert_ne!(other.pending.nonce, start.pending.nonce);
    // The provider's discovery document is read once, not per page load.
    for _ in 0..5 {
        login.start().await.expect("start");
    }
    assert_eq!(issuer.discovery_fetches(), 1);

    issuer.set_token_answer(
        200,
        json!({"id_token": issuer.sign(&id_token_claims(&issuer, &start)), "token_type": "Bearer"}),
    );
    let state = start.pending.state.clone();
    let person = login
        .finish(&start.pending, &state, "the-code")
        .await
        .expect("signed in");
    assert_eq!(person.subject(), "alice");
    assert_eq!(person.attribute("groups"), ["platform", "developers"]);

    let requests = issuer.token_requests();
    assert_eq!(requests.len(), 1);
    let (authorization, body) = &requests[0];
    // RFC 6749 §2.3.1: form-encoded, then Basic.
    let basic =
        data_encoding::BASE64.encode(format!("{CLIENT}:s3cret%3Awith%2Fodd+chars").as_bytes());
    assert_eq!(authorization, &format!("Basic {basic}"));
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    assert_eq!(field("grant_type"), "authorization_code");
    assert_eq!(field("code"), "the-code");
    assert_eq!(field("redirect_uri"), REDIRECT);
    assert_eq!(field("code_verifier"), start.pending.code_verifier);
}

#[tokio::test]
async fn every_bad_callback_or_id_token_is_refused_with_its_reason() {
    let issuer = FakeIssuer::start();
    let login = login(&issuer);
    let start = login.start().await.expect("start");
    let state = start.pending.state.clone();
    let claims = id_token_claims(&issuer, &start);
    let with = |name: &str, value: Value| {
        let mut claims = claims.clone();
        claims[name] = value;
        claims
    };

    // A callback with another state: refused before any exchange.
    assert_eq!(
        login.finish(&start.pending, "forged", "code").await,
        Err(OidcLoginError::StateMismatch)
    );
    assert!(issuer.token_requests().is_empty());

    let cases: Vec<(&str, (u16, Value), OidcLoginError)> = vec![
        (
            "a code used twice",
            (
                400,
                json!({"error": "invalid_grant", "error_description": "grant request is invalid"}),
            ),
            OidcLoginError::Provider {
                error: "invalid_grant".into(),
                description: Some("grant request is invalid".into()),
            },
        ),
        (
            "an ID token for another client",
            (
                200,
                json!({"id_token": issuer.sign(&with("aud", json!("another-app")))}),
            ),
            OidcLoginError::Refused("audience \"another-app\" is not \"registry-login\"".into()),
        ),
        (
            "another sign-in's nonce",
            (
                200,
                json!({"id_token": issuer.sign(&with("nonce", json!("replayed")))}),
            ),
            OidcLoginError::Refused("nonce is not this sign-in's (a replayed ID token)".into()),
        ),
        (
            "no nonce",
            (
                200,
                json!({"id_token": issuer.sign(&{
                    let mut c = claims.clone();
                    c.as_object_mut().map(|o| o.remove("nonce"));
                    c
                })}),
            ),
            OidcLoginError::Refused("no nonce".into()),
        ),
        (
            "an ID token signed with HMAC under the client secret",
            (
                200,
                json!({"id_token": hs256_token(SECRET.as_bytes(), "key-1", &claims)}),
            ),
            OidcLoginError::Refused(
                "alg HS256: HMAC is never accepted (the issuer's keys are public)".into(),
            ),
        ),
        (
            "an expired ID token",
            (
                200,
                json!({"id_token": issuer.sign(&with(
                    "exp",
                    json!(claims["iat"].as_u64().unwrap_or_default() - 3600),
                ))}),
            ),
            OidcLoginError::Refused("expired 1h ago".into()),
        ),
        (
            "an ID token authorized for another party",
            (
                200,
                json!({"id_token": issuer.sign(&with("azp", json!("another-app")))}),
            ),
            OidcLoginError::Refused(
                "azp \"another-app\" is not the client id \"registry-login\"".into(),
            ),
        ),
        (
            "a subject docker cannot send as a user name",
            (
                200,
                json!({"id_token": issuer.sign(&with("preferred_username", json!("sso:alice")))}),
            ),
            OidcLoginError::Refused(
                "subject \"sso:alice\" holds ':' (docker cannot send it as a user name)".into(),
            ),
        ),
        (
            "a subject that would reach into other namespaces",
            (
                200,
                json!({"id_token": issuer.sign(&with("preferred_username", json!("team/alice")))}),
            ),
            OidcLoginError::Refused(
                "subject \"team/alice\" holds '/' (it would reach into other namespaces through ${account}/* rules)".into(),
            ),
        ),
        (
            "no token in the answer",
            (200, json!({"access_token": "x"})),
            OidcLoginError::Unavailable(format!(
                "{}/token: answered 200 OK without an id_token",
                issuer.issuer()
            )),
        ),
    ];
    for (case, (status, body), expected) in cases {
        issuer.set_token_answer(status, body);
        let got = login.finish(&start.pending, &state, "code").await;
        match (&got, &expected) {
            // The clock moved on by a second or so: the start is enough.
            (Err(OidcLoginError::Refused(got)), OidcLoginError::Refused(want))
                if want.starts_with("expired") =>
            {
                assert!(got.starts_with("expired 1h"), "{case}: {got}");
            }
            _ => assert_eq!(got, Err(expected), "{case}"),
        }
    }

    // A requirement not met: the person is known, and not allowed.
    issuer.set_token_answer(
        200,
        json!({"id_token": issuer.sign(&with("email_verified", json!(false)))}),
    );
    let error = login
        .finish(&start.pending, &state, "code")
        .await
        .expect_err("refused");
    assert!(error.is_requirement(), "{error}");
    assert_eq!(
        error.to_string(),
        "not allowed: requirement email_verified = \"true\" not met: the token has \"false\""
    );
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_unavailable_and_settings_are_checked() {
    let mut issuer = FakeIssuer::start();
    let login = login(&issuer);
    issuer.stop();
    assert!(matches!(
        login.start().await,
        Err(OidcLoginError::Unavailable(reason)) if reason.contains(&issuer.issuer())
    ));

    let settings = |adjust: &dyn Fn(&mut OidcLoginSettings)| {
        let mut settings = OidcLoginSettings::new(issuer.issuer(), CLIENT, SECRET, REDIRECT);
        adjust(&mut settings);
        OidcLogin::new(settings)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        settings(&|s| s.scopes = vec!["profile".into()]),
        Err("oidc_login: scopes: must include openid".into())
    );
    assert_eq!(
        settings(&|s| s.redirect_url = "/login/callback".into()),
        Err("oidc_login: redirect_url: not a URL: relative URL without a base".into())
    );
    assert_eq!(
        settings(&|s| s.redirect_url = "http://auth.example.com/login/callback".into()),
        Err("oidc_login: redirect_url: must be https:// (http:// only for tests on a loopback address)".into())
    );
    assert_eq!(
        settings(&|s| s.redirect_url = "http://127.0.0.1:8080/login/callback".into()),
        Ok(())
    );
    assert_eq!(
        settings(&|s| s.subject = "${preferred_username".into()),
        Err("oidc_login: subject: unclosed placeholder in \"${preferred_username\"".into())
    );
}
