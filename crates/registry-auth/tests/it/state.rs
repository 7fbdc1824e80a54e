//! The state stores: one scenario run against the memory store, a SQLite
//! file and a real PostgreSQL 15, so that every implementation means the
//! same thing; then what only a database does (surviving a reopen, an
//! outage and recovery).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use registry_auth::Identity;
use registry_auth::state::{
    CredentialFingerprint, MAX_CLIENT_IDS, MemoryStore, PersonRecord, RefreshRecord, SqlStore,
    StateStore, ThrottleKey, TokenHash, TokenId,
};
use registry_auth_testkit::Postgres;

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn record(subject: &str, issued: u64) -> RefreshRecord {
    RefreshRecord::new(
        Identity::new(subject).with_attribute("groups", ["dev", "ops"]),
        "registry.test".into(),
        0,
        Some("docker".into()),
        at(issued),
        at(issued + 3600),
    )
}

/// What every store must do, step by step.
async fn exercise(store: &dyn StateStore) {
    // Refresh tokens: insert, read back exactly, note uses.
    let a = TokenHash::of("rart_a");
    let b = TokenHash::of("rart_b");
    store
        .insert_refresh_token(&a, &record("alice", 1000))
        .await
        .unwrap();
    store
        .insert_refresh_token(&b, &record("bob", 1001))
        .await
        .unwrap();
    let (got, generation) = store.refresh_token(&a).await.unwrap().unwrap();
    assert_eq!(got, record("alice", 1000));
    assert_eq!(generation, 0);
    assert!(
        store
            .refresh_token(&TokenHash::of("rart_x"))
            .await
            .unwrap()
            .is_none()
    );
    store
        .note_refresh_token_use(&a, at(1500), &ids(&["docker", "containerd-client"]))
        .await
        .unwrap();
    store
        .note_refresh_token_use(&a, at(1600), &ids(&["docker", "containerd-client"]))
        .await
        .unwrap();
    store
        .note_refresh_token_use(&a, at(1700), &ids(&["docker", "containerd-client"]))
        .await
        .unwrap();
    let (got, _) = store.refresh_token(&a).await.unwrap().unwrap();
    assert_eq!(got.client_ids, ["docker", "containerd-client"]);
    assert_eq!(got.last_used_at, Some(at(1700)));
    // At most MAX_CLIENT_IDS are kept, whatever is given.
    let many: Vec<String> = (0..40).map(|n| format!("client-{n}")).collect();
    store
        .note_refresh_token_use(&b, at(1800), &many)
        .await
        .unwrap();
    let (got, _) = store.refresh_token(&b).await.unwrap().unwrap();
    assert_eq!(got.client_ids, many[..MAX_CLIENT_IDS]);
    // The fingerprint a token was issued under is kept as given.
    let f = TokenHash::of("rart_f");
    let under = CredentialFingerprint::of(&[b"hash-0"]);
    let fingerprinted = record("frank", 1003).with_fingerprint(Some(under));
    store
        .insert_refresh_token(&f, &fingerprinted)
        .await
        .unwrap();
    let (got, _) = store.refresh_token(&f).await.unwrap().unwrap();
    assert_eq!(got.fingerprint, Some(under));
    assert_eq!(store.revoke_refresh_tokens_of("frank").await.unwrap(), 1);

    // Listing, all and by subject, oldest first, by public id.
    let all = store.refresh_tokens(None).await.unwrap();
    assert_eq!(
        all.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        [a.id(), b.id()]
    );
    let bobs = store.refresh_tokens(Some("bob")).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].record.identity.subject(), "bob");

    // Credential generations: first sight is 0, a change bumps, the same
    // fingerprint again does not, removal bumps, coming back bumps.
    let one = CredentialFingerprint::of(&[b"hash-1"]);
    let two = CredentialFingerprint::of(&[b"hash-2"]);
    assert_eq!(store.credential_generation("alice").await.unwrap(), 0);
    assert_eq!(
        store
            .observe_credentials("alice", Some(&one))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .observe_credentials("alice", Some(&one))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .observe_credentials("alice", Some(&two))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.observe_credentials("alice", None).await.unwrap(), 2);
    assert_eq!(
        store
            .observe_credentials("alice", Some(&two))
            .await
            .unwrap(),
        3
    );
    assert_eq!(store.credential_generation("alice").await.unwrap(), 3);
    let (_, generation) = store.refresh_token(&a).await.unwrap().unwrap();
    assert_eq!(generation, 3, "read with the token, in one call");
    // Advancing keeps the credentials recorded: the same fingerprint seen
    // again is no change.
    assert_eq!(store.advance_generation("alice").await.unwrap(), 4);
    assert_eq!(
        store
            .observe_credentials("alice", Some(&two))
            .await
            .unwrap(),
        4
    );
    assert_eq!(store.advance_generation("dora").await.unwrap(), 1);
    store.observe_credentials("carol", None).await.unwrap();
    assert_eq!(
        store.credential_fingerprints().await.unwrap(),
        [
            ("alice".to_owned(), Some(two)),
            ("carol".to_owned(), None),
            ("dora".to_owned(), None)
        ]
    );

    // Failure counters: counted, forgotten after a while, cleared.
    let ip = "192.0.2.7".parse().unwrap();
    let pair = ThrottleKey::account_at("alice", ip);
    let addr = ThrottleKey::address(ip);
    let hour = Duration::from_secs(3600);
    for n in 1..=3 {
        let count = store.add_failure(&pair, at(5000 + n), hour).await.unwrap();
        assert_eq!(
            (count.failures, count.last_failure),
            (n as u32, at(5000 + n))
        );
    }
    store.add_failure(&addr, at(5003), hour).await.unwrap();
    let mut counts = store.failures(&[pair.clone(), addr.clone()]).await.unwrap();
    counts.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(counts.len(), 2);
    assert_eq!(
        counts.iter().map(|(_, c)| c.failures).collect::<Vec<_>>(),
        [3, 1]
    );
    let later = store
        .add_failure(&pair, at(5003 + 3601), hour)
        .await
        .unwrap();
    assert_eq!(
        later.failures, 1,
        "a count older than forget_after starts again"
    );
    store.clear_failures(&pair).await.unwrap();
    assert_eq!(
        store.failures(std::slice::from_ref(&pair)).await.unwrap(),
        []
    );
    assert_eq!(store.failures(&[]).await.unwrap(), []);

    // Revocation by id and by subject; purge of what expired.
    assert!(store.revoke_refresh_token(&b.id()).await.unwrap());
    assert!(!store.revoke_refresh_token(&b.id()).await.unwrap());
    assert!(
        !store
            .revoke_refresh_token(&TokenId::parse("0000000000000000").unwrap())
            .await
            .unwrap()
    );
    store
        .insert_refresh_token(&b, &record("bob", 1001))
        .await
        .unwrap();
    store
        .insert_refresh_token(&TokenHash::of("rart_c"), &record("bob", 1002))
        .await
        .unwrap();
    assert_eq!(store.revoke_refresh_tokens_of("bob").await.unwrap(), 2);
    // alice's token expires at 4600; the address count was last touched at 5003.
    assert_eq!(store.purge(at(4600), at(5004)).await.unwrap(), 2);
    assert!(store.refresh_tokens(None).await.unwrap().is_empty());

    // People who signed in, as of their last sign-in.
    assert_eq!(store.person("carol").await.unwrap(), None);
    let carol = PersonRecord {
        subject: "carol".into(),
        labels: [(
            "groups".to_owned(),
            vec!["platform".to_owned(), "developers".to_owned()],
        )]
        .into(),
        signed_in_at: at(6000),
    };
    store.record_person(&carol).await.unwrap();
    assert_eq!(store.person("carol").await.unwrap(), Some(carol.clone()));
    let again = PersonRecord {
        labels: [("groups".to_owned(), vec!["developers".to_owned()])].into(),
        signed_in_at: at(6100),
        ..carol
    };
    store.record_person(&again).await.unwrap();
    assert_eq!(store.person("carol").await.unwrap(), Some(again));
    assert_eq!(store.person("Carol").await.unwrap(), None);

    // A shared secret: the first candidate is kept, later ones are not.
    assert_eq!(
        store.shared_secret("cookie", &[1; 32]).await.unwrap(),
        [1; 32]
    );
    assert_eq!(
        store.shared_secret("cookie", &[2; 32]).await.unwrap(),
        [1; 32]
    );
    assert_eq!(
        store.shared_secret("other", &[3; 16]).await.unwrap(),
        [3; 16]
    );
}

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    exercise(&MemoryStore::new()).await;
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let store = SqlStore::connect(&url, None).await.unwrap();
    exercise(&store).await;
    let hash = TokenHash::of("rart_kept");
    store
        .insert_refresh_token(&hash, &record("dave", 9000))
        .await
        .unwrap();
    store.close().await;
    drop(store);
    // A second open runs the migrations again: nothing to do, nothing lost.
    let reopened = SqlStore::connect(&url, None).await.unwrap();
    let (got, _) = reopened.refresh_token(&hash).await.unwrap().unwrap();
    assert_eq!(got, record("dave", 9000));
    assert_eq!(reopened.credential_generation("alice").await.unwrap(), 4);
}

