//! `language`: set the call's language (prompts, tts).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `language` node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Language {
    /// Language code such as `en` or `en-us`.
    #[schemars(regex(pattern = r"^[A-Za-z]{2}(-[A-Za-z]{2})?$"))]
    pub language: String,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Language {
    /// Switches the call to this language.
    pub fn new(language: impl Into<String>) -> Self {
        Self {
            language: language.into(),
            skip_module: None,
            extra: Map::new(),
        }
    }
}
