//! A throwaway PostgreSQL 15 cluster (Debian's `postgresql-15`), for tests
//! of the database-backed stores, including a database outage.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::process::{
    daemon_command, os_user, output, random_password, short_tempdir, stop_child,
    stop_child_blocking,
};
use crate::registry::free_port;

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// The role and the database the tests use.
const NAME: &str = "registry_auth";

/// A PostgreSQL 15 cluster in a temp dir, owned by the `postgres` OS user
/// and served by a postmaster run as that user, listening on 127.0.0.1
/// only, on a free port. It holds a role and a database, both named
/// `registry_auth`; TCP connections need the role's password (SCRAM).
/// The server is stopped on drop (immediate shutdown).
#[derive(Debug)]
pub struct Postgres {
    port: u16,
    password: String,
    uid: u32,
    gid: u32,
    child: Option<Child>,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Creates the cluster (`initdb`), starts the server, waits until it
    /// accepts connections and creates the role and the database; panics
    /// with the server's log if any of that fails.
    pub async fn start() -> Postgres {
        let (uid, gid) = os_user("postgres", "postgresql-15");
        // Under /tmp: the unix socket lives in it. It is 0700: the postgres
        // user must own it to get in.
        let dir = short_tempdir("pg");
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown to postgres");
        let mut postgres = Postgres {
            port: free_port(),
            password: random_password(),
            uid,
            gid,
            child: None,
            log: dir.path().join("postgres.log"),
            dir,
        };
        let (ok, out) = output(
            postgres
                .as_postgres(&Path::new(BIN).join("initdb"))
                .arg("-D")
                .arg(postgres.data())
                .args([
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--no-sync",
                    "--no-instructions",
                ])
                .stdin(Stdio::null()),
            "initdb",
        )
        .await;
        assert!(ok, "initdb failed:\n{out}");
        postgres.start_server().await;
        let sql = format!(
            "create role {NAME} login password '{password}'",
            password = postgres.password
        );
        postgres.admin_sql(&sql).await;
        postgres
            .admin_sql(&format!("create database {NAME} owner {NAME}"))
            .await;
        postgres
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command run as the `postgres` OS user, in the cluster's dir.
    fn as_postgres(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        self.drop_privileges(&mut command);
        command
    }

    fn drop_privileges(&self, command: &mut Command) {
        command
            .uid(self.uid)
            .gid(self.gid)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("LC_ALL", "C")
            .env_remove("PGDATA")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .kill_on_drop(true);
    }

    /// Runs SQL as the superuser over the unix socket; panics on failure.
    async fn admin_sql(&self, sql: &str) {
        let mut command = Command::new(Path::new(BIN).join("psql"));
        command
            .arg("-h")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", "postgres", "-X", "-q"])
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null());
        let (ok, out) = output(&mut command, "psql").await;
        assert!(ok, "psql {sql:?} failed: {out}\nlog:\n{}", self.log());
    }

    /// Runs `psql URL -c SQL` (tuples only, unaligned) as `registry_auth`
    /// over TCP with the password; returns (success, stdout+stderr).
    pub async fn psql(&self, sql: &str) -> (bool, String) {
        let mut command = Command::new(Path::new(BIN).join("psql"));
        command
            .arg(self.url())
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .stdin(Stdio::null());
        output(&mut command, "psql").await
    }

    /// `postgres://registry_auth:PASSWORD@127.0.0.1:PORT/registry_auth`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{NAME}:{password}@127.0.0.1:{port}/{NAME}",
            password = self.password,
            port = self.port
        )
    }

    /// `postgres://registry_auth@127.0.0.1:PORT/registry_auth`: for tests
    /// that hand the password over separately (it is needed: TCP
    /// connections use SCRAM).
    pub fn url_without_password(&self) -> String {
        format!(
            "postgres://{NAME}@127.0.0.1:{port}/{NAME}",
            port = self.port
        )
    }

    /// The password of the `registry_auth` role (hex, URL-safe).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The TCP port it listens on, on 127.0.0.1; kept across
    /// [`stop_server`](Self::stop_server)/[`start_server`](Self::start_server).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the server logged so far (all its runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the server is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server on the cluster's port, if it is not running, and
    /// waits until it accepts connections; panics with its log otherwise.
    pub async fn start_server(&mut self) {
        if self.child.is_some() {
            return;
        }
        // The log keeps every run of the server.
        let mut command = daemon_command(Path::new(BIN).join("postgres"), "QUIT", &self.log);
        self.drop_privileges(&mut command);
        command
            .arg("-D")
            .arg(self.data())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        self.child = Some(command.spawn().expect("start postgres"));
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                panic!("postgres exited ({status}); log:\n{}", self.log());
            }
            let ready = Command::new(Path::new(BIN).join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p"])
                .arg(self.port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("postgres did not start; log:\n{}", self.log());
    }

    /// Stops the server (fast shutdown: sessions are ended, data kept);
    /// [`start_server`](Self::start_server) brings it back on the same
    /// port with the same data.
    pub async fn stop_server(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "INT", Duration::from_secs(30)).await;
        }
    }

    /// Stops the server at once (immediate shutdown, as a crash would;
    /// data kept, recovered on the next start).
    pub async fn kill_server(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "QUIT", Duration::from_secs(10)).await;
        }
    }

    /// [`stop_server`](Self::stop_server) then
    /// [`start_server`](Self::start_server).
    pub async fn restart(&mut self) {
        self.stop_server().await;
        self.start_server().await;
    }

    /// Stops the server and removes the cluster.
    pub async fn stop(mut self) {
        self.stop_server().await;
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Immediate shutdown: the postmaster stops its children and removes
        // its shared memory; SIGKILL would leave both behind a moment.
        if let Some(mut child) = self.child.take() {
            stop_child_blocking(&mut child, "QUIT", Duration::from_secs(10));
        }
    }
}
