//! `record_call`: start or stop recording the whole call.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `record_call` node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordCall {
    /// Start or stop recording.
    pub action: RecordCallAction,
    /// Audio format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<RecordingFormat>,
    /// Where the recording is uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Upload method (Kazoo default put).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "put"))]
    pub method: Option<UploadMethod>,
    /// Longest recording in seconds (5–10800, Kazoo default 3600).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 10800), extend("default" = 3600))]
    pub time_limit: Option<u64>,
    /// Name given to the recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_name: Option<String>,
    /// Start when the call is answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_on_answer: Option<bool>,
    /// Start when the call is bridged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_on_bridge: Option<bool>,
    /// Discard recordings shorter than this many seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_min_sec: Option<u64>,
    /// Keep recording after a transfer (Kazoo default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub should_follow_transfer: Option<bool>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RecordCall {
    /// Starts recording with Kazoo's defaults.
    pub fn start() -> Self {
        Self::with_action(RecordCallAction::Start)
    }

    /// Stops a running recording.
    pub fn stop() -> Self {
        Self::with_action(RecordCallAction::Stop)
    }

    fn with_action(action: RecordCallAction) -> Self {
        Self {
            action,
            format: None,
            url: None,
            method: None,
            time_limit: None,
            media_name: None,
            record_on_answer: None,
            record_on_bridge: None,
            record_min_sec: None,
            should_follow_transfer: None,
            skip_module: None,
            extra: Map::new(),
        }
    }
}

/// Whether `record_call` starts or stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordCallAction {
    /// Begin recording.
    Start,
    /// End recording.
    Stop,
}

/// Audio format of a recording (`record_call`, `record_caller`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingFormat {
    /// MPEG audio, uploaded as `audio/mpeg`.
    Mp3,
    /// WAV, uploaded as `audio/x-wav`.
    Wav,
}

/// HTTP method of a recording upload (`record_call`, `record_caller`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadMethod {
    /// PUT the raw file.
    Put,
    /// POST the raw file.
    Post,
}
