//! Helpers shared by the integration tests: servers on a random port with a fixed clock (or a
//! running one, for tests that need time to pass: retries, TTLs), an HTTP
//! client, Kazoo's form encoding, flows written to a temporary folder, and reply assertions.
//!
//! Every test module of the one integration binary (`tests/tests.rs`) draws on them.

pub mod redis_server;
pub mod serve_process;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pivotforge::clock::{Clock, FixedClock};
use pivotforge::config::{Config, Overrides};
use pivotforge::server::{spawn, RunningServer};
use serde_json::{json, Map, Value};

/// The public URL every test server is configured with.
pub const PUBLIC_URL: &str = "http://pivot.test";

/// The folder of the shipped flows.
pub fn shipped_flows() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("callflows")
}

/// An instant from RFC 3339 text, e.g. `2026-12-24T15:00:00-05:00`.
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("bad instant {rfc3339:?} in a test: {e}"))
        .with_timezone(&Utc)
}

/// The configuration of a test server: random port, `flows`, the test public URL, one worker.
pub fn config(flows: &Path) -> Config {
    let mut config = Config::resolve(
        None,
        Overrides {
            listen: Some("127.0.0.1:0".into()),
            flows: Some(flows.to_path_buf()),
            public_url: Some(PUBLIC_URL.into()),
            ..Default::default()
        },
    )
    .expect("test configuration resolves");
    // Two cores and many servers per test binary: one worker each is plenty.
    config.workers = Some(1);
    config
}

/// A running test server and its own data folder, removed when the server is dropped.
pub struct TestServer {
    server: RunningServer,
    /// The server's data folder (store, recordings).
    pub data: tempfile::TempDir,
}

impl std::ops::Deref for TestServer {
    type Target = RunningServer;
    fn deref(&self) -> &RunningServer {
        &self.server
    }
}

/// A server for `flows` whose clock is stopped at `now`, with a fresh data folder.
pub fn serve(flows: &Path, now: DateTime<Utc>) -> TestServer {
    serve_with(config(flows), now)
}

/// A server for a configuration (its data folder is replaced by a fresh one).
pub fn serve_with(config: Config, now: DateTime<Utc>) -> TestServer {
    serve_with_clock(config, Arc::new(FixedClock(now)))
}

/// A server for a configuration on `clock` (its data folder is replaced by a fresh one).
pub fn serve_with_clock(mut config: Config, clock: Arc<dyn Clock>) -> TestServer {
    let data = tempfile::tempdir().expect("temp data dir");
    config.data_dir = data.path().to_path_buf();
    let server = spawn(config, clock).expect("test server starts");
    TestServer { server, data }
}

/// A server for the shipped flows whose clock is stopped at `now` (RFC 3339).
pub fn serve_shipped(now: &str) -> TestServer {
    serve(&shipped_flows(), at(now))
}

/// Writes a flow file (creating sub-folders) under `dir`.
pub fn write_flow(dir: &Path, relative: &str, text: &str) -> PathBuf {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create flow sub-folder");
    }
    std::fs::write(&path, text).expect("write flow file");
    path
}

/// A temporary flows folder holding `files` (relative path, text).
pub fn flows_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (relative, text) in files {
        write_flow(dir.path(), relative, text);
    }
    dir
}

/// An HTTP client that never goes through a proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

/// What came back from one HTTP request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "reply ({}) is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads a whole response (for requests built with [`client`] and headers of their own).
pub async fn finish(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("content type is text").to_owned());
    let body = response.bytes().await.expect("read reply body").to_vec();
    Reply {
        status,
        content_type,
        body,
    }
}

/// Any method, optional content type and body.
pub async fn request(
    method: reqwest::Method,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut builder = client().request(method, url);
    if let Some(ct) = content_type {
        builder = builder.header(reqwest::header::CONTENT_TYPE, ct);
    }
    if !body.is_empty() {
        builder = builder.body(body);
    }
    let response = builder
        .send()
        .await
        .unwrap_or_else(|e| panic!("request to {url} failed: {e:?}"));
    finish(response).await
}

/// `GET url`.
pub async fn get(url: &str) -> Reply {
    request(reqwest::Method::GET, url, None, Vec::new()).await
}

/// `POST url` with a body of `content_type`.
pub async fn post(url: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    request(reqwest::Method::POST, url, Some(content_type), body.into()).await
}

/// `POST url` with a form body, as Kazoo sends it.
/// One call to a counter flow (a tts whose text is a number) for the same caller: the count it
/// answered. Panics on any other reply, so a test of many concurrent calls can just collect them.
pub async fn counted(client: reqwest::Client, url: String) -> u32 {
    let reply = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Caller-ID-Number=%2B14155550100")
        .send()
        .await
        .expect("call");
    assert_eq!(reply.status(), 200);
    let tree: Value = reply.json().await.expect("tree");
    tree["data"]["text"]
        .as_str()
        .and_then(|t| t.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("a count, not {tree}"))
}

