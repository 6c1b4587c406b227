//! Issue 9 §5, nothing is left behind after a crash: the real binary is started as a process,
//! killed with SIGKILL while uploads are in flight, and started again at once on the same data
//! folder; no temporary upload file may remain, and every listed recording must be intact by
//! SHA-256. A second process starting on a recordings folder shared with a running one must not
//! remove the temporary file of the first one's live upload.

use crate::common::serve_process::ServeProcess;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Starts `pivotforge serve` with `data` and the recordings folder `rec`; it answers
/// `/healthz` when this returns.
fn start(work: &Path, name: &str, data: &Path, rec: &Path) -> ServeProcess {
    let flows = work.join("callflows");
    std::fs::create_dir_all(&flows).expect("flows folder");
    let config = format!(
        "flows_dir = '{}'\ndata_dir = '{}'\n\n[recordings]\ndir = '{}'\n",
        flows.display(),
        data.display(),
        rec.display()
    );
    ServeProcess::start(work, name, &config)
}

fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One request on a fresh connection; (status, body) or None when the service isn't there.
fn http(port: u16, head: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    read_reply(&mut stream)
}

/// Reads a `Connection: close` reply.
fn read_reply(stream: &mut TcpStream) -> Option<(u16, Vec<u8>)> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, raw[split + 4..].to_vec()))
}

fn upload_head(call: &str, len: usize) -> String {
    format!(
        "PUT /recordings/call_recording_{call}.mp3?account_id=acct&call_id={call} HTTP/1.1\r\n\
         Host: t\r\nContent-Type: audio/mpeg\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

/// Bytes that differ from one recording to the next.
fn audio(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The temporary upload files under `rec`, with their sizes.
fn temp_files(rec: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    let dirs = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    for account in dirs(rec) {
        for day in dirs(&account) {
            for file in dirs(&day) {
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with(".upload-") && name.ends_with(".part") {
                    let size = std::fs::metadata(&file).map_or(0, |m| m.len());
                    found.push((file, size));
                }
            }
        }
    }
    found
}

/// Starts an upload of `total` bytes and sends only `sent` of them, keeping the socket open.
fn partial_upload(port: u16, call: &str, total: usize, sent: usize) -> (TcpStream, Vec<u8>) {
    let body = audio(call.len() as u64 * 7919 + total as u64, total);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(upload_head(call, total).as_bytes())
        .expect("send head");
    stream
        .write_all(&body[..sent])
        .expect("send part of the body");
    (stream, body)
}

fn list(port: u16) -> Vec<Value> {
    let (status, body) = http(
        port,
        "GET /recordings?limit=1000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"",
    )
    .expect("list recordings");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let list: Value = serde_json::from_slice(&body).expect("JSON list");
    list["recordings"].as_array().expect("recordings").clone()
}

fn download(port: u16, id: &str) -> Vec<u8> {
    let head =
        format!("GET /recordings/{id}/audio HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let (status, body) = http(port, &head, b"").expect("download");
    assert_eq!(status, 200, "download {id}");
    body
}

#[test]
fn kill_9_during_uploads_then_restart_leaves_no_temporary_file_and_every_recording_intact() {
    let work = tempfile::tempdir().expect("work dir");
    let (data, rec) = (work.path().join("data"), work.path().join("recordings"));
    let mut first = start(work.path(), "first", &data, &rec);

    // Complete recordings first: what is listed later must be exactly these, byte for byte.
    let mut uploaded = BTreeMap::new();
    for (i, len) in [300_000usize, 1_100_000, 2_600_000, 77]
        .into_iter()
        .enumerate()
    {
        let call = format!("done{i}");
        let body = audio(i as u64 + 1, len);
        let (status, reply) = http(first.port(), &upload_head(&call, len), &body).expect("upload");
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&reply));
        uploaded.insert(call, sha256(&body));
    }

    // Several uploads in flight, each with more than a write batch (1 MiB) on disk.
    let in_flight: Vec<_> = (0..5)
        .map(|i| {
            partial_upload(
                first.port(),
                &format!("cut{i}"),
                6_000_000,
                2_500_000 + i * 100_000,
            )
        })
        .collect();
    wait_for(Duration::from_secs(20), "5 temporary files on disk", || {
        let temps = temp_files(&rec);
        temps.len() == 5 && temps.iter().all(|(_, size)| *size >= 1024 * 1024)
    });
    first.kill_9();
    drop(in_flight);
    assert_eq!(
        temp_files(&rec).len(),
        5,
        "the kill left the temporary files behind"
    );

    // At once, on the same folders.
    let second = start(work.path(), "second", &data, &rec);
    wait_for(
        Duration::from_secs(15),
        "no temporary upload file after the restart",
        || temp_files(&rec).is_empty(),
    );
    let listed = list(second.port());
    let mut seen = BTreeMap::new();
    for recording in &listed {
        let id = recording["id"].as_str().expect("id");
        let call = recording["call_id"].as_str().expect("call_id").to_owned();
        let stored = sha256(&download(second.port(), id));
        assert_eq!(
            Some(&stored),
            recording["sha256"].as_str().map(str::to_owned).as_ref(),
            "{call}: the file matches its listed SHA-256"
        );
        seen.insert(call, stored);
    }
    assert_eq!(
        seen, uploaded,
        "listed: exactly the complete uploads, each intact; none of the cut ones"
    );

    // The restarted service takes uploads as before.
    let body = audio(99, 500_000);
    let (status, _) =
        http(second.port(), &upload_head("after", body.len()), &body).expect("upload");
    assert_eq!(status, 201);
    assert!(temp_files(&rec).is_empty());
}

#[test]
fn a_process_starting_on_a_shared_folder_leaves_a_live_upload_alone() {
    let work = tempfile::tempdir().expect("work dir");
    let rec = work.path().join("shared-recordings");
    let a = start(work.path(), "a", &work.path().join("data-a"), &rec);

    let total = 3_000_000;
    let (mut live, body) = partial_upload(a.port(), "live", total, 1_500_000);
    wait_for(
        Duration::from_secs(20),
        "the live upload's temporary file",
        || {
            temp_files(&rec)
                .iter()
                .any(|(_, size)| *size >= 1024 * 1024)
        },
    );
    let before = temp_files(&rec);
    assert_eq!(before.len(), 1);
    // A temporary file a killed process left in the same folder goes; the live one stays.
    let dead = before[0]
        .0
        .with_file_name(".upload-999999-0-00000000deadbeef.part");
    std::fs::write(&dead, b"left by a crash").expect("write a dead temporary file");

    let b = start(work.path(), "b", &work.path().join("data-b"), &rec);
    wait_for(Duration::from_secs(15), "b's start-up sweep", || {
        !b.logged("swept unfinished uploads").is_empty()
    });
    let line = b
        .logged("swept unfinished uploads")
        .into_iter()
        .next()
        .unwrap_or_default();
    assert!(
        line.contains("removed=1") && line.contains("in_use=1"),
        "{line}"
    );
    assert!(!dead.exists(), "the dead upload's file is removed");
    let after = temp_files(&rec);
    assert_eq!(
        after.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        before.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "the live upload's temporary file is still there"
    );

    // The live upload finishes on a, intact.
    live.write_all(&body[1_500_000..]).expect("send the rest");
    live.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let (status, reply) = read_reply(&mut live).expect("reply");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&reply));
    let listed = list(a.port());
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().expect("id");
    assert_eq!(sha256(&download(a.port(), id)), sha256(&body));
    assert!(temp_files(&rec).is_empty());
    drop(b);
}
