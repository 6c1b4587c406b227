//! Log output: one line per event, text or JSON, written through a shared buffer that a
//! background thread flushes every 100 ms, so the request path pays for formatting only, not for
//! a system call per line.
//!
//! The line every call step logs ([`step`]) is the one on the hot path: it is formatted here,
//! by hand, into a per-thread buffer, in the shape `tracing`'s formatter gives every other line,
//! instead of through `tracing`'s field visitors (a profile of the rule flow put those at a
//! twentieth of the server's CPU).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{Timelike, Utc};

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
    let ansi = std::io::stdout().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(sink.clone());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A terminal gets tracing's colours; the hand-made line has none.
    if installed.is_ok() && !ansi {
        let _ = DIRECT.set(Direct {
            sink: sink.clone(),
            format,
        });
    }
    sink
}

/// The target the step line is logged under (what `PIVOTFORGE_LOG` filters on).
pub const STEP_TARGET: &str = "pivotforge::server::pivot";

/// The fields of the one line a call step logs, in the order they print.
pub struct StepLine<'a> {
    /// The flow named in the URL.
    pub flow: &'a str,
    /// The PBX's Call-ID (empty when none).
    pub call_id: &'a str,
    /// The outcome's label, or `refused`.
    pub outcome: &'static str,
    /// The rule that matched, for rule flows.
    pub rule: Option<&'a str>,
    /// The HTTP status sent.
    pub status: u16,
    /// From the first byte read to the reply built.
    pub duration_us: u64,
    /// Why the step failed, masked (empty when it did not).
    pub reason: &'a str,
}

/// Where the step line goes when it is written by hand: the subscriber's own buffer.
struct Direct {
    sink: LogSink,
    format: LogFormat,
}

static DIRECT: OnceLock<Direct> = OnceLock::new();

thread_local! {
    /// The line being formatted, and the timestamp text up to the second it was for.
    static LINE: RefCell<(String, i64, String)> = const { RefCell::new((String::new(), i64::MIN, String::new())) };
}

/// Logs a call step's line at INFO, as `tracing` would, without its per-field formatting when
/// [`init`] installed the buffered output (elsewhere, e.g. in tests, it is a `tracing` event).
pub fn step(line: &StepLine<'_>) {
    if !tracing::enabled!(target: STEP_TARGET, tracing::Level::INFO) {
        return;
    }
    let Some(direct) = DIRECT.get() else {
        tracing::info!(
            target: STEP_TARGET,
            flow = line.flow,
            call_id = line.call_id,
            outcome = line.outcome,
            rule = line.rule,
            status = line.status,
            duration_us = line.duration_us,
            reason = line.reason,
            "pivot"
        );
        return;
    };
    LINE.with(|cell| {
        let Ok(mut cell) = cell.try_borrow_mut() else {
            return;
        };
        let (text, second, stamp) = &mut *cell;
        text.clear();
        let now = Utc::now();
        if now.timestamp() != *second {
            *second = now.timestamp();
            *stamp = now.format("%Y-%m-%dT%H:%M:%S").to_string();
        }
        let micros = now.nanosecond() % 1_000_000_000 / 1000;
        let _ = match direct.format {
            LogFormat::Text => text_line(text, stamp, micros, line),
            LogFormat::Json => json_line(text, stamp, micros, line),
        };
        if let Ok(mut out) = direct.sink.0.lock() {
            let _ = out.write_all(text.as_bytes());
        }
    });
}

/// `2026-12-02T03:51:12.345678Z  INFO target: pivot flow="…" …`, as tracing's full format.
fn text_line(out: &mut String, stamp: &str, micros: u32, l: &StepLine<'_>) -> std::fmt::Result {
    write!(out, "{stamp}.{micros:06}Z  INFO {STEP_TARGET}: pivot flow=")?;
    quoted(out, l.flow)?;
    out.push_str(" call_id=");
    quoted(out, l.call_id)?;
    out.push_str(" outcome=");
    quoted(out, l.outcome)?;
    if let Some(rule) = l.rule {
        out.push_str(" rule=");
        quoted(out, rule)?;
    }
    write!(
        out,
        " status={} duration_us={} reason=",
        l.status, l.duration_us
    )?;
    quoted(out, l.reason)?;
    out.push('\n');
    Ok(())
}

/// `s` quoted as `{:?}` quotes it; text that needs no escape (flow names, most Call-IDs) is
/// copied as it is, without the formatter's character-by-character walk.
fn quoted(out: &mut String, s: &str) -> std::fmt::Result {
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
        Ok(())
    } else {
        write!(out, "{s:?}")
    }
}

/// The same line as tracing's JSON format writes it.
fn json_line(out: &mut String, stamp: &str, micros: u32, l: &StepLine<'_>) -> std::fmt::Result {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    write!(out, "{{\"timestamp\":\"{stamp}.{micros:06}Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"pivot\",\"flow\":{},\"call_id\":{},\"outcome\":\"{}\"", quoted(l.flow), quoted(l.call_id), l.outcome)?;
    if let Some(rule) = l.rule {
        write!(out, ",\"rule\":{}", quoted(rule))?;
    }
    writeln!(
        out,
        ",\"status\":{},\"duration_us\":{},\"reason\":{}}},\"target\":\"{STEP_TARGET}\"}}",
        l.status,
        l.duration_us,
        quoted(l.reason)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(rule: Option<&'static str>) -> StepLine<'static> {
        StepLine {
            flow: "main",
            call_id: "c\"1@h",
            outcome: "fallback",
            rule,
            status: 200,
            duration_us: 42,
            reason: "script timeout",
        }
    }

    #[test]
    fn quoting_is_debug_quoting() {
        for s in [
            "",
            "plain-id@10.0.0.1",
            "a\"b",
            "back\\slash",
            "tab\there",
            "é",
            "\u{7f}",
        ] {
            let mut out = String::new();
            quoted(&mut out, s).unwrap();
            assert_eq!(out, format!("{s:?}"));
        }
    }

    #[test]
    fn the_step_line_reads_as_tracing_writes_it() {
        let mut text = String::new();
        text_line(&mut text, "2026-12-02T03:51:12", 7, &line(Some("weekday"))).unwrap();
        assert_eq!(
            text,
            "2026-12-02T03:51:12.000007Z  INFO pivotforge::server::pivot: pivot flow=\"main\" \
             call_id=\"c\\\"1@h\" outcome=\"fallback\" rule=\"weekday\" status=200 \
             duration_us=42 reason=\"script timeout\"\n"
        );
        let mut json = String::new();
        json_line(&mut json, "2026-12-02T03:51:12", 345_678, &line(None)).unwrap();
        assert!(json.ends_with('\n'));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["timestamp"], "2026-12-02T03:51:12.345678Z");
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["target"], STEP_TARGET);
        assert_eq!(value["fields"]["message"], "pivot");
        assert_eq!(value["fields"]["call_id"], "c\"1@h");
        assert_eq!(value["fields"]["status"], 200);
        assert_eq!(value["fields"]["duration_us"], 42);
        assert!(value["fields"].get("rule").is_none(), "no rule, no field");
    }
}
