//! Token shapes for every key type, checked with an independent JWT
//! implementation (jsonwebtoken) against our own JWKS; and every way
//! `build()` refuses a bad configuration.

use data_encoding::{BASE64, BASE64URL_NOPAD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use registry_auth::token::{Algorithm, KeyIdMode, SigningKey};
use registry_auth::{AllowAll, AnonymousOnly, AuthServer};
use serde_json::Value;

use crate::support::{ISSUER, SERVICE, alice_token, builder, decode_unverified, fixture};

fn is_libtrust_kid(kid: &str) -> bool {
    let groups: Vec<&str> = kid.split(':').collect();
    groups.len() == 12
        && groups.iter().all(|g| {
            g.len() == 4
                && g.chars()
                    .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        })
}

/// Verifies with jsonwebtoken, the key taken from our JWKS by `kid`.
fn verify_with_jwks(server: &AuthServer, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("header");
    let jwks: JwkSet = serde_json::from_value(server.jwks().expect("jwks")).expect("jwks parses");
    let kid = header.kid.clone().expect("kid");
    let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).expect("decoding key");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[SERVICE]);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("signature and claims verify")
        .claims
}

#[tokio::test]
async fn every_key_type_signs_a_verifiable_registry_token() {
    let cases = [
        ("rsa2048-pkcs1.pem", Some("rsa2048.crt"), "RS256"),
        ("rsa2048-pkcs8.pem", None, "RS256"),
        ("p256-sec1.pem", Some("p256.crt"), "ES256"),
        ("p256-pkcs8.pem", None, "ES256"),
        ("p384-sec1.pem", Some("p384.crt"), "ES384"),
        ("p384-pkcs8.pem", None, "ES384"),
        ("ed25519-pkcs8.pem", Some("ed25519.crt"), "EdDSA"),
    ];
    for (key, cert, alg) in cases {
        let mut b = builder(key);
        if let Some(cert) = cert {
            b = b.certificate_pem_file(fixture(cert));
        }
        let server = b.build().unwrap_or_else(|e| panic!("{key}: {e}"));
        let token = alice_token(&server).await;
        let (header, claims) = decode_unverified(&token);

        assert_eq!(header["typ"], "JWT", "{key}");
        assert_eq!(header["alg"], alg, "{key}");
        let kid = header["kid"].as_str().unwrap();
        assert!(is_libtrust_kid(kid), "{key}: {kid}");
        match cert {
            Some(cert) => {
                let x5c = header["x5c"].as_array().expect("x5c");
                assert_eq!(x5c.len(), 1);
                let der = BASE64
                    .decode(x5c[0].as_str().unwrap().as_bytes())
                    .expect("standard base64");
                let pem = std::fs::read(fixture(cert)).unwrap();
                assert!(
                    String::from_utf8_lossy(&pem).contains(&BASE64.encode(&der)[..60]),
                    "{key}"
                );
            }
            None => assert!(header.get("x5c").is_none(), "{key}"),
        }

        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["sub"], "alice");
        assert!(
            claims["aud"].is_string(),
            "aud must be a string for registry 2.8"
        );
        for c in ["exp", "nbf", "iat"] {
            assert!(claims[c].is_u64(), "{c} must be an integer");
        }
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            300
        );
        let jti = BASE64URL_NOPAD
            .decode(claims["jti"].as_str().unwrap().as_bytes())
            .unwrap();
        assert_eq!(jti.len(), 16, "jti is 128 random bits");
        assert_eq!(
            claims["access"],
            serde_json::json!([{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}])
        );
        if alg == "ES256" {
            let sig = BASE64URL_NOPAD
                .decode(token.rsplit('.').next().unwrap().as_bytes())
                .unwrap();
            assert_eq!(sig.len(), 64, "ES256 signatures are raw r||s");
        }
        assert_eq!(verify_with_jwks(&server, &token), claims, "{key}");
    }
}

