//! Test support shared by the registry-auth crates: the real registry
//! (Debian's `docker-registry`), skopeo, OCI image layouts, free ports, a
//! throwaway OpenLDAP directory (Debian's `slapd`).
//! Written once here so that every integration-test binary drives the
//! real components the same way. Tests may panic: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod containerd;
mod docker;
mod haproxy;
mod ldap;
mod postgres;
mod process;
mod registry;

pub use containerd::Containerd;
pub use docker::Dockerd;
pub use haproxy::Haproxy;
pub use ldap::Slapd;
pub use postgres::Postgres;
pub use registry::{
    Registry, free_port, registry_v3_binary, require_registry_and_skopeo, require_tools, skopeo,
    skopeo_delete, skopeo_inspect, skopeo_push, tar_with_one_file, write_oci_layout,
};
