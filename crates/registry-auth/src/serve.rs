//! Serving on its own, over HTTP or HTTPS (rustls), with the connection
//! limits of [`Limits`] and graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::RustlsAcceptor;

pub use axum_server::tls_rustls::RustlsConfig;

use crate::limits::{LimitAcceptor, Limits};
use crate::server::AuthServer;

/// How long open connections get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

impl AuthServer {
    /// Serves plain HTTP on `addr` until Ctrl-C or SIGTERM, then finishes
    /// the requests in flight. Put TLS in front (or use
    /// [`serve_tls`](Self::serve_tls)): clients send passwords here.
    pub async fn serve(self, addr: SocketAddr) -> io::Result<()> {
        let listener = std::net::TcpListener::bind(addr)?;
        self.serve_with_shutdown(listener, shutdown_signal()).await
    }

    /// Serves plain HTTP on a bound listener until `shutdown` completes.
    pub async fn serve_with_shutdown(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let limits = self.limits().clone();
        serve_app(self.router, listener, None, &limits, shutdown).await
    }

    /// Serves HTTPS on `addr` with a PEM certificate chain and key, until
    /// Ctrl-C or SIGTERM. TLS 1.2 and 1.3 with rustls defaults.
    pub async fn serve_tls(
        self,
        addr: SocketAddr,
        certificate_pem_file: impl AsRef<Path>,
        key_pem_file: impl AsRef<Path>,
    ) -> io::Result<()> {
        let listener = std::net::TcpListener::bind(addr)?;
        self.serve_tls_with_shutdown(
            listener,
            certificate_pem_file,
            key_pem_file,
            shutdown_signal(),
        )
        .await
    }

    /// Serves HTTPS on a bound listener until `shutdown` completes.
    pub async fn serve_tls_with_shutdown(
        self,
        listener: std::net::TcpListener,
        certificate_pem_file: impl AsRef<Path>,
        key_pem_file: impl AsRef<Path>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        install_crypto_provider();
        crate::token::warn_if_readable_by_others(key_pem_file.as_ref());
        let tls = RustlsConfig::from_pem_file(certificate_pem_file, key_pem_file).await?;
        let limits = self.limits().clone();
        serve_app(self.router, listener, Some(tls), &limits, shutdown).await
    }
}

/// Serves any router (the token server's, or an app around it) on a bound
/// listener, over TLS when `tls` is given, with the connection limits of
/// `limits` (`max_connections`, `header_read_timeout`), until `shutdown`
/// completes; then open connections get 10 s to finish.
///
/// Handlers see the peer address as `ConnectInfo<SocketAddr>`. Keep the
/// `RustlsConfig` to reload the certificate while serving.
pub async fn serve_app(
    app: Router,
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.graceful_shutdown(Some(DRAIN));
    });
    let make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => {
            let acceptor = LimitAcceptor::new(DefaultAcceptor::new(), limits.max_connections);
            let mut server = axum_server::from_tcp(listener)?.acceptor(acceptor);
            configure_http(server.http_builder(), limits);
            server.handle(handle).serve(make_service).await
        }
        Some(tls) => {
            install_crypto_provider();
            let acceptor = LimitAcceptor::new(RustlsAcceptor::new(tls), limits.max_connections);
            let mut server = axum_server::from_tcp(listener)?.acceptor(acceptor);
            configure_http(server.http_builder(), limits);
            server.handle(handle).serve(make_service).await
        }
    }
}

/// Connection-level HTTP settings. hyper answers more than 100 headers
/// itself, with an empty 431; letting up to 1024 through lets the
/// router's byte limit answer with a JSON error instead, and the 64 KiB
/// read buffer bounds what a client can make the server hold.
fn configure_http(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &Limits,
) {
    builder
        .http1()
        .header_read_timeout(Some(limits.header_read_timeout))
        .max_headers(1024)
        .max_buf_size(64 * 1024);
}

/// rustls needs a process-wide crypto provider when more than one is
/// compiled in; we use aws-lc-rs everywhere. A provider installed earlier
/// (by the application) is kept.
fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining connections");
}
