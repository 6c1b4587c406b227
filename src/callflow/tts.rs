//! `tts`: speak text to the caller (Kazoo has no `say` module).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `tts` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tts {
    /// Text to speak (1–1000 characters).
    #[schemars(length(min = 1, max = 1000))]
    pub text: String,
    /// Voice (Kazoo default "female").
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "female"))]
    pub voice: Option<String>,
    /// Language of the text, e.g. `en-us`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Speech engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<TtsEngine>,
    /// DTMF keys that stop playback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminators: Option<Vec<String>>,
    /// Repeat until the caller acts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endless_playback: Option<bool>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Tts {
    /// Speaks this text with Kazoo's default voice.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
}

/// Speech engine Kazoo hands the text to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TtsEngine {
    /// Flite, built into FreeSWITCH.
    Flite,
    /// Google Cloud text-to-speech.
    Google,
    /// iSpeech.
    Ispeech,
    /// VoiceFabric.
    Voicefabric,
}
