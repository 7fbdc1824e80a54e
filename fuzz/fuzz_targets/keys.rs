//! PEM private keys and certificate chains: parsing never panics, and a key
//! that parses signs and verifies its own signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_auth::AuthServer;
use registry_auth::token::SigningKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = SigningKey::from_pem(data) {
        let sig = key
            .sign(b"x")
            .unwrap_or_else(|e| panic!("{key:?} parsed but cannot sign: {e:?}"));
        assert!(
            key.verify(b"x", &sig),
            "{key:?} does not verify its own signature"
        );
        assert!(
            !key.verify(b"y", &sig),
            "{key:?} verifies a signature of another message"
        );
    }
    // Missing authenticator, authorizer, service and key: always an error,
    // whether or not the certificate chain parses.
    let built = AuthServer::builder().certificate_pem(data).build();
    assert!(built.is_err(), "built a server with no key or backends");
});
