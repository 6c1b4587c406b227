//! The bulkhead and circuit-breaker state of each loaded script flow, read from the JS pool
//! when scraped (labelled by flow; flows the registry no longer holds drop out).

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

use crate::engine::Engine;
use crate::flows::Flow;
use crate::script::{BreakerState, FlowIsolation};

const BREAKER_STATE: &str = "pivotforge_script_breaker_state";
const BREAKER_TRIPS: &str = "pivotforge_script_breaker_trips_total";
const SLOW: &str = "pivotforge_script_flow_slow";
const IN_FLIGHT: &str = "pivotforge_script_flow_in_flight";
const REFUSED: &str = "pivotforge_script_refused_total";

/// Name, help, labels beside `flow`.
const FAMILIES: [(&str, &str, &[&str]); 5] = [
    (
        BREAKER_STATE,
        "1 for the state a script flow's circuit breaker is in (closed, open, half_open), else 0.",
        &["state"],
    ),
    (
        BREAKER_TRIPS,
        "Times a script flow's circuit breaker opened after consecutive timeouts or memory-limit \
         hits.",
        &[],
    ),
    (
        SLOW,
        "1 while a script flow's calls run long, which holds it to its share of the JS threads.",
        &[],
    ),
    (
        IN_FLIGHT,
        "Calls of a script flow waiting for or running on a JS thread.",
        &[],
    ),
    (
        REFUSED,
        "Calls of a script flow answered at once without running, by reason (bulkhead: over its \
         share of the JS threads; breaker: its circuit breaker was open).",
        &["reason"],
    ),
];

/// Reads every script flow's isolation state at scrape time.
pub(super) struct IsolationCollector {
    engine: Arc<Engine>,
    descs: Vec<Desc>,
}

impl IsolationCollector {
    pub(super) fn new(engine: Arc<Engine>) -> IsolationCollector {
        let descs = FAMILIES
            .iter()
            .map(|(name, help, labels)| {
                let mut variable = vec!["flow".to_owned()];
                variable.extend(labels.iter().map(|l| (*l).to_owned()));
                Desc::new((*name).into(), (*help).into(), variable, HashMap::new())
                    .expect("valid metric")
            })
            .collect();
        IsolationCollector { engine, descs }
    }
}

fn metric(labels: &[(&str, &str)], value: f64, counter: bool) -> Metric {
    let mut m = Metric::default();
    m.set_label(
        labels
            .iter()
            .map(|(k, v)| {
                let mut pair = LabelPair::default();
                pair.set_name((*k).into());
                pair.set_value((*v).into());
                pair
            })
            .collect(),
    );
    if counter {
        let mut c = Counter::default();
        c.set_value(value);
        m.set_counter(c);
    } else {
        let mut g = Gauge::default();
        g.set_value(value);
        m.set_gauge(g);
    }
    m
}

impl Collector for IsolationCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(pool) = self.engine.pool() else {
            return Vec::new();
        };
        let registry = self.engine.registry();
        let mut series: [Vec<Metric>; 5] = Default::default();
        for entry in registry.entries() {
            if !matches!(entry.state, Ok(Flow::Script(_))) {
                continue;
            }
            let flow = entry.name.as_str();
            let i = pool.flow_isolation(flow).unwrap_or(FlowIsolation {
                breaker: BreakerState::Closed,
                trips: 0,
                slow: false,
                in_flight: 0,
                refused_bulkhead: 0,
                refused_breaker: 0,
            });
            for state in BreakerState::ALL {
                let on = f64::from(u8::from(state == i.breaker));
                series[0].push(metric(
                    &[("flow", flow), ("state", state.as_str())],
                    on,
                    false,
                ));
            }
            series[1].push(metric(&[("flow", flow)], i.trips as f64, true));
            series[2].push(metric(
                &[("flow", flow)],
                f64::from(u8::from(i.slow)),
                false,
            ));
            series[3].push(metric(&[("flow", flow)], i.in_flight as f64, false));
            for (reason, n) in [
                ("bulkhead", i.refused_bulkhead),
                ("breaker", i.refused_breaker),
            ] {
                series[4].push(metric(
                    &[("flow", flow), ("reason", reason)],
                    n as f64,
                    true,
                ));
            }
        }
        FAMILIES
            .iter()
            .zip(series)
            .filter(|(_, metrics)| !metrics.is_empty())
            .map(|((name, help, _), metrics)| {
                let mut family = MetricFamily::default();
                family.set_name((*name).into());
                family.set_help((*help).into());
                let counter = name.ends_with("_total");
                family.set_field_type(if counter {
                    MetricType::COUNTER
                } else {
                    MetricType::GAUGE
                });
                family.set_metric(metrics);
                family
            })
            .collect()
    }
}
