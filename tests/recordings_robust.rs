//! Recording uploads under stress and attack, over real HTTP: 100 concurrent uploads arriving
//! intact, a client that disconnects mid-upload, path traversal attempts, uploads over the size
//! limit (declared or streamed), and a full disk.

use crate::common;
use crate::recordings_support;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use pivotforge::config::RecordingsConfig;
use recordings_support::{
    assert_no_temp_files, audio, files_under, list, mp3, noise, put, raw_exchange, server,
    server_with, sha256, temp_files, ACCOUNT,
};

#[tokio::test]
async fn a_hundred_concurrent_uploads_all_arrive_intact() {
    let _heavy = common::heavy().await;
    let server = server();
    let bodies: Vec<Vec<u8>> = (0..100u64)
        .map(|i| {
            // 1 KiB to ~300 KiB, so some span more than one 256 KiB write batch.
            let spread: usize = noise(4, i + 1000).iter().map(|&b| usize::from(b)).sum();
            mp3(1024 + spread * 300, i)
        })
        .collect();
    let hashes: Vec<String> = bodies.iter().map(|b| sha256(b)).collect();
    let uploads = bodies.iter().enumerate().map(|(i, body)| {
        let path = format!(
            "/recordings/call_recording_conc{i}%40host.mp3?call_id=conc{i}%40host&account_id={ACCOUNT}"
        );
        let server = &server;
        async move { (i, put(server, &path, Some("audio/mpeg"), body).await) }
    });
    for (i, reply) in futures_util::future::join_all(uploads).await {
        assert_eq!(reply.status, 201, "upload {i}: {}", reply.text());
        assert_eq!(reply.json()["sha256"], hashes[i], "upload {i}");
    }
    let listed = list(&server, "limit=1000").await;
    assert_eq!(listed.len(), 100);
    for rec in &listed {
        let call = rec["call_id"].as_str().unwrap();
        let i: usize = call
            .trim_start_matches("conc")
            .trim_end_matches("@host")
            .parse()
            .unwrap();
        assert_eq!(rec["sha256"], hashes[i], "{call}");
        assert_eq!(rec["size"], bodies[i].len(), "{call}");
        assert!(
            audio(&server, rec).await == bodies[i],
            "{call}: downloaded bytes differ"
        );
    }
    // On disk too: exactly the 100 bodies, nothing more.
    let mut on_disk: Vec<Vec<u8>> = files_under(&server.root())
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    let mut expected = bodies.clone();
    on_disk.sort();
    expected.sort();
    assert!(
        on_disk == expected,
        "the files on disk are not the uploaded bodies"
    );
}

