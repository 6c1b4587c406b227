//! `play`: play a media file or URL.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `play` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Play {
    /// Media id or an `http(s)://` URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How many times to play (at least 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub loop_count: Option<u64>,
    /// Repeat until the caller acts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endless_playback: Option<bool>,
    /// Answer the call before playing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<bool>,
    /// DTMF keys that stop playback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminators: Option<Vec<String>>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Play {
    /// Plays this media id or URL once.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Self::default()
        }
    }
}
