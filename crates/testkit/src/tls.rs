//! Throwaway certificate authorities and server certificates for the
//! fixtures that speak TLS (slapd, the fixture issuers, the OpenID
//! provider).

use std::path::Path;

/// A self-signed CA named `name`, and its certificate in PEM.
pub(crate) fn new_ca(name: &str) -> (rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(params, key).expect("CA certificate");
    let pem = ca.pem();
    (ca, pem)
}

/// A server certificate for `127.0.0.1` and `localhost` signed by `ca`:
/// the certificate and its private key, both in PEM.
pub(crate) fn localhost_certificate(
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("certificate params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let certificate = params.signed_by(&key, ca).expect("server certificate");
    (certificate.pem(), key.serialize_pem())
}

/// Writes `ca.pem` (a new CA named `name`), and `server.crt` and
/// `server.key` (for `127.0.0.1` and `localhost`, signed by that CA) into
/// `dir`; returns the CA's PEM.
pub(crate) fn write_certificates(dir: &Path, name: &str) -> String {
    let (ca, ca_pem) = new_ca(name);
    let (certificate, key) = localhost_certificate(&ca);
    for (file, contents) in [
        ("ca.pem", ca_pem.as_str()),
        ("server.crt", certificate.as_str()),
        ("server.key", key.as_str()),
    ] {
        std::fs::write(dir.join(file), contents).expect("write a certificate file");
    }
    ca_pem
}
