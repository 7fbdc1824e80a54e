//! Unit tests with no directory: the settings' checks, the files they
//! name, and what is refused before any I/O.

use std::time::{Duration, Instant};

use super::*;
use crate::protocol::credentials::Secret;

fn search_then_bind() -> LdapSettings {
    let mut settings = LdapSettings::new("ldap://127.0.0.1:1", "ou=people,dc=example,dc=com");
    settings.bind_dn = Some("cn=registry,dc=example,dc=com".into());
    settings.bind_password = Some("service-secret".into());
    settings
}

fn direct_bind() -> LdapSettings {
    let mut settings = LdapSettings::new("ldap://127.0.0.1:1", "ou=people,dc=example,dc=com");
    settings.user_dn = Some("uid=${account},ou=people,dc=example,dc=com".into());
    settings
}

/// The key the error names, and its message.
fn refused(settings: &LdapSettings) -> (String, String) {
    match settings.validate() {
        Ok(()) => ("accepted".into(), String::new()),
        Err(e) => (e.setting().to_owned(), e.to_string()),
    }
}

#[test]
fn valid_settings_pass_in_both_modes() {
    assert_eq!(refused(&search_then_bind()).0, "accepted");
    assert_eq!(refused(&direct_bind()).0, "accepted");
    let mut settings = search_then_bind();
    settings.url = "ldaps://[::1]:636/".into();
    settings.group_filter = Some("(|(member=${dn})(memberUid=${account}))".into());
    settings.subject_attribute = Some("sAMAccountName".into());
    settings
        .labels
        .insert("team".into(), "departmentNumber".into());
    settings.labels.insert("oid".into(), "2.5.4.11".into());
    assert_eq!(refused(&settings).0, "accepted");
}

#[test]
fn each_wrong_setting_is_named_by_its_key() {
    type Change = fn(&mut LdapSettings);
    let cases: &[(&str, Change, &str)] = &[
        (
            "url",
            |s| s.url = "http://ldap.example.com".into(),
            "scheme",
        ),
        ("url", |s| s.url = "ldap://".into(), "no host"),
        ("url", |s| s.url = "ldap://host:0".into(), "port"),
        (
            "url",
            |s| s.url = "ldap://host/dc=example?uid".into(),
            "only a host",
        ),
        (
            "start_tls",
            |s| (s.url, s.start_tls) = ("ldaps://h".into(), true),
            "ldaps",
        ),
        (
            "ca_certificate",
            |s| s.ca_certificate = Some("ca.pem".into()),
            "TLS",
        ),
        ("base_dn", |s| s.base_dn = " ".into(), "empty"),
        (
            "user_filter",
            |s| s.user_filter = "(uid=alice)".into(),
            "must contain ${account}",
        ),
        (
            "user_filter",
            |s| s.user_filter = "(uid=${acount})".into(),
            "unknown placeholder",
        ),
        (
            "user_filter",
            |s| s.user_filter = "(uid=${account)".into(),
            "not closed",
        ),
        (
            "user_filter",
            |s| s.user_filter = "uid=${account}".into(),
            "not an LDAP filter",
        ),
        (
            "user_filter",
            |s| s.user_filter = "(member=${dn})".into(),
            "unknown placeholder",
        ),
        (
            "user_filter",
            |s| s.user_filter = "(uid=${account})(o=x)".into(),
            "not an LDAP filter",
        ),
        (
            "user_filter",
            |s| {
                s.subject_attribute = Some("uid".into());
                s.user_filter = "(uid~=${account})".into();
            },
            "whole attribute value",
        ),
        (
            "group_filter",
            |s| s.group_filter = Some("(cn=all)".into()),
            "${dn} or ${account}",
        ),
        (
            "group_filter",
            |s| s.group_filter = Some("(member=${user})".into()),
            "unknown",
        ),
        ("bind_password", |s| s.bind_password = None, "not set"),
        (
            "bind_password",
            |s| s.bind_password = Some(String::new()),
            "anonymously",
        ),
        (
            "bind_password_file",
            |s| s.bind_password_file = Some("pw".into()),
            "not both",
        ),
        ("bind_dn", |s| s.bind_dn = Some(String::new()), "empty"),
        (
            "user_dn",
            |s| s.user_dn = Some("uid=${account}".into()),
            "not both",
        ),
        (
            "subject_attribute",
            |s| s.subject_attribute = Some("uid)(x".into()),
            "attribute",
        ),
        (
            "group_name_attribute",
            |s| s.group_name_attribute = String::new(),
            "attribute",
        ),
        (
            "member_of_attribute",
            |s| s.member_of_attribute = "member of".into(),
            "attribute",
        ),
        (
            "labels",
            |s| drop(s.labels.insert("groups".into(), "ou".into())),
            "reserved",
        ),
        (
            "labels",
            |s| drop(s.labels.insert("team".into(), "a=b".into())),
            "team",
        ),
        ("timeout", |s| s.timeout = Duration::ZERO, "longer than 0s"),
        ("pool_size", |s| s.pool_size = 0, "1 to 256"),
        ("pool_size", |s| s.pool_size = 257, "1 to 256"),
    ];
    for (key, change, words) in cases {
        let mut settings = search_then_bind();
        change(&mut settings);
        let (setting, message) = refused(&settings);
        assert_eq!(&setting, key, "{message}");
        assert!(message.starts_with(&format!("ldap.{key}: ")), "{message}");
        assert!(
            message.contains(words),
            "{key}: {message:?} lacks {words:?}"
        );
    }
    let direct: &[(&str, Change, &str)] = &[
        ("bind_dn", |s| s.user_dn = None, "user_dn"),
        (
            "user_dn",
            |s| s.user_dn = Some("uid=alice".into()),
            "${account}",
        ),
        (
            "user_dn",
            |s| s.user_dn = Some("uid=${dn}".into()),
            "unknown",
        ),
        (
            "bind_password",
            |s| s.bind_password = Some("x".into()),
            "only with bind_dn",
        ),
        (
            "bind_password_file",
            |s| s.bind_password_file = Some("x".into()),
            "only with",
        ),
    ];
    for (key, change, words) in direct {
        let mut settings = direct_bind();
        change(&mut settings);
        let (setting, message) = refused(&settings);
        assert_eq!(&setting, key, "{message}");
        assert!(
            message.contains(words),
            "{key}: {message:?} lacks {words:?}"
        );
    }
}

