//! Keys the server publishes without signing with them: the next key of a
//! rotation (registries must trust it before it signs) and the one before
//! it (tokens it signed must keep working until they expire).

use std::fmt;
use std::path::Path;

use data_encoding::BASE64URL_NOPAD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};

use super::key::Algorithm;
use super::key_id::{self, KeyIdMode};

/// Why a key to publish was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishedKeyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The PEM holds a private key: only public parts are published.
    #[error(
        "holds a private key: publish the certificate or the public key (BEGIN CERTIFICATE or \
         BEGIN PUBLIC KEY), never the private key"
    )]
    PrivateKey,
    /// Neither a certificate nor a public key was found.
    #[error(
        "no PEM certificate or public key found (expected BEGIN CERTIFICATE or BEGIN PUBLIC KEY)"
    )]
    Nothing,
    /// The key is not one registries verify: RSA, EC P-256/P-384/P-521 or
    /// Ed25519.
    #[error("unsupported public key: {0}")]
    Unsupported(&'static str),
}

/// A public key to publish (in the JWKS and the registry's bundle) without
/// signing with it, from a PEM certificate (its leaf) or a PEM public key.
#[derive(Clone)]
pub struct PublishedKey {
    spki: Vec<u8>,
    certificate: Option<Vec<u8>>,
    members: JwkMembers,
    alg: Algorithm,
}

impl fmt::Debug for PublishedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishedKey")
            .field("alg", &self.alg)
            .field("kid", &self.libtrust_key_id())
            .field("certificate", &self.certificate.is_some())
            .finish()
    }
}

