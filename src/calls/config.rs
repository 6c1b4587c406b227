//! The `[calls]` section: how much of the exchange log is kept, in memory and in the store.

use serde::Deserialize;

use crate::config_error::ConfigError;

/// The exchange log, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallsConfig {
    /// Days a call step is kept in the store.
    pub retention_days: u32,
    /// Call steps kept in memory for `/calls` and the console.
    pub memory_steps: usize,
    /// Bytes the in-memory steps may hold together.
    pub memory_bytes: usize,
}

impl Default for CallsConfig {
    fn default() -> CallsConfig {
        CallsConfig {
            retention_days: 7,
            memory_steps: 1_000,
            memory_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The `[calls]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsFileConfig {
    /// Days a call step is kept in the store (0 keeps none on disk).
    pub retention_days: Option<u32>,
    /// Call steps kept in memory.
    pub memory_steps: Option<usize>,
    /// Bytes the in-memory steps may hold together.
    pub memory_bytes: Option<usize>,
}

impl CallsFileConfig {
    /// Checks the section.
    pub fn resolve(self) -> Result<CallsConfig, ConfigError> {
        let defaults = CallsConfig::default();
        let memory_steps = self.memory_steps.unwrap_or(defaults.memory_steps);
        if memory_steps == 0 {
            return Err(ConfigError(
                "[calls] memory_steps must be at least 1".into(),
            ));
        }
        let memory_bytes = self.memory_bytes.unwrap_or(defaults.memory_bytes);
        if memory_bytes == 0 {
            return Err(ConfigError(
                "[calls] memory_bytes must be at least 1".into(),
            ));
        }
        Ok(CallsConfig {
            retention_days: self.retention_days.unwrap_or(defaults.retention_days),
            memory_steps,
            memory_bytes,
        })
    }
}
