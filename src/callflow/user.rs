//! `user`: ring every device a user owns.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::device::DialStrategy;

/// `data` of a `user` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct User {
    /// User document id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Seconds to ring before giving up (Kazoo default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 20))]
    pub timeout: Option<u64>,
    /// Seconds to wait before ringing (Kazoo default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub delay: Option<u64>,
    /// How the user's devices are rung.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<DialStrategy>,
    /// Allow the user's devices to call each other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_call_self: Option<bool>,
    /// Stop ringing everyone when one device rejects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_on_single_reject: Option<bool>,
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

impl User {
    /// Rings the user with this document id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Self::default()
        }
    }
}
