//! `set_cid`: replace the caller id.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `set_cid` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SetCid {
    /// New caller id name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    /// New caller id number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id_number: Option<String>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SetCid {
    /// Sets both caller id name and number.
    pub fn new(name: impl Into<String>, number: impl Into<String>) -> Self {
        Self {
            caller_id_name: Some(name.into()),
            caller_id_number: Some(number.into()),
            ..Self::default()
        }
    }
}
