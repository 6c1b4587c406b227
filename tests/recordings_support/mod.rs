//! Helpers the recording tests share: a server with recordings settings, audio-like bodies,
//! uploads, listings, and a look at what is on disk.

use std::path::{Path, PathBuf};

use pivotforge::config::RecordingsConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{self, at, flows_dir, Reply, TestServer};

/// The test servers' clock: every recording is received on 2026-03-01.
pub const NOW: &str = "2026-03-01T12:00:00Z";
/// A Kazoo account id.
pub const ACCOUNT: &str = "3a1d5c7e9b2f4a6c8e0d1f3b5a7c9e2d";

/// A test server, and the (empty) flows folder it serves.
pub struct Server {
    /// The running server.
    pub server: TestServer,
    _flows: tempfile::TempDir,
}

impl std::ops::Deref for Server {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

impl Server {
    /// The recordings folder.
    pub fn root(&self) -> PathBuf {
        self.data.path().join("recordings")
    }
}

/// A server with default recordings settings.
pub fn server() -> Server {
    server_with(RecordingsConfig::default())
}

/// A server with these recordings settings.
pub fn server_with(recordings: RecordingsConfig) -> Server {
    let flows = flows_dir(&[]);
    let mut config = common::config(flows.path());
    config.recordings = recordings;
    Server {
        server: common::serve_with(config, at(NOW)),
        _flows: flows,
    }
}

/// `len` pseudo-random bytes from `seed` (xorshift: distinct seeds give distinct files).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An MP3-looking body: an MPEG-1 layer III frame header (128 kbit/s) and noise.
pub fn mp3(len: usize, seed: u64) -> Vec<u8> {
    let mut body = vec![0xFF, 0xFB, 0x90, 0x64];
    body.extend(noise(len.saturating_sub(4), seed));
    body
}

/// A WAV body: a canonical PCM header (8 kHz, 16-bit mono: 16,000 bytes/s) and `audio` bytes.
pub fn wav(audio: usize) -> Vec<u8> {
    let mut h = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&[1, 0, 1, 0]);
    h.extend_from_slice(&8000u32.to_le_bytes());
    h.extend_from_slice(&16000u32.to_le_bytes());
    h.extend_from_slice(&[2, 0, 16, 0]);
    h.extend_from_slice(b"data");
    h.extend_from_slice(&(audio as u32).to_le_bytes());
    h.extend(noise(audio, 7));
    h
}

/// Lower-case hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `PUT path` (path and query, sent as written) with a content type.
pub async fn put(server: &Server, path: &str, content_type: Option<&str>, body: &[u8]) -> Reply {
    common::request(
        reqwest::Method::PUT,
        &server.url(path),
        content_type,
        body.to_vec(),
    )
    .await
}

/// `GET /recordings?query` → the listed recordings, asserting 200.
pub async fn list(server: &Server, query: &str) -> Vec<Value> {
    let reply = common::get(&server.url(&format!("/recordings?{query}"))).await;
    assert_eq!(
        reply.status,
        200,
        "GET /recordings?{query}: {}",
        reply.text()
    );
    reply.json()["recordings"]
        .as_array()
        .expect("`recordings` is a list")
        .clone()
}

/// `GET` of a recording's `url` → its bytes, asserting 200.
pub async fn audio(server: &Server, recording: &Value) -> Vec<u8> {
    let url = recording["url"].as_str().expect("recording has a url");
    let reply = common::get(&server.url(url)).await;
    assert_eq!(reply.status, 200, "GET {url}: {}", reply.text());
    reply.body
}

/// Every file (not folder) under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Temporary upload files left anywhere under `dir`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".part"))
        })
        .collect()
}

/// Polls for up to five seconds until no temporary upload file is left under `dir`.
pub async fn assert_no_temp_files(dir: &Path, what: &str) {
    common::poll_until(std::time::Duration::from_secs(5), what, || async {
        temp_files(dir).is_empty().then_some(())
    })
    .await;
}

/// Sends a raw HTTP/1.1 request and reads one reply by its `Content-Length`, without waiting
/// for the server to close: after refusing an upload mid-body the server answers with
/// `Connection: close` but may hold the socket until the client closes, as any real client
/// does once it has the reply. Writing happens on its own thread, as in `common::raw_http`.
pub fn raw_exchange(addr: std::net::SocketAddr, request: Vec<u8>) -> common::RawReply {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("read timeout");
    let mut writer = stream.try_clone().expect("clone stream");
    let write = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut received = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let reply = loop {
        if let Some(split) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let headers = String::from_utf8_lossy(&received[..split]).to_ascii_lowercase();
            let length: usize = headers
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if received.len() >= split + 4 + length {
                let status = headers
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("no status in {headers:?}"));
                break common::RawReply {
                    status,
                    body: received[split + 4..split + 4 + length].to_vec(),
                    headers,
                };
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!(
                "closed before a whole reply: {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "reading the reply failed: {e}; got {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    };
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = write.join();
    reply
}
