//! Counters and histograms for `/metrics` (Prometheus text format 0.0.4, names prefixed
//! `pivotforge_`).
//!
//! A pivot request costs a read lock, one hash lookup and a few atomic adds: the handles of each
//! flow's series are made once and kept, so no label string is built per request. Flow names
//! come from URLs, so only flows the registry knows are counted under their own name; any other
//! name is counted as [`UNKNOWN_FLOW`], and a scanner can't grow the label set. Values the
//! engine already keeps (JS pool, loaded flows, each script flow's bulkhead and breaker) are
//! read when scraped ([`engine`], [`isolation`]).

mod engine;
mod isolation;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

use crate::engine::Engine;

/// The `flow` label of requests for a name that is not a loaded flow.
pub const UNKNOWN_FLOW: &str = "(unknown)";

/// The `outcome` label values of `pivotforge_pivot_requests_total`.
pub const OUTCOMES: [&str; 5] = ["tree", "rejection", "fallback", "error", "refused"];

/// `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Histogram buckets for call steps and script runs: 0.1 ms to 5 s (Kazoo gives up at 5 s).
const LATENCY_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// One flow's series, made on its first request.
struct FlowSeries {
    /// By outcome, in the order of [`OUTCOMES`].
    requests: [IntCounter; OUTCOMES.len()],
    duration: Histogram,
    /// Made on the first script run, so rule flows carry no empty script histogram.
    script: OnceLock<Histogram>,
}

/// The metrics of this process.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    script: HistogramVec,
    recordings: IntCounterVec,
    recording_bytes: IntCounter,
    denied: IntCounterVec,
    events: IntCounterVec,
    flows: RwLock<HashMap<Box<str>, Arc<FlowSeries>>>,
    unknown: Arc<FlowSeries>,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics for the flows and JS pool of `engine`.
    pub fn new(engine: Arc<Engine>) -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "pivotforge_pivot_requests_total",
                "Pivot requests (call steps) by flow and outcome.",
            ),
            &["flow", "outcome"],
        )
        .expect("valid metric");
        let duration = histogram(
            "pivotforge_pivot_request_duration_seconds",
            "Time from a pivot request's arrival to its reply, by flow.",
        );
        let script = histogram(
            "pivotforge_script_run_duration_seconds",
            "Time a script flow ran on its JS thread for one call step, by flow.",
        );
        let recordings = IntCounterVec::new(
            Opts::new(
                "pivotforge_recordings_received_total",
                "Recording uploads by result (created, replaced, unauthorized, too_large, \
                 disk_full, bad_request, error).",
            ),
            &["result"],
        )
        .expect("valid metric");
        let recording_bytes = IntCounter::new(
            "pivotforge_recordings_bytes_stored_total",
            "Bytes of recordings stored.",
        )
        .expect("valid metric");
        let denied = IntCounterVec::new(
            Opts::new(
                "pivotforge_auth_denied_total",
                "Requests refused for missing or wrong credentials, by area (pivot, admin).",
            ),
            &["area"],
        )
        .expect("valid metric");
        let events = IntCounterVec::new(
            Opts::new(
                "pivotforge_events_received_total",
                "End-of-call events received, by flow and result (stored, duplicate, \
                 no_postcall, unknown_flow, unknown_call, other_leg, other_event, no_call_id, \
                 queue_full).",
            ),
            &["flow", "result"],
        )
        .expect("valid metric");
        let collectors: [Box<dyn prometheus::core::Collector>; 9] = [
            Box::new(events.clone()),
            Box::new(requests.clone()),
            Box::new(duration.clone()),
            Box::new(script.clone()),
            Box::new(recordings.clone()),
            Box::new(recording_bytes.clone()),
            Box::new(denied.clone()),
            Box::new(engine::ScrapeCollector::engine(engine.clone())),
            Box::new(isolation::IsolationCollector::new(engine.clone())),
        ];
        for collector in collectors {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        let unknown = Arc::new(FlowSeries::new(&requests, &duration, UNKNOWN_FLOW));
        Metrics {
            registry,
            requests,
            duration,
            script,
            recordings,
            recording_bytes,
            denied,
            events,
            flows: RwLock::new(HashMap::new()),
            unknown,
            engine,
        }
    }

    /// Counts one pivot request of `flow` that ended as `outcome` after `took`; `script` is the
    /// time a script ran on its JS thread, for script flows.
    pub fn pivot(&self, flow: &str, outcome: &str, took: Duration, script: Option<Duration>) {
        let record = |series: &FlowSeries| {
            match OUTCOMES.iter().position(|o| *o == outcome) {
                Some(i) => series.requests[i].inc(),
                None => self
                    .requests
                    .with_label_values(&[self.label(flow), outcome])
                    .inc(),
            }
            series.duration.observe(took.as_secs_f64());
            if let Some(ran) = script {
                series
                    .script
                    .get_or_init(|| self.script.with_label_values(&[self.label(flow)]))
                    .observe(ran.as_secs_f64());
            }
        };
        {
            let flows = self.flows.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = flows.get(flow) {
                return record(series);
            }
        }
        if !self.known(flow) {
            return record(&self.unknown);
        }
        let series = {
            let mut flows = self.flows.write().unwrap_or_else(PoisonError::into_inner);
            flows
                .entry(flow.into())
                .or_insert_with(|| Arc::new(FlowSeries::new(&self.requests, &self.duration, flow)))
                .clone()
        };
        record(&series);
    }

    /// Counts one recording upload that ended as `result`, and the bytes it stored.
    pub fn recording(&self, result: &str, bytes: u64) {
        self.recordings.with_label_values(&[result]).inc();
        if bytes > 0 {
            self.recording_bytes.inc_by(bytes);
        }
    }

    /// Counts one request refused for its credentials in `area` (`pivot` or `admin`).
    pub fn denied(&self, area: &str) {
        self.denied.with_label_values(&[area]).inc();
    }

    /// Counts one end-of-call event for `flow` that ended as `result`; a name the registry
    /// does not know counts as `(unknown)`, so a scanner can't grow the label set.
    pub fn event(&self, flow: &str, result: &str) {
        self.events
            .with_label_values(&[self.label(flow), result])
            .inc();
    }

    /// Adds the exchange log's figures (steps in memory, steps not stored).
    pub fn track_calls(&self, calls: Arc<crate::calls::CallLog>) {
        let collector = engine::ScrapeCollector::calls(calls);
        if let Err(e) = self.registry.register(Box::new(collector)) {
            tracing::warn!(error = %e, "exchange log metrics not registered");
        }
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        // Writing to a Vec can't fail, and every family is well-formed by construction.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// The label a flow name is counted under.
    fn label<'a>(&self, flow: &'a str) -> &'a str {
        if self.known(flow) {
            flow
        } else {
            UNKNOWN_FLOW
        }
    }

    /// Whether `flow` names a flow file the registry holds (loaded or broken).
    fn known(&self, flow: &str) -> bool {
        self.engine.registry().get(flow).is_some()
    }
}

