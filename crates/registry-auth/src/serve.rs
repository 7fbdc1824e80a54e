//! Serving the token server on its own, over HTTP or HTTPS (rustls).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;

use crate::server::AuthServer;

/// How long open connections get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

impl AuthServer {
    /// Serves plain HTTP on `addr` until Ctrl-C or SIGTERM, then finishes
    /// the requests in flight. Put TLS in front (or use
    /// [`serve_tls`](Self::serve_tls)): clients send passwords here.
    pub async fn serve(self, addr: SocketAddr) -> io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        self.serve_with_shutdown(listener, shutdown_signal()).await
    }

    /// Serves plain HTTP on a bound listener until `shutdown` completes.
    pub async fn serve_with_shutdown(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let app = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
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
        let config = RustlsConfig::from_pem_file(certificate_pem_file, key_pem_file).await?;
        listener.set_nonblocking(true)?;
        let handle = axum_server::Handle::new();
        let on_signal = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            on_signal.graceful_shutdown(Some(DRAIN));
        });
        axum_server::from_tcp_rustls(listener, config)?
            .handle(handle)
            .serve(
                self.router
                    .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
    }
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
