//! The `[events]` section: how much the post-call event queue may hold, how long dead letters
//! are kept, and which flows Kazoo's webhooks point at.

use serde::Deserialize;

use crate::config_error::{at_least_one, ConfigError};

/// The post-call event queue, resolved (`[events]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Bytes of events that may wait on disk; past it `/events` refuses with 503.
    pub max_pending_bytes: u64,
    /// Days a dead letter is kept before it is removed.
    pub dead_letter_days: u32,
    /// Flows Kazoo's `channel_destroy` webhooks point at: `check` and start-up warn about
    /// each one that can't take them (missing, a rule flow, a script without `postCall`).
    pub webhook_flows: Vec<String>,
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            max_pending_bytes: 256 * 1024 * 1024,
            dead_letter_days: 30,
            webhook_flows: Vec::new(),
        }
    }
}

/// The `[events]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsFileConfig {
    /// Bytes of events that may wait on disk.
    pub max_pending_bytes: Option<u64>,
    /// Days a dead letter is kept.
    pub dead_letter_days: Option<u32>,
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
            webhook_flows: self.webhook_flows.unwrap_or_default(),
        })
    }
}
