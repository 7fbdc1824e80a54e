//! Making signing keys and certificates (`init`, `token.generate_key`).

use std::io::Write;
use std::path::Path;

/// The kinds of signing key `init` can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KeyType {
    /// ECDSA P-256 (ES256): small, fast, verified by registry 2.8 and v3.
    Ec,
    /// RSA 2048 (RS256).
    Rsa,
    /// Ed25519 (EdDSA): registry v3 only.
    Ed25519,
}

/// Writes a new private key (mode 0600) and, when `certificate` is given,
/// a self-signed certificate for it, valid for ten years.
pub(crate) fn generate_key_and_certificate(
    key: &Path,
    certificate: Option<&Path>,
) -> Result<(), String> {
    generate(KeyType::Ec, key, certificate)
}

pub(crate) fn generate(
    kind: KeyType,
    key: &Path,
    certificate: Option<&Path>,
) -> Result<(), String> {
    let alg = match kind {
        KeyType::Ec => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::Rsa => &rcgen::PKCS_RSA_SHA256,
        KeyType::Ed25519 => &rcgen::PKCS_ED25519,
    };
    let pair = rcgen::KeyPair::generate_for(alg).map_err(|e| format!("cannot make a key: {e}"))?;
    if let Some(dir) = key.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_private(key, pair.serialize_pem().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", key.display()))?;
    if let Some(certificate) = certificate {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| format!("cannot make a certificate: {e}"))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "registry-auth token signing");
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let cert = params
            .self_signed(&pair)
            .map_err(|e| format!("cannot make a certificate: {e}"))?;
        std::fs::write(certificate, cert.pem())
            .map_err(|e| format!("cannot write {}: {e}", certificate.display()))?;
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
