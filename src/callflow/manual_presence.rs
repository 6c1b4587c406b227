//! `manual_presence`: set a presence id's state (e.g. light a BLF key).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `manual_presence` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ManualPresence {
    /// Presence id to update.
    pub presence_id: String,
    /// New state (Kazoo default idle).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "idle"))]
    pub status: Option<PresenceStatus>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ManualPresence {
    /// Sets this presence id to this state.
    pub fn new(presence_id: impl Into<String>, status: PresenceStatus) -> Self {
        Self {
            presence_id: presence_id.into(),
            status: Some(status),
            ..Self::default()
        }
    }
}

/// Presence state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Free.
    Idle,
    /// Ringing.
    Ringing,
    /// In use.
    Busy,
}
