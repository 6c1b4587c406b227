//! `voicemail`: leave or check voicemail.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `voicemail` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Voicemail {
    /// Voicemail box id (32 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(equal = 32))]
    pub id: Option<String>,
    /// Leave a message or check the box (Kazoo default compose).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "compose"))]
    pub action: Option<VoicemailAction>,
    /// Longest message in seconds (Kazoo default 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), extend("default" = 500))]
    pub max_message_length: Option<u64>,
    /// Milliseconds between PIN digits (Kazoo default 2000).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 2000))]
    pub interdigit_timeout: Option<u64>,
    /// Log in without a PIN when the caller id matches the owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callerid_match_login: Option<bool>,
    /// Skip asking for the box number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single_mailbox_login: Option<bool>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Voicemail {
    /// Lets the caller leave a message in this box.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Self::default()
        }
    }
}

/// What the caller does with the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailAction {
    /// Listen to messages.
    Check,
    /// Leave a message.
    Compose,
}
