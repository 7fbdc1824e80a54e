//! HAProxy (Debian's 2.6) in front of several instances of a server, for
//! tests of running more than one instance and of losing one.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Child;

use crate::process::{daemon_command, short_tempdir, stop_child, stop_child_blocking};
use crate::registry::free_port;

/// A running `haproxy`: HTTP round robin over the backends given to
/// [`start`](Self::start), with health checks (`GET /healthz` every 500 ms;
/// one failure takes a backend out, one success brings it back) and
/// retries: a request whose backend refuses the connection, closes it
/// without answering, or times out is sent again, to another backend each
/// time, up to 3 times (an answer, 503 included, is passed on). Requests whose
/// body does not fit in one buffer (16 kB) are never retried. Killed on
/// drop.
#[derive(Debug)]
pub struct Haproxy {
    /// Where it listens: `127.0.0.1:PORT`.
    pub addr: String,
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts haproxy in front of `backends` (`127.0.0.1:PORT` each) and
    /// waits until it accepts connections; panics with its log if it does
    /// not. The backends need not be up yet: each is taken in or out by
    /// its health checks.
    pub async fn start(backends: &[String]) -> Haproxy {
        assert!(!backends.is_empty(), "haproxy needs at least one backend");
        let dir = short_tempdir("hp");
        let addr = format!("127.0.0.1:{}", free_port());
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, backend)| {
                format!("    server s{i} {backend} check inter 500ms fall 1 rise 1\n")
            })
            .collect();
        let bind = format!("    bind {addr}");
        let config = [
            "global",
            "    maxconn 512",
            "    log stderr format raw local0 info",
            "defaults",
            "    mode http",
            "    log global",
            "    option httplog",
            // Not the connections that only check it is up.
            "    option dontlognull",
            "    timeout connect 500ms",
            "    timeout client 30s",
            "    timeout server 30s",
            "    timeout check 500ms",
            "    retries 3",
            // Another backend on every retry, not only on the last one.
            "    option redispatch 1",
            // Only failures of the connection: an instance's own 503 (its
            // store is down, say) is an answer, which the README's setup
            // passes on rather than multiplying.
            "    retry-on conn-failure empty-response response-timeout",
            // Wait for the whole body before choosing a backend, so that
            // the request can be replayed.
            "    option http-buffer-request",
            "frontend front",
            &bind,
            "    default_backend back",
            "backend back",
            "    balance roundrobin",
            "    option httpchk GET /healthz",
            "",
        ]
        .join("\n")
            + &servers;
        let config_path = dir.path().join("haproxy.cfg");
        std::fs::write(&config_path, config).expect("write haproxy config");
        let log = dir.path().join("haproxy.log");
        let child = daemon_command("haproxy", "KILL", &log)
            .arg("-f")
            .arg(&config_path)
            .arg("-db")
            .spawn()
            .expect("start haproxy");
        let mut haproxy = Haproxy {
            addr,
            child: Some(child),
            log,
            _dir: dir,
        };
        haproxy.wait_ready().await;
        haproxy
    }

    async fn wait_ready(&mut self) {
        for _ in 0..200 {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                panic!("haproxy exited ({status}); log:\n{}", self.log());
            }
            if std::net::TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("haproxy did not start; log:\n{}", self.log());
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What haproxy logged so far: one line per request, and every backend
    /// going down or up.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops haproxy.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "TERM", Duration::from_secs(5)).await;
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child_blocking(&mut child, "TERM", Duration::from_secs(5));
        }
    }
}
