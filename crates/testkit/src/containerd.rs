//! A containerd daemon of its own (Debian's 1.6) and `ctr` pointed at it,
//! for end-to-end tests of `ctr images pull/push` against the registry.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::process::{
    clean_up_after, daemon_command, output, short_tempdir, stop_child, stop_child_blocking,
};

/// A running `containerd` with its own config, root, state and sockets,
/// all under one temp dir under `/tmp`; the CRI plugin is off. Stopped on
/// drop.
#[derive(Debug)]
pub struct Containerd {
    child: Option<Child>,
    address: PathBuf,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Containerd {
    /// Starts containerd and waits until `ctr version` answers; panics with
    /// its log if it does not.
    pub async fn start() -> Containerd {
        let dir = short_tempdir("ct");
        let root = dir.path();
        let address = root.join("c.sock");
        let config = format!(
            "version = 2\n\
             root = \"{root}\"\n\
             state = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{address}\"\n\
             [ttrpc]\n  address = \"{address}.ttrpc\"\n\
             [debug]\n  address = \"\"\n\
             [metrics]\n  address = \"\"\n",
            root = root.join("root").display(),
            state = root.join("state").display(),
            address = address.display(),
        );
        let config_path = root.join("config.toml");
        std::fs::write(&config_path, config).expect("write containerd config");
        let log = root.join("containerd.log");
        let child = daemon_command("containerd", "TERM", &log)
            .arg("--config")
            .arg(&config_path)
            .spawn()
            .expect("start containerd");
        let containerd = Containerd {
            child: Some(child),
            address,
            log,
            dir,
        };
        containerd.wait_ready().await;
        containerd
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if self.ctr(&["version"]).await.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("containerd did not start; log:\n{}", self.log());
    }

    /// The path of its gRPC socket (`ctr --address`).
    pub fn address(&self) -> &std::path::Path {
        &self.address
    }

    /// What containerd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A `ctr --address SOCK ARGS…` command (namespace `default`); stdin
    /// is null unless the caller sets it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ctr");
        command
            .env_remove("CONTAINERD_ADDRESS")
            .env_remove("CONTAINERD_NAMESPACE")
            .env_remove("CONTAINERD_SNAPSHOTTER")
            .arg("--address")
            .arg(&self.address)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `ctr --address SOCK ARGS…`, for instance `images pull
    /// --plain-http --user U:P 127.0.0.1:PORT/REPO:TAG`; returns (success,
    /// stdout+stderr).
    pub async fn ctr(&self, args: &[&str]) -> (bool, String) {
        output(&mut self.command(args), "ctr").await
    }

    /// Stops containerd.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "TERM", Duration::from_secs(10)).await;
        }
        clean_up_after(self.dir.path());
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child_blocking(&mut child, "TERM", Duration::from_secs(10));
        }
        clean_up_after(self.dir.path());
    }
}
