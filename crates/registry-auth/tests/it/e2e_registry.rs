//! End to end: our tokens, verified by the real registries (Debian's
//! `docker-registry`, distribution 2.8, and distribution v3.1.1), used by
//! real clients (skopeo and the oci-client crate). Required: a missing tool fails the test
//! (`scripts/test` installs them).

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use registry_auth::AuthServer;
use registry_auth::token::KeyIdMode;
use registry_auth_testkit::{
    Registry, require_registry_and_skopeo, skopeo, skopeo_delete, skopeo_inspect, skopeo_push,
    write_oci_layout,
};

use crate::support::{
    ISSUER, RunningServer, SERVICE, alice_token, builder, builder_with_key_pem, fixture,
};

struct Setup {
    server: RunningServer,
    registry: Registry,
    work: tempfile::TempDir,
}

impl Setup {
    async fn start(server: AuthServer, certificate: &str) -> Setup {
        require_registry_and_skopeo();
        let server = RunningServer::start(server).await;
        let registry = Registry::start(
            &server.url("/token"),
            SERVICE,
            ISSUER,
            &fixture(certificate),
        )
        .await;
        Setup {
            server,
            registry,
            work: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The same with registry v3.1.1, given the server's JWKS when `jwks`.
    async fn start_v3(server: AuthServer, certificate: &str, jwks: bool) -> Setup {
        require_registry_and_skopeo();
        let work = tempfile::tempdir().expect("tempdir");
        let jwks_file = work.path().join("jwks.json");
        if jwks {
            let document = server.jwks().expect("the server publishes a JWKS");
            std::fs::write(&jwks_file, document.to_string()).expect("write jwks");
        }
        let server = RunningServer::start(server).await;
        let registry = Registry::start_v3(
            &server.url("/token"),
            SERVICE,
            ISSUER,
            &fixture(certificate),
            jwks.then_some(jwks_file.as_path()),
        )
        .await;
        Setup {
            server,
            registry,
            work,
        }
    }

    fn image(&self, repo_tag: &str) -> String {
        format!("docker://{}/{}", self.registry.addr, repo_tag)
    }

    /// An OCI layout on disk with tag v1, holding `content`.
    fn layout(&self, name: &str, content: &str) -> String {
        let dir = self.work.path().join(name);
        write_oci_layout(&dir, "v1", content);
        format!("oci:{}:v1", dir.display())
    }

    async fn push(&self, layout: &str, repo_tag: &str, creds: &str) -> (bool, String) {
        skopeo_push(layout, &self.image(repo_tag), creds).await
    }

    async fn inspect(&self, repo_tag: &str, creds: Option<&str>) -> (bool, String) {
        skopeo_inspect(&self.image(repo_tag), creds).await
    }

    async fn delete(&self, repo_tag: &str, creds: &str) -> (bool, String) {
        skopeo_delete(&self.image(repo_tag), creds).await
    }

    async fn stop(self) {
        self.registry.stop().await;
        self.server.stop().await;
    }
}

fn ok(result: (bool, String), what: &str, registry: &Registry) -> String {
    assert!(
        result.0,
        "{what} failed:\n{}\nregistry log:\n{}",
        result.1,
        registry.log()
    );
    result.1
}

fn refused(result: (bool, String), what: &str) -> String {
    assert!(
        !result.0,
        "{what} should have been refused but succeeded:\n{}",
        result.1
    );
    result.1
}

/// ES256 key with its certificate sent as x5c: skopeo pushes, inspects and
/// deletes (delete asks for `*`), and every refusal of the policy holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_x5c_with_skopeo() {
    let server = builder("p256-sec1.pem")
        .certificate_pem_file(fixture("p256.crt"))
        .allow_anonymous(true)
        .build()
        .expect("server");
    let s = Setup::start(server, "p256.crt").await;
    let reg = &s.registry;
    let app = s.layout("app", "alice's app");

    // An authorized user pushes and pulls.
    ok(
        s.push(&app, "alice/app:v1", "alice:alice-pw").await,
        "alice push",
        reg,
    );
    let manifest = ok(
        s.inspect("alice/app:v1", Some("alice:alice-pw")).await,
        "alice inspect",
        reg,
    );
    assert!(
        manifest.contains("application/vnd.oci.image.manifest.v1+json"),
        "{manifest}"
    );

    // Another user may pull but not push there.
    ok(
        s.inspect("alice/app:v1", Some("bob:bob-pw")).await,
        "bob pulls alice/app",
        reg,
    );
    let bobs = s.layout("bobs", "bob was here");
    let out = refused(
        s.push(&bobs, "alice/app:v2", "bob:bob-pw").await,
        "bob pushes to alice/app",
    );
    assert!(
        out.contains("denied") || out.contains("authentication required"),
        "{out}"
    );
    refused(
        s.inspect("alice/app:v2", Some("alice:alice-pw")).await,
        "the refused push left a tag",
    );

    // A wrong password gets no token at all.
    let out = refused(
        s.inspect("alice/app:v1", Some("alice:wrong")).await,
        "wrong password",
    );
    assert!(
        out.contains("invalid username/password") || out.contains("401"),
        "{out}"
    );
    refused(
        s.inspect("alice/app:v1", Some("mallory:alice-pw")).await,
        "unknown user",
    );

    // Anonymous pulls of the public namespace only.
    ok(
        s.push(&app, "public/base:v1", "alice:alice-pw").await,
        "alice push public",
        reg,
    );
    ok(
        s.inspect("public/base:v1", None).await,
        "anonymous pull of public/",
        reg,
    );
    refused(
        s.inspect("alice/app:v1", None).await,
        "anonymous pull of alice/",
    );
    refused(s.push(&app, "public/base:v2", "").await, "anonymous push");

    // bob pushes his own repository but may not delete (skopeo asks for *).
    ok(
        s.push(&bobs, "bob/tool:v1", "bob:bob-pw").await,
        "bob push own",
        reg,
    );
    refused(
        s.delete("bob/tool:v1", "bob:bob-pw").await,
        "bob delete without the delete action",
    );
    ok(
        s.inspect("bob/tool:v1", Some("bob:bob-pw")).await,
        "bob's image still there",
        reg,
    );

    // alice holds *, so her delete works and the image is gone.
    ok(
        s.delete("alice/app:v1", "alice:alice-pw").await,
        "alice delete",
        reg,
    );
    refused(
        s.inspect("alice/app:v1", Some("alice:alice-pw")).await,
        "deleted image",
    );

    s.stop().await;
}

fn oci_client() -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    })
}