/// Awaits every call of `calls` (each a [`counted`]) and asserts that together they were given
/// each count from 1 to their number exactly once.
pub async fn assert_counts_once_each(mut calls: tokio::task::JoinSet<u32>) {
    let mut seen = std::collections::BTreeSet::new();
    while let Some(n) = calls.join_next().await {
        assert!(
            seen.insert(n.expect("call task")),
            "a count was given twice"
        );
    }
    let all = u32::try_from(seen.len()).expect("fewer than 2^32 calls");
    assert_eq!(
        seen,
        (1..=all).collect::<std::collections::BTreeSet<u32>>(),
        "every count from 1 to {all}, once each"
    );
}

pub async fn post_form(url: &str, body: &str) -> Reply {
    post(
        url,
        "application/x-www-form-urlencoded",
        body.as_bytes().to_vec(),
    )
    .await
}

/// `POST url` with a JSON body, as Kazoo sends it.
pub async fn post_json(url: &str, body: &Value) -> Reply {
    post(url, "application/json", body.to_string().into_bytes()).await
}

/// PUT with a JSON body.
pub async fn put_json(url: &str, body: &Value) -> Reply {
    request(
        reqwest::Method::PUT,
        url,
        Some("application/json"),
        body.to_string().into_bytes(),
    )
    .await
}

/// Asserts a 200 `application/json` reply whose body is exactly `expected`.
pub fn assert_tree(reply: &Reply, expected: &Value, what: &str) {
    assert_eq!(
        reply.status,
        200,
        "{what}: status {} body {}",
        reply.status,
        reply.text()
    );
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/json"),
        "{what}: content type"
    );
    assert_eq!(&reply.json(), expected, "{what}: reply tree");
}

/// Asserts an error reply: `status`, JSON with string `error` and `detail`. Returns the body.
pub fn assert_error(reply: &Reply, status: u16, what: &str) -> Value {
    assert_eq!(
        reply.status,
        status,
        "{what}: status {} body {}",
        reply.status,
        reply.text()
    );
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/json"),
        "{what}: content type of the error"
    );
    let body = reply.json();
    assert!(
        body["error"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: `error` must be a non-empty string: {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: `detail` must be a non-empty string: {body}"
    );
    body
}

/// Escapes a value as Kazoo does: `[A-Za-z0-9._~-]` kept, space → `+`, other bytes `%XX`.
pub fn kazoo_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'~' | b'-' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Encodes a JSON object as Kazoo's form string: keys unescaped, `a[b]=v` for objects, `a[]=v`
/// for lists, an empty segment for an empty object.
pub fn kazoo_form(params: &Value) -> String {
    let map = params.as_object().expect("parameters are a JSON object");
    let mut segments = Vec::new();
    for (key, value) in map {
        encode_into(key, value, &mut segments);
    }
    segments.join("&")
}

fn encode_into(key: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if map.is_empty() => out.push(String::new()),
        Value::Object(map) => {
            for (k, v) in map {
                encode_into(&format!("{key}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                encode_into(&format!("{key}[]"), item, out);
            }
        }
        Value::String(s) => out.push(format!("{key}={}", kazoo_escape(s))),
        Value::Null => {}
        other => out.push(format!("{key}={}", kazoo_escape(&other.to_string()))),
    }
}

/// A realistic set of Kazoo parameters (`req_format=kazoo`) for one call step.
pub fn kazoo_params() -> Value {
    json!({
        "Call-ID": "abc123@10.0.0.1",
        "Account-ID": "3a1d5c7e9b2f4a6c8e0d1f3b5a7c9e2d",
        "From": "1000",
        "From-Realm": "acme.sip.example.com",
        "To": "2030",
        "To-Realm": "acme.sip.example.com",
        "Request": "2030",
        "Request-Realm": "acme.sip.example.com",
        "Caller-ID-Name": "Alice Smith",
        "Caller-ID-Number": "+14155550100",
        "Direction": "inbound",
        "Api-Version": "4.x",
        "Language": "en-us",
        "User-ID": "8f0c2b4d6e8a0c2e4f6a8b0d2c4e6f8a",
        "Custom-Application-Vars": {},
        "Custom-SIP-Headers": {}
    })
}

/// `base` with the keys of `changes` set; a `null` in `changes` removes the key.
pub fn with(base: &Value, changes: &Value) -> Value {
    let mut map: Map<String, Value> = base.as_object().cloned().expect("base is an object");
    for (k, v) in changes.as_object().expect("changes are an object") {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    Value::Object(map)
}

/// Sends the same parameters as a GET query, a POST form and a POST JSON body to
/// `/pivot/{flow}` and asserts each reply is exactly `expected`.
pub async fn assert_three_ways(
    server: &RunningServer,
    flow: &str,
    params: &Value,
    expected: &Value,
) {
    let form = kazoo_form(params);
    let url = server.url(&format!("/pivot/{flow}"));
    let by_get = get(&format!("{url}?{form}")).await;
    assert_tree(&by_get, expected, &format!("GET /pivot/{flow}?{form}"));
    let by_form = post_form(&url, &form).await;
    assert_tree(
        &by_form,
        expected,
        &format!("POST form /pivot/{flow}: {form}"),
    );
    let by_json = post_json(&url, params).await;
    assert_tree(
        &by_json,
        expected,
        &format!("POST json /pivot/{flow}: {params}"),
    );
}

/// A reply read from a raw HTTP/1.1 exchange.
#[derive(Debug)]
pub struct RawReply {
    /// Status code.
    pub status: u16,
    /// Header block, lower-cased.
    pub headers: String,
    /// Body bytes (everything after the header block; the request asks for `Connection: close`).
    pub body: Vec<u8>,
}

/// Sends raw bytes (a whole HTTP/1.1 request, which should say `Connection: close`) and reads
/// the reply until the server closes. Writing happens on its own thread, so a server that
/// answers before reading a large body does not dead-lock the test; write errors after the
/// server answered are expected and ignored.
pub fn raw_http(addr: SocketAddr, request: Vec<u8>) -> RawReply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut writer = stream.try_clone().expect("clone stream");
    let write = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
        let _ = writer.flush();
    });
    let mut received = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            // A reset after the reply arrived (the server closed with body bytes unread).
            Err(_) if !received.is_empty() => break,
            Err(e) => panic!("reading the raw reply failed: {e}"),
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    let _ = write.join();
    RawReply::parse(&received, "raw reply")
}

