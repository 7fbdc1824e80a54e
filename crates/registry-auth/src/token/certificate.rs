//! The signing certificate chain, sent as `x5c` so the registry can find the
//! key through its `rootcertbundle` (works on registry 2.8 and v3 alike).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use data_encoding::BASE64;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Why a certificate chain was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CertificateError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No `BEGIN CERTIFICATE` block was found, or one is damaged.
    #[error("no valid PEM certificate found")]
    NoCertificate,
    /// A certificate is not valid X.509.
    #[error("certificate {index} is not valid X.509")]
    Invalid {
        /// Its position in the chain, 0 for the leaf.
        index: usize,
    },
    /// The first certificate does not hold the signing key's public key.
    #[error("the certificate does not match the signing key (its public key differs)")]
    KeyMismatch,
}

/// Reads a PEM certificate chain, leaf first.
pub(crate) fn read_chain_file(path: &Path) -> Result<Vec<Vec<u8>>, CertificateError> {
    let pem = std::fs::read(path).map_err(|source| CertificateError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_chain(&pem)
}

/// Parses a PEM certificate chain, leaf first, checking each is X.509.
pub(crate) fn parse_chain(pem: &[u8]) -> Result<Vec<Vec<u8>>, CertificateError> {
    let chain: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| CertificateError::NoCertificate)?;
    if chain.is_empty() {
        return Err(CertificateError::NoCertificate);
    }
    for (index, der) in chain.iter().enumerate() {
        x509_parser::parse_x509_certificate(der)
            .map_err(|_| CertificateError::Invalid { index })?;
    }
    Ok(chain)
}

/// The validity period of a DER certificate: not before, not after.
/// `None` when it is not valid X.509.
pub fn certificate_validity(der: &[u8]) -> Option<(SystemTime, SystemTime)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let at = |t: x509_parser::time::ASN1Time| {
        let seconds = t.timestamp();
        if seconds >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(seconds.unsigned_abs()))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(seconds.unsigned_abs()))
        }
    };
    let validity = cert.validity();
    Some((at(validity.not_before)?, at(validity.not_after)?))
}

/// DER as a PEM block with `label` (`CERTIFICATE`, `PUBLIC KEY`), in lines
/// of 64 characters.
pub(crate) fn encode_pem(label: &str, der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Whether a DER certificate is self-issued (its issuer is its subject),
/// as a certificate made for one signing key is, and a leaf issued by a CA
/// is not. `None` when it is not valid X.509.
pub fn certificate_is_self_issued(der: &[u8]) -> Option<bool> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.issuer().as_raw() == cert.subject().as_raw())
}

/// Checks that the leaf certificate carries `spki` as its public key.
pub(crate) fn check_leaf_matches(chain: &[Vec<u8>], spki: &[u8]) -> Result<(), CertificateError> {
    let leaf = chain.first().ok_or(CertificateError::NoCertificate)?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|_| CertificateError::Invalid { index: 0 })?;
    if cert.public_key().raw != spki {
        return Err(CertificateError::KeyMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_read_from_the_certificate() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256);
        let Ok(key) = key else { panic!("key") };
        let Ok(mut params) = rcgen::CertificateParams::new(Vec::<String>::new()) else {
            panic!("params")
        };
        params.not_before = rcgen::date_time_ymd(2020, 1, 2);
        params.not_after = rcgen::date_time_ymd(2031, 3, 4);
        let Ok(cert) = params.self_signed(&key) else {
            panic!("certificate")
        };
        let day = |days: u64| UNIX_EPOCH + Duration::from_secs(days * 86_400);
        // 2020-01-02 and 2031-03-04 in days since 1970.
        assert_eq!(
            certificate_validity(cert.der()),
            Some((day(18_263), day(22_342)))
        );
        assert_eq!(certificate_validity(b"not a certificate"), None);
    }

    #[test]
    fn a_self_signed_certificate_is_self_issued_and_a_ca_leaf_is_not() {
        let made = |name: &str| {
            let Ok(key) = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256) else {
                panic!("key")
            };
            let Ok(mut params) = rcgen::CertificateParams::new(Vec::<String>::new()) else {
                panic!("params")
            };
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            (key, params)
        };
        let (ca_key, mut ca_params) = made("a CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let Ok(ca) = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key) else {
            panic!("CA")
        };
        let (leaf_key, leaf_params) = made("a leaf");
        let Ok(leaf) = leaf_params.signed_by(&leaf_key, &ca) else {
            panic!("leaf")
        };
        assert_eq!(certificate_is_self_issued(ca.der()), Some(true));
        assert_eq!(certificate_is_self_issued(leaf.der()), Some(false));
        assert_eq!(certificate_is_self_issued(b"not a certificate"), None);
    }
}
