//! The `[events]` section: how much the post-call event queue may hold, how long dead letters
//! are kept, how long a claim on an event lasts, and which flows Kazoo's webhooks point at.

use serde::Deserialize;

use crate::config_error::{at_least_one, ConfigError};

/// The post-call event queue, resolved (`[events]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Bytes of events that may wait on disk; past it `/events` refuses with 503.
    pub max_pending_bytes: u64,
    /// Days a dead letter is kept before it is removed.
    pub dead_letter_days: u32,
    /// How long a node's claim on a batch of events lasts: a node that dies mid-run leaves
    /// its events to another node once this has passed.
    pub lease_ms: u64,
    /// Flows Kazoo's `channel_destroy` webhooks point at: `check` and start-up warn about
    /// each one that can't take them (missing, a rule flow, a script without `postCall`).
    pub webhook_flows: Vec<String>,
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            max_pending_bytes: 256 * 1024 * 1024,
            dead_letter_days: 30,
            lease_ms: DEFAULT_LEASE_MS,
            webhook_flows: Vec::new(),
        }
    }
}

/// The default lease: longer than a batch of postCalls may run (each is bounded by the script
/// deadline), so only a node that died loses its events to another.
pub const DEFAULT_LEASE_MS: u64 = 10 * 60_000;

/// The `[events]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsFileConfig {
    /// Bytes of events that may wait on disk.
    pub max_pending_bytes: Option<u64>,
    /// Days a dead letter is kept.
    pub dead_letter_days: Option<u32>,
    /// How long a claim on events lasts, in milliseconds.
    pub lease_ms: Option<u64>,
    /// Flows the webhooks point at.
    pub webhook_flows: Option<Vec<String>>,
}

impl EventsFileConfig {
    /// Checks the section.
    pub fn resolve(self) -> Result<EventsConfig, ConfigError> {
        let d = EventsConfig::default();
        Ok(EventsConfig {
            max_pending_bytes: at_least_one(
                "[events] max_pending_bytes",
                self.max_pending_bytes.unwrap_or(d.max_pending_bytes),
            )?,
            dead_letter_days: at_least_one(
                "[events] dead_letter_days",
                self.dead_letter_days.unwrap_or(d.dead_letter_days),
            )?,
            lease_ms: at_least_one("[events] lease_ms", self.lease_ms.unwrap_or(d.lease_ms))?,
            webhook_flows: self.webhook_flows.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<EventsConfig, ConfigError> {
        toml::from_str::<EventsFileConfig>(text)
            .expect("a well-formed section")
            .resolve()
    }

    #[test]
    fn the_lease_defaults_to_ten_minutes_and_is_set_by_lease_ms() {
        assert_eq!(resolve("").unwrap().lease_ms, 600_000);
        assert_eq!(resolve("lease_ms = 3000").unwrap().lease_ms, 3000);
        let error = resolve("lease_ms = 0").unwrap_err().to_string();
        assert!(error.contains("[events] lease_ms"), "{error}");
    }
}