async fn oci_push(
    registry: &str,
    repo_tag: &str,
    auth: &RegistryAuth,
    content: &[u8],
) -> Result<(), String> {
    let reference: Reference = format!("{registry}/{repo_tag}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let layer = ImageLayer::oci_v1(content.to_vec(), None);
    let config = Config::oci_v1(br#"{"architecture":"amd64","os":"linux"}"#.to_vec(), None);
    oci_client()
        .push(&reference, &[layer], config, auth, None)
        .await
        .map(|_| ())
        .map_err(|e| format!("{e}"))
}

async fn oci_pull(registry: &str, repo_tag: &str, auth: &RegistryAuth) -> Result<Vec<u8>, String> {
    let reference: Reference = format!("{registry}/{repo_tag}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let image = oci_client()
        .pull(&reference, auth, vec![IMAGE_LAYER_MEDIA_TYPE])
        .await
        .map_err(|e| format!("{e}"))?;
    Ok(image
        .layers
        .first()
        .map(|l| l.data.to_vec())
        .unwrap_or_default())
}

fn basic(user: &str, pw: &str) -> RegistryAuth {
    RegistryAuth::Basic(user.into(), pw.into())
}

/// RS256 key, tokens carrying only the libtrust `kid` (no x5c): the
/// registry finds the key in its rootcertbundle. oci-client pushes and
/// pulls; anonymous access is off here, so anonymous pulls fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_kid_only_with_oci_client() {
    let server = builder("rsa2048-pkcs1.pem").build().expect("server");
    let s = Setup::start(server, "rsa2048.crt").await;
    let reg = s.registry.addr.clone();

    oci_push(
        &reg,
        "alice/rs:v1",
        &basic("alice", "alice-pw"),
        b"layer one",
    )
    .await
    .expect("alice push");
    let pulled = oci_pull(&reg, "alice/rs:v1", &basic("bob", "bob-pw"))
        .await
        .expect("bob pull");
    assert_eq!(pulled, b"layer one");

    assert!(
        oci_push(&reg, "alice/rs:v2", &basic("carol", "carol-pw"), b"x")
            .await
            .is_err(),
        "carol has no push"
    );
    assert!(
        oci_pull(&reg, "alice/rs:v2", &basic("alice", "alice-pw"))
            .await
            .is_err(),
        "carol's push left a tag"
    );
    assert!(
        oci_pull(&reg, "alice/rs:v1", &basic("alice", "nope"))
            .await
            .is_err(),
        "wrong password"
    );
    assert!(
        oci_pull(&reg, "alice/rs:v1", &RegistryAuth::Anonymous)
            .await
            .is_err(),
        "anonymous is off"
    );

    s.stop().await;
}

/// Which key-id forms registry 2.8 accepts, as INTEROP.md records: the
/// x5c chain always works; the libtrust kid works alone; the RFC 7638
/// thumbprint works only with x5c. ES384 and RS512 exercise the other
/// algorithms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_id_modes_against_registry_2_8() {
    let cases = [
        (
            "p384-sec1.pem",
            "p384.crt",
            false,
            KeyIdMode::Libtrust,
            true,
        ),
        (
            "p384-pkcs8.pem",
            "p384.crt",
            true,
            KeyIdMode::Thumbprint,
            true,
        ),
        (
            "p256-pkcs8.pem",
            "p256.crt",
            false,
            KeyIdMode::Thumbprint,
            false,
        ),
        (
            "rsa2048-pkcs8.pem",
            "rsa2048.crt",
            true,
            KeyIdMode::Libtrust,
            true,
        ),
    ];
    for (key, cert, x5c, mode, accepted) in cases {
        let mut b = builder(key).key_id(mode);
        if x5c {
            b = b.certificate_pem_file(fixture(cert));
        }
        let s = Setup::start(b.build().expect("server"), cert).await;
        let result = oci_push(
            &s.registry.addr,
            "alice/k:v1",
            &basic("alice", "alice-pw"),
            b"k",
        )
        .await;
        assert_eq!(
            result.is_ok(),
            accepted,
            "{key} x5c={x5c} {mode:?}: {result:?}\nregistry log:\n{}",
            s.registry.log()
        );
        s.stop().await;
    }
}

/// Which key-id forms registry v3.1.1 accepts, as INTEROP.md records:
/// `x5c` always; a `kid` alone only as the RFC 7638 thumbprint of a
/// `rootcertbundle` key, or as a `kid` of its `jwks` file; never the
/// libtrust id from the bundle. Ed25519 (EdDSA), which 2.8 cannot verify,
/// through the JWKS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_id_modes_against_registry_v3() {
    // (key, certificate, send x5c, kid mode, give the registry the JWKS, accepted)
    let cases = [
        (
            "p256-sec1.pem",
            "p256.crt",
            true,
            KeyIdMode::Libtrust,
            false,
            true,
        ),
        (
            "p256-sec1.pem",
            "p256.crt",
            false,
            KeyIdMode::Libtrust,
            false,
            false,
        ),
        (
            "p256-sec1.pem",
            "p256.crt",
            false,
            KeyIdMode::Libtrust,
            true,
            true,
        ),
        (
            "p256-pkcs8.pem",
            "p256.crt",
            false,
            KeyIdMode::Thumbprint,
            false,
            true,
        ),
        (
            "rsa2048-pkcs8.pem",
            "rsa2048.crt",
            false,
            KeyIdMode::Thumbprint,
            false,
            true,
        ),
        (
            "p384-sec1.pem",
            "p384.crt",
            true,
            KeyIdMode::Thumbprint,
            false,
            true,
        ),
        (
            "ed25519-pkcs8.pem",
            "ed25519.crt",
            false,
            KeyIdMode::Libtrust,
            true,
            true,
        ),
        (
            "ed25519-pkcs8.pem",
            "ed25519.crt",
            true,
            KeyIdMode::Thumbprint,
            false,
            true,
        ),
    ];
    for (key, cert, x5c, mode, jwks, accepted) in cases {
        let mut b = builder(key).key_id(mode);
        if x5c {
            b = b.certificate_pem_file(fixture(cert));
        }
        let s = Setup::start_v3(b.build().expect("server"), cert, jwks).await;
        let result = oci_push(
            &s.registry.addr,
            "alice/k:v1",
            &basic("alice", "alice-pw"),
            b"k",
        )
        .await;
        assert_eq!(
            result.is_ok(),
            accepted,
            "{key} x5c={x5c} {mode:?} jwks={jwks}: {result:?}\nregistry log:\n{}",
            s.registry.log()
        );
        s.stop().await;
    }
}

