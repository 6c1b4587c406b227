//! `prepend_cid`: prefix the caller id (or undo earlier prefixes).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `prepend_cid` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PrependCid {
    /// Add a prefix or reset to the original caller id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<PrependAction>,
    /// Which caller id the prefix is applied to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_to: Option<ApplyTo>,
    /// Prefix for the caller id name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id_name_prefix: Option<String>,
    /// Prefix for the caller id number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id_number_prefix: Option<String>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PrependCid {
    /// Prepends these prefixes to the caller id name and number.
    pub fn new(name_prefix: impl Into<String>, number_prefix: impl Into<String>) -> Self {
        Self {
            action: Some(PrependAction::Prepend),
            caller_id_name_prefix: Some(name_prefix.into()),
            caller_id_number_prefix: Some(number_prefix.into()),
            ..Self::default()
        }
    }
}

/// What `prepend_cid` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrependAction {
    /// Restore the caller id from before any prefix.
    Reset,
    /// Add the prefixes.
    Prepend,
}

/// Which caller id `prepend_cid` starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyTo {
    /// The caller id the call arrived with.
    Original,
    /// The caller id as already changed.
    Current,
}
