//! `LdapDirectory` against a real OpenLDAP (`registry_auth_testkit::Slapd`):
//! both modes, groups from `memberOf` and from a group search, filter
//! injection, TLS, an outage and the reconnect after it. Each test starts
//! its own slapd (about a second), stopped when it is dropped.

use std::time::{Duration, Instant};

use registry_auth::identity::{LdapDirectory, LdapSettings};
use registry_auth::{Authenticator, AuthnError, Credentials, Identity};
use registry_auth_testkit::Slapd;

/// Search then bind as the fixture's service account, groups from
/// `memberOf`, the label `team` from `departmentNumber`.
fn search_then_bind(url: String) -> LdapSettings {
    let mut settings = LdapSettings::new(url, Slapd::BASE_DN);
    settings.bind_dn = Some(Slapd::SERVICE_DN.into());
    settings.bind_password = Some(Slapd::SERVICE_PASSWORD.into());
    settings
        .labels
        .insert("team".into(), "departmentNumber".into());
    settings.timeout = Duration::from_secs(2);
    settings
}

/// Direct bind as `uid=ACCOUNT,ou=people,…`.
fn direct_bind(url: String) -> LdapSettings {
    let mut settings = LdapSettings::new(url, Slapd::BASE_DN);
    settings.user_dn = Some(format!("uid=${{account}},{}", Slapd::PEOPLE_DN));
    settings
        .labels
        .insert("team".into(), "departmentNumber".into());
    settings.timeout = Duration::from_secs(2);
    settings
}

fn directory(settings: LdapSettings) -> LdapDirectory {
    LdapDirectory::new(settings).expect("LDAP settings")
}

async fn login(
    directory: &LdapDirectory,
    user: &str,
    password: &str,
) -> Result<Identity, AuthnError> {
    directory
        .authenticate(&Credentials::password(user, password))
        .await
}

