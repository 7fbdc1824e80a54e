//! `registry-auth serve`: the token server with health, metrics, reload on
//! SIGHUP or file change, and graceful shutdown.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use registry_auth::AuthServer;
use registry_auth::serve::{RustlsConfig, rustls_config, shutdown_signal};
use registry_auth::state::StateStore;
use tower::ServiceExt;

use crate::config::{Config, MissingKey};
use crate::key_report;
use crate::service_manager;

/// What the request handlers share: the router of the token server of the
/// configuration in force (built once per configuration), swapped whole on
/// reload.
#[derive(Clone)]
struct Shared {
    current: Arc<ArcSwap<Router>>,
    metrics: PrometheusHandle,
    state: Arc<dyn StateStore>,
    /// `throttle.forget_after` in force, for the purge: reloads change it.
    forget_after: Arc<AtomicU64>,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub(crate) async fn run(config_path: PathBuf) -> Result<(), String> {
    let metrics = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        ])
        .map_err(|e| format!("metrics: {e}"))?
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    let config = Config::load(&config_path).map_err(|e| e.to_string())?;
    // One state store for the life of the process: refresh tokens and
    // failure counts survive reloads (and, in a database, restarts).
    let state = config.open_state().await.map_err(|e| e.to_string())?;
    let server = build(&config, &state)?;
    // At start a store that cannot record the users is an error: tokens of
    // a user whose password changed while the server was down would live.
    sync_credentials(&server, &config)
        .await
        .map_err(|e| format!("{}: state store: {e}", config.path.display()))?;
    println!(
        "registry-auth: configure the registry with\n\n{}",
        config.registry_snippet()
    );

    let shared = Shared {
        current: Arc::new(ArcSwap::from_pointee(app_router(&server, &config, &state)?)),
        metrics: metrics.clone(),
        state: Arc::clone(&state),
        forget_after: Arc::new(AtomicU64::new(seconds(config.throttling.forget_after))),
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .fallback(token_server)
        .with_state(shared.clone());

    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            metrics.run_upkeep();
        }
    });

    let tls = match &config.tls {
        Some(tls) => Some(
            rustls_config(&tls.certificate, &tls.key)
                .await
                .map_err(|e| {
                    format!(
                        "{}: server.tls_certificate/tls_key: {e}",
                        config.path.display()
                    )
                })?,
        ),
        None => None,
    };
    tokio::spawn(purge_loop(state, Arc::clone(&shared.forget_after)));
    tokio::spawn(reload_loop(config.clone(), shared, tls.clone()));

    let listen = config.listen;
    tracing::info!(
        %listen,
        tls = tls.is_some(),
        users = config.users.len(),
        rules = config.acl.len(),
        anonymous = config.acl.allows_anonymous(),
        "registry-auth serving"
    );
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    // Limits on connections take effect at start; request limits follow
    // every reload with the server they belong to.
    let mut serving = registry_auth::serve(listener, app)
        .limits(&config.limits)
        .with_graceful_shutdown(async {
            shutdown_signal().await;
            service_manager::stopping();
        });
    if let Some(tls) = tls {
        serving = serving.tls(tls);
    }
    // The socket is bound and everything it serves is built: requests
    // queue in the backlog until the first poll of `serving` below.
    service_manager::ready();
    serving
        .await
        .map_err(|e| format!("cannot serve on {listen}: {e}"))?;
    tracing::info!("registry-auth stopped");
    Ok(())
}

async fn token_server(State(shared): State<Shared>, request: Request<Body>) -> Response {
    let router = Router::clone(&shared.current.load());
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn healthz() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
}

async fn render_metrics(State(shared): State<Shared>) -> Response {
    let mut response = shared.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

fn json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A file's identity for change detection: modification time and size.
type Stamp = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn stamp(files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok();
            let stamp = meta.and_then(|m| Some((m.modified().ok()?, m.len())));
            (f.clone(), stamp)
        })
        .collect()
}

/// The stamps `files` had before a reload read them: a file that changed
/// while it was read differs from them at the next tick, which reloads
/// again. A file the old configuration did not watch has no earlier stamp
/// and counts as changed once (one more reload, harmless).
fn stamps_as_before(before: &Stamp, files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|file| {
            let earlier = before.iter().find(|(f, _)| f == file);
            (file.clone(), earlier.and_then(|(_, stamp)| *stamp))
        })
        .collect()
}