impl RawReply {
    /// Splits the bytes a server sent into status, head and body; `what` names the exchange in
    /// the panic when they are not an HTTP reply.
    pub fn parse(received: &[u8], what: &str) -> RawReply {
        let split = received
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| {
                panic!(
                    "{what}: no header block in {:?}",
                    String::from_utf8_lossy(received)
                )
            });
        let headers = String::from_utf8_lossy(&received[..split]).to_ascii_lowercase();
        let status = headers
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what}: no status in {headers:?}"));
        RawReply {
            status,
            headers,
            body: received[split + 4..].to_vec(),
        }
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "raw reply {} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts an error reply with JSON `error` and `detail`; returns the body.
    pub fn assert_error(&self, status: u16, what: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "{what}: {} {}",
            self.headers,
            String::from_utf8_lossy(&self.body)
        );
        assert!(
            self.headers.contains("content-type: application/json"),
            "{what}: {}",
            self.headers
        );
        let body = self.json();
        assert!(body["error"].is_string(), "{what}: {body}");
        assert!(body["detail"].is_string(), "{what}: {body}");
        body
    }
}

/// A raw GET request line for `target` (sent as-is, not normalised by any URL library).
pub fn raw_get(target: &[u8]) -> Vec<u8> {
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.1\r\nHost: pivot.test\r\nConnection: close\r\n\r\n");
    req
}

// ---- script-flow helpers ------------------------------------------------------------------------

/// A server for a configuration whose data folder is `data_dir` (kept as given, so a second
/// server can start on the same folder after the first stopped). A store still held by a server
/// that is shutting down is waited for, up to ten seconds.
pub fn serve_in(config: Config, data_dir: &Path, now: DateTime<Utc>) -> RunningServer {
    serve_in_with_clock(config, data_dir, Arc::new(FixedClock(now)))
}

/// [`serve_in`] on `clock`.
pub fn serve_in_with_clock(
    mut config: Config,
    data_dir: &Path,
    clock: Arc<dyn Clock>,
) -> RunningServer {
    config.data_dir = data_dir.to_path_buf();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match spawn(config.clone(), clock.clone()) {
            Ok(server) => return server,
            Err(e)
                if std::time::Instant::now() < deadline
                    && e.to_string().contains("already open") =>
            {
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => panic!("test server on {} does not start: {e}", data_dir.display()),
        }
    }
}