#[tokio::test]
async fn p521_signs_es512_with_raw_r_s() {
    let server = builder("p521-sec1.pem").build().unwrap();
    let token = alice_token(&server).await;
    let (header, _) = decode_unverified(&token);
    assert_eq!(header["alg"], "ES512");
    // jsonwebtoken has no ES512: verify with aws-lc-rs from the JWKS point.
    let jwk = &server.jwks().unwrap()["keys"][0];
    let coord = |c: &str| {
        BASE64URL_NOPAD
            .decode(jwk[c].as_str().unwrap().as_bytes())
            .unwrap()
    };
    let mut point = vec![4u8];
    point.extend(coord("x"));
    point.extend(coord("y"));
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let sig = BASE64URL_NOPAD.decode(sig.as_bytes()).unwrap();
    assert_eq!(sig.len(), 132);
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P521_SHA512_FIXED,
        point,
    )
    .verify(signed.as_bytes(), &sig)
    .expect("ES512 signature verifies");
}

#[tokio::test]
async fn two_tokens_have_different_jti() {
    let server = builder("p256-sec1.pem").build().unwrap();
    let a = decode_unverified(&alice_token(&server).await).1;
    let b = decode_unverified(&alice_token(&server).await).1;
    assert_ne!(a["jti"], b["jti"]);
}