impl FlowSeries {
    fn new(requests: &IntCounterVec, duration: &HistogramVec, flow: &str) -> FlowSeries {
        FlowSeries {
            requests: OUTCOMES.map(|outcome| requests.with_label_values(&[flow, outcome])),
            duration: duration.with_label_values(&[flow]),
            script: OnceLock::new(),
        }
    }
}

fn histogram(name: &str, help: &str) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        &["flow"],
    )
    .expect("valid metric")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineOptions;

    fn metrics() -> (tempfile::TempDir, Metrics) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("main.toml"),
            "[default]\nmodule = \"hangup\"\ndata = {}\n",
        )
        .unwrap();
        let engine = Engine::load(EngineOptions::new(dir.path(), "http://pf")).unwrap();
        (dir, Metrics::new(Arc::new(engine)))
    }

    #[test]
    fn known_flows_count_as_themselves_and_the_rest_as_unknown() {
        let (_dir, m) = metrics();
        let ms = Duration::from_millis(1);
        m.pivot("main", "tree", ms, None);
        m.pivot("main", "tree", ms, None);
        m.pivot("main", "surprise", ms, None);
        for name in ["wp-admin", "x/y", "../etc"] {
            m.pivot(name, "refused", ms, None);
        }
        let text = m.render();
        for line in [
            r#"pivotforge_pivot_requests_total{flow="main",outcome="tree"} 2"#,
            r#"pivotforge_pivot_requests_total{flow="main",outcome="error"} 0"#,
            r#"pivotforge_pivot_requests_total{flow="main",outcome="surprise"} 1"#,
            r#"pivotforge_pivot_requests_total{flow="(unknown)",outcome="refused"} 3"#,
            r#"pivotforge_pivot_request_duration_seconds_bucket{flow="main",le="0.0025"} 3"#,
            "pivotforge_flows_loaded 1",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(!text.contains("wp-admin"), "{text}");
        assert!(!text.contains("pivotforge_script_run_duration_seconds_bucket"));
    }

    #[test]
    fn recordings_and_script_runs() {
        let (_dir, m) = metrics();
        m.pivot(
            "main",
            "tree",
            Duration::ZERO,
            Some(Duration::from_micros(30)),
        );
        m.recording("created", 1000);
        m.recording("too_large", 0);
        m.recording("replaced", 24);
        let text = m.render();
        for line in [
            r#"pivotforge_script_run_duration_seconds_bucket{flow="main",le="0.0001"} 1"#,
            r#"pivotforge_recordings_received_total{result="created"} 1"#,
            r#"pivotforge_recordings_received_total{result="too_large"} 1"#,
            "pivotforge_recordings_bytes_stored_total 1024",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
