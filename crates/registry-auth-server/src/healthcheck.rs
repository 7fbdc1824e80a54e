//! `registry-auth healthcheck`: asks a running server's `/healthz`, for a
//! container's `HEALTHCHECK` or a probe where there is no curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::config::Config;

/// Where to ask: `url`, or the server that `config` describes, on the
/// loopback address when it listens on all of them.
pub(crate) fn run(config: &Path, url: Option<&str>, timeout: Duration) -> Result<(), String> {
    let (url, own_server) = match url {
        Some(url) => (url.to_owned(), false),
        None => {
            let (listen, tls) = Config::listen_address(config).map_err(|e| e.to_string())?;
            (healthz_url(listen, tls), true)
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(ask(&url, own_server, timeout))
}

/// The `/healthz` URL of a server listening on `listen`.
fn healthz_url(listen: SocketAddr, tls: bool) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}/healthz", SocketAddr::new(ip, listen.port()))
}

async fn ask(url: &str, own_server: bool, timeout: Duration) -> Result<(), String> {
    // The server's own certificate names its public host, not the
    // loopback address this asks on; nothing secret is sent and only the
    // status is read, so its own server is asked without checking the
    // name. A URL given on the command line is checked as usual.
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .danger_accept_invalid_certs(own_server)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", error_chain(&e.without_url())))?;
    let status = response.status();
    if status.is_success() {
        println!("{url}: {status}");
        Ok(())
    } else {
        Err(format!("{url}: answered {status}"))
    }
}

/// An error with its causes, which say what went wrong (a refused
/// connection, a timeout).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_addresses_are_asked_on_loopback() {
        let url = |listen: &str, tls| healthz_url(listen.parse().unwrap(), tls);
        assert_eq!(url("0.0.0.0:5001", false), "http://127.0.0.1:5001/healthz");
        assert_eq!(url("[::]:5001", true), "https://[::1]:5001/healthz");
        assert_eq!(url("10.1.2.3:443", true), "https://10.1.2.3:443/healthz");
    }
}