#[test]
fn no_error_or_debug_output_shows_a_password() {
    let settings = search_then_bind();
    assert!(!format!("{settings:?}").contains("service-secret"));
    let directory = LdapDirectory::new(settings).map(|d| format!("{d:?}"));
    assert!(
        directory
            .as_ref()
            .is_ok_and(|d| !d.contains("service-secret")),
        "{directory:?}"
    );
}

#[test]
fn files_that_cannot_be_read_are_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut settings = search_then_bind();
    settings.bind_password = None;
    settings.bind_password_file = Some(dir.path().join("missing"));
    let error = LdapDirectory::new(settings.clone()).err();
    assert_eq!(
        error.as_ref().map(LdapError::setting),
        Some("bind_password_file")
    );
    assert!(error.is_some_and(|e| e.to_string().contains("missing")));

    let password = dir.path().join("password");
    std::fs::write(&password, "\n").unwrap_or_else(|e| panic!("{e}"));
    settings.bind_password_file = Some(password.clone());
    let error = LdapDirectory::new(settings.clone())
        .err()
        .map(|e| e.to_string());
    assert!(
        error.as_ref().is_some_and(|e| e.contains("is empty")),
        "{error:?}"
    );
    std::fs::write(&password, "service-secret\r\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(LdapDirectory::new(settings.clone()).is_ok());

    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap_or_else(|e| panic!("{e}"));
    settings.url = "ldaps://127.0.0.1:1".into();
    settings.ca_certificate = Some(ca);
    let error = LdapDirectory::new(settings).err();
    assert_eq!(
        error.as_ref().map(LdapError::setting),
        Some("ca_certificate")
    );
    assert!(error.is_some_and(|e| e.to_string().contains("ca.pem")));
}

/// An empty password must never reach the directory, where it would be an
/// anonymous bind that succeeds: refused at once, even with the directory
/// unreachable (a closed port would answer Unavailable).
#[tokio::test]
async fn an_empty_password_is_refused_before_any_io() {
    for settings in [search_then_bind(), direct_bind()] {
        let directory = LdapDirectory::new(settings).unwrap_or_else(|e| panic!("{e}"));
        let started = Instant::now();
        let answer = directory
            .authenticate(&Credentials::password("alice", Secret::new("")))
            .await;
        assert!(
            matches!(answer, Err(AuthnError::InvalidCredentials)),
            "{answer:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(100));
        // A password does reach for the directory, which is not there.
        let answer = directory
            .authenticate(&Credentials::password("alice", "pw"))
            .await;
        assert!(
            matches!(answer, Err(AuthnError::Unavailable(_))),
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn names_and_credentials_it_cannot_take_are_not_its() {
    let directory = LdapDirectory::new(search_then_bind()).unwrap_or_else(|e| panic!("{e}"));
    for credentials in [
        Credentials::Anonymous,
        Credentials::RefreshToken(Secret::new("rart_x")),
        Credentials::password("", "pw"),
        Credentials::password("a\0b", "pw"),
    ] {
        let answer = directory.authenticate(&credentials).await;
        assert!(matches!(answer, Err(AuthnError::NotMine)), "{answer:?}");
    }
    let answer = directory.refresh(&Identity::anonymous()).await;
    assert!(matches!(answer, Err(AuthnError::NotMine)), "{answer:?}");
    // Direct bind cannot ask without the password: the identity stays.
    let directory = LdapDirectory::new(direct_bind()).unwrap_or_else(|e| panic!("{e}"));
    let bob = Identity::new("bob").with_attribute("groups", ["developers"]);
    assert_eq!(directory.refresh(&bob).await.ok(), Some(bob));
}

/// The server reads `[ldap]` from TOML; JSON goes through the same derive.
#[cfg(feature = "serde")]
#[test]
fn settings_deserialize_with_defaults_and_refuse_unknown_keys() {
    let table = serde_json::json!({
        "url": "ldaps://ldap.example.com",
        "base_dn": "dc=example,dc=com",
        "bind_dn": "cn=registry,dc=example,dc=com",
        "bind_password_file": "/run/secrets/ldap",
        "timeout": "2s",
        "labels": { "team": "departmentNumber" },
    });
    let settings: Result<LdapSettings, _> = serde_json::from_value(table.clone());
    let settings = settings.unwrap_or_else(|e| panic!("{e}"));
    let mut expected = LdapSettings::new("ldaps://ldap.example.com", "dc=example,dc=com");
    expected.bind_dn = Some("cn=registry,dc=example,dc=com".into());
    expected.bind_password_file = Some("/run/secrets/ldap".into());
    expected.timeout = Duration::from_secs(2);
    expected
        .labels
        .insert("team".into(), "departmentNumber".into());
    assert_eq!(settings, expected);
    assert_eq!(settings.user_filter, "(uid=${account})");
    assert_eq!(settings.pool_size, 8);

    let mut unknown = table;
    unknown["user_filtre"] = "(cn=${account})".into();
    let error = serde_json::from_value::<LdapSettings>(unknown).err();
    assert!(error.is_some_and(|e| e.to_string().contains("user_filtre")));
}
