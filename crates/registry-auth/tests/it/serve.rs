//! Standalone serving: plain HTTP and HTTPS on real sockets, and graceful
//! shutdown.

use std::time::Duration;

use crate::support::{RunningServer, builder, decode_unverified};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http_and_reports_the_client_ip_to_the_authorizer() {
    // Grants pull on "seen/ip" only when the adapter passed the peer address.
    let authz = registry_auth::authorizer_fn(|_, req: registry_auth::AccessRequest| async move {
        let loopback = req.client_ip == Some(std::net::IpAddr::from([127, 0, 0, 1]));
        Ok(if loopback {
            vec![registry_auth::Scope::repository("seen/ip", ["pull"])]
        } else {
            vec![]
        })
    });
    let server = builder("p256-sec1.pem").authorizer(authz).build().unwrap();
    let server = RunningServer::start(server).await;
    let resp = reqwest::Client::new()
        .get(server.url("/token?service=registry.test&scope=repository:seen/ip:pull"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let (_, claims) = decode_unverified(body["token"].as_str().unwrap());
    assert_eq!(claims["access"][0]["name"], "seen/ip");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_rustls_and_shuts_down_gracefully() {
    let tls = crate::support::localhost_tls();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = builder("p256-sec1.pem").build().unwrap();
    let config = registry_auth::serve::rustls_config(&tls.cert_path, &tls.key_path)
        .await
        .unwrap();
    let task = tokio::spawn(
        registry_auth::serve(listener, server.router())
            .tls(config)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .run(),
    );

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(tls.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/token?service=registry.test");
    let resp = client
        .get(&url)
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Plain HTTP to the TLS port does not get a token.
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/token")).await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("server stops after the shutdown signal")
        .unwrap()
        .unwrap();
    assert!(
        client.get(&url).send().await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn serving_with_limits_that_cannot_work_is_refused() {
    let mut limits = registry_auth::Limits::default();
    limits.max_connections = 0;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let served = registry_auth::serve(listener, builder("p256-sec1.pem").build().unwrap().router())
        .limits(&limits)
        .await;
    let error = served.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        error.to_string(),
        "limits.max_connections: must be at least 1"
    );
}
