//! Password hashes: bcrypt (as `htpasswd -B` writes) and argon2 (PHC
//! strings), checked once when loaded so a typo is an error at start, not
//! a user locked out later.

use std::fmt;
use std::str::FromStr;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// A parsed password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(Kind);

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Bcrypt(String),
    Argon2(String),
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hash is not the password, but it is still offline-attackable.
        match self.0 {
            Kind::Bcrypt(_) => f.write_str("PasswordHash(bcrypt)"),
            Kind::Argon2(_) => f.write_str("PasswordHash(argon2)"),
        }
    }
}

/// bcrypt reads at most this many bytes of a password and silently ignores
/// the rest; longer passwords are refused rather than truncated.
pub const BCRYPT_MAX_PASSWORD_BYTES: usize = 72;

impl PasswordHash {
    /// The hash as written (`$2y$…`, `$argon2id$…`).
    pub(crate) fn as_str(&self) -> &str {
        match &self.0 {
            Kind::Bcrypt(hash) | Kind::Argon2(hash) => hash,
        }
    }

    /// What checking a password against this hash costs, as a name: the
    /// algorithm and its parameters without the salt, e.g. `bcrypt cost
    /// 10` or `argon2id m=19456,t=2,p=1`. Hashes with the same cost take
    /// the same time to check.
    pub fn cost(&self) -> String {
        match &self.0 {
            Kind::Bcrypt(hash) => bcrypt::HashParts::from_str(hash).map_or_else(
                |_| "bcrypt".to_owned(),
                |parts| format!("bcrypt cost {}", parts.get_cost()),
            ),
            Kind::Argon2(hash) => PhcHash::new(hash).map_or_else(
                |_| "argon2".to_owned(),
                |phc| format!("{} {}", phc.algorithm, phc.params),
            ),
        }
    }
}

/// A string that is not a supported password hash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PasswordHashError(&'static str);

impl PasswordHash {
    /// Parses a `$2a$`/`$2b$`/`$2y$` bcrypt hash or a `$argon2id$`/
    /// `$argon2i$`/`$argon2d$` PHC string.
    pub fn parse(hash: &str) -> Result<Self, PasswordHashError> {
        if hash.starts_with("$2") {
            bcrypt::HashParts::from_str(hash)
                .map_err(|_| PasswordHashError("malformed bcrypt hash"))?;
            Ok(PasswordHash(Kind::Bcrypt(hash.to_owned())))
        } else if hash.starts_with("$argon2") {
            PhcHash::new(hash).map_err(|_| PasswordHashError("malformed argon2 hash"))?;
            Ok(PasswordHash(Kind::Argon2(hash.to_owned())))
        } else {
            Err(PasswordHashError(
                "not a bcrypt ($2a$, $2b$, $2y$) or argon2 ($argon2id$) hash; \
                 make one with `registry-auth hash-password` or `htpasswd -nB`",
            ))
        }
    }

    /// Whether `password` matches. Slow on purpose (tens of milliseconds):
    /// call it from a blocking thread. A password longer than
    /// [`BCRYPT_MAX_PASSWORD_BYTES`] never matches a bcrypt hash (bcrypt
    /// would check only its first 72 bytes).
    pub fn verify(&self, password: &str) -> bool {
        match &self.0 {
            Kind::Bcrypt(_) if password.len() > BCRYPT_MAX_PASSWORD_BYTES => false,
            Kind::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            Kind::Argon2(hash) => Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok(),
        }
    }

    /// Hashes a password with bcrypt at `cost` (10 is common; 4 to 31). A
    /// password longer than [`BCRYPT_MAX_PASSWORD_BYTES`] is refused:
    /// bcrypt would ignore the rest.
    pub fn bcrypt(password: &str, cost: u32) -> Result<String, PasswordHashError> {
        if password.len() > BCRYPT_MAX_PASSWORD_BYTES {
            return Err(PasswordHashError(
                "bcrypt uses only the first 72 bytes of a password and this one is longer: \
                 use argon2 (hash-password --argon2) or a shorter password",
            ));
        }
        bcrypt::hash(password, cost).map_err(|_| PasswordHashError("bcrypt cost must be 4 to 31"))
    }

    /// Hashes a password with argon2id and default parameters.
    pub fn argon2(password: &str) -> Result<String, PasswordHashError> {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|_| PasswordHashError("argon2 hashing failed"))
    }
}

impl FromStr for PasswordHash {
    type Err = PasswordHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PasswordHash::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_variants_and_argon2_verify() {
        let b = PasswordHash::bcrypt("pw", 4).unwrap_or_default();
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let h = PasswordHash::parse(&b.replacen("$2b$", prefix, 1));
            assert!(
                h.is_ok_and(|h| h.verify("pw") && !h.verify("px")),
                "{prefix}"
            );
        }
        let a = PasswordHash::argon2("pw").unwrap_or_default();
        assert!(a.starts_with("$argon2id$"));
        let h = PasswordHash::parse(&a);
        assert!(h.is_ok_and(|h| h.verify("pw") && !h.verify("px")));
    }

    #[test]
    fn bcrypt_never_truncates_a_long_password() {
        let long = "x".repeat(73);
        assert!(PasswordHash::bcrypt(&long, 4).is_err());
        assert!(PasswordHash::bcrypt(&long[..72], 4).is_ok());
        // A hash made elsewhere (htpasswd truncates): the 72-byte prefix
        // matches, the longer password it would have accepted does not.
        let made = bcrypt::hash(&long[..72], 4).unwrap_or_default();
        let hash = PasswordHash::parse(&made);
        assert!(hash.is_ok_and(|h| h.verify(&long[..72]) && !h.verify(&long)));
    }

    #[test]
    fn costs_name_the_parameters_without_the_salt() {
        let a = PasswordHash::parse(&PasswordHash::bcrypt("a", 4).unwrap_or_default());
        let b = PasswordHash::parse(&PasswordHash::bcrypt("b", 5).unwrap_or_default());
        assert_eq!(a.map(|h| h.cost()).ok().as_deref(), Some("bcrypt cost 4"));
        assert_eq!(b.map(|h| h.cost()).ok().as_deref(), Some("bcrypt cost 5"));
        let c = PasswordHash::parse(&PasswordHash::argon2("c").unwrap_or_default());
        assert_eq!(
            c.map(|h| h.cost()).ok().as_deref(),
            Some("argon2id m=19456,t=2,p=1")
        );
    }

    #[test]
    fn malformed_hashes_are_refused() {
        for bad in [
            "",
            "plain",
            "$2y$10$short",
            "$argon2id$nope",
            "$1$md5$xyz",
            "{SHA}abc",
        ] {
            assert!(PasswordHash::parse(bad).is_err(), "{bad}");
        }
    }
}
