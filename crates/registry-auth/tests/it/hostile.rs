//! Hostile and malformed requests, sent byte for byte over a real socket:
//! each gets the expected 4xx and a JSON error, never a 5xx, and the server
//! still answers a valid request afterwards.

use data_encoding::BASE64;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{RunningServer, builder};

/// Sends raw bytes, returns (status, content-type, body).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&response)));
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response[split + 4..].to_vec())
}

fn basic(user_pass: &[u8]) -> Vec<u8> {
    format!("Basic {}", BASE64.encode(user_pass)).into_bytes()
}

struct Case {
    what: &'static str,
    request: Vec<u8>,
    status: u16,
}

fn get(what: &'static str, target: &str, authorization: Option<&[u8]>, status: u16) -> Case {
    let mut request =
        format!("GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n").into_bytes();
    if let Some(a) = authorization {
        request.extend_from_slice(b"authorization: ");
        request.extend_from_slice(a);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    Case {
        what,
        request,
        status,
    }
}

fn with_alice(what: &'static str, query: &str, status: u16) -> Case {
    get(
        what,
        &format!("/token?{query}"),
        Some(&basic(b"alice:alice-pw")),
        status,
    )
}

fn request(
    what: &'static str,
    method: &str,
    target: &str,
    headers: &str,
    body: &[u8],
    status: u16,
) -> Case {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    Case {
        what,
        request,
        status,
    }
}

fn form(what: &'static str, body: &str, status: u16) -> Case {
    request(
        what,
        "POST",
        "/token",
        "content-type: application/x-www-form-urlencoded\r\n",
        body.as_bytes(),
        status,
    )
}

const S: &str = "service=registry.test";
const OK_FORM: &str =
    "grant_type=password&service=registry.test&client_id=c&username=alice&password=alice-pw";

fn cases() -> Vec<Case> {
    let long_name = "a".repeat(256);
    let many_scopes: String = (0..101)
        .map(|i| format!("&scope=repository:r{i}:pull"))
        .collect();
    let long_query = format!("{S}&scope=repository:a:pull&x={}", "y".repeat(9000));
    let huge_auth = [b"Basic ".as_slice(), &[b'A'; 20_000]].concat();
    // 90 lines (under hyper's 100), 18 KB: the router's byte limit.
    let mut many_headers = String::new();
    for i in 0..90 {
        many_headers.push_str(&format!("x-junk-{i}: {}\r\n", "z".repeat(190)));
    }
    let big_body = format!("{OK_FORM}&scope={}", "a".repeat(70_000));
    vec![
        // Scopes.
        with_alice("NUL scope", &format!("{S}&scope=%00"), 400),
        with_alice(
            "NUL in name",
            &format!("{S}&scope=repository:a%00b:pull"),
            400,
        ),
        with_alice(
            "non-UTF-8 name",
            &format!("{S}&scope=repository:%FF%FE:pull"),
            400,
        ),
        with_alice("type only", &format!("{S}&scope=repository"), 400),
        with_alice("type and colon", &format!("{S}&scope=repository:"), 400),
        with_alice("colons only", &format!("{S}&scope=::"), 400),
        with_alice("three colons", &format!("{S}&scope=repository:::"), 400),
        with_alice(
            "action with colon",
            &format!("{S}&scope=repository:a:pull:push"),
            400,
        ),
        with_alice("five parts", &format!("{S}&scope=a:b:c:d:e"), 400),
        with_alice(
            "upper-case name",
            &format!("{S}&scope=repository:UPPER:pull"),
            400,
        ),
        with_alice(
            "dot-dot component",
            &format!("{S}&scope=repository:a/../b:pull"),
            400,
        ),
        with_alice(
            "empty component",
            &format!("{S}&scope=repository:a//b:pull"),
            400,
        ),
        with_alice(
            "unclosed IPv6 host",
            &format!("{S}&scope=repository:[::1/a:pull"),
            400,
        ),
        with_alice(
            "hex port",
            &format!("{S}&scope=repository:host:0x50/a:pull"),
            400,
        ),
        with_alice(
            "six-digit port",
            &format!("{S}&scope=repository:host:123456/a:pull"),
            400,
        ),
        with_alice(
            "host without path",
            &format!("{S}&scope=repository:host:5000:pull"),
            400,
        ),
        with_alice(
            "leading dash",
            &format!("{S}&scope=repository:-x:pull"),
            400,
        ),
        with_alice(
            "unclosed class",
            &format!("{S}&scope=repository(:a:pull"),
            400,
        ),
        with_alice(
            "nested class",
            &format!("{S}&scope=repository(((x))):a:pull"),
            400,
        ),
        with_alice(
            "256-character name",
            &format!("{S}&scope=repository:{long_name}:pull"),
            400,
        ),
        with_alice("101 scopes", &format!("{S}{many_scopes}"), 400),
        with_alice(
            "upper-case action",
            &format!("{S}&scope=repository:a:PULL"),
            400,
        ),
        with_alice(
            "space inside action",
            &format!("{S}&scope=repository:a:pu%20ll"),
            400,
        ),
        with_alice(
            "tab in action",
            &format!("{S}&scope=repository:a:pull%09"),
            400,
        ),
        with_alice(
            "RTL override in name",
            &format!("{S}&scope=repository:%E2%80%AE:pull"),
            400,
        ),
        with_alice(
            "NUL after catalog",
            &format!("{S}&scope=registry:catalog:*%00"),
            400,
        ),
        with_alice(
            "wildcard glued to action",
            &format!("{S}&scope=repository:a:pull*"),
            400,
        ),
        with_alice("9 KiB query", &long_query, 414),
        // Other parameters.
        with_alice("two services", "service=a&service=b", 400),
        with_alice("unknown service", "service=elsewhere", 400),
        with_alice("NUL service", "service=%00", 400),
        with_alice(
            "7000-byte service",
            &format!("service={}", "s".repeat(7000)),
            400,
        ),
        with_alice("account mismatch", &format!("{S}&account=bob"), 400),
        with_alice(
            "two accounts",
            &format!("{S}&account=alice&account=alice"),
            400,
        ),
        with_alice(
            "offline_token=maybe",
            &format!("{S}&offline_token=maybe"),
            400,
        ),
        with_alice(
            "two offline_token",
            &format!("{S}&offline_token=1&offline_token=1"),
            400,
        ),
        with_alice(
            "two client_id",
            &format!("{S}&client_id=a&client_id=b"),
            400,
        ),
        // Authorization header.
        get(
            "Basic without credentials",
            &format!("/token?{S}"),
            Some(b"Basic"),
            400,
        ),
        get(
            "Basic with bad base64",
            &format!("/token?{S}"),
            Some(b"Basic !!!"),
            400,
        ),
        get(
            "Basic without colon",
            &format!("/token?{S}"),
            Some(&basic(b"nocolon")),
            400,
        ),
        get(
            "Basic with non-UTF-8",
            &format!("/token?{S}"),
            Some(&basic(b"\xff\xfe:\xfd")),
            400,
        ),
        get(
            "NUL in user name",
            &format!("/token?{S}"),
            Some(&basic(b"a\x00b:pw")),
            400,
        ),
        get(
            "newline in user name",
            &format!("/token?{S}"),
            Some(&basic(b"a\nb:pw")),
            400,
        ),
        get(
            "Bearer scheme",
            &format!("/token?{S}"),
            Some(b"Bearer xyz"),
            400,
        ),
        get(
            "Digest scheme",
            &format!("/token?{S}"),
            Some(b"Digest username=\"a\""),
            400,
        ),
        get(
            "non-UTF-8 header value",
            &format!("/token?{S}"),
            Some(b"Basic \xff\xfe"),
            400,
        ),
        get(
            "20 KB Authorization",
            &format!("/token?{S}"),
            Some(&huge_auth),
            431,
        ),
        get(
            "empty user and password",
            &format!("/token?{S}"),
            Some(&basic(b":")),
            401,
        ),
        get(
            "wrong password",
            &format!("/token?{S}"),
            Some(&basic(b"alice:wrong")),
            401,
        ),
        get(
            "forged refresh token",
            &format!("/token?{S}"),
            Some(&basic(b":rart_forged")),
            401,
        ),
        get("anonymous while off", &format!("/token?{S}"), None, 401),
        request(
            "90 junk headers, 18 KB",
            "GET",
            &format!("/token?{S}"),
            &many_headers,
            b"",
            431,
        ),
        // Methods and paths.
        request("PUT", "PUT", "/token", "", b"", 405),
        request("DELETE", "DELETE", "/token", "", b"", 405),
        request("PATCH on /", "PATCH", "/", "", b"", 405),
        request("OPTIONS", "OPTIONS", "/token", "", b"", 405),
        request(
            "POST to JWKS",
            "POST",
            "/.well-known/jwks.json",
            "",
            b"",
            405,
        ),
        get("dot-dot path", "/token/../etc/passwd", None, 404),
        get("NUL path", "/%00", None, 404),
        get("unknown path", "/v2/", None, 404),
        // The OAuth form.
        request(
            "POST without content type",
            "POST",
            "/token",
            "",
            OK_FORM.as_bytes(),
            400,
        ),
        request(
            "POST as JSON",
            "POST",
            "/token",
            "content-type: application/json\r\n",
            b"{\"grant_type\":\"password\"}",
            400,
        ),
        request(
            "POST as text",
            "POST",
            "/token",
            "content-type: text/plain\r\n",
            OK_FORM.as_bytes(),
            400,
        ),
        form("no grant_type", "service=registry.test&client_id=c", 400),
        form(
            "implicit grant",
            "grant_type=implicit&service=registry.test&client_id=c",
            400,
        ),
        form(
            "two grant_types",
            &format!("{OK_FORM}&grant_type=password"),
            400,
        ),
        form(
            "password grant without user",
            "grant_type=password&service=registry.test&client_id=c&password=x",
            400,
        ),
        form(
            "non-UTF-8 user",
            "grant_type=password&service=registry.test&client_id=c&username=%FF&password=x",
            400,
        ),
        form(
            "forged refresh token",
            "grant_type=refresh_token&service=registry.test&client_id=c&refresh_token=rart_x",
            400,
        ),
        form(
            "access_type=forever",
            &format!("{OK_FORM}&access_type=forever"),
            400,
        ),
        form(
            "bad scope in form",
            &format!("{OK_FORM}&scope=repository%3A%3A%3A"),
            400,
        ),
        form(
            "NUL in user name",
            "grant_type=password&service=registry.test&client_id=c&username=a%00b&password=x",
            400,
        ),
        form("70 KB body", &big_body, 413),
        request(
            "two Authorization headers",
            "GET",
            &format!("/token?{S}"),
            &format!(
                "authorization: {}\r\nauthorization: {}\r\n",
                String::from_utf8_lossy(&basic(b"alice:alice-pw")),
                String::from_utf8_lossy(&basic(b"admin:guess"))
            ),
            b"",
            400,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_4xx_json_and_the_server_keeps_serving() {
    let server = RunningServer::start(builder("p256-sec1.pem").build().unwrap()).await;
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for case in &cases {
        let (status, content_type, body) = raw(server.addr, &case.request).await;
        assert_eq!(
            status,
            case.status,
            "{}: {}",
            case.what,
            String::from_utf8_lossy(&body)
        );
        assert_eq!(content_type, "application/json", "{}", case.what);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}): {:?}",
                case.what,
                String::from_utf8_lossy(&body)
            )
        });
        let message = json["errors"][0]["message"]
            .as_str()
            .or(json["error_description"].as_str());
        assert!(
            message.is_some_and(|m| !m.is_empty() && m.len() < 300),
            "{}: {json}",
            case.what
        );
    }
    // The two-header case says why.
    let (_, _, body) = raw(server.addr, &cases[cases.len() - 1].request).await;
    assert_eq!(
        String::from_utf8_lossy(&body),
        r#"{"errors":[{"code":"INVALID_REQUEST","message":"more than one Authorization header; send one"}]}"#
    );
    // More than 100 header lines: hyper answers before the router, with a
    // bare 431 (the line limit is hyper's, see `configure_http`).
    let mut junk = String::new();
    for i in 0..500 {
        junk.push_str(&format!("x-junk-{i}: z\r\n"));
    }
    let (status, _, _) = raw(
        server.addr,
        &request(
            "500 junk headers",
            "GET",
            &format!("/token?{S}"),
            &junk,
            b"",
            431,
        )
        .request,
    )
    .await;
    assert_eq!(status, 431);
    // Still serving.
    let (status, _, body) = raw(
        server.addr,
        &with_alice("valid", &format!("{S}&scope=repository:alice/a:pull"), 200).request,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    server.stop().await;
}
