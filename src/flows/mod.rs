//! Flows: what a `/pivot/{name}` URL runs. The registry loads every flow file under the flows
//! folder; rule flows are evaluated here, in microseconds, on the HTTP worker.

pub mod conditions;
pub mod registry;
pub mod rules;
pub mod template;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::script::ScriptFlow;

pub use crate::flow_name::valid_flow_name;
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

/// A flow file that could not be loaded: which file, which line when known, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadError {
    /// The flow file.
    pub file: PathBuf,
    /// 1-based line, when the error can be placed.
    pub line: Option<usize>,
    /// What is wrong and, where possible, what to write instead.
    pub message: String,
}

impl LoadError {
    /// Builds an error for `file`.
    pub fn new(file: &Path, line: Option<usize>, message: String) -> LoadError {
        LoadError {
            file: file.to_owned(),
            line,
            message,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for LoadError {}