/// A `kid` the registry's JWKS does not list is refused by v3: the same
/// P-256 server whose own JWKS makes its libtrust kid acceptable (above)
/// is refused when the registry holds another key's JWKS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_v3_refuses_a_kid_its_jwks_does_not_list() {
    require_registry_and_skopeo();
    let other = builder("p384-sec1.pem").build().expect("server");
    let work = tempfile::tempdir().expect("tempdir");
    let jwks = work.path().join("jwks.json");
    let document = other.jwks().expect("jwks");
    std::fs::write(&jwks, document.to_string()).expect("write jwks");
    let server = RunningServer::start(builder("p256-sec1.pem").build().expect("server")).await;
    let registry = Registry::start_v3(
        &server.url("/token"),
        SERVICE,
        ISSUER,
        &fixture("p256.crt"),
        Some(&jwks),
    )
    .await;
    let result = oci_push(
        &registry.addr,
        "alice/k:v1",
        &basic("alice", "alice-pw"),
        b"k",
    )
    .await;
    assert!(result.is_err(), "accepted: {result:?}");
    registry.stop().await;
    server.stop().await;
}

/// An identity token is all skopeo needs: its auth file holds only the
/// refresh token from our GET login (client_id containers/image, as
/// containers/image sends when refreshing), and it pushes and pulls with
/// the refresh grant. Once the token is revoked, it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_with_only_an_identity_token_until_it_is_revoked() {
    let server = builder("p256-sec1.pem")
        .certificate_pem_file(fixture("p256.crt"))
        .build()
        .expect("server");
    let s = Setup::start(server.clone(), "p256.crt").await;
    let login: serde_json::Value = reqwest::Client::new()
        .get(s.server.url(
            "/token?account=alice&client_id=containers%2Fimage&offline_token=true&service=registry.test",
        ))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let identity_token = login["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let authfile = s.work.path().join("auth.json");
    // As docker writes it after a login that returned an identity token:
    // the user name with an empty password, and the token. (containers/image
    // skips an entry whose "auth" does not decode to user:password.)
    let auth = serde_json::json!({"auths": {(s.registry.addr.clone()): {
        "auth": data_encoding::BASE64.encode(b"alice:"),
        "identitytoken": identity_token,
    }}});
    std::fs::write(&authfile, auth.to_string()).unwrap();
    let authfile = authfile.to_str().unwrap().to_owned();

    let layout = s.layout("idt", "pushed with an identity token");
    let push = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--authfile",
        &authfile,
        &layout,
        &s.image("alice/idt:v1"),
    ])
    .await;
    ok(push, "push with the identity token", &s.registry);
    let pull = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--authfile",
        &authfile,
        &s.image("alice/idt:v1"),
    ])
    .await;
    ok(pull, "pull with the identity token", &s.registry);
    // The token carries alice's permissions, no more.
    refused(
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--authfile",
            &authfile,
            &layout,
            &s.image("bob/idt:v1"),
        ])
        .await,
        "identity token pushes outside alice/",
    );

    assert!(server.revoke_refresh_token(&identity_token).await.unwrap());
    let out = refused(
        skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--authfile",
            &authfile,
            &s.image("alice/idt:v1"),
        ])
        .await,
        "pull after revocation",
    );
    assert!(
        out.contains("invalid_grant")
            || out.contains("invalid refresh token")
            || out.contains("400"),
        "{out}"
    );
    s.stop().await;
}