/// Reloads on SIGHUP and, when `server.watch` is on, when a watched file
/// changes. A configuration that fails to load is logged and refused: the
/// one in force keeps serving.
async fn reload_loop(mut config: Config, shared: Shared, tls: Option<RustlsConfig>) {
    let mut hangup = hangup_signal();
    let mut seen = stamp(&config.watched_files());
    // A server whose users the store has not recorded yet (it was down at
    // the last reload): retried every tick until it takes.
    let mut unsynced: Option<AuthServer> = None;
    loop {
        let interval = if unsynced.is_some() {
            Duration::from_secs(5)
        } else {
            config.watch.unwrap_or(Duration::from_secs(3600))
        };
        let by_signal = tokio::select! {
            _ = hangup.recv() => true,
            _ = tokio::time::sleep(interval) => false,
        };
        if let Some(server) = &unsynced
            && sync_credentials(server, &config).await.is_ok()
        {
            unsynced = None;
        }
        // Taken before the files are read, so that a file written while
        // the reload reads them is seen as changed at the next tick.
        let before = stamp(&config.watched_files());
        if !by_signal {
            if config.watch.is_none() {
                continue;
            }
            if before == seen {
                continue;
            }
            seen = before.clone();
        }
        let why = if by_signal { "SIGHUP" } else { "file change" };
        service_manager::reloading();
        let reloaded = reload(&config.path, &shared, tls.as_ref(), &config).await;
        service_manager::ready();
        match reloaded {
            Ok((new, server, synced)) => {
                if let Err(e) = synced {
                    tracing::error!(
                        error = %e,
                        "state store unavailable: changed or removed users' identity tokens \
                         end once it is back (removed users are refused meanwhile)"
                    );
                    unsynced = Some(server);
                } else {
                    unsynced = None;
                }
                tracing::info!(
                    trigger = why,
                    users = new.users.len(),
                    rules = new.acl.len(),
                    anonymous = new.acl.allows_anonymous(),
                    "configuration reloaded"
                );
                metrics::counter!("registry_auth_reloads_total", "result" => "ok").increment(1);
                shared
                    .forget_after
                    .store(seconds(new.throttling.forget_after), Ordering::Relaxed);
                config = new;
                seen = stamps_as_before(&before, &config.watched_files());
            }
            Err(e) => {
                tracing::error!(trigger = why, error = %e, "configuration refused; the previous one stays in force");
                metrics::counter!("registry_auth_reloads_total", "result" => "refused")
                    .increment(1);
            }
        }
    }
}

async fn reload(
    path: &Path,
    shared: &Shared,
    tls: Option<&RustlsConfig>,
    old: &Config,
) -> Result<(Config, AuthServer, Result<(), String>), String> {
    let mut new = Config::load(path).map_err(|e| e.to_string())?;
    // Workload issuers set up as before keep their keys: a reload for an
    // unrelated edit fetches nothing and survives an unreachable issuer.
    if let (Some(workloads), Some(earlier)) = (&new.workloads, &old.workloads) {
        new.workloads = Some(workloads.clone().keeping_keys_of(earlier));
    }
    let server = build(&new, &shared.state)?;
    let router = app_router(&server, &new, &shared.state)?;
    if new.listen != old.listen || new.tls.is_some() != old.tls.is_some() {
        tracing::warn!("server.listen and turning TLS on or off take effect only after a restart");
    }
    if new.state != old.state {
        tracing::warn!("[state] changes take effect only after a restart");
    }
    if let (Some(tls), Some(files)) = (tls, &new.tls) {
        tls.reload_from_pem_file(&files.certificate, &files.key)
            .await
            .map_err(|e| format!("{}: TLS certificate: {e}", path.display()))?;
    }
    // Changed and removed users' tokens end before the new users serve,
    // so no refresh slips through in between. A store that cannot be
    // reached does not hold the reload back: it is retried.
    let synced = sync_credentials(&server, &new).await;
    shared.current.store(Arc::new(router));
    Ok((new, server, synced))
}

/// Records the configured users' credentials in the store, so that the
/// identity tokens of users whose password changed, or who were removed,
/// stop working (and stay stopped if they come back).
async fn sync_credentials(server: &AuthServer, config: &Config) -> Result<(), String> {
    let ended = server
        .sync_credentials(&config.users.credential_fingerprints())
        .await
        .map_err(|e| e.to_string())?;
    for subject in ended {
        tracing::info!(
            target: "registry_auth::audit",
            subject = subject.as_str(),
            "identity tokens ended: the user's password changed or the user was removed"
        );
    }
    Ok(())
}

