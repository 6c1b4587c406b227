//! `record_caller`: record what the caller says (e.g. a message).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::record_call::{RecordingFormat, UploadMethod};

/// `data` of a `record_caller` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordCaller {
    /// Where the recording is uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Audio format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<RecordingFormat>,
    /// Upload method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<UploadMethod>,
    /// Longest recording in seconds (5–10800, Kazoo default 3600).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 10800), extend("default" = 3600))]
    pub time_limit: Option<u64>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RecordCaller {
    /// Records the caller and uploads to this URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }
}