impl PublishedKey {
    /// Reads a PEM file; see [`PublishedKey::from_pem`].
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, PublishedKeyError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|source| PublishedKeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        PublishedKey::from_pem(&pem)
    }

    /// Parses a PEM certificate (the first one, as the leaf) or a PEM
    /// public key (`BEGIN PUBLIC KEY`). A PEM holding a private key is
    /// refused, whatever else it holds.
    pub fn from_pem(pem: &[u8]) -> Result<Self, PublishedKeyError> {
        if pem.windows(11).any(|w| w == b"PRIVATE KEY") {
            return Err(PublishedKeyError::PrivateKey);
        }
        let certificate = CertificateDer::pem_slice_iter(pem)
            .next()
            .and_then(Result::ok)
            .map(|c| c.to_vec());
        let spki = match &certificate {
            Some(der) => {
                let (_, cert) = x509_parser::parse_x509_certificate(der)
                    .map_err(|_| PublishedKeyError::Nothing)?;
                cert.public_key().raw.to_vec()
            }
            None => SubjectPublicKeyInfoDer::from_pem_slice(pem)
                .map_err(|_| PublishedKeyError::Nothing)?
                .to_vec(),
        };
        let (members, alg) = jwk_members(&spki)?;
        Ok(PublishedKey {
            spki,
            certificate,
            members,
            alg,
        })
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// The certificate (DER) it came from, if it came from one: what goes
    /// into a registry's `rootcertbundle`.
    pub fn certificate_der(&self) -> Option<&[u8]> {
        self.certificate.as_deref()
    }

    /// The algorithm its tokens would carry (RS256 for RSA keys).
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The libtrust key id (registry 2.8's `kid`).
    pub fn libtrust_key_id(&self) -> String {
        key_id::libtrust(&self.spki)
    }

    /// The JWK thumbprint as registry v3 computes it (its `kid` for bundle
    /// keys; see [`KeyIdMode::Thumbprint`]).
    pub fn jwk_thumbprint(&self) -> String {
        key_id::thumbprint(&self.members)
    }

    /// The key id in `mode`, as tokens signed by this key would carry it.
    pub fn key_id(&self, mode: KeyIdMode) -> String {
        match mode {
            KeyIdMode::Libtrust => self.libtrust_key_id(),
            KeyIdMode::Thumbprint => self.jwk_thumbprint(),
        }
    }

    /// The key as a JWK for a JWKS document.
    pub fn public_jwk(&self, kid: &str) -> serde_json::Value {
        super::key::jwk_json(&self.members, kid, self.alg)
    }
}

/// The required members of a JWK, as RFC 7638 orders them.
type JwkMembers = Vec<(&'static str, String)>;

/// The required JWK members of a public key and its algorithm.
fn jwk_members(spki_der: &[u8]) -> Result<(JwkMembers, Algorithm), PublishedKeyError> {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    let b64 = |b: &[u8]| BASE64URL_NOPAD.encode(b);
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|_| PublishedKeyError::Nothing)?;
    if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" {
        let x = spki.subject_public_key.data.as_ref();
        return Ok((
            vec![
                ("crv", "Ed25519".into()),
                ("kty", "OKP".into()),
                ("x", b64(x)),
            ],
            Algorithm::EdDSA,
        ));
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let strip = |b: &[u8]| {
                let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                b64(&b[first..])
            };
            Ok((
                vec![
                    ("e", strip(rsa.exponent)),
                    ("kty", "RSA".into()),
                    ("n", strip(rsa.modulus)),
                ],
                Algorithm::RS256,
            ))
        }
        Ok(PublicKey::EC(point)) => {
            // Uncompressed point: 0x04 || X || Y; its length names the curve.
            let data = point.data();
            let (crv, alg) = match data.len() {
                65 => ("P-256", Algorithm::ES256),
                97 => ("P-384", Algorithm::ES384),
                133 => ("P-521", Algorithm::ES512),
                _ => {
                    return Err(PublishedKeyError::Unsupported(
                        "EC key not on P-256, P-384 or P-521 (or a compressed point)",
                    ));
                }
            };
            if data.first() != Some(&4) {
                return Err(PublishedKeyError::Unsupported("compressed EC point"));
            }
            let coords = &data[1..];
            let (x, y) = coords.split_at(coords.len() / 2);
            Ok((
                vec![
                    ("crv", crv.into()),
                    ("kty", "EC".into()),
                    ("x", b64(x)),
                    ("y", b64(y)),
                ],
                alg,
            ))
        }
        _ => Err(PublishedKeyError::Unsupported(
            "not an RSA, EC (P-256/P-384/P-521) or Ed25519 key",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::SigningKey;

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_default()
    }

    /// A key published from its certificate has the ids and JWK of the
    /// signing key it belongs to, for every key type.
    #[test]
    fn certificates_give_the_signing_keys_ids_and_jwk() {
        for (key, cert) in [
            ("p256-sec1.pem", "p256.crt"),
            ("p384-sec1.pem", "p384.crt"),
            ("rsa2048-pkcs8.pem", "rsa2048.crt"),
            ("ed25519-pkcs8.pem", "ed25519.crt"),
        ] {
            let signing = SigningKey::from_pem(&data(key));
            let published = PublishedKey::from_pem(&data(cert));
            let (Ok(signing), Ok(published)) = (signing, published) else {
                panic!("{key} / {cert} did not load");
            };
            assert_eq!(
                published.libtrust_key_id(),
                signing.libtrust_key_id(),
                "{cert}"
            );
            assert_eq!(
                published.jwk_thumbprint(),
                signing.jwk_thumbprint(),
                "{cert}"
            );
            assert_eq!(published.public_jwk("k"), signing.public_jwk("k"), "{cert}");
            assert!(published.certificate_der().is_some());
        }
    }

    #[test]
    fn private_keys_and_other_pem_are_refused() {
        let private = PublishedKey::from_pem(&data("p256-sec1.pem")).map(|_| ());
        assert!(matches!(private, Err(PublishedKeyError::PrivateKey)));
        let nothing = PublishedKey::from_pem(b"hello").map(|_| ());
        assert!(matches!(nothing, Err(PublishedKeyError::Nothing)));
    }

    #[test]
    fn a_bare_public_key_is_published_without_a_certificate() {
        let signing = SigningKey::from_pem(&data("p256-sec1.pem"));
        let Ok(signing) = signing else {
            panic!("fixture");
        };
        // The key's own PEM writer (lines of 64), as `keys rotate` uses it.
        let pem = signing.public_key_pem();
        assert!(pem.lines().all(|l| l.len() <= 64), "{pem}");
        let published = PublishedKey::from_pem(pem.as_bytes());
        let Ok(published) = published else {
            panic!("public key PEM refused");
        };
        assert!(published.certificate_der().is_none());
        assert_eq!(published.jwk_thumbprint(), signing.jwk_thumbprint());
    }

    #[test]
    fn a_generator_publishes_its_keys_and_refuses_one_twice() {
        use crate::token::{JwtGenerator, KeyIdMode, TokenGenerator};
        let path = |name: &str| format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let generator = JwtGenerator::builder()
            .signing_key_pem_file(path("p256-sec1.pem"))
            .certificate_pem_file(path("p256.crt"))
            .published_key_pem_file(path("p384.crt"))
            .published_key_pem_file(path("ed25519.crt"))
            .key_id(KeyIdMode::Thumbprint)
            .issuer("i")
            .build();
        let Ok(generator) = generator else {
            panic!("{generator:?}");
        };
        let jwks = generator.jwks().unwrap_or_default();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .map(|keys| keys.iter().filter_map(|k| k["kid"].as_str()).collect())
            .unwrap_or_default();
        let p384 = PublishedKey::from_pem(&data("p384.crt")).map(|k| k.jwk_thumbprint());
        assert_eq!(kids.len(), 3);
        assert_eq!(kids[0], generator.key_id());
        assert_eq!(Some(kids[1].to_owned()), p384.ok());
        assert_eq!(
            generator
                .trust_bundle_pem()
                .matches("BEGIN CERTIFICATE")
                .count(),
            3
        );

        let twice = JwtGenerator::builder()
            .signing_key_pem_file(path("p256-sec1.pem"))
            .published_key_pem_file(path("p256.crt"))
            .issuer("i")
            .build()
            .map(|_| ())
            .map_err(|e| e.to_string());
        let Err(message) = twice else {
            panic!("the signing key published again was taken");
        };
        assert!(
            message.starts_with(&format!("published_keys: {} (", path("p256.crt")))
                && message.ends_with(") is the signing key or listed twice"),
            "{message}"
        );
        let private = JwtGenerator::builder()
            .signing_key_pem_file(path("p256-sec1.pem"))
            .published_key_pem_file(path("p384-sec1.pem"))
            .issuer("i")
            .build()
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(
            private,
            Err(format!(
                "published_keys: {}: holds a private key: publish the certificate or the \
                 public key (BEGIN CERTIFICATE or BEGIN PUBLIC KEY), never the private key",
                path("p384-sec1.pem")
            ))
        );
    }
}
