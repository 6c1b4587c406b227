//! Flows: what a `/pivot/{name}` URL runs. The registry loads every flow file under the flows
//! folder; rule flows are evaluated here, in microseconds, on the HTTP worker.

pub mod conditions;
pub mod registry;
pub mod rules;
pub mod template;

use std::sync::Arc;

use crate::script::ScriptFlow;

pub use crate::flow_name::valid_flow_name;
pub use crate::load_error::LoadError;
pub use registry::{FlowEntry, Registry};
pub use rules::{LoadContext, RuleFlow};

/// A flow that can answer a call step.
#[derive(Debug)]
pub enum Flow {
    /// A rule file (`NAME.toml` / `NAME.json`).
    Rules(Box<RuleFlow>),
    /// A ScriptForge-style script (`NAME.js`), run on the JS pool.
    Script(Arc<ScriptFlow>),
}

impl Flow {
    /// The tree to send when the reply fails, if the flow has one.
    pub fn fallback(&self) -> Option<&serde_json::Value> {
        match self {
            Flow::Rules(r) => r.fallback.as_ref(),
            Flow::Script(s) => s.settings.fallback.as_ref(),
        }
    }
}