/// Sends headers announcing `length` bytes, then `sent` bytes of body, then closes.
fn upload_then_vanish(addr: std::net::SocketAddr, path: &str, length: usize, sent: usize) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: pivot.test\r\nContent-Type: audio/mpeg\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&mp3(sent, 9)).unwrap();
    stream.flush().unwrap();
    // Let the server read what was sent before the connection goes.
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(stream);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_nothing() {
    let server = server();
    let addr = server.addr;
    // Small (one batch) and large (several batches in flight) cut-off uploads.
    for (i, length) in [(0, 100_000usize), (1, 4_000_000)] {
        let path = format!("/recordings/call_recording_cut{i}.mp3?call_id=cut{i}");
        tokio::task::spawn_blocking(move || upload_then_vanish(addr, &path, length, length / 2))
            .await
            .unwrap();
    }
    assert_no_temp_files(server.data.path(), "temporary files after a disconnect").await;
    assert!(list(&server, "").await.is_empty());
    assert!(
        files_under(&server.root()).is_empty(),
        "{:?}",
        files_under(&server.root())
    );
    // The PBX's retry of the same upload then stores it.
    let body = mp3(100_000, 9);
    let reply = put(
        &server,
        "/recordings/call_recording_cut0.mp3?call_id=cut0",
        None,
        &body,
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
}

/// A raw PUT of `body` to `target` (sent byte for byte, never normalised by a URL library).
fn raw_put(target: &[u8], body: &[u8]) -> Vec<u8> {
    let mut req = b"PUT ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(
        format!(
            " HTTP/1.1\r\nHost: pivot.test\r\nConnection: close\r\nContent-Type: audio/mpeg\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    req.extend_from_slice(body);
    req
}

/// Every file under `dir` that is not where a recording may be: `ROOT/ACCOUNT/DAY/NAME.EXT`
/// with no part that is `.`, `..` or hidden.
fn misplaced(data: &Path, root: &Path) -> Vec<PathBuf> {
    files_under(data)
        .into_iter()
        .filter(|f| {
            if f.starts_with(data.join("pivotforge.redb")) {
                return false;
            }
            let Ok(rel) = f.strip_prefix(root) else {
                return true;
            };
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            parts.len() != 3 || parts.iter().any(|p| p.starts_with('.'))
        })
        .collect()
}

#[tokio::test]
async fn traversal_attempts_stay_inside_the_recordings_folder() {
    let server = server();
    let outside = server.data.path().parent().unwrap().to_path_buf();
    let before: Vec<PathBuf> = std::fs::read_dir(&outside)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let targets: [&[u8]; 12] = [
        b"/recordings/..%2F..%2F..%2Fescape1.mp3",
        b"/recordings/%2E%2E%2F%2E%2E%2Fescape2.mp3",
        b"/recordings/../../escape3.mp3",
        b"/recordings/..%5C..%5Cescape4.mp3",
        b"/recordings/%2Fetc%2Fescape5.mp3",
        b"/recordings//etc/escape6.mp3",
        b"/recordings/call_recording_..%2F..%2Fescape7.mp3?call_id=..%2F..",
        b"/recordings?recording=..%2F..%2Fescape8.mp3",
        b"/recordings?file=%2Ftmp%2Fescape9.mp3",
        b"/recordings/x.mp3?account_id=..%2F..%2F..&call_id=escape10",
        b"/recordings/x.mp3?account_id=%2Ftmp&call_id=escape11",
        b"/recordings/.hidden.mp3",
    ];
    for target in targets {
        let reply = raw_exchange(server.addr, raw_put(target, &mp3(64, 1)));
        let shown = String::from_utf8_lossy(target);
        // Stored under an encoded name (or refused); either way, never outside.
        assert!(
            reply.status == 201
                || reply.status == 200
                || reply.status == 400
                || reply.status == 404,
            "{shown}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    let reply = raw_exchange(server.addr, raw_put(b"/recordings/nul%00.mp3", &mp3(64, 1)));
    reply.assert_error(400, "NUL");
    assert!(
        misplaced(server.data.path(), &server.root()).is_empty(),
        "{:?}",
        files_under(server.data.path())
    );
    let after: Vec<PathBuf> = std::fs::read_dir(&outside)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let new: Vec<_> = after
        .iter()
        .filter(|p| !before.contains(p) && p.to_string_lossy().contains("escape"))
        .collect();
    assert!(new.is_empty(), "{new:?}");
    assert!(!Path::new("/etc/escape5.mp3").exists() && !Path::new("/tmp/escape9.mp3").exists());
    // The names kept their text: the call id of the `..` upload is `..` and friends.
    let listed = list(&server, "limit=100").await;
    assert!(
        listed.iter().any(|r| r["call_id"] == "../../../escape1"),
        "{listed:?}"
    );
}

#[tokio::test]
async fn oversize_uploads_are_413_and_store_nothing() {
    let server = server_with(RecordingsConfig {
        max_bytes: 300_000,
        ..RecordingsConfig::default()
    });
    // Declared too large: refused before a byte is read.
    let reply = raw_exchange(
        server.addr,
        raw_put(b"/recordings/big1.mp3", &mp3(300_001, 1)),
    );
    let body = reply.assert_error(413, "declared oversize");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("300000-byte limit"),
        "{body}"
    );
    // Chunked, no length: refused once the limit is passed, the partial file removed.
    let mut chunked =
        b"PUT /recordings/big2.mp3 HTTP/1.1\r\nHost: pivot.test\r\nConnection: close\r\n\
        Content-Type: audio/mpeg\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for i in 0..8u64 {
        let chunk = mp3(64 * 1024, i);
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    raw_exchange(server.addr, chunked).assert_error(413, "streamed oversize");
    assert_no_temp_files(server.data.path(), "temporary files after 413").await;
    assert!(list(&server, "").await.is_empty());
    assert!(files_under(&server.root()).is_empty());
    // Exactly at the limit is fine.
    let reply = put(&server, "/recordings/fits.mp3", None, &mp3(300_000, 2)).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
}

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped; `None` when this
/// process may not mount (not root, or no CAP_SYS_ADMIN in a container).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a server thread still letting go of the folder must not keep the mount.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_is_507_and_stores_nothing() {
    let Some(disk) = SmallDisk::mount("1m") else {
        eprintln!(
            "SKIPPED: can't mount a 1 MiB tmpfs here (needs root); the ENOSPC → 507 mapping is \
             covered by recordings::writer's unit tests"
        );
        return;
    };
    let server = server_with(RecordingsConfig {
        dir: Some(disk.dir.path().to_path_buf()),
        ..RecordingsConfig::default()
    });
    let reply = raw_exchange(
        server.addr,
        raw_put(b"/recordings/full1.mp3?call_id=full1", &mp3(3_000_000, 1)),
    );
    let body = reply.assert_error(507, "full disk");
    assert!(
        body["detail"].as_str().unwrap().contains("no space left"),
        "{body}"
    );
    assert_no_temp_files(disk.dir.path(), "temporary files after 507").await;
    assert!(temp_files(disk.dir.path()).is_empty());
    assert!(files_under(disk.dir.path()).is_empty());
    assert!(list(&server, "").await.is_empty());
    // The space came back: a recording that fits is stored.
    let small = mp3(200_000, 2);
    let reply = put(&server, "/recordings/fits.mp3", None, &small).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    drop(server);
}
