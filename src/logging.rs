//! Log output: one line per event, text or JSON, written through a shared buffer that a
//! background thread flushes every 100 ms, so the request path pays for formatting only, not for
//! a system call per line.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// How often buffered lines reach stdout.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A handle on the buffered stdout; flushes what is left when dropped.
#[derive(Clone)]
pub struct LogSink(Arc<Mutex<std::io::BufWriter<std::io::Stdout>>>);

impl LogSink {
    fn new() -> LogSink {
        LogSink(Arc::new(Mutex::new(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ))))
    }

    /// Writes out everything buffered.
    pub fn flush(&self) {
        if let Ok(mut w) = self.0.lock() {
            let _ = w.flush();
        }
    }
}

/// One line's writer: the buffer, locked for the length of the line.
pub struct LineWriter<'a>(std::sync::MutexGuard<'a, std::io::BufWriter<std::io::Stdout>>);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = Box<dyn Write + 'a>;
    fn make_writer(&'a self) -> Self::Writer {
        match self.0.lock() {
            Ok(guard) => Box::new(LineWriter(guard)),
            Err(_) => Box::new(std::io::sink()),
        }
    }
}

/// Installs the global subscriber; `PIVOTFORGE_LOG` sets the filter (default `info`).
pub fn init(format: LogFormat) -> LogSink {
    let sink = LogSink::new();
    let flusher = sink.clone();
    let _ = std::thread::Builder::new()
        .name("pivotforge-log".into())
        .spawn(move || loop {
            std::thread::sleep(FLUSH_EVERY);
            flusher.flush();
        });
    let filter = tracing_subscriber::EnvFilter::try_from_env("PIVOTFORGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(sink.clone());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    sink
}
