//! `set_variables`: store variables that later pivot requests carry as `Custom-Application-Vars`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `set_variables` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SetVariables {
    /// Variables to store; later pivot requests carry them as `Custom-Application-Vars`.
    pub custom_application_vars: Map<String, Value>,
    /// Also set them on the other leg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<bool>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SetVariables {
    /// Stores these variables.
    pub fn new(vars: Map<String, Value>) -> Self {
        Self {
            custom_application_vars: vars,
            ..Self::default()
        }
    }
}
