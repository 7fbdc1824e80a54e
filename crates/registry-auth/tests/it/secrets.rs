//! Every flow, logged at TRACE level (ours and the HTTP stack's): no
//! password, token, refresh token or key material in the log.
//!
//! The flows run on a runtime of one thread with the capturing subscriber
//! as that thread's default, so the log holds this test's events only
//! (the binary runs other tests at the same time).

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::support::{RunningServer, builder, fixture};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A subscriber that wants to be asked about every event and takes none.
/// Alive beside the test's own, it keeps tracing from caching "nobody
/// listens" for a callsite that another test's thread reaches first:
/// with a single scoped dispatcher registered, tracing decides a new
/// callsite's interest by the default of the thread that reaches it
/// (none, on the other tests' threads) and would drop this test's events
/// from then on.
struct AskMeEveryTime;

impl tracing::Subscriber for AskMeEveryTime {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn no_secret_reaches_the_log_at_trace_level() {
    static ASKING: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    ASKING.get_or_init(|| tracing::Dispatch::new(AskMeEveryTime));
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut secrets =
        tracing::subscriber::with_default(subscriber, || runtime.block_on(every_flow()));

    let log = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        log.contains("registry_auth::audit"),
        "the audit events were captured:\n{log}"
    );
    assert!(log.lines().count() > 20, "TRACE logging was on");
    // Key material: every base64 line of the private key.
    let pem = std::fs::read_to_string(fixture("p256-sec1.pem")).unwrap();
    secrets.extend(
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_owned),
    );
    for secret in &secrets {
        // Tokens are long; any 24-character piece of one would be a leak.
        let piece = &secret[secret.len().saturating_sub(24)..];
        assert!(!log.contains(piece), "secret {piece:?} leaked into the log");
    }
    // Nor in Debug output of the values that carry them.
    let request =
        registry_auth::TokenRequest::new(registry_auth::Credentials::password("alice", "alice-pw"));
    assert!(!format!("{request:?}").contains("alice-pw"));
}

/// docker login with an identity token, then a refresh, a password
/// grant, containerd's "":token, a wrong password, a forged token; the
/// secrets they carried.
async fn every_flow() -> Vec<String> {
    let server = builder("p256-sec1.pem")
        .credential_cache(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let server = RunningServer::start(server).await;
    let client = reqwest::Client::new();
    let mut secrets: Vec<String> = vec![
        "alice-pw".into(),
        "bob-pw".into(),
        "s3cr3t-wrong-guess".into(),
    ];

    // docker login with an identity token, then a refresh, a password
    // grant, containerd's "":token, a wrong password, a forged token.
    let login: serde_json::Value =
        client
            .get(server.url(
                "/token?service=registry.test&client_id=docker&offline_token=true&account=alice",
            ))
            .basic_auth("alice", Some("alice-pw"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    secrets.push(refresh.clone());
    secrets.push(login["token"].as_str().unwrap().to_owned());
    let post: serde_json::Value = client
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "docker"),
            ("service", "registry.test"),
            ("scope", "repository:alice/a:pull,push"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(post["access_token"].as_str().unwrap().to_owned());
    let post: serde_json::Value = client
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "bob-pw"),
            ("client_id", "c"),
            ("service", "registry.test"),
            ("access_type", "offline"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(post["access_token"].as_str().unwrap().to_owned());
    secrets.push(post["refresh_token"].as_str().unwrap().to_owned());
    let _ = client
        .get(server.url("/token?service=registry.test"))
        .basic_auth("", Some(&refresh))
        .send()
        .await
        .unwrap();
    let _ = client
        .get(server.url("/token?service=registry.test"))
        .basic_auth("alice", Some("s3cr3t-wrong-guess"))
        .send()
        .await
        .unwrap();
    let _ = client
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rart_forged-secret-value"),
            ("client_id", "docker"),
            ("service", "registry.test"),
        ])
        .send()
        .await
        .unwrap();
    secrets.push("rart_forged-secret-value".into());
    server.stop().await;
    secrets
}
