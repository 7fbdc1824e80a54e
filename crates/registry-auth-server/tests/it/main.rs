//! The `registry-auth` binary's integration tests, in one binary: every
//! subcommand run as a user runs it, the server with reloads, TLS, logs and
//! metrics, and end to end with the real registry and real clients
//! (skopeo, the docker CLI, containerd's ctr), one instance on SQLite and
//! three on PostgreSQL behind HAProxy; the deployment files (image, compose,
//! systemd, Kubernetes).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod cli;
mod cluster;
mod compose;
mod deploy;
mod directory;
mod docker_cli;
mod e2e_server;
mod keys;
mod sign_in;
mod workload;
