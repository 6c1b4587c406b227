//! `resources`: dial out through carriers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `resources` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Resources {
    /// Number to dial instead of the dialled one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_did: Option<String>,
    /// Use the account's own carriers (Kazoo default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub use_local_resources: Option<bool>,
    /// Which caller id to present (Kazoo default "external").
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "external"))]
    pub caller_id_type: Option<String>,
    /// Seconds to wait for an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Flags that select carriers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_flags: Option<Vec<String>>,
    /// Account whose carriers are used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hunt_account_id: Option<String>,
    /// Do not pass early media to the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_early_media: Option<bool>,
    /// Dial the number as given rather than as E.164.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass_e164: Option<bool>,
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

impl Resources {
    /// Dials this number out through the carriers.
    pub fn to(did: impl Into<String>) -> Self {
        Self {
            to_did: Some(did.into()),
            ..Self::default()
        }
    }
}
