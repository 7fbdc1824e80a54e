//! Signing keys: loaded once from PEM, kept parsed for the life of the server.

use std::fmt;
use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use data_encoding::BASE64URL_NOPAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

use super::key_id;

/// A JWS signing algorithm the registry verifies.
///
/// With the `serde` feature it deserializes from its JOSE name (`"RS384"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// Ed25519. Verified by registry v3 only, not by 2.8.x.
    EdDSA,
}

impl Algorithm {
    /// The JOSE name, e.g. `"ES256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JWKS entry: the key's required members, then `kid`, `alg`, `use`.
pub(crate) fn jwk_json(
    members: &[(&'static str, String)],
    kid: &str,
    alg: Algorithm,
) -> serde_json::Value {
    let mut jwk = serde_json::Map::new();
    for (k, v) in members {
        jwk.insert((*k).into(), json!(v));
    }
    jwk.insert("kid".into(), json!(kid));
    jwk.insert("alg".into(), json!(alg.as_str()));
    jwk.insert("use".into(), json!("sig"));
    serde_json::Value::Object(jwk)
}

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No private key PEM block was found.
    #[error(
        "no PEM private key found (expected BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
    )]
    NoKey,
    /// The key is of a type or size we cannot sign with.
    #[error("unsupported signing key: {0}")]
    Unsupported(&'static str),
    /// An algorithm was asked for that does not fit the key.
    #[error("algorithm {alg} does not fit a {key} key")]
    AlgorithmMismatch {
        /// The algorithm asked for.
        alg: Algorithm,
        /// The key's type.
        key: &'static str,
    },
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key the token server signs with, parsed once.
///
/// Loads PEM in PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE
/// KEY`) and SEC1 (`BEGIN EC PRIVATE KEY`) form: RSA of 2048 to 8192 bits,
/// EC on P-256, P-384 and P-521, and Ed25519. The algorithm follows the key
/// (RSA defaults to RS256; see [`SigningKey::with_algorithm`]).
pub struct SigningKey {
    pair: Pair,
    alg: Algorithm,
    spki: Vec<u8>,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.libtrust_key_id())
            .finish_non_exhaustive()
    }
}

const EC_CURVES: [(&EcdsaSigningAlgorithm, Algorithm); 3] = [
    (
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        Algorithm::ES256,
    ),
    (
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        Algorithm::ES384,
    ),
    (
        &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        Algorithm::ES512,
    ),
];

