//! The `[scripts]` section — the JS pool's threads and queue, and the bulkheads and circuit
//! breakers that keep one flow from taking the pool from the others — and the `[flows]` section,
//! what every script flow starts from.

use serde::Deserialize;

use super::settings::RawSettings;
use super::FlowSettings;
use crate::config_error::{at_least_one, ConfigError};

/// The `[scripts]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptsConfig {
    /// JS threads.
    pub threads: Option<usize>,
    /// Queue length.
    pub queue: Option<usize>,
    /// A call that runs longer than this (ms) counts as slow for the flow's bulkhead.
    pub slow_ms: Option<u64>,
    /// JS threads (and that share of the queue) a slow flow may hold.
    pub max_threads_per_flow: Option<usize>,
    /// Consecutive timeouts or memory-limit hits that trip a flow's breaker.
    pub trip_after: Option<u32>,
    /// Seconds a tripped flow answers its fallback before one call tests it.
    pub trip_seconds: Option<u64>,
}

/// Bulkheads and circuit breakers of the JS pool, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// A call running longer than this (ms) marks its flow as slow.
    pub slow_ms: u64,
    /// JS threads a slow flow may hold at once (its share of the queue scales alike).
    pub max_threads_per_flow: usize,
    /// Consecutive timeouts or memory-limit hits that trip a flow's breaker.
    pub trip_after: u32,
    /// Seconds a tripped flow answers its fallback before one call tests it.
    pub trip_seconds: u64,
}

impl PoolConfig {
    /// The defaults for a pool of `threads` JS threads.
    pub fn for_threads(threads: usize) -> PoolConfig {
        PoolConfig {
            slow_ms: 100,
            max_threads_per_flow: (threads / 2).max(1),
            trip_after: 5,
            trip_seconds: 30,
        }
    }
}

impl ScriptsConfig {
    /// JS threads: `threads`, else one per core of the `cores` there are.
    pub fn threads(&self, cores: usize) -> usize {
        self.threads.filter(|&n| n > 0).unwrap_or(cores)
    }

    /// Jobs that may wait: `queue`, else 64 per JS thread.
    pub fn queue(&self, threads: usize) -> usize {
        self.queue.filter(|&n| n > 0).unwrap_or(threads * 64)
    }

    /// The bulkheads and breakers of a pool of `threads` JS threads, checked.
    pub fn resolve_pool(&self, threads: usize) -> Result<PoolConfig, ConfigError> {
        let defaults = PoolConfig::for_threads(threads);
        Ok(PoolConfig {
            slow_ms: at_least_one(
                "[scripts] slow_ms",
                self.slow_ms.unwrap_or(defaults.slow_ms),
            )?,
            max_threads_per_flow: at_least_one(
                "[scripts] max_threads_per_flow",
                self.max_threads_per_flow
                    .unwrap_or(defaults.max_threads_per_flow),
            )?
            .min(threads),
            trip_after: at_least_one(
                "[scripts] trip_after",
                self.trip_after.unwrap_or(defaults.trip_after),
            )?,
            trip_seconds: at_least_one(
                "[scripts] trip_seconds",
                self.trip_seconds.unwrap_or(defaults.trip_seconds),
            )?,
        })
    }
}

/// The `[flows]` section, checked: what every script flow starts from before its own
/// `NAME.settings.toml`.
pub fn flow_defaults(section: &RawSettings) -> Result<FlowSettings, ConfigError> {
    if section.kv_namespace.is_some() {
        // One default would put every flow in one namespace: isolation is the default.
        return Err(ConfigError(
            "[flows] kv_namespace: a shared cxKV namespace is named in the settings file of \
             each flow that shares it (NAME.settings.toml), not for every flow"
                .into(),
        ));
    }
    section
        .check()
        .map_err(|(_, message)| ConfigError(format!("[flows] {message}")))?;
    Ok(section.apply(&FlowSettings::default()))
}
