//! `send_dtmf`: send DTMF tones down the call.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `send_dtmf` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SendDtmf {
    /// Digits to send.
    pub digits: String,
    /// Tone length in milliseconds, a number or a numeric string (Kazoo default "2000").
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "2000"))]
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

// One `type` list rather than schemars' `anyOf` of the variants, so a wrong value gets one error
// ("is not of types …") instead of one per variant.
impl JsonSchema for DtmfDuration {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "DtmfDuration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["integer", "string"], "minimum": 0})
    }
}
