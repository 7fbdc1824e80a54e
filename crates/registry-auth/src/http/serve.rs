//! Serving on its own, over HTTP or HTTPS (rustls), with the connection
//! limits of [`Limits`] and graceful shutdown.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::RustlsAcceptor;

pub use axum_server::tls_rustls::RustlsConfig;

use super::accept::LimitAcceptor;
use crate::core::AuthServer;
use crate::guard::limits::Limits;
use crate::token::warn_if_readable_by_others;

/// How long open connections get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

impl AuthServer {
    /// Serves plain HTTP on `addr` until Ctrl-C or SIGTERM, then finishes
    /// the requests in flight. Put TLS in front (or use
    /// [`serve_tls`](Self::serve_tls)): clients send passwords here.
    pub async fn serve(self, addr: SocketAddr) -> io::Result<()> {
        let listener = std::net::TcpListener::bind(addr)?;
        let limits = self.limits().clone();
        serve(listener, self.router()).limits(&limits).await
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
        let tls = rustls_config(certificate_pem_file, key_pem_file).await?;
        let limits = self.limits().clone();
        serve(listener, self.router())
            .tls(tls)
            .limits(&limits)
            .await
    }
}

/// Serves `app` (the token server's [router](AuthServer::router), or an
/// app it is nested in) on a bound listener, with connection limits and
/// graceful shutdown; handlers see the peer address as axum's
/// `ConnectInfo<SocketAddr>`, which the token server reads.
///
/// Defaults: plain HTTP, [`Limits::default`]'s `max_connections` and
/// `header_read_timeout`, and shutdown on Ctrl-C or SIGTERM
/// ([`shutdown_signal`]), after which open connections get 10 s to finish.
/// Await it (or call [`run`](Serve::run)) to serve.
///
/// ```no_run
/// # async fn run(server: registry_auth::AuthServer) -> std::io::Result<()> {
/// use registry_auth::serve::rustls_config;
///
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "my app" }))
///     .nest("/auth", server.router());
/// let listener = std::net::TcpListener::bind("0.0.0.0:5001")?;
/// registry_auth::serve(listener, app)
///     .tls(rustls_config("tls.crt", "tls.key").await?)
///     .limits(server.limits())
///     .await
/// # }
/// ```
pub fn serve(listener: std::net::TcpListener, app: Router) -> Serve {
    Serve {
        listener,
        app,
        tls: None,
        limits: Limits::default(),
        shutdown: Box::pin(shutdown_signal()),
    }
}

/// A server about to run; see [`serve()`].
#[must_use = "a Serve does nothing until it is awaited"]
pub struct Serve {
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<RustlsConfig>,
    limits: Limits,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Serve {
    /// Serves HTTPS with this configuration. Keep a clone of it to reload
    /// the certificate while serving
    /// ([`RustlsConfig::reload_from_pem_file`]). Defaults to plain HTTP.
    pub fn tls(mut self, config: RustlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// The connection limits: `max_connections`, `header_read_timeout`
    /// and `idle_timeout` (the request limits belong to the token server
    /// that answers).
    /// Defaults to [`Limits::default`].
    pub fn limits(mut self, limits: &Limits) -> Self {
        self.limits = limits.clone();
        self
    }

    /// Stops accepting connections when `signal` completes; open ones get
    /// 10 s to finish. Defaults to [`shutdown_signal`].
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.shutdown = Box::pin(signal);
        self
    }

    /// Serves until the shutdown signal, then drains. Limits that cannot
    /// work ([`Limits::validate`]) are refused with `InvalidInput`.
    pub async fn run(self) -> io::Result<()> {
        let Serve {
            listener,
            app,
            tls,
            limits,
            shutdown,
        } = self;
        limits
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        listener.set_nonblocking(true)?;
        let handle = axum_server::Handle::new();
        let on_signal = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            on_signal.graceful_shutdown(Some(DRAIN));
        });
        let make_service = app.into_make_service_with_connect_info::<SocketAddr>();
        // A connection that sends nothing is closed once the handshake or
        // the first request is `header_read_timeout` late (hyper alone
        // would wait for ever while it detects the protocol), and once it
        // has been idle for `idle_timeout` ([`LimitAcceptor`]).
        let first_request = limits.header_read_timeout;
        match tls {
            None => {
                let acceptor = LimitAcceptor::new(
                    DefaultAcceptor::new(),
                    limits.max_connections,
                    limits.idle_timeout,
                );
                let mut server = axum_server::from_tcp(listener)?
                    .acceptor(acceptor)
                    .first_request_timeout(first_request);
                configure_http(server.http_builder(), &limits);
                server.handle(handle).serve(make_service).await
            }
            Some(tls) => {
                install_crypto_provider();
                let handshake = RustlsAcceptor::new(tls).handshake_timeout(first_request);
                let acceptor =
                    LimitAcceptor::new(handshake, limits.max_connections, limits.idle_timeout);
                let mut server = axum_server::from_tcp(listener)?
                    .acceptor(acceptor)
                    .first_request_timeout(first_request);
                configure_http(server.http_builder(), &limits);
                server.handle(handle).serve(make_service).await
            }
        }
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Loads a PEM certificate chain and private key for [`Serve::tls`],
/// warning in the log when the key file is readable by others.
pub async fn rustls_config(
    certificate_pem_file: impl AsRef<Path>,
    key_pem_file: impl AsRef<Path>,
) -> io::Result<RustlsConfig> {
    install_crypto_provider();
    warn_if_readable_by_others(key_pem_file.as_ref());
    RustlsConfig::from_pem_file(certificate_pem_file, key_pem_file).await
}

/// Connection-level HTTP settings: the header read timeout and a 64 KiB
/// read buffer, which bounds what a client can make the server hold.
/// hyper's own limit of 100 header lines is kept: a request with more is
/// answered by hyper with a bare 431 (no JSON body), and every request
/// under it reaches the router, whose byte limit answers with a JSON
/// error. Raising the line limit moves hyper's header arrays from the
/// stack to two heap allocations per request sized by the limit (1024
/// lines cost 1.3 µs a request, 13 % of a `/healthz` answer).
fn configure_http(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &Limits,
) {
    builder
        .http1()
        .header_read_timeout(Some(limits.header_read_timeout))
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
