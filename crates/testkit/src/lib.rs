//! Test support shared by the registry-auth crates: the real registry
//! (Debian's `docker-registry`), skopeo, OCI image layouts, free ports, a
//! throwaway OpenLDAP directory (Debian's `slapd`), OIDC issuers (fixture
//! ones of our own, and npm's `oidc-provider`).
//! Written once here so that every integration-test binary drives the
//! real components the same way. Tests may panic: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod containerd;
mod docker;
mod haproxy;
mod issuer;
mod ldap;
mod oidc_provider;
mod postgres;
mod process;
mod registry;
mod tls;

pub use browser::{Browser, BrowserStep, PageReport};
pub use containerd::Containerd;
pub use docker::Dockerd;
pub use haproxy::Haproxy;
pub use issuer::{
    FakeIssuer, IssuerKey, IssuerMode, KeyType, github_actions_claims, gitlab_ci_claims,
    hs256_token, jwks, kubernetes_claims, tamper, unsigned_token,
};
pub use ldap::Slapd;
pub use oidc_provider::{OidcProvider, OidcSettings};
pub use postgres::Postgres;
pub use registry::{
    Registry, free_port, registry_v3_binary, require_registry_and_skopeo, require_tools, skopeo,
    skopeo_delete, skopeo_inspect, skopeo_push, tar_with_one_file, write_oci_layout,
};
