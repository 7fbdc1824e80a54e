//! A private Docker daemon (Debian's `docker.io`, 20.10) and the docker CLI
//! pointed at it, for end-to-end tests of `docker login`/`push`/`pull`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::process::{
    clean_up_after, daemon_command, output, short_tempdir, stop_child, stop_child_blocking,
};
use crate::registry::tar_with_one_file;

/// The Debian docker CLI. `/usr/local/bin/docker` (a newer client) may come
/// first on the `PATH`; the tests drive the one that matches the daemon.
const DOCKER: &str = "/usr/bin/docker";

/// A running `dockerd` of its own: its own data root, exec root, socket,
/// containerd and client config, all under one temp dir under `/tmp`. It
/// uses the vfs storage driver and no bridge or iptables, so it runs
/// beside a system dockerd (or another `Dockerd`) and touches neither
/// `/var/run/docker.sock` nor `/etc/docker`. Stopped on drop, with the
/// containerd it started.
#[derive(Debug)]
pub struct Dockerd {
    child: Option<Child>,
    host: String,
    config_dir: PathBuf,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// Starts the daemon and waits until `docker version` answers; panics
    /// with the daemon's log if it does not. Registries on 127.0.0.0/8 are
    /// spoken to over plain HTTP.
    pub async fn start() -> Dockerd {
        let dir = short_tempdir("dk");
        let root = dir.path();
        let config_dir = root.join("cfg");
        std::fs::create_dir(&config_dir).expect("mkdir docker client config");
        // Its own daemon.json, so that /etc/docker/daemon.json is not read;
        // `deprecated-key-path` (settable only here) keeps dockerd 20.10
        // from writing /etc/docker/key.json.
        let daemon_json = root.join("daemon.json");
        let settings = serde_json::json!({
            "deprecated-key-path": root.join("key.json"),
        });
        std::fs::write(&daemon_json, settings.to_string()).expect("write daemon.json");
        let socket = root.join("docker.sock");
        let host = format!("unix://{}", socket.display());
        let log = root.join("dockerd.log");
        // SIGTERM, not SIGKILL, if the test binary dies: dockerd bind-mounts
        // its data root onto itself and undoes that only on a clean exit.
        let mut command = daemon_command("dockerd", "TERM", &log);
        command
            .arg("--config-file")
            .arg(&daemon_json)
            .arg("--data-root")
            .arg(root.join("root"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            .arg("-H")
            .arg(&host)
            .args([
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--insecure-registry",
                "127.0.0.0/8",
            ]);
        for name in [
            "DOCKER_HOST",
            "DOCKER_CONFIG",
            "DOCKER_CONTEXT",
            "DOCKER_TLS_VERIFY",
        ] {
            command.env_remove(name);
        }
        let child = command.spawn().expect("start dockerd");
        let dockerd = Dockerd {
            child: Some(child),
            host,
            config_dir,
            log,
            dir,
        };
        dockerd.wait_ready().await;
        dockerd
    }

    async fn wait_ready(&self) {
        for _ in 0..300 {
            if self.run(&["version"]).await.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("dockerd did not start; log:\n{}", self.log());
    }

    /// `DOCKER_HOST` for this daemon: `unix:///tmp/…/docker.sock`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The client config dir (`DOCKER_CONFIG`) the commands use: `docker
    /// login` writes `config.json` here, with `auths` and, from a token
    /// server that hands out refresh tokens, an `identitytoken` (unless a
    /// `docker-credential-secretservice`, or `pass` and
    /// `docker-credential-pass`, are on the `PATH`: docker then keeps the
    /// credentials there).
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// What the daemon (and the containerd it runs) logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A `docker ARGS…` command against this daemon with this client
    /// config; stdin is null unless the caller sets it.
    pub fn docker(&self, args: &[&str]) -> Command {
        let mut command = Command::new(DOCKER);
        command
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.config_dir)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `docker ARGS…`; returns (success, stdout+stderr).
    pub async fn run(&self, args: &[&str]) -> (bool, String) {
        output(&mut self.docker(args), "docker").await
    }

    /// Makes a one-layer image `reference` holding one file, `file_name`
    /// with `content` (`docker import` of a tar archive: nothing is pulled).
    /// Panics if docker refuses.
    pub async fn import_image(&self, reference: &str, file_name: &str, content: &[u8]) {
        let archive = self.dir.path().join("import.tar");
        std::fs::write(&archive, tar_with_one_file(file_name, content)).expect("write tar");
        let archive = archive.to_str().expect("utf-8 temp path");
        let (ok, out) = self.run(&["import", archive, reference]).await;
        let _ = std::fs::remove_file(archive);
        assert!(ok, "docker import {reference} failed: {out}");
    }

    /// `docker login REGISTRY -u USER --password-stdin`; returns (success,
    /// stdout+stderr).
    pub async fn login(&self, registry: &str, user: &str, password: &str) -> (bool, String) {
        let (reader, mut writer) = std::io::pipe().expect("pipe");
        // A password fits in the pipe's buffer: written before docker runs.
        std::io::Write::write_all(&mut writer, password.as_bytes()).expect("write password");
        drop(writer);
        let mut command = self.docker(&["login", registry, "-u", user, "--password-stdin"]);
        command.stdin(Stdio::from(reader));
        output(&mut command, "docker login").await
    }

    /// Stops the daemon (SIGTERM, so that it unmounts what it mounted)
    /// and its containerd.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "TERM", Duration::from_secs(20)).await;
        }
        clean_up_after(self.dir.path());
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child_blocking(&mut child, "TERM", Duration::from_secs(20));
        }
        clean_up_after(self.dir.path());
    }
}
