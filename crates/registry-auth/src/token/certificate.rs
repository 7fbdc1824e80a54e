//! The signing certificate chain, sent as `x5c` so the registry can find the
//! key through its `rootcertbundle` (works on registry 2.8 and v3 alike).

use std::path::Path;

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