/// Logs in and returns the subject, groups and team.
async fn logged_in(
    directory: &LdapDirectory,
    user: &str,
    password: &str,
) -> (String, Vec<String>, Vec<String>) {
    let identity = login(directory, user, password)
        .await
        .unwrap_or_else(|e| panic!("{user} should log in: {e:?}"));
    (
        identity.subject().to_owned(),
        identity.attribute("groups").to_vec(),
        identity.attribute("team").to_vec(),
    )
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Bob as the fixture has him, in every mode.
async fn assert_bob(directory: &LdapDirectory) {
    assert_eq!(
        logged_in(directory, "bob", "bob-pw").await,
        (
            "bob".to_owned(),
            strings(&["developers", "platform"]),
            strings(&["web-team"])
        )
    );
}

#[tokio::test]
async fn search_then_bind_reads_groups_from_member_of() {
    let slapd = Slapd::start().await;
    let ldap = directory(search_then_bind(slapd.url()));
    assert_bob(&ldap).await;
    assert_eq!(
        logged_in(&ldap, "alice", "alice-pw").await,
        (
            "alice".to_owned(),
            strings(&["platform"]),
            strings(&["platform-team"])
        )
    );
    let carol = login(&ldap, "carol", "carol-pw").await.unwrap();
    assert_eq!(carol, Identity::new("carol"), "no groups, no team");
}

#[tokio::test]
async fn search_then_bind_reads_groups_from_a_group_search() {
    let slapd = Slapd::start().await;
    let mut settings = search_then_bind(slapd.url());
    settings.group_base_dn = Some(Slapd::GROUPS_DN.into());
    settings.group_filter = Some("(&(objectClass=groupOfNames)(member=${dn}))".into());
    let ldap = directory(settings);
    assert_bob(&ldap).await;
    assert_eq!(logged_in(&ldap, "alice", "alice-pw").await.1, ["platform"]);
}

#[tokio::test]
async fn direct_bind_logs_in_as_the_person_and_reads_their_own_entry() {
    let slapd = Slapd::start().await;
    let ldap = directory(direct_bind(slapd.url()));
    assert_bob(&ldap).await;
    let mut settings = direct_bind(slapd.url());
    settings.group_base_dn = Some(Slapd::GROUPS_DN.into());
    settings.group_filter = Some("(member=${dn})".into());
    let ldap = directory(settings);
    assert_bob(&ldap).await;
    // Unknown and wrong look alike to the directory: both refused.
    for (user, password) in [("bob", "alice-pw"), ("nobody", "pw")] {
        let answer = login(&ldap, user, password).await;
        assert!(
            matches!(answer, Err(AuthnError::InvalidCredentials)),
            "{user}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn the_subject_is_the_directory_s_spelling_of_the_name() {
    let slapd = Slapd::start().await;
    let mut settings = search_then_bind(slapd.url());
    settings.subject_attribute = Some("uid".into());
    let ldap = directory(settings);
    // uid matches without regard to case; the subject does not.
    assert_eq!(logged_in(&ldap, "BoB", "bob-pw").await.0, "bob");
    // Without it, the subject is the name as sent.
    let ldap = directory(search_then_bind(slapd.url()));
    assert_eq!(logged_in(&ldap, "BoB", "bob-pw").await.0, "BoB");
}

#[tokio::test]
async fn wrong_empty_and_unknown_are_told_apart() {
    let slapd = Slapd::start().await;
    let ldap = directory(search_then_bind(slapd.url()));
    let answer = login(&ldap, "bob", "alice-pw").await;
    assert!(
        matches!(answer, Err(AuthnError::InvalidCredentials)),
        "wrong: {answer:?}"
    );
    // An empty password would be an anonymous bind, which succeeds.
    let answer = login(&ldap, "bob", "").await;
    assert!(
        matches!(answer, Err(AuthnError::InvalidCredentials)),
        "empty: {answer:?}"
    );
    let answer = login(&ldap, "nobody", "pw").await;
    assert!(
        matches!(answer, Err(AuthnError::NotMine)),
        "unknown: {answer:?}"
    );
    let direct = directory(direct_bind(slapd.url()));
    let answer = login(&direct, "bob", "").await;
    assert!(
        matches!(answer, Err(AuthnError::InvalidCredentials)),
        "{answer:?}"
    );
}

#[tokio::test]
async fn filter_metacharacters_in_a_name_match_only_that_name() {
    let slapd = Slapd::start().await;
    let search = directory(search_then_bind(slapd.url()));
    let direct = directory(direct_bind(slapd.url()));
    let passwords = ["alice-pw", "bob-pw", "carol-pw", "weird-pw"];
    for account in ["*)(uid=*", "*", "bob)(uid=*", "b*", "*)(|(uid=*"] {
        for password in passwords {
            let answer = login(&search, account, password).await;
            assert!(
                matches!(answer, Err(AuthnError::NotMine)),
                "{account:?}: {answer:?}"
            );
            let answer = login(&direct, account, password).await;
            assert!(
                matches!(answer, Err(AuthnError::InvalidCredentials)),
                "{account:?}: {answer:?}"
            );
        }
    }
    // The person whose name holds them logs in, in both modes.
    for ldap in [&search, &direct] {
        let (subject, groups, _) = logged_in(ldap, "we*ird)", "weird-pw").await;
        assert_eq!(
            (subject.as_str(), groups),
            ("we*ird)", strings(&["developers"]))
        );
        let answer = login(ldap, "we*ird)", "bob-pw").await;
        assert!(
            matches!(answer, Err(AuthnError::InvalidCredentials)),
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn a_directory_that_stops_is_unavailable_and_is_reconnected_to() {
    let mut slapd = Slapd::start().await;
    let search = directory(search_then_bind(slapd.url()));
    let direct = directory(direct_bind(slapd.url()));
    assert_bob(&search).await;
    assert_bob(&direct).await;

    slapd.stop().await;
    for ldap in [&search, &direct] {
        let started = Instant::now();
        let answer = login(ldap, "bob", "bob-pw").await;
        assert!(
            matches!(answer, Err(AuthnError::Unavailable(_))),
            "{answer:?}"
        );
        // The pooled connections are dead: dropped, and the new one is
        // refused at once; never more than the 2 s timeout.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    slapd.restart().await;
    assert_bob(&search).await;
    assert_bob(&direct).await;
}

#[tokio::test]
async fn a_directory_down_at_start_answers_once_it_is_up() {
    let mut slapd = Slapd::start().await;
    slapd.stop().await;
    let ldap = directory(search_then_bind(slapd.url()));
    let answer = login(&ldap, "bob", "bob-pw").await;
    assert!(
        matches!(answer, Err(AuthnError::Unavailable(_))),
        "{answer:?}"
    );
    slapd.restart().await;
    assert_bob(&ldap).await;
}

#[tokio::test]
async fn ldaps_and_start_tls_check_the_server_certificate() {
    let slapd = Slapd::start().await;
    let mut settings = search_then_bind(slapd.ldaps_url());
    settings.ca_certificate = Some(slapd.ca_certificate().to_owned());
    assert_bob(&directory(settings)).await;

    let mut settings = direct_bind(slapd.ldaps_url());
    settings.ca_certificate = Some(slapd.ca_certificate().to_owned());
    assert_bob(&directory(settings)).await;

    let mut settings = search_then_bind(slapd.url());
    settings.start_tls = true;
    settings.ca_certificate = Some(slapd.ca_certificate().to_owned());
    assert_bob(&directory(settings)).await;

    for url in [slapd.ldaps_url(), slapd.url()] {
        let mut settings = search_then_bind(url.clone());
        settings.start_tls = url.starts_with("ldap://");
        settings.ca_certificate = Some(slapd.other_ca_certificate().to_owned());
        let answer = login(&directory(settings), "bob", "bob-pw").await;
        assert!(
            matches!(answer, Err(AuthnError::Unavailable(_))),
            "{url}: {answer:?}"
        );
        let mut settings = direct_bind(url.clone());
        settings.start_tls = url.starts_with("ldap://");
        settings.ca_certificate = Some(slapd.other_ca_certificate().to_owned());
        let answer = login(&directory(settings), "bob", "bob-pw").await;
        assert!(
            matches!(answer, Err(AuthnError::Unavailable(_))),
            "{url}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn a_refresh_reads_the_person_again() {
    let slapd = Slapd::start().await;
    let stale = Identity::new("bob").with_attribute("groups", ["former-group"]);
    for subject_attribute in [None, Some("uid")] {
        let mut settings = search_then_bind(slapd.url());
        settings.subject_attribute = subject_attribute.map(Into::into);
        let ldap = directory(settings);
        let bob = ldap.refresh(&stale).await.unwrap();
        assert_eq!(bob.subject(), "bob");
        assert_eq!(bob.attribute("groups"), ["developers", "platform"]);
        assert_eq!(bob.attribute("team"), ["web-team"]);
        for gone in ["nobody", "*", "*)(uid=*"] {
            let answer = ldap.refresh(&Identity::new(gone)).await;
            assert!(
                matches!(answer, Err(AuthnError::NotMine)),
                "{gone}: {answer:?}"
            );
        }
    }
    // The user filter's restrictions hold on refresh too, also when the
    // person is found by the subject attribute.
    let mut settings = search_then_bind(slapd.url());
    settings.subject_attribute = Some("uid".into());
    settings.user_filter = format!(
        "(&(uid=${{account}})(memberOf=cn=developers,{}))",
        Slapd::GROUPS_DN
    );
    let ldap = directory(settings);
    assert!(ldap.refresh(&stale).await.is_ok());
    let answer = ldap.refresh(&Identity::new("alice")).await;
    assert!(matches!(answer, Err(AuthnError::NotMine)), "{answer:?}");
    // Direct bind cannot ask without the password: unchanged.
    let ldap = directory(direct_bind(slapd.url()));
    assert_eq!(ldap.refresh(&stale).await.unwrap(), stale);
}

#[tokio::test]
async fn a_wrong_service_password_is_unavailable_not_a_wrong_user_password() {
    let slapd = Slapd::start().await;
    let mut settings = search_then_bind(slapd.url());
    settings.bind_password = Some("not-the-service-password".into());
    let ldap = directory(settings);
    let answer = login(&ldap, "bob", "bob-pw").await;
    match answer {
        Err(AuthnError::Unavailable(e)) => {
            let message = e.to_string();
            assert!(message.contains(Slapd::SERVICE_DN), "{message}");
            assert!(!message.contains("not-the-service-password"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