/// A key made for the matrix below: its PEM, its certificate's PEM, and
/// what it is.
struct MadeKey {
    kind: &'static str,
    key_pem: String,
    cert_pem: String,
}

fn make_key(kind: &'static str, alg: &'static rcgen::SignatureAlgorithm) -> MadeKey {
    let key = match kind {
        "RSA-3072" => rcgen::KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_3072),
        "RSA-4096" => rcgen::KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_4096),
        _ => rcgen::KeyPair::generate_for(alg),
    }
    .expect("generate key");
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    MadeKey {
        kind,
        key_pem: key.serialize_pem(),
        cert_pem: cert.pem(),
    }
}

/// Whether an EC key's public point has a coordinate that starts with a
/// zero byte: the keys where a careless JWK or thumbprint goes wrong.
fn has_leading_zero_coordinate(made: &MadeKey) -> bool {
    let Ok(key) = registry_auth::token::SigningKey::from_pem(made.key_pem.as_bytes()) else {
        return false;
    };
    let spki = key.public_key_der();
    // Uncompressed point 0x04 || X || Y at the end of the SPKI.
    let size = match made.kind {
        "P-256" => 32,
        "P-384" => 48,
        "P-521" => 66,
        _ => return false,
    };
    let point = &spki[spki.len() - (2 * size + 1)..];
    point[1] == 0 || point[1 + size] == 0
}