/// Polls `check` every 20 ms until it gives `Some`, or panics with `what` after `limit`.
pub async fn poll_until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not seen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `pivotforge` binary with `args`, its own data folder unless `PIVOTFORGE_DATA_DIR` is
/// passed in `env`; returns (exit code, stdout, stderr).
pub fn pivotforge_cli(args: &[&str], env: &[(&str, &Path)]) -> (Option<i32>, String, String) {
    let data = tempfile::tempdir().expect("temp data dir");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pivotforge"));
    command
        .args(args)
        .env_remove("PIVOTFORGE_CONFIG")
        .env_remove("PIVOTFORGE_FLOWS")
        .env_remove("PIVOTFORGE_PUBLIC_URL")
        .env("PIVOTFORGE_DATA_DIR", data.path());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run pivotforge");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One request received by a [`MockHttp`] server.
#[derive(Debug, Clone)]
pub struct MockRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lower-cased, with their values.
    pub headers: Vec<(String, String)>,
    /// The body (read by `Content-Length`).
    pub body: String,
}

impl MockRequest {
    /// A header's value by (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a [`MockHttp`] handler answers.
#[derive(Debug, Clone)]
pub struct MockResponse {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl MockResponse {
    /// A reply with `status` and a JSON body.
    pub fn json(status: u16, body: &Value) -> MockResponse {
        MockResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    /// A reply with `status` and a text body.
    pub fn text(status: u16, body: &str) -> MockResponse {
        MockResponse {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }
}

type MockHandler = dyn Fn(&MockRequest) -> MockResponse + Send + Sync;

/// A tiny HTTP/1.1 server on 127.0.0.1 (a thread per connection, one request per connection)
/// that records every request and answers with a handler; stopped when dropped.
pub struct MockHttp {
    /// The bound address.
    pub addr: SocketAddr,
    requests: Arc<std::sync::Mutex<Vec<MockRequest>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl MockHttp {
    /// Starts a server answering every request with `handler`.
    pub fn start(
        handler: impl Fn(&MockRequest) -> MockResponse + Send + Sync + 'static,
    ) -> MockHttp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind mock server");
        let addr = listener.local_addr().expect("mock address");
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handler: Arc<MockHandler> = Arc::new(handler);
        let (seen, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (seen, handler) = (seen.clone(), handler.clone());
                std::thread::spawn(move || mock_exchange(stream, &seen, handler.as_ref()));
            }
        });
        MockHttp {
            addr,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<MockRequest> {
        self.requests.lock().expect("mock requests lock").clone()
    }
}

impl Drop for MockHttp {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn mock_exchange(
    mut stream: TcpStream,
    seen: &std::sync::Mutex<Vec<MockRequest>>,
    handler: &MockHandler,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&received[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = received[header_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    let request = MockRequest {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    seen.lock()
        .expect("mock requests lock")
        .push(request.clone());
    let response = handler(&request);
    if !response.delay.is_zero() {
        std::thread::sleep(response.delay);
    }
    let mut out = format!(
        "HTTP/1.1 {} X\r\nconnection: close\r\ncontent-length: {}\r\n",
        response.status,
        response.body.len()
    );
    for (k, v) in &response.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&response.body);
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

/// Opens the store of `data_dir` directly (through the one factory, with the default `[store]`),
/// waiting up to ten seconds for a server that is shutting down to let go of it.
pub fn open_store(data_dir: &Path) -> std::sync::Arc<dyn pivotforge::store::Store> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match pivotforge::store::open(&pivotforge::store::StoreConfig::default(), data_dir) {
            Ok(store) => return store,
            Err(e)
                if std::time::Instant::now() < deadline
                    && e.to_string().contains("already open") =>
            {
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => panic!("store in {} does not open: {e}", data_dir.display()),
        }
    }
}

/// `GET url` with a client made beforehand, so a timed request does not include building one
/// (tens of milliseconds).
pub async fn get_with(client: &reqwest::Client, url: &str) -> Reply {
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("request to {url} failed: {e:?}"));
    finish(response).await
}

/// One at a time, the tests that load the machine (thousands of requests, a hundred uploads,
/// 1,500 sockets, scripts run to their limits) or bound how long the service takes: in the one
/// test binary they would otherwise run beside each other, and a bound meant for the service
/// would measure the neighbouring test. Other tests still run beside them.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes [`HEAVY`] from an async test.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.lock().await
}

/// Takes [`HEAVY`] from a test that is not async.
pub fn heavy_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.blocking_lock()
}

/// A script flow that answers at once, naming the caller: the "good" flow beside a bad one.
pub const GOOD_SCRIPT: &str = r#"
function main(data) {
  return { module: 'tts', data: { text: 'good ' + data['Caller-ID-Number'] } };
}
"#;

/// The fallback tree the hostile-flow tests give their bad flows (`[fallback]` in their
/// settings).
pub fn hold_fallback() -> serde_json::Value {
    serde_json::json!({"module": "tts", "data": {"text": "Sorry, please hold."}})
}
