//! `device`: ring one device.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `device` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Device {
    /// Device document id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Seconds to ring before giving up (Kazoo default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub timeout: Option<u64>,
    /// Seconds to wait before ringing (Kazoo default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub delay: Option<u64>,
    /// How the device's registrations are rung.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dial_strategy: Option<DialStrategy>,
    /// Allow the device to call itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_call_self: Option<bool>,
    /// Fixed SIP URI to invite instead of the registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_invite: Option<String>,
    /// Hide the caller id from the callee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppress_clid: Option<bool>,
    /// Extra SIP headers for the outbound INVITE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_sip_headers: Option<Map<String, Value>>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Device {
    /// Rings the device with this document id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Self::default()
        }
    }
}

/// Whether several targets ring together or one after another (`device`, `user`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DialStrategy {
    /// Ring everything at once.
    Simultaneous,
    /// Ring one at a time.
    Single,
}
