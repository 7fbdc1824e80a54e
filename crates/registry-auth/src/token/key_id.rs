//! Key ids: the libtrust fingerprint (registry 2.8) and the JWK thumbprint
//! as registry v3 computes it (RFC 7638 but for EC leading zeros).

use aws_lc_rs::digest::{SHA256, digest};
use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};

/// How the `kid` header of a token is computed.
///
/// With the `serde` feature it deserializes from `"libtrust"` or
/// `"thumbprint"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum KeyIdMode {
    /// The libtrust fingerprint of the public key, which registry 2.8.x
    /// matches against its `rootcertbundle`. Defaults to this.
    #[default]
    Libtrust,
    /// The JWK thumbprint as registry v3 (3.1 and later) computes it for
    /// the keys of its `rootcertbundle`: RFC 7638, except that EC
    /// coordinates lose their leading zero bytes (v3 writes Go's
    /// `big.Int.Bytes()`; RFC 7518 keeps them fixed-size). The two differ
    /// for about one P-256 key in 128; with the RFC's value v3 would refuse
    /// those keys' tokens (found by the test over many generated keys).
    Thumbprint,
}

/// SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without
/// padding (48 characters), in 12 groups of 4 joined by `:`.
pub(crate) fn libtrust(spki_der: &[u8]) -> String {
    let hash = digest(&SHA256, spki_der);
    let encoded = BASE32_NOPAD.encode(&hash.as_ref()[..30]);
    let mut out = String::with_capacity(59);
    for (i, c) in encoded.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(':');
        }
        out.push(c);
    }
    out
}

/// The thumbprint registry v3 matches (see [`KeyIdMode::Thumbprint`]):
/// RFC 7638's SHA-256 of the JWK's required members as JSON, members in
/// lexicographic order, no white space, base64url without padding; EC
/// coordinates (`x`, `y` of `kty` `EC`) without leading zero bytes.
/// `members` must already be sorted by name.
pub(crate) fn thumbprint(members: &[(&str, String)]) -> String {
    let ec = members.iter().any(|(k, v)| *k == "kty" && v == "EC");
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| {
            let value = if ec && (*k == "x" || *k == "y") {
                without_leading_zeros(v)
            } else {
                v.clone()
            };
            format!("{}:{}", json_string(k), json_string(&value))
        })
        .collect();
    let canonical = format!("{{{}}}", body.join(","));
    BASE64URL_NOPAD.encode(digest(&SHA256, canonical.as_bytes()).as_ref())
}

/// A base64url number without its leading zero bytes, as Go's
/// `big.Int.Bytes()` writes it.
fn without_leading_zeros(b64: &str) -> String {
    match BASE64URL_NOPAD.decode(b64.as_bytes()) {
        Ok(bytes) => {
            let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
            BASE64URL_NOPAD.encode(&bytes[first..])
        }
        Err(_) => b64.to_owned(),
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        BASE64URL_NOPAD.decode(s.as_bytes()).unwrap_or_default()
    }

    /// The example EC key of the distribution's jwt.md, and its kid.
    #[test]
    fn libtrust_key_id_of_the_spec_example() {
        // SubjectPublicKeyInfo prefix for id-ecPublicKey / prime256v1,
        // followed by the uncompressed point.
        let mut spki = b"\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00\x04".to_vec();
        spki.extend(b64("m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q"));
        spki.extend(b64("dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc"));
        assert_eq!(spki.len(), 91);
        assert_eq!(
            libtrust(&spki),
            "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6"
        );
    }

    /// RFC 7638 §3.1.
    #[test]
    fn thumbprint_of_the_rfc_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = [
            ("e", "AQAB".to_owned()),
            ("kty", "RSA".to_owned()),
            ("n", n.to_owned()),
        ];
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// An EC key whose x starts with a zero byte: the thumbprint hashes x
    /// without it, as registry v3 does, and equals the RFC's value when
    /// there is no such byte.
    #[test]
    fn ec_coordinates_lose_leading_zeros_as_registry_v3_writes_them() {
        let x_with_zero = BASE64URL_NOPAD.encode(&[&[0u8][..], &[7u8; 31][..]].concat());
        let x_without = BASE64URL_NOPAD.encode(&[7u8; 31]);
        let y = BASE64URL_NOPAD.encode(&[9u8; 32]);
        let members = |x: &str| {
            [
                ("crv", "P-256".to_owned()),
                ("kty", "EC".to_owned()),
                ("x", x.to_owned()),
                ("y", y.clone()),
            ]
        };
        assert_eq!(
            thumbprint(&members(&x_with_zero)),
            thumbprint(&members(&x_without))
        );
        let rfc =
            format!("{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{x_with_zero}\",\"y\":\"{y}\"}}");
        let rfc = BASE64URL_NOPAD.encode(digest(&SHA256, rfc.as_bytes()).as_ref());
        assert_ne!(thumbprint(&members(&x_with_zero)), rfc);
        // RSA members are hashed as given (n has no leading zero to lose).
        let rsa = [
            ("e", "AQAB".to_owned()),
            ("kty", "RSA".to_owned()),
            ("n", x_with_zero),
        ];
        let canonical = format!("{{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"{}\"}}", rsa[2].1);
        assert_eq!(
            thumbprint(&rsa),
            BASE64URL_NOPAD.encode(digest(&SHA256, canonical.as_bytes()).as_ref())
        );
    }
}
