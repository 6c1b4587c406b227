//! `temporal_route`: branch on time-of-day rules kept in the PBX.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `temporal_route` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TemporalRoute {
    /// Temporal rule document ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<String>>,
    /// Temporal rule set document id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TemporalRoute {
    /// Routes on these temporal rule ids.
    pub fn new(rules: Vec<String>) -> Self {
        Self {
            rules: Some(rules),
            ..Self::default()
        }
    }
}