#[tokio::test]
async fn thumbprint_kid_mode_matches_the_jwks() {
    let server = builder("p256-sec1.pem")
        .key_id(KeyIdMode::Thumbprint)
        .build()
        .unwrap();
    let token = alice_token(&server).await;
    let kid = decode_unverified(&token).0["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = SigningKey::from_pem_file(fixture("p256-sec1.pem")).unwrap();
    assert_eq!(kid, key.jwk_thumbprint());
    assert_eq!(kid.len(), 43, "base64url of a SHA-256");
    // jsonwebtoken computes the RFC 7638 thumbprint independently.
    let jwks: JwkSet = serde_json::from_value(server.jwks().unwrap()).unwrap();
    assert_eq!(
        jwks.keys[0]
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap(),
        kid
    );
    verify_with_jwks(&server, &token);
}

#[test]
fn rsa_algorithm_can_be_chosen_but_must_fit_the_key() {
    let rsa = SigningKey::from_pem_file(fixture("rsa2048-pkcs1.pem")).unwrap();
    let rsa = rsa.with_algorithm(Algorithm::RS512).unwrap();
    assert_eq!(rsa.algorithm(), Algorithm::RS512);
    let ec = SigningKey::from_pem_file(fixture("p256-sec1.pem")).unwrap();
    let err = ec.with_algorithm(Algorithm::ES384).unwrap_err();
    assert_eq!(err.to_string(), "algorithm ES384 does not fit a EC key");
}

fn build_error(b: registry_auth::AuthServerBuilder) -> String {
    match b.build() {
        Ok(_) => panic!("build should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn build_refuses_bad_configurations_with_clear_messages() {
    let base = || {
        AuthServer::builder()
            .authenticator(AnonymousOnly)
            .authorizer(AllowAll)
            .issuer(ISSUER)
            .service(SERVICE)
    };
    assert_eq!(
        build_error(base()),
        "signing_key: not set: call .signing_key_pem_file(...) (or .token_generator(...))"
    );
    let missing = build_error(base().signing_key_pem_file("/nonexistent/token.key"));
    assert!(
        missing.starts_with("signing_key: cannot read /nonexistent/token.key: "),
        "{missing}"
    );
    assert_eq!(
        build_error(base().signing_key_pem(b"not a key")),
        "signing_key: no PEM private key found (expected BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
    );
    assert_eq!(
        build_error(base().signing_key_pem_file(fixture("secp256k1-sec1.pem"))),
        "signing_key: unsupported signing key: EC key on a curve other than P-256, P-384, P-521"
    );
    assert_eq!(
        build_error(base().signing_key_pem_file(fixture("rsa1024-pkcs1.pem"))),
        "signing_key: unsupported signing key: RSA key rejected (RSA keys must be 2048 to 8192 bits)"
    );
    assert_eq!(
        build_error(
            base()
                .signing_key_pem_file(fixture("p256-sec1.pem"))
                .certificate_pem_file(fixture("p384.crt"))
        ),
        format!(
            "certificate: {}: the certificate does not match the signing key (its public key \
             differs) ({})",
            fixture("p384.crt").display(),
            fixture("p256-sec1.pem").display()
        )
    );
    assert_eq!(
        build_error(
            base()
                .signing_key_pem_file(fixture("p256-sec1.pem"))
                .certificate_pem(b"junk")
        ),
        "certificate: no valid PEM certificate found"
    );
    assert_eq!(
        build_error(
            base()
                .signing_key_pem_file(fixture("p256-sec1.pem"))
                .token_lifetime(std::time::Duration::from_secs(30))
        ),
        "token_lifetime: 30s is shorter than the minimum of 60s"
    );
    let no_issuer = AuthServer::builder()
        .authenticator(AnonymousOnly)
        .authorizer(AllowAll)
        .service(SERVICE)
        .signing_key_pem_file(fixture("p256-sec1.pem"));
    assert_eq!(
        build_error(no_issuer),
        "issuer: not set: call .issuer(...) with the registry's auth.token.issuer"
    );
    let no_service = AuthServer::builder()
        .authenticator(AnonymousOnly)
        .authorizer(AllowAll)
        .issuer(ISSUER)
        .signing_key_pem_file(fixture("p256-sec1.pem"));
    assert!(build_error(no_service).starts_with("services: not set: "));
    let no_authz = AuthServer::builder()
        .authenticator(AnonymousOnly)
        .issuer(ISSUER)
        .service(SERVICE)
        .signing_key_pem_file(fixture("p256-sec1.pem"));
    assert!(build_error(no_authz).starts_with("authorizer: not set: "));
    let no_authn = AuthServer::builder()
        .authorizer(AllowAll)
        .issuer(ISSUER)
        .service(SERVICE)
        .signing_key_pem_file(fixture("p256-sec1.pem"));
    assert!(matches!(
        no_authn.build(),
        Err(e) if e.setting() == "authenticator" && e.reason().starts_with("not set: ")
    ));
    let key = || base().signing_key_pem_file(fixture("p256-sec1.pem"));
    let cases = [
        (key().service(""), "services: a service must not be empty"),
        (
            key().services(Vec::<String>::new()),
            "services: must name at least one service (or accept any)",
        ),
        (key().issuer(""), "issuer: must not be empty"),
        (
            key().realm("my \"registry\""),
            "realm: must not contain quotes or control characters",
        ),
        (
            key().trusted_proxies(["proxy.local"]),
            "trusted_proxies: \"proxy.local\" is not an address or CIDR block",
        ),
        (
            key().refresh_token_lifetime(std::time::Duration::from_secs(59)),
            "refresh_token_lifetime: 59s is shorter than the minimum of 60s",
        ),
        (
            key().token_lifetime(std::time::Duration::from_secs(25 * 3600)),
            "token_lifetime: 1day 1h is longer than the maximum of 1day",
        ),
        (
            key().refresh_token_lifetime(std::time::Duration::from_secs(2 * 31_557_600)),
            "refresh_token_lifetime: 2years is longer than the maximum of 1year",
        ),
        (
            key().throttling({
                let mut throttling = registry_auth::Throttling::default();
                throttling.max_delay = std::time::Duration::from_secs(2 * 86_400);
                throttling
            }),
            "throttling.max_delay: 2days is longer than the maximum of 1day",
        ),
        (
            key().credential_cache(std::time::Duration::from_secs(2 * 86_400)),
            "credential_cache: 2days is longer than the maximum of 1day",
        ),
        (
            key().algorithm(Algorithm::ES384),
            "algorithm: ES384 does not fit the signing key, whose algorithm is ES256",
        ),
        (
            key().limits({
                let mut limits = registry_auth::Limits::default();
                limits.max_scopes = 0;
                limits
            }),
            "limits.max_scopes: must be at least 1",
        ),
        (
            key().throttling({
                let mut throttling = registry_auth::Throttling::default();
                throttling.max_delay = std::time::Duration::from_millis(10);
                throttling
            }),
            "throttling.max_delay: 10ms is shorter than base_delay (1s)",
        ),
        (
            key().token_generator(
                registry_auth::token::JwtGenerator::builder()
                    .signing_key_pem_file(fixture("p256-sec1.pem"))
                    .issuer(ISSUER)
                    .build()
                    .unwrap(),
            ),
            "token_generator: both a token generator and signing settings (key, certificate, \
             key id, algorithm, issuer, lifetime) are set; those are the generator's business",
        ),
    ];
    for (builder, message) in cases {
        assert_eq!(
            builder.validate().map_err(|e| e.to_string()),
            Err(message.to_owned())
        );
        assert_eq!(build_error(builder), message);
    }
}

#[test]
fn debug_output_never_shows_key_material() {
    let key = SigningKey::from_pem_file(fixture("p256-sec1.pem")).unwrap();
    let pem = std::fs::read_to_string(fixture("p256-sec1.pem")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let debug = format!("{key:?}");
    assert!(!debug.contains(&body[..20]), "{debug}");
    assert!(debug.contains("ES256"));
}

#[tokio::test]
async fn verify_token_checks_alg_signature_issuer_audience_and_time() {
    use registry_auth::token::{Validation, VerifyError, verify};
    use std::time::{Duration, SystemTime};
    let server = builder("p256-sec1.pem").build().unwrap();
    let token = alice_token(&server).await;
    let key = SigningKey::from_pem_file(fixture("p256-sec1.pem")).unwrap();
    let now = SystemTime::now();
    let at = |now| Validation::new(ISSUER).at(now);
    let ok = verify(&token, &key, &at(now).audience(SERVICE)).unwrap();
    assert_eq!(ok.claims["sub"], "alice");

    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_claims = BASE64URL_NOPAD.encode(
        br#"{"iss":"registry-auth-test","sub":"admin","aud":"registry.test","exp":9999999999}"#,
    );
    let forged = format!("{head}.{forged_claims}.{sig}");
    assert_eq!(verify(&forged, &key, &at(now)), Err(VerifyError::Signature));

    let fresh = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let other = SigningKey::from_pem(fresh.serialize_pem().as_bytes()).unwrap();
    assert_eq!(
        verify(&token, &other, &at(now)),
        Err(VerifyError::Signature)
    );
    let rsa = SigningKey::from_pem_file(fixture("rsa2048-pkcs1.pem")).unwrap();
    assert!(matches!(
        verify(&token, &rsa, &at(now)),
        Err(VerifyError::Algorithm { .. })
    ));
    assert_eq!(
        verify(&token, &key, &Validation::new("other").at(now)),
        Err(VerifyError::Issuer(ISSUER.into()))
    );
    assert_eq!(
        verify(&token, &key, &at(now).audiences(["elsewhere", "other"])),
        Err(VerifyError::Audience(SERVICE.into()))
    );
    let later = now + Duration::from_secs(300 + 61);
    assert_eq!(verify(&token, &key, &at(later)), Err(VerifyError::Expired));
    let earlier = now - Duration::from_secs(120);
    assert_eq!(
        verify(&token, &key, &at(earlier)),
        Err(VerifyError::NotYetValid)
    );
    assert!(matches!(
        verify("a.b", &key, &at(now)),
        Err(VerifyError::Malformed(_))
    ));
}