/// The token server of `config` on `state`: the signing key read once
/// (made first when `generate_key` asks), and its certificate's time left
/// reported once the server is built.
/// The token server's routes, and the sign-in page's when `[oidc_login]`
/// is set.
fn app_router(
    server: &AuthServer,
    config: &Config,
    state: &Arc<dyn StateStore>,
) -> Result<Router, String> {
    let router = server.router();
    match &config.sign_in {
        Some(settings) => {
            let registry = config
                .services
                .as_ref()
                .and_then(|s| s.first().cloned())
                .unwrap_or_else(|| "REGISTRY".to_owned());
            Ok(router.merge(crate::sign_in::router(
                settings.clone(),
                Arc::clone(state),
                config.users.clone(),
                registry,
            )?))
        }
        None => Ok(router),
    }
}

fn build(config: &Config, state: &Arc<dyn StateStore>) -> Result<AuthServer, String> {
    let generator = config
        .jwt_generator(MissingKey::Generate)
        .map_err(|e| e.to_string())?;
    let certificate_end = key_report::signing_certificate_end(&generator);
    let server = config
        .server_from(generator, Arc::clone(state))
        .map_err(|e| e.to_string())?;
    key_report::report_signing_certificate(certificate_end);
    warn_of_mixed_hash_costs(config);
    Ok(server)
}

/// Users whose password hashes cost more or less than most: a wrong
/// password for them takes a different time than for a user who does not
/// exist (which costs what most do), so the time tells them apart.
fn warn_of_mixed_hash_costs(config: &Config) {
    let costs = config.users.hash_costs();
    if costs.len() < 2 {
        return;
    }
    let groups: Vec<String> = costs
        .iter()
        .map(|(cost, names)| format!("{cost}: {}", names.join(", ")))
        .collect();
    tracing::warn!(
        groups = groups.join("; ").as_str(),
        "users' password hashes differ in cost: an unknown user costs what the most common \
         does, so the time of a wrong password tells the others apart; rehash them at one cost \
         (registry-auth hash-password)"
    );
}

/// Deletes expired identity tokens and forgotten failure counts, hourly.
fn seconds(duration: Duration) -> u64 {
    duration.as_secs().max(1)
}

async fn purge_loop(state: Arc<dyn StateStore>, forget_after: Arc<AtomicU64>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let now = SystemTime::now();
        let before = now
            .checked_sub(Duration::from_secs(forget_after.load(Ordering::Relaxed)))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        match state.purge(now, before).await {
            Ok(gone) => tracing::debug!(rows = gone, "state store purged"),
            Err(e) => tracing::warn!(error = %e, "could not purge the state store"),
        }
    }
}

/// A stream of SIGHUPs (never fires where there are none).
struct Hangup(Option<tokio::signal::unix::Signal>);

impl Hangup {
    async fn recv(&mut self) {
        match &mut self.0 {
            Some(signal) => {
                if signal.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

fn hangup_signal() -> Hangup {
    Hangup(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reload reads the files after their stamps were taken: a file
    /// written meanwhile must still look changed at the next tick, and one
    /// that only the new configuration watches must be looked at once more.
    #[test]
    fn a_file_written_during_a_reload_is_not_missed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = dir.path().join("config.toml");
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(&config, "old").unwrap_or_else(|e| panic!("{e}"));
        let before = stamp(std::slice::from_ref(&config));
        // Written while the reload reads: longer, so the stamp differs
        // whatever the clock's resolution.
        std::fs::write(&config, "new, and longer").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&bundle, "keys").unwrap_or_else(|e| panic!("{e}"));
        let watched = [config.clone(), bundle.clone()];
        let seen = stamps_as_before(&before, &watched);
        let next_tick = stamp(&watched);
        assert_ne!(seen, next_tick, "the change is seen at the next tick");
        assert_eq!(seen[0], before[0]);
        assert_eq!(
            seen[1],
            (bundle, None),
            "a newly watched file counts as changed"
        );
        // After the reload of that tick, nothing changed: no more reloads.
        assert_eq!(stamps_as_before(&next_tick, &watched), stamp(&watched));
    }
}
