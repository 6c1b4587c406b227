//! `send_dtmf`: send DTMF tones down the call.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `send_dtmf` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendDtmf {
    /// Digits to send.
    pub digits: String,
    /// Tone length in milliseconds (Kazoo default "2000").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<DtmfDuration>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SendDtmf {
    /// Sends these digits with Kazoo's default tone length.
    pub fn new(digits: impl Into<String>) -> Self {
        Self {
            digits: digits.into(),
            ..Self::default()
        }
    }
}

/// Tone length: Kazoo accepts a number or a numeric string, so both survive a round trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DtmfDuration {
    /// Milliseconds as a number.
    Millis(u64),
    /// Milliseconds as a string, e.g. `"2000"`.
    Text(String),
}