/// The keys a user may bring, made fresh: of each type several at random,
/// and for the EC curves some whose coordinates start with a zero byte
/// (found by drawing keys until there are some).
fn made_keys() -> Vec<MadeKey> {
    let mut keys = Vec::new();
    for (kind, alg, random, with_zero) in [
        ("P-256", &rcgen::PKCS_ECDSA_P256_SHA256, 16, 2),
        ("P-384", &rcgen::PKCS_ECDSA_P384_SHA384, 8, 2),
        // Half of all P-521 coordinates start with a zero byte (521 bits
        // in 66 bytes), so most keys have one.
        ("P-521", &rcgen::PKCS_ECDSA_P521_SHA512, 4, 2),
        ("Ed25519", &rcgen::PKCS_ED25519, 8, 0),
        ("RSA-2048", &rcgen::PKCS_RSA_SHA256, 4, 0),
        ("RSA-3072", &rcgen::PKCS_RSA_SHA256, 2, 0),
        ("RSA-4096", &rcgen::PKCS_RSA_SHA256, 2, 0),
    ] {
        for _ in 0..random {
            keys.push(make_key(kind, alg));
        }
        let mut found = 0;
        for _ in 0..20_000 {
            if found == with_zero {
                break;
            }
            let made = make_key(kind, alg);
            if has_leading_zero_coordinate(&made) {
                keys.push(made);
                found += 1;
            }
        }
        assert_eq!(found, with_zero, "{kind}: no key with a leading zero found");
    }
    keys
}

