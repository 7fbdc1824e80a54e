//! Making signing keys and certificates (`init`, `keys rotate prepare`,
//! `token.generate_key`), and checking ones an operator brings.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use registry_auth::token::{
    Algorithm, JwtGenerator, SigningKey, certificate_is_self_issued, certificate_validity,
};

/// The kinds of signing key `init` and `keys rotate prepare` can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KeyType {
    /// ECDSA P-256 (ES256): small, fast, verified by registry 2.8 and v3.
    Ec,
    /// ECDSA P-384 (ES384).
    P384,
    /// ECDSA P-521 (ES512).
    P521,
    /// RSA 2048 (RS256).
    Rsa,
    /// RSA 3072 (RS256).
    Rsa3072,
    /// RSA 4096 (RS256).
    Rsa4096,
    /// Ed25519 (EdDSA): registry v3 only.
    Ed25519,
}

impl KeyType {
    /// The kind of `key`, to make its successor alike: the same curve, or
    /// RSA of the same size (4096 bits for larger keys, the most this
    /// makes).
    pub(crate) fn of(key: &SigningKey) -> KeyType {
        match key.algorithm() {
            Algorithm::ES256 => KeyType::Ec,
            Algorithm::ES384 => KeyType::P384,
            Algorithm::ES512 => KeyType::P521,
            Algorithm::EdDSA => KeyType::Ed25519,
            // RSA (RS256, RS384, RS512): the SubjectPublicKeyInfo is the
            // modulus plus about 38 bytes.
            _ => match key.public_key_der().len() {
                ..=300 => KeyType::Rsa,
                301..=430 => KeyType::Rsa3072,
                _ => KeyType::Rsa4096,
            },
        }
    }

    fn generate(self) -> Result<rcgen::KeyPair, rcgen::Error> {
        let rsa = |size| rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size);
        match self {
            KeyType::Ec => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::P384 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyType::P521 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512),
            KeyType::Rsa => rsa(rcgen::RsaKeySize::_2048),
            KeyType::Rsa3072 => rsa(rcgen::RsaKeySize::_3072),
            KeyType::Rsa4096 => rsa(rcgen::RsaKeySize::_4096),
            KeyType::Ed25519 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519),
        }
    }
}

/// Writes a new private key (mode 0600) and, when `certificate` is given,
/// a self-signed certificate for it, valid for ten years.
pub(crate) fn generate_key_and_certificate(
    key: &Path,
    certificate: Option<&Path>,
) -> Result<(), String> {
    generate(KeyType::Ec, key, certificate)
}

/// Writes a new key of `kind` (mode 0600; the file must not exist) and,
/// when `certificate` is given, a self-signed certificate for it valid
/// from now for ten years.
pub(crate) fn generate(
    kind: KeyType,
    key: &Path,
    certificate: Option<&Path>,
) -> Result<(), String> {
    let pair = kind
        .generate()
        .map_err(|e| format!("cannot make a key: {e}"))?;
    if let Some(dir) = key.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    if let Some(certificate) = certificate
        && certificate.exists()
    {
        return Err(format!("refusing to overwrite {}", certificate.display()));
    }
    write_private(key, pair.serialize_pem().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", key.display()))?;
    if let Some(certificate) = certificate {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| format!("cannot make a certificate: {e}"))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "registry-auth token signing");
        // A day back, so that a registry whose clock is a little behind
        // does not see a certificate from the future.
        let now = SystemTime::now();
        let from = now.checked_sub(Duration::from_secs(86_400)).unwrap_or(now);
        params.not_before = from.into();
        params.not_after = (from + Duration::from_secs(10 * 365 * 86_400)).into();
        let cert = params
            .self_signed(&pair)
            .map_err(|e| format!("cannot make a certificate: {e}"))?;
        write_new(certificate, cert.pem().as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", certificate.display()))?;
    }
    Ok(())
}

/// Checks a key and certificate an operator brings (`init --key`, `keys
/// rotate prepare --key`): the key loads, the certificate is its own and in
/// force now. Each error names the file. Both paths come back absolute, as
/// the configuration names them.
pub(crate) fn brought(key: &Path, certificate: &Path) -> Result<(PathBuf, PathBuf), String> {
    check_brought(key, certificate)?;
    let absolute = |p: &Path| std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()));
    Ok((absolute(key)?, absolute(certificate)?))
}

/// [`brought`]'s checks, for a pair already named by the configuration
/// (`keys rotate promote`).
pub(crate) fn check_brought(key: &Path, certificate: &Path) -> Result<(), String> {
    let generator = registry_auth::token::JwtGenerator::builder()
        .signing_key_pem_file(key)
        .certificate_pem_file(certificate)
        .issuer("check")
        .build()
        .map_err(|e| e.to_string())?;
    let leaf = generator
        .certificate_chain()
        .first()
        .ok_or_else(|| format!("{}: no certificate", certificate.display()))?;
    check_in_force(leaf, certificate)
}

/// Whether `generator` signs with a certificate a CA issued (a chain, or a
/// leaf that is not self-issued): registries then trust the CA, and only
/// the CA can make the next certificate.
pub(crate) fn is_ca_issued(generator: &JwtGenerator) -> bool {
    let chain = generator.certificate_chain();
    chain.len() > 1
        || chain
            .first()
            .and_then(|leaf| certificate_is_self_issued(leaf))
            == Some(false)
}

/// A time as its day, `2026-12-01`.
pub(crate) fn day(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// Refuses a certificate that has expired or is not valid yet: a registry
/// refuses every token that carries it.
pub(crate) fn check_in_force(der: &[u8], file: &Path) -> Result<(), String> {
    let (not_before, not_after) = certificate_validity(der)
        .ok_or_else(|| format!("{}: not a valid X.509 certificate", file.display()))?;
    let now = SystemTime::now();
    if not_after <= now {
        return Err(format!(
            "{}: the certificate expired on {}; registries refuse tokens that carry it",
            file.display(),
            day(not_after)
        ));
    }
    if not_before > now {
        return Err(format!(
            "{}: the certificate is not valid before {}; registries refuse tokens that carry it \
             until then",
            file.display(),
            day(not_before)
        ));
    }
    Ok(())
}

/// Creates a file readable by its owner only.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(data)
}

/// Creates a file that must not exist yet.
pub(crate) fn write_new(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(data)
}
