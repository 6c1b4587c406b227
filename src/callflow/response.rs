//! `response`: end the call with a SIP response.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `response` node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Response {
    /// SIP response code (100–699).
    #[schemars(range(min = 100, max = 699), extend("default" = 486))]
    pub code: u16,
    /// SIP reason phrase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Media played before hanging up (at most 2048 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub media: Option<String>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Response {
    /// Responds with this code and reason phrase.
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
            media: None,
            skip_module: None,
            extra: Map::new(),
        }
    }
}
