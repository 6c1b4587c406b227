//! The `[limits]` section: deadlines and caps on what one request can hold, read by the server
//! (bodies, connections) and the engine (reply trees).

use serde::Deserialize;

use crate::config_error::{at_least_one, ConfigError};

/// Deadlines and caps on what one request can hold, resolved (`[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// A `/pivot`, `/events`, `/run` or `/userspace` body must be complete within this (ms).
    pub body_timeout_ms: u64,
    /// Open connections at most; `None` derives it from the file-descriptor limit at start-up.
    pub max_connections: Option<usize>,
    /// The largest reply tree (bytes of JSON) a flow may answer with.
    pub max_reply_bytes: usize,
}

impl LimitsConfig {
    /// The body deadline as a duration.
    pub fn body_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.body_timeout_ms)
    }
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            body_timeout_ms: 5_000,
            max_connections: None,
            max_reply_bytes: 256 * 1024,
        }
    }
}

/// The `[limits]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFileConfig {
    /// Milliseconds within which a request body must be complete.
    pub body_timeout_ms: Option<u64>,
    /// Open connections at most.
    pub max_connections: Option<usize>,
    /// Largest reply tree in bytes.
    pub max_reply_bytes: Option<usize>,
}

impl LimitsFileConfig {
    /// Checks the section.
    pub fn resolve(self) -> Result<LimitsConfig, ConfigError> {
        let d = LimitsConfig::default();
        Ok(LimitsConfig {
            body_timeout_ms: at_least_one(
                "[limits] body_timeout_ms",
                self.body_timeout_ms.unwrap_or(d.body_timeout_ms),
            )?,
            max_connections: self
                .max_connections
                .map(|n| at_least_one("[limits] max_connections", n))
                .transpose()?,
            max_reply_bytes: at_least_one(
                "[limits] max_reply_bytes",
                self.max_reply_bytes.unwrap_or(d.max_reply_bytes),
            )?,
        })
    }
}
