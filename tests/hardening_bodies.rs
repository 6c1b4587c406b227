//! Stalled request bodies are cut off (issue 9 §1), over real HTTP: a `/pivot`, `/events`,
//! `/run` or `/userspace` body not complete within `[limits] body_timeout_ms` is answered 408
//! JSON and its connection closed; a recording upload that goes idle or trickles is dropped
//! (nothing stored, counted in `/metrics`) while one at LAN speed is stored; the binary raises
//! its file-descriptor limit, caps connections below it, and keeps answering with more sockets
//! open than its limit; 1,500 stalled sockets don't delay `/pivot`.

use crate::common;
use crate::recordings_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{flows_dir, poll_until, RawReply};
use pivotforge::config::RecordingsConfig;
use recordings_support::{files_under, list, mp3, put, server_with, sha256, ACCOUNT, NOW};

/// A rule flow for `/pivot`.
const NEXT: &str = r#"
[default]
module = "tts"
data = { text = "next step" }
"#;

/// A script flow for `/run` and `/events`.
const SCRIPT: &str = r#"
export function main(data) { return { module: 'tts', data: { text: 'hi' } }; }
export async function postCall(event) { return {}; }
"#;

/// Opens a connection and sends a request head announcing `length` body bytes, then only the
/// first ten of them: a client whose body stalls.
fn stall(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    length: usize,
) -> TcpStream {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect to the server");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: pivot.test\r\nContent-Type: {content_type}\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("send the head");
    stream.write_all(&[b'a'; 10]).expect("send a little body");
    stream
}

/// Reads the reply on `stream` until the server closes the connection (within `limit`), and
/// parses it; panics when the server keeps the connection open.
fn reply_then_closed(mut stream: TcpStream, limit: Duration, what: &str) -> RawReply {
    let deadline = Instant::now() + limit;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{what}: the connection is still open after {limit:?}; got {:?}",
            String::from_utf8_lossy(&received)
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            // A reset once the reply is in: closed with the client's bytes unread.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !received.is_empty() => {
                break
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                panic!("{what}: reset without a reply")
            }
            Err(e) => panic!(
                "{what}: no close within {limit:?} ({e}); got {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    RawReply::parse(&received, what)
}

#[test]
fn a_stalled_body_is_408_json_and_closed_on_every_route() {
    let flows = flows_dir(&[("next.toml", NEXT), ("s.js", SCRIPT)]);
    let mut config = common::config(flows.path());
    config.limits.body_timeout_ms = 300;
    let server = common::serve_with(config, common::at(NOW));
    let routes = [
        ("POST", "/pivot/next", "application/x-www-form-urlencoded"),
        ("POST", "/events/s", "application/json"),
        ("POST", "/run/s", "application/json"),
        ("PUT", "/userspace/dnc/k1", "application/json"),
    ];
    for (method, path, content_type) in routes {
        let what = format!("{method} {path}");
        let started = Instant::now();
        let stream = stall(server.addr, method, path, content_type, 60_000);
        let reply = reply_then_closed(stream, Duration::from_secs(10), &what);
        let body = reply.assert_error(408, &what);
        assert_eq!(body["error"], "request timeout", "{what}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("300 ms") && d.contains("body_timeout_ms")),
            "{what}: {body}"
        );
        assert!(
            reply.headers.contains("connection: close"),
            "{what}: {}",
            reply.headers
        );
        // Not before the deadline: a slow but complete body is not cut.
        assert!(started.elapsed() >= Duration::from_millis(300), "{what}");
    }
}