impl SigningKey {
    /// Reads a PEM file; see [`SigningKey::from_pem`].
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        warn_if_readable_by_others(path);
        SigningKey::from_pem(&pem)
    }

    /// Parses the first private key in PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| KeyError::NoKey)?;
        SigningKey::from_der(&der)
    }

    /// Parses a DER private key.
    fn from_der(der: &PrivateKeyDer<'_>) -> Result<Self, KeyError> {
        let (pair, alg) = match der {
            PrivateKeyDer::Pkcs1(der) => (
                Pair::Rsa(RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(|_| {
                    KeyError::Unsupported("RSA key rejected (RSA keys must be 2048 to 8192 bits)")
                })?),
                Algorithm::RS256,
            ),
            PrivateKeyDer::Sec1(der) => ec_pair(der.secret_sec1_der()).ok_or(
                KeyError::Unsupported("EC key on a curve other than P-256, P-384, P-521"),
            )?,
            PrivateKeyDer::Pkcs8(der) => {
                let der = der.secret_pkcs8_der();
                if let Some(found) = ec_pair(der) {
                    found
                } else if let Ok(rsa) = RsaKeyPair::from_pkcs8(der) {
                    (Pair::Rsa(rsa), Algorithm::RS256)
                } else if let Ok(ed) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                    (Pair::Ed(ed), Algorithm::EdDSA)
                } else {
                    return Err(KeyError::Unsupported(
                        "not an RSA (2048-8192 bits), EC (P-256/P-384/P-521) or Ed25519 key",
                    ));
                }
            }
            _ => return Err(KeyError::Unsupported("unknown private key encoding")),
        };
        let spki = match &pair {
            Pair::Ec(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Rsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ed(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| KeyError::Unsupported("public key cannot be encoded"))?;
        Ok(SigningKey {
            pair,
            alg,
            spki,
            rng: SystemRandom::new(),
        })
    }

    /// Chooses RS384 or RS512 for an RSA key (RS256 is the default).
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self, KeyError> {
        if !self.fits(alg) {
            return Err(KeyError::AlgorithmMismatch {
                alg,
                key: self.key_type(),
            });
        }
        self.alg = alg;
        Ok(self)
    }

    /// Whether this key can sign with `alg`.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        match self.pair {
            Pair::Rsa(_) => matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512),
            _ => alg == self.alg,
        }
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn key_type(&self) -> &'static str {
        match self.pair {
            Pair::Ec(_) => "EC",
            Pair::Rsa(_) => "RSA",
            Pair::Ed(_) => "Ed25519",
        }
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// The public key as a PEM `PUBLIC KEY` block: what `published_keys`
    /// takes for a key that has no certificate.
    pub fn public_key_pem(&self) -> String {
        super::certificate::encode_pem("PUBLIC KEY", &self.spki)
    }

    /// The libtrust key id of the public key (what registry 2.8 matches
    /// `kid` against), e.g. `PYYO:TEWU:…:Z7Q6`.
    pub fn libtrust_key_id(&self) -> String {
        key_id::libtrust(&self.spki)
    }

    /// The JWK thumbprint of the public key as registry v3 computes it,
    /// which is what v3 indexes `rootcertbundle` keys by: RFC 7638 but for
    /// EC leading zeros (see
    /// [`KeyIdMode::Thumbprint`](super::KeyIdMode::Thumbprint)).
    pub fn jwk_thumbprint(&self) -> String {
        key_id::thumbprint(&self.public_jwk_members())
    }

    /// The public key as a JWK (`kty` and its required members only).
    pub(crate) fn public_jwk_members(&self) -> Vec<(&'static str, String)> {
        let b64 = |b: &[u8]| BASE64URL_NOPAD.encode(b);
        match &self.pair {
            Pair::Ec(k) => {
                // Uncompressed point: 0x04 || X || Y, coordinates fixed-size.
                let point = k.public_key().as_ref();
                let coords = point.get(1..).unwrap_or_default();
                let (x, y) = coords.split_at(coords.len() / 2);
                let crv = match self.alg {
                    Algorithm::ES384 => "P-384",
                    Algorithm::ES512 => "P-521",
                    _ => "P-256",
                };
                vec![
                    ("crv", crv.into()),
                    ("kty", "EC".into()),
                    ("x", b64(x)),
                    ("y", b64(y)),
                ]
            }
            Pair::Rsa(k) => {
                let public = k.public_key();
                vec![
                    (
                        "e",
                        b64(public.exponent().big_endian_without_leading_zero()),
                    ),
                    ("kty", "RSA".into()),
                    ("n", b64(public.modulus().big_endian_without_leading_zero())),
                ]
            }
            Pair::Ed(k) => vec![
                ("crv", "Ed25519".into()),
                ("kty", "OKP".into()),
                ("x", b64(k.public_key().as_ref())),
            ],
        }
    }

    /// The public key as a JWK for a JWKS document, with `kid`, `alg` and
    /// `use`.
    pub fn public_jwk(&self, kid: &str) -> serde_json::Value {
        jwk_json(&self.public_jwk_members(), kid, self.alg)
    }

    /// Signs `message`: a raw `r||s` signature for ECDSA, PKCS#1 v1.5 for RSA.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        match &self.pair {
            Pair::Ec(k) => Ok(k.sign(&self.rng, message)?.as_ref().to_vec()),
            Pair::Ed(k) => Ok(k.sign(message).as_ref().to_vec()),
            Pair::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(padding, &self.rng, message, &mut sig)?;
                Ok(sig)
            }
        }
    }
}

impl SigningKey {
    /// Whether `signature` is this key's signature of `message` (checks a
    /// token this server issued; see [`verify`](crate::token::verify)).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use aws_lc_rs::signature::{UnparsedPublicKey, VerificationAlgorithm};
        let (alg, public): (&'static dyn VerificationAlgorithm, &[u8]) = match &self.pair {
            Pair::Ec(k) => (
                match self.alg {
                    Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
                    Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
                    _ => &signature::ECDSA_P256_SHA256_FIXED,
                },
                k.public_key().as_ref(),
            ),
            Pair::Rsa(k) => (
                match self.alg {
                    Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    _ => &signature::RSA_PKCS1_2048_8192_SHA256,
                },
                k.public_key().as_ref(),
            ),
            Pair::Ed(k) => (&signature::ED25519, k.public_key().as_ref()),
        };
        UnparsedPublicKey::new(alg, public)
            .verify(message, signature)
            .is_ok()
    }
}

/// Private keys belong to their owner: a key file that group or others may
/// read draws a warning (it still loads; the deployer decides).
pub(crate) fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "private key file is readable by others; chmod 600 it"
                );
            }
        }
    }
}

fn ec_pair(der: &[u8]) -> Option<(Pair, Algorithm)> {
    EC_CURVES.iter().find_map(|(curve, alg)| {
        EcdsaKeyPair::from_private_key_der(curve, der)
            .ok()
            .map(|k| (Pair::Ec(k), *alg))
    })
}
