//! `sleep`: pause the callflow.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `sleep` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sleep {
    /// How long to pause, in `unit` (0–86400000).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 86_400_000))]
    pub duration: Option<u64>,
    /// Unit of `duration` (Kazoo default seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "s"))]
    pub unit: Option<SleepUnit>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Sleep {
    /// Pauses for `duration` of `unit`.
    pub fn new(duration: u64, unit: SleepUnit) -> Self {
        Self {
            duration: Some(duration),
            unit: Some(unit),
            ..Self::default()
        }
    }
}

/// Unit of a `sleep` duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SleepUnit {
    /// Milliseconds.
    #[serde(rename = "ms")]
    Milliseconds,
    /// Seconds.
    #[serde(rename = "s")]
    Seconds,
    /// Minutes.
    #[serde(rename = "m")]
    Minutes,
    /// Hours.
    #[serde(rename = "h")]
    Hours,
}