/// Every key-id form, for many freshly made keys of every type, against
/// registry 2.8 and v3.1.1 at once: each registry trusts the certificates
/// of all the keys (and v3 also, in a second instance, a JWKS of them under
/// their libtrust ids); a token signed by each key in each form must be
/// accepted exactly where the README's table says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_id_form_for_many_made_keys_on_both_registries() {
    require_registry_and_skopeo();
    let keys = made_keys();
    let work = tempfile::tempdir().expect("tempdir");
    let bundle = work.path().join("bundle.pem");
    let bundle_text: String = keys.iter().map(|k| k.cert_pem.clone()).collect();
    std::fs::write(&bundle, bundle_text).expect("bundle");
    // Registry 2.8 refuses to start with an Ed25519 certificate in its
    // bundle ("public key type ed25519.PublicKey is not supported").
    let bundle_2_8 = work.path().join("bundle-2.8.pem");
    let bundle_text: String = keys
        .iter()
        .filter(|k| k.kind != "Ed25519")
        .map(|k| k.cert_pem.clone())
        .collect();
    std::fs::write(&bundle_2_8, bundle_text).expect("bundle");
    let jwks = work.path().join("jwks.json");
    let entries: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            let key = registry_auth::token::SigningKey::from_pem(k.key_pem.as_bytes())
                .expect("made key loads");
            key.public_jwk(&key.libtrust_key_id())
        })
        .collect();
    std::fs::write(&jwks, serde_json::json!({ "keys": entries }).to_string()).expect("jwks");
    // The realm is never asked: tokens are made in process.
    let realm = "http://127.0.0.1:9/token";
    let v2 = Registry::start(realm, SERVICE, ISSUER, &bundle_2_8).await;
    let v3 = Registry::start_v3(realm, SERVICE, ISSUER, &bundle, None).await;
    let v3_jwks = Registry::start_v3(realm, SERVICE, ISSUER, &bundle, Some(&jwks)).await;
    let client = reqwest::Client::new();
    let accepts = |registry: &Registry, token: String| {
        let request = client
            .get(format!("http://{}/v2/", registry.addr))
            .bearer_auth(token);
        async move {
            request
                .send()
                .await
                .map(|r| r.status() == 200)
                .unwrap_or(false)
        }
    };
    let mut wrong = Vec::new();
    let mut checks = 0;
    for (n, made) in keys.iter().enumerate() {
        for (form, x5c, mode) in [
            ("x5c", true, KeyIdMode::Libtrust),
            ("libtrust kid", false, KeyIdMode::Libtrust),
            ("thumbprint kid", false, KeyIdMode::Thumbprint),
        ] {
            let mut b = builder_with_key_pem(made.key_pem.as_bytes()).key_id(mode);
            if x5c {
                b = b.certificate_pem(made.cert_pem.as_bytes());
            }
            let token = alice_token(&b.build().expect("server")).await;
            let ed25519 = made.kind == "Ed25519";
            // (registry, what the README's table says)
            let expected = [
                ("2.8", &v2, !ed25519 && mode == KeyIdMode::Libtrust),
                ("v3", &v3, x5c || mode == KeyIdMode::Thumbprint),
                ("v3 + jwks", &v3_jwks, true),
            ];
            for (name, registry, want) in expected {
                checks += 1;
                let got = accepts(registry, token.clone()).await;
                if got != want {
                    wrong.push(format!(
                        "{} #{n} {form} on {name}: accepted={got}, expected {want}",
                        made.kind
                    ));
                }
            }
        }
    }
    println!("{} keys, {checks} checks", keys.len());
    assert!(
        wrong.is_empty(),
        "{} of {checks} checks differ from the table:\n{}\n--- 2.8 log:\n{}\n--- v3 log:\n{}",
        wrong.len(),
        wrong.join("\n"),
        v2.log(),
        v3.log()
    );
    v2.stop().await;
    v3.stop().await;
    v3_jwks.stop().await;
}

/// A signing certificate issued by a CA: the registries trust only the CA,
/// and two different leaves (two signing keys, as after a rotation) both
/// work with no change to either registry. The chain goes out as `x5c`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_of_a_trusted_ca_sign_without_touching_the_registries() {
    require_registry_and_skopeo();
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "registry-auth test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let work = tempfile::tempdir().expect("tempdir");
    let bundle = work.path().join("ca.pem");
    std::fs::write(&bundle, ca.pem()).expect("bundle");
    let realm = "http://127.0.0.1:9/token";
    let v2 = Registry::start(realm, SERVICE, ISSUER, &bundle).await;
    let v3 = Registry::start_v3(realm, SERVICE, ISSUER, &bundle, None).await;
    let client = reqwest::Client::new();
    for (n, alg) in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
    ]
    .into_iter()
    .enumerate()
    {
        let key = rcgen::KeyPair::generate_for(alg).expect("leaf key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("token signer {n}"));
        let leaf = params.signed_by(&key, &ca).expect("leaf");
        // Leaf first, then the CA: the whole chain goes out as x5c.
        let chain = format!("{}{}", leaf.pem(), ca.pem());
        let server = builder_with_key_pem(key.serialize_pem().as_bytes())
            .certificate_pem(chain.as_bytes())
            .build()
            .expect("server");
        let token = alice_token(&server).await;
        let header = registry_auth::token::decode_unverified(&token)
            .expect("header")
            .header;
        assert_eq!(header["x5c"].as_array().map(Vec::len), Some(2), "{header}");
        for registry in [&v2, &v3] {
            let status = client
                .get(format!("http://{}/v2/", registry.addr))
                .bearer_auth(&token)
                .send()
                .await
                .expect("registry answers")
                .status();
            assert_eq!(
                status,
                200,
                "leaf {n} at {}:\n{}",
                registry.addr,
                registry.log()
            );
        }
    }
    v2.stop().await;
    v3.stop().await;
}
