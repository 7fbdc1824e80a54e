//! The library's integration tests, in one binary (as ripgrep does): the
//! HTTP adapter through its router with no socket, serving over sockets,
//! hostile and faulty clients and backends, tokens, and end to end with
//! the real registry and real clients. The protocol core's decisions are
//! unit-tested next to it (`src/core/tests.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod adapter;
mod e2e_registry;
mod faults;
mod hostile;
#[cfg(feature = "ldap")]
mod ldap;
mod oauth;
#[cfg(feature = "oidc-login")]
mod oidc_login;
mod properties;
mod secrets;
mod serve;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod state;
mod token;
#[cfg(feature = "workload-identity")]
mod workload;

/// The state-store tests need both database features; `scripts/test`
/// builds with `--all-features`. Fail rather than skip them quietly.
#[cfg(not(all(feature = "sqlite", feature = "postgres")))]
#[test]
fn state_store_tests_need_the_sqlite_and_postgres_features() {
    panic!("run with --features sqlite,postgres (or --all-features)");
}

/// The directory tests need the `ldap` feature; `scripts/test` builds with
/// `--all-features`. Fail rather than skip them quietly.
#[cfg(not(feature = "ldap"))]
#[test]
fn directory_tests_need_the_ldap_feature() {
    panic!("run with --features ldap (or --all-features)");
}

/// The workload-identity tests need the `workload-identity` feature;
/// `scripts/test` builds with `--all-features`. Fail rather than skip them
/// quietly.
#[cfg(not(feature = "workload-identity"))]
#[test]
fn workload_identity_tests_need_the_workload_identity_feature() {
    panic!("run with --features workload-identity (or --all-features)");
}

/// The sign-in tests need the `oidc-login` feature; `scripts/test` builds
/// with `--all-features`. Fail rather than skip them quietly.
#[cfg(not(feature = "oidc-login"))]
#[test]
fn sign_in_tests_need_the_oidc_login_feature() {
    panic!("run with --features oidc-login (or --all-features)");
}
