//! Metrics read from the engine when scraped: the JS pool's gauges and counters (kept by the pool
//! itself as atomics) and how many flows loaded. Nothing is added to the request path for them.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};

use crate::engine::Engine;

/// Each metric this collector gives: name, help, and whether it is a counter.
const FAMILIES: [(&str, &str, bool); 8] = [
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

/// Reads the engine's own numbers at scrape time.
pub(super) struct EngineCollector {
    engine: Arc<Engine>,
    descs: Vec<Desc>,
}

impl EngineCollector {
    pub(super) fn new(engine: Arc<Engine>) -> EngineCollector {
        let descs = FAMILIES
            .iter()
            .map(|(name, help, _)| {
                Desc::new((*name).into(), (*help).into(), Vec::new(), HashMap::new())
                    .expect("valid metric")
            })
            .collect();
        EngineCollector { engine, descs }
    }

    /// The current values, in the order of [`FAMILIES`].
    fn values(&self) -> [f64; 8] {
        let registry = self.engine.registry();
        let loaded = registry.entries().filter(|e| e.state.is_ok()).count();
        let errors = registry.errors().len();
        let (queue, busy, alive, timeouts, memory, rejected) = match self.engine.pool() {
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
}

impl Collector for EngineCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        FAMILIES
            .iter()
            .zip(self.values())
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
