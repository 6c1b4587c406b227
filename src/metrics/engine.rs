//! Metrics read when scraped: the JS pool's gauges and counters (kept by the pool itself as
//! atomics), how many flows loaded, and the exchange log's own numbers. Nothing is added to the
//! request path for them.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};

use crate::calls::CallLog;
use crate::engine::Engine;

/// One metric read at scrape time: name, help, and whether it is a counter.
type Family = (&'static str, &'static str, bool);

/// The engine's metrics.
const FAMILIES: [Family; 8] = [
    (
        "pivotforge_js_pool_queue_depth",
        "Script jobs waiting for a JS thread.",
        false,
    ),
    (
        "pivotforge_js_pool_busy_threads",
        "JS threads running a script now.",
        false,
    ),
    (
        "pivotforge_js_pool_threads",
        "JS threads alive (a thread stuck in native code counts until it retires).",
        false,
    ),
    (
        "pivotforge_script_timeouts_total",
        "Script runs stopped at their time limit.",
        true,
    ),
    (
        "pivotforge_script_memory_limits_total",
        "Script runs stopped at their memory limit.",
        true,
    ),
    (
        "pivotforge_js_pool_rejected_total",
        "Script jobs refused with 503 because the queue was full.",
        true,
    ),
    (
        "pivotforge_flows_loaded",
        "Flows that loaded and serve.",
        false,
    ),
    (
        "pivotforge_flow_load_errors",
        "Problems found loading the flows folder (broken or skipped files, failed reloads).",
        false,
    ),
];

/// The exchange log's metrics.
const CALL_FAMILIES: [Family; 2] = [
    (
        "pivotforge_calls_in_memory",
        "Call steps held in the exchange log's memory ring.",
        false,
    ),
    (
        "pivotforge_calls_not_stored_total",
        "Call steps kept in memory only because the store writer fell behind.",
        true,
    ),
];

/// Unlabelled metrics whose values a function reads at scrape time.
pub(super) struct ScrapeCollector {
    families: &'static [Family],
    read: Box<dyn Fn() -> Vec<f64> + Send + Sync>,
    descs: Vec<Desc>,
}

impl ScrapeCollector {
    fn new(
        families: &'static [Family],
        read: Box<dyn Fn() -> Vec<f64> + Send + Sync>,
    ) -> ScrapeCollector {
        let descs = families
            .iter()
            .map(|(name, help, _)| {
                Desc::new((*name).into(), (*help).into(), Vec::new(), HashMap::new())
                    .expect("valid metric")
            })
            .collect();
        ScrapeCollector {
            families,
            read,
            descs,
        }
    }

    /// The JS pool and flow figures of `engine`.
    pub(super) fn engine(engine: Arc<Engine>) -> ScrapeCollector {
        ScrapeCollector::new(&FAMILIES, Box::new(move || engine_values(&engine).to_vec()))
    }

    /// The exchange log's figures.
    pub(super) fn calls(calls: Arc<CallLog>) -> ScrapeCollector {
        ScrapeCollector::new(
            &CALL_FAMILIES,
            Box::new(move || vec![calls.in_memory() as f64, calls.dropped() as f64]),
        )
    }
}

/// The engine's current values, in the order of [`FAMILIES`].
fn engine_values(engine: &Engine) -> [f64; 8] {
    let registry = engine.registry();
    let loaded = registry.entries().filter(|e| e.state.is_ok()).count();
    let errors = registry.errors().len();
    let (queue, busy, alive, timeouts, memory, rejected) = match engine.pool() {
        Some(pool) => {
            let s = &pool.stats;
            (
                pool.queue_depth() as f64,
                s.busy.load(Ordering::Relaxed) as f64,
                s.alive.load(Ordering::Relaxed) as f64,
                s.timeouts.load(Ordering::Relaxed) as f64,
                s.memory_limits.load(Ordering::Relaxed) as f64,
                s.rejected.load(Ordering::Relaxed) as f64,
            )
        }
        None => Default::default(),
    };
    [
        queue,
        busy,
        alive,
        timeouts,
        memory,
        rejected,
        loaded as f64,
        errors as f64,
    ]
}

impl Collector for ScrapeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.families
            .iter()
            .zip((self.read)())
            .map(|((name, help, counter), value)| {
                let mut metric = Metric::default();
                let kind = if *counter {
                    let mut c = Counter::default();
                    c.set_value(value);
                    metric.set_counter(c);
                    MetricType::COUNTER
                } else {
                    let mut g = Gauge::default();
                    g.set_value(value);
                    metric.set_gauge(g);
                    MetricType::GAUGE
                };
                let mut family = MetricFamily::default();
                family.set_name((*name).into());
                family.set_help((*help).into());
                family.set_field_type(kind);
                family.set_metric(vec![metric]);
                family
            })
            .collect()
    }
}