/// The `pivotforge_recordings_received_total` count for `result`.
async fn recordings_counted(server: &common::TestServer, result: &str) -> u64 {
    let metrics = common::get(&server.url("/metrics")).await.text();
    let series = format!("pivotforge_recordings_received_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Asserts nothing of an upload is left: no file under the recordings folder, no metadata, and
/// the drop counted as `stalled`.
async fn assert_dropped(server: &recordings_support::Server, what: &str) {
    let root = server.root();
    assert_eq!(
        files_under(&root),
        Vec::<std::path::PathBuf>::new(),
        "{what}: files left"
    );
    assert!(list(server, "").await.is_empty(), "{what}: metadata stored");
    assert_eq!(
        recordings_counted(server, "stalled").await,
        1,
        "{what}: metric"
    );
}

fn upload_path(call: &str) -> String {
    format!("/recordings/call_recording_{call}.mp3?call_id={call}&account_id={ACCOUNT}")
}

#[tokio::test]
async fn an_idle_upload_is_dropped_and_nothing_is_kept() {
    let server = server_with(RecordingsConfig {
        idle_timeout_ms: 300,
        ..RecordingsConfig::default()
    });
    let addr = server.addr;
    let path = upload_path("idle1");
    let reply = tokio::task::spawn_blocking(move || {
        let stream = stall(addr, "PUT", &path, "audio/mpeg", 100_000);
        reply_then_closed(stream, Duration::from_secs(10), "idle upload")
    })
    .await
    .unwrap();
    let body = reply.assert_error(408, "idle upload");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("idle_timeout_ms") && detail.contains("nothing was stored"),
        "{body}"
    );
    assert_dropped(&server, "idle upload").await;
}

#[tokio::test]
async fn a_trickling_upload_is_dropped_for_its_average_rate() {
    let mut recordings = RecordingsConfig {
        idle_timeout_ms: 5_000,
        min_bytes_per_s: 16 * 1024,
        ..RecordingsConfig::default()
    };
    recordings.rate_grace_ms = 600;
    let server = server_with(recordings);
    let addr = server.addr;
    let path = upload_path("slow1");
    let started = Instant::now();
    let reply = tokio::task::spawn_blocking(move || {
        let stream = stall(addr, "PUT", &path, "audio/mpeg", 1_000_000);
        // 200 bytes every 100 ms (2 KB/s): never idle, far below the floor.
        let mut writer = stream.try_clone().unwrap();
        let trickle = std::thread::spawn(move || {
            while writer.write_all(&[0x55; 200]).is_ok() {
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        stream.set_nodelay(true).unwrap();
        let reply = reply_then_closed(stream, Duration::from_secs(10), "trickling upload");
        trickle.join().unwrap();
        reply
    })
    .await
    .unwrap();
    let body = reply.assert_error(408, "trickling upload");
    assert!(
        body["detail"].as_str().unwrap().contains("min_bytes_per_s"),
        "{body}"
    );
    // Dropped for its rate once the grace period ended, long before the idle limit.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_dropped(&server, "trickling upload").await;
}

#[tokio::test]
async fn an_upload_at_lan_speed_past_the_grace_period_is_stored() {
    let mut recordings = RecordingsConfig {
        idle_timeout_ms: 1_000,
        min_bytes_per_s: 16 * 1024,
        ..RecordingsConfig::default()
    };
    recordings.rate_grace_ms = 300;
    let server = server_with(recordings);
    let body = mp3(8 * 1024 * 1024, 3);
    let addr = server.addr;
    let path = upload_path("lan1");
    let sent = body.clone();
    let reply = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: pivot.test\r\nContent-Type: audio/mpeg\r\n\
             Connection: close\r\nContent-Length: {}\r\n\r\n",
            sent.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        // 32 pieces of 256 KiB, 40 ms apart: ~1.3 s, past the grace period, at ~6 MB/s.
        for piece in sent.chunks(256 * 1024) {
            std::thread::sleep(Duration::from_millis(40));
            stream.write_all(piece).unwrap();
        }
        reply_then_closed(stream, Duration::from_secs(20), "upload at LAN speed")
    })
    .await
    .unwrap();
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["sha256"], sha256(&body));
    assert_eq!(recordings_counted(&server, "stalled").await, 0);
    // And a plain upload too.
    let small = mp3(50_000, 4);
    let reply = put(&server, &upload_path("lan2"), Some("audio/mpeg"), &small).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
}

/// The real binary, started under a file-descriptor limit; killed when dropped.
struct Service {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    /// Starts `pivotforge serve` on the shipped flows with `config` (TOML) under
    /// `prlimit --nofile=SOFT:HARD`, and waits until it answers `/healthz`.
    async fn start(soft: u64, hard: u64, config: &str) -> Service {
        // No in-process server here to install the TLS provider the HTTP client wants.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pivotforge.toml"), config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = dir.path().join("service.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("prlimit")
            .arg(format!("--nofile={soft}:{hard}"))
            .arg(env!("CARGO_BIN_EXE_pivotforge"))
            .args(["serve", "--listen", &addr.to_string(), "--config"])
            .arg(dir.path().join("pivotforge.toml"))
            .arg("--flows")
            .arg(common::shipped_flows())
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env_remove("PIVOTFORGE_CONFIG")
            .env_remove("PIVOTFORGE_LISTEN")
            .env_remove("PIVOTFORGE_FLOWS")
            .env_remove("PIVOTFORGE_DATA_DIR")
            .env_remove("PIVOTFORGE_PUBLIC_URL")
            .env_remove("PIVOTFORGE_LOG")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run prlimit pivotforge serve");
        let service = Service {
            child,
            addr,
            log,
            _dir: dir,
        };
        let healthz = service.url("/healthz");
        poll_until(Duration::from_secs(30), "the service starts", || async {
            answered(&healthz, Duration::from_secs(2))
                .await
                .filter(|&s| s == 200)
        })
        .await;
        service
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything the service logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it holds `line` (lines reach the file every 100 ms); panics after 10 s.
    async fn log_with(&self, line: &str) -> String {
        let found = poll_until(Duration::from_secs(10), line, || async {
            let log = self.log();
            log.contains(line).then_some(log)
        })
        .await;
        found
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET url` when answered within `limit`.
async fn answered(url: &str, limit: Duration) -> Option<u16> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(limit)
        .build()
        .unwrap();
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Opens `n` connections with stalled `/pivot` bodies from 10 threads; returns those that
/// connected (a server that stopped accepting leaves the rest waiting, then failing).
fn stall_many(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let threads: Vec<_> = (0..10)
        .map(|t| {
            std::thread::spawn(move || {
                (0..n)
                    .filter(|i| i % 10 == t)
                    .filter_map(|_| {
                        let mut s =
                            TcpStream::connect_timeout(&addr, Duration::from_secs(10)).ok()?;
                        let head = "POST /pivot/collected HTTP/1.1\r\nHost: pivot.test\r\n\
                                    Content-Type: application/x-www-form-urlencoded\r\n\
                                    Content-Length: 60000\r\n\r\nDigits=1";
                        s.write_all(head.as_bytes()).ok()?;
                        Some(s)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

/// The log must show no descriptor ever ran out.
fn assert_no_emfile(log: &str) {
    for sign in ["Too many open files", "os error 24", "EMFILE"] {
        assert!(
            !log.contains(sign),
            "the service ran out of descriptors:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_low_fd_limit_the_service_caps_connections_and_never_runs_out() {
    let _heavy = common::heavy().await;
    pivotforge::server::capacity::raise_fd_limit();
    let service = Service::start(
        1024,
        1024,
        "workers = 1\n[limits]\nbody_timeout_ms = 1000\n",
    )
    .await;
    service
        .log_with("file-descriptor limit 1024 (was 1024): at most 384 connections")
        .await;
    // More sockets than the limit: the cap holds them back (in the backlog, or refused by the
    // kernel once that is full) instead of the process running out of descriptors.
    let addr = service.addr;
    let held = tokio::task::spawn_blocking(move || stall_many(addr, 1500))
        .await
        .unwrap();
    assert!(held.len() > 384, "only {} connected", held.len());
    // Each stalled body is cut after a second, so the backlog drains and new requests are
    // answered, while every stalled socket is still open on the client's side.
    let healthz = service.url("/healthz");
    poll_until(Duration::from_secs(60), "/healthz answered", || async {
        answered(&healthz, Duration::from_secs(5))
            .await
            .filter(|&s| s == 200)
    })
    .await;
    let pivot = service.url("/pivot/collected");
    poll_until(Duration::from_secs(60), "/pivot answered", || async {
        answered(&pivot, Duration::from_secs(5))
            .await
            .filter(|&s| s == 200)
    })
    .await;
    let body = mp3(200_000, 5);
    let reply = common::client()
        .put(service.url(&upload_path("after1")))
        .header("content-type", "audio/mpeg")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status().as_u16(),
        201,
        "{}",
        reply.text().await.unwrap()
    );
    drop(held);
    assert_no_emfile(&service.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pivot_is_answered_within_a_second_while_1500_stalled_sockets_are_held() {
    let _heavy = common::heavy().await;
    // The test's own 1,500 sockets need more than a default soft limit of 1,024.
    let hard = pivotforge::server::capacity::raise_fd_limit()
        .expect("the fd limit is readable")
        .now;
    assert!(
        hard >= 4096,
        "the hard fd limit ({hard}) is too low for this test"
    );
    // The service starts with a soft limit of 1,024: only raising it lets 1,500 sockets in.
    let service = Service::start(
        1024,
        hard,
        "workers = 1\n[limits]\nbody_timeout_ms = 120000\n",
    )
    .await;
    service
        .log_with(&format!("file-descriptor limit {hard} (was 1024)"))
        .await;
    let addr = service.addr;
    let held = tokio::task::spawn_blocking(move || stall_many(addr, 1500))
        .await
        .unwrap();
    assert_eq!(held.len(), 1500, "every stalled socket connects");
    // Connections are accepted in order: once this is answered, all 1,500 are held.
    let healthz = service.url("/healthz");
    poll_until(Duration::from_secs(30), "/healthz answered", || async {
        answered(&healthz, Duration::from_secs(5))
            .await
            .filter(|&s| s == 200)
    })
    .await;
    let client = common::client();
    let pivot = service.url("/pivot/collected?Digits=1");
    for i in 0..20 {
        let started = Instant::now();
        let reply = common::get_with(&client, &pivot).await;
        let took = started.elapsed();
        assert_eq!(reply.status, 200, "probe {i}: {}", reply.text());
        assert!(took < Duration::from_secs(1), "probe {i} took {took:?}");
    }
    drop(held);
    assert_no_emfile(&service.log());
}
