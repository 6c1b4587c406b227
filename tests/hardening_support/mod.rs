//! Helpers the hardening tests share: the real `pivotforge serve` binary as a separate process
//! (so its memory can be measured and its log lines read), over a config file they write.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `pivotforge serve` process; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Where its stdout and stderr go.
    output: PathBuf,
    /// Holds the config file and the log.
    _dir: tempfile::TempDir,
}

/// A free loopback port (bound and released: the server binds it right after).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl ServerProcess {
    /// Starts `pivotforge serve` over `flows` and `data`, with `extra` TOML appended to the
    /// config file (sections such as `[auth]`), and waits until `/healthz` answers.
    pub fn start(flows: &Path, data: &Path, extra: &str) -> ServerProcess {
        // The test's own HTTP client needs a TLS provider, which the in-process server would
        // otherwise have installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let config = dir.path().join("pivotforge.toml");
        let text = format!(
            "listen = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\nflows_dir = {flows:?}\n\
             data_dir = {data:?}\nworkers = 1\n{extra}\n",
            flows = flows.display().to_string(),
            data = data.display().to_string(),
        );
        std::fs::write(&config, text).expect("write config");
        let output = dir.path().join("output.log");
        let log = std::fs::File::create(&output).expect("create log");
        let child = Command::new(env!("CARGO_BIN_EXE_pivotforge"))
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("PIVOTFORGE_CONFIG")
            .env_remove("PIVOTFORGE_FLOWS")
            .env_remove("PIVOTFORGE_DATA_DIR")
            .env_remove("PIVOTFORGE_PUBLIC_URL")
            .env_remove("PIVOTFORGE_LISTEN")
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start pivotforge serve");
        let mut server = ServerProcess {
            child,
            base,
            output,
            _dir: dir,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = self.base.trim_start_matches("http://").to_owned();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pivotforge serve exited ({status}): {}", self.output_text());
            }
            if healthy(&addr) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server never became healthy: {}",
                self.output_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `BASE{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process's resident memory now, in bytes (`VmRSS` of `/proc/PID/status`).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kb * 1024
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output_text(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Stops the process (SIGTERM, so it flushes its log and store) and waits for it.
    pub fn stop(mut self) -> String {
        self.terminate();
        self.output_text()
    }

    fn terminate(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill only sends a signal to the child this helper started.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// Whether `GET /healthz` at `addr` answers 200 (plain std: no runtime needed).
fn healthy(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

/// Megabytes, for reports.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}
