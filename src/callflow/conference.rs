//! `conference`: put the caller into a conference.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `conference` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Conference {
    /// Conference document id (32 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(equal = 32))]
    pub id: Option<String>,
    /// Join as moderator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderator: Option<bool>,
    /// Ad-hoc conference settings, e.g. `{"name": …}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
    /// Tone (or media) when someone joins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_entry_tone: Option<Tone>,
    /// Tone (or media) when someone leaves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_exit_tone: Option<Tone>,
    /// Greeting played on entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub welcome_prompt: Option<WelcomePrompt>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Conference {
    /// Joins the conference with this document id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Self::default()
        }
    }

    /// Joins an ad-hoc conference with this name (no document needed).
    pub fn ad_hoc(name: impl Into<String>) -> Self {
        let mut config = Map::new();
        config.insert("name".to_owned(), Value::String(name.into()));
        Self {
            config: Some(config),
            ..Self::default()
        }
    }
}

/// Entry or exit tone: on/off, or a media to play instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Tone {
    /// Play the default tone or not.
    Flag(bool),
    /// Media id or URL to play.
    Media(String),
}

// One `type` list rather than schemars' `anyOf` of the variants, so a wrong value gets one error.
impl JsonSchema for Tone {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Tone".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["boolean", "string"]})
    }
}

/// Greeting settings of a conference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WelcomePrompt {
    /// Whether to play the greeting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play: Option<bool>,
    /// Media played as the greeting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
