//! Credentials as a client presents them, free of any HTTP framework.
//!
//! [`Credentials::from_authorization`] turns the raw `Authorization` header
//! into a plain value, so an adapter for any framework is a few lines.

use std::fmt;

use data_encoding::BASE64;

use super::error::Error;

/// Every refresh token starts with this, so that it can be told from a
/// password (containerd sends its identity token as a Basic password with
/// an empty user name) and found by secret scanners.
pub const REFRESH_TOKEN_PREFIX: &str = "rart_";

/// Every access token starts with this: a password with it is only ever
/// checked as an access token (never sent to a directory as a password),
/// and secret scanners can find leaked ones. The prefix is followed by 43
/// characters of unpadded base64url (256 random bits).
pub const ACCESS_TOKEN_PREFIX: &str = "raat_";

/// A secret string (a password or a token) that never shows in `Debug`
/// output or logs. Compare it with [`Secret::ct_eq`], which takes the same
/// time wherever the inputs differ.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Take care where it goes.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with another secret string.
    pub fn ct_eq(&self, other: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), other.as_bytes())
            .is_ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// The credentials a client presented.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// No `Authorization` header.
    Anonymous,
    /// HTTP Basic authentication (or the OAuth `password` grant).
    Password {
        /// The user name as sent.
        username: String,
        /// The password as sent.
        password: Secret,
    },
    /// A refresh token (the OAuth `refresh_token` grant, or Basic auth
    /// with an empty user name and a refresh token, as containerd sends
    /// its identity token on GET).
    RefreshToken(Secret),
}

impl Credentials {
    /// Username and password credentials.
    pub fn password(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credentials::Password {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Parses an `Authorization` header value; `None` (no header) is
    /// anonymous. Only the `Basic` scheme is accepted.
    pub fn from_authorization(header: Option<&[u8]>) -> Result<Self, Error> {
        let Some(header) = header else {
            return Ok(Credentials::Anonymous);
        };
        let bad = |why: &str| Error::InvalidRequest(format!("invalid Authorization header: {why}"));
        let header = std::str::from_utf8(header).map_err(|_| bad("not UTF-8"))?;
        let (scheme, encoded) = header
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("expected \"Basic <base64>\""))?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(bad("only the Basic scheme is supported"));
        }
        let decoded = BASE64
            .decode(encoded.trim().as_bytes())
            .map_err(|_| bad("credentials are not valid base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| bad("credentials are not UTF-8 text"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| bad("credentials have no ':' between user and password"))?;
        if username.chars().any(char::is_control) {
            return Err(bad("user name contains control characters"));
        }
        if username.is_empty() && password.starts_with(REFRESH_TOKEN_PREFIX) {
            return Ok(Credentials::RefreshToken(Secret::new(password)));
        }
        Ok(Credentials::password(username, password))
    }

    /// The user name, if any.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Password { username, .. } => Some(username),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> Vec<u8> {
        format!("Basic {}", BASE64.encode(user_pass.as_bytes())).into_bytes()
    }

    #[test]
    fn basic_auth_splits_at_first_colon() {
        let c = Credentials::from_authorization(Some(&basic("alice:pa:ss")));
        assert_eq!(c, Ok(Credentials::password("alice", "pa:ss")));
        let c = Credentials::from_authorization(Some(b"basic YTpi"));
        assert_eq!(c, Ok(Credentials::password("a", "b")));
    }

    #[test]
    fn no_header_is_anonymous() {
        assert_eq!(
            Credentials::from_authorization(None),
            Ok(Credentials::Anonymous)
        );
    }

    #[test]
    fn malformed_basic_auth_is_invalid_request() {
        let cases: [(&[u8], &str); 6] = [
            (b"Bearer abc", "only the Basic scheme is supported"),
            (b"Basic", "expected \"Basic <base64>\""),
            (b"Basic !!!!", "credentials are not valid base64"),
            (
                &basic("no-colon"),
                "credentials have no ':' between user and password",
            ),
            (b"Basic /w==", "credentials are not UTF-8 text"),
            (b"Basic \xff", "not UTF-8"),
        ];
        for (header, why) in cases {
            assert_eq!(
                Credentials::from_authorization(Some(header)),
                Err(Error::InvalidRequest(format!(
                    "invalid Authorization header: {why}"
                ))),
                "{header:?}"
            );
        }
    }

    #[test]
    fn empty_user_with_a_refresh_token_is_a_refresh_grant() {
        let token = format!("{}abc", REFRESH_TOKEN_PREFIX);
        let c = Credentials::from_authorization(Some(&basic(&format!(":{token}"))));
        assert_eq!(c, Ok(Credentials::RefreshToken(Secret::new(token))));
        // A user name, or a password of another shape, is a password.
        let c = Credentials::from_authorization(Some(&basic(":hunter2")));
        assert_eq!(c, Ok(Credentials::password("", "hunter2")));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let c = Credentials::password("alice", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
