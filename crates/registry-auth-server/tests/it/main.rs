//! The `registry-auth` binary's integration tests, in one binary: every
//! subcommand run as a user runs it, the server with reloads, TLS, logs and
//! metrics, and end to end with the real registry and skopeo.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod cli;
mod e2e_server;
