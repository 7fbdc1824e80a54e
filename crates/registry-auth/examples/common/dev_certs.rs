//! Development keys for the examples: made on first start, reused after.

use std::path::{Path, PathBuf};

/// Paths of a key and its self-signed certificate.
pub(crate) struct KeyAndCert {
    pub(crate) key: PathBuf,
    pub(crate) cert: PathBuf,
}

/// Returns `DIR/NAME.key` and `DIR/NAME.crt`, creating a P-256 key and a
/// self-signed certificate for `names` (DNS names or IPs) if they are not
/// there yet. The key file is created readable by its owner only.
pub(crate) fn ensure(
    dir: &Path,
    name: &str,
    names: &[&str],
) -> Result<KeyAndCert, Box<dyn std::error::Error>> {
    let pair = KeyAndCert {
        key: dir.join(format!("{name}.key")),
        cert: dir.join(format!("{name}.crt")),
    };
    if pair.key.exists() && pair.cert.exists() {
        return Ok(pair);
    }
    std::fs::create_dir_all(dir)?;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("registry-auth {name}"));
    let cert = params.self_signed(&key)?;
    write_private(&pair.key, key.serialize_pem().as_bytes())?;
    std::fs::write(&pair.cert, cert.pem())?;
    eprintln!("created {} and {}", pair.key.display(), pair.cert.display());
    Ok(pair)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(data)
}
