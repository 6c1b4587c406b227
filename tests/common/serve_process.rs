//! `pivotforge serve` run as a child process of a test, with a configuration file the test
//! writes, so a test can kill a node with SIGKILL as a crash would. Lines it logs are kept.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `pivotforge serve` process, killed on drop.
pub struct ServeProcess {
    child: Option<Child>,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServeProcess {
    /// Starts one on a free loopback port: `config` is the rest of its configuration file
    /// (`listen` is added in front), written to `work/{name}.toml`. Returns once `/healthz`
    /// answers 200.
    pub fn start(work: &Path, name: &str, config: &str) -> ServeProcess {
        // The test's own HTTP client needs one (an in-process server would have installed it).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let file = work.join(format!("{name}.toml"));
        std::fs::write(&file, format!("listen = '127.0.0.1:{port}'\n{config}"))
            .expect("write the node's config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pivotforge"))
            .args(["serve", "--config"])
            .arg(&file)
            .env_remove("PIVOTFORGE_CONFIG")
            .env_remove("PIVOTFORGE_FLOWS")
            .env_remove("PIVOTFORGE_LISTEN")
            .env_remove("PIVOTFORGE_DATA_DIR")
            .env_remove("PIVOTFORGE_PUBLIC_URL")
            .env_remove("PIVOTFORGE_LOG_FORMAT")
            .env_remove("PIVOTFORGE_STORE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pivotforge serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("its stdout");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().expect("log").push(line);
            }
        });
        let mut node = ServeProcess {
            child: Some(child),
            port,
            log,
        };
        node.wait_healthy(Duration::from_secs(30));
        node
    }

    fn wait_healthy(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("pivotforge serve exited at start: {status}");
            }
            let up = std::net::TcpStream::connect(("127.0.0.1", self.port))
                .ok()
                .and_then(|mut s| {
                    use std::io::{Read, Write};
                    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                        .ok()?;
                    let mut reply = Vec::new();
                    s.read_to_end(&mut reply).ok()?;
                    Some(reply.starts_with(b"HTTP/1.1 200"))
                })
                .unwrap_or(false);
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pivotforge serve did not answer /healthz within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The lines it logged so far that contain `text`.
    pub fn logged(&self, text: &str) -> Vec<String> {
        let lines = self.log.lock().expect("log");
        lines.iter().filter(|l| l.contains(text)).cloned().collect()
    }

    /// SIGKILL, as a crash: nothing of the process runs after this.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}