#[tokio::test]
async fn the_postgres_store_keeps_the_contract_and_recovers_from_an_outage() {
    let mut pg = Postgres::start().await;
    // Several instances starting at once migrate once.
    let url = pg.url();
    let (a, b, c) = tokio::join!(
        SqlStore::connect(&url, None),
        SqlStore::connect(&url, None),
        SqlStore::connect(&url, None),
    );
    let (store, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    exercise(&store).await;
    // Instances asking for a shared secret at once all get one and the
    // same.
    let (x, y) = tokio::join!(
        b.shared_secret("race", &[7; 32]),
        c.shared_secret("race", &[8; 32]),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x, y);
    assert!(x == [7; 32] || x == [8; 32]);

    // The password may come apart from the URL.
    let password = registry_auth::Secret::new(pg.password());
    let apart = SqlStore::connect(&pg.url_without_password(), Some(&password))
        .await
        .unwrap();
    assert_eq!(apart.credential_generation("alice").await.unwrap(), 4);
    assert_eq!(apart.url(), pg.url_without_password());

    // Down: every call fails (503 upstream); back: the same pool works.
    let hash = TokenHash::of("rart_pg");
    store
        .insert_refresh_token(&hash, &record("erin", 100))
        .await
        .unwrap();
    pg.stop_server().await;
    assert!(store.refresh_token(&hash).await.is_err());
    pg.start_server().await;
    let mut back = None;
    for _ in 0..50 {
        if let Ok(found) = store.refresh_token(&hash).await {
            back = found;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(back.map(|(r, _)| r), Some(record("erin", 100)));
    store.close().await;
    apart.close().await;
    b.close().await;
    c.close().await;
    pg.stop().await;
}

#[tokio::test]
async fn unreachable_or_malformed_stores_are_named_without_their_password() {
    let port = registry_auth_testkit::free_port();
    let url = format!("postgres://ra:hunter2@127.0.0.1:{port}/ra");
    let err = SqlStore::connect(&url, None).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("state store postgres://ra@127.0.0.1:{port}/ra: ")),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    for (url, message) in [
        (
            "mysql://x",
            "state store mysql://x: expected sqlite://PATH, postgres://… or postgresql://…",
        ),
        ("sqlite://", "state store sqlite://: names no file"),
        (
            "sqlite://a.db?mode=ro",
            "state store sqlite://a.db?mode=ro: takes no ?options (the store sets WAL mode and its own timeouts)",
        ),
    ] {
        assert_eq!(
            SqlStore::connect(url, None).await.unwrap_err().to_string(),
            message
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}/no/such/dir/state.db", dir.path().display());
    let err = SqlStore::connect(&missing, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("state store {missing}: ")),
        "{err}"
    );
}
