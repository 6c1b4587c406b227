//! What answering one call step gave, before it becomes HTTP. The mapping to HTTP lives in one
//! place, `server::reply`; the CLI reads the same values.

use serde::Serialize;
use serde_json::Value;

use crate::callflow::SchemaError;

/// The result of running a flow for one call step.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A valid tree.
    Tree(Value),
    /// The flow refused the call on purpose; `tree` is the `response` node that says so.
    Rejected {
        /// SIP code, e.g. 486.
        code: u16,
        /// SIP reason phrase.
        message: String,
        /// The `response` node sent.
        tree: Value,
    },
    /// The flow failed and its configured fallback tree is sent instead.
    Fallback {
        /// What failed.
        failure: Failure,
        /// The fallback tree.
        tree: Value,
    },
    /// The flow failed and has no fallback: the PBX must run its own `_` branch.
    Failed(Failure),
}

/// Why a flow did not produce a valid tree.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// A sentence for people.
    pub detail: String,
    /// Schema errors, when the tree was invalid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<SchemaError>,
}

/// The kinds of flow failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The reply failed the callflow schemas.
    InvalidTree,
    /// The flow's file did not load.
    FlowNotLoaded,
    /// The script threw, or its result could not be used.
    ScriptError,
    /// The script ran past its time limit.
    Timeout,
    /// The script ran out of memory.
    MemoryLimit,
    /// Not run: the flow's calls run long and it held its share of the JS threads.
    Bulkhead,
    /// Not run: the flow's circuit breaker is open.
    CircuitOpen,
}

impl FailureKind {
    /// The short text used in JSON errors and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::InvalidTree => "invalid callflow tree",
            FailureKind::FlowNotLoaded => "flow failed to load",
            FailureKind::ScriptError => "script error",
            FailureKind::Timeout => "script timeout",
            FailureKind::MemoryLimit => "script memory limit",
            FailureKind::Bulkhead => "flow over its share of the script threads",
            FailureKind::CircuitOpen => "circuit breaker open",
        }
    }
}

impl Outcome {
    /// One word for logs and metrics: `tree`, `rejection`, `fallback` or `error`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Tree(_) => "tree",
            Outcome::Rejected { .. } => "rejection",
            Outcome::Fallback { .. } => "fallback",
            Outcome::Failed(_) => "error",
        }
    }

    /// The tree that goes to the PBX, if any.
    pub fn tree(&self) -> Option<&Value> {
        match self {
            Outcome::Tree(tree)
            | Outcome::Rejected { tree, .. }
            | Outcome::Fallback { tree, .. } => Some(tree),
            Outcome::Failed(_) => None,
        }
    }

    /// The tree that goes to the PBX, to change it (the exchange log cuts a runaway one).
    pub fn tree_mut(&mut self) -> Option<&mut Value> {
        match self {
            Outcome::Tree(tree)
            | Outcome::Rejected { tree, .. }
            | Outcome::Fallback { tree, .. } => Some(tree),
            Outcome::Failed(_) => None,
        }
    }

    /// The failure behind a fallback or an error, to change it.
    pub fn failure_mut(&mut self) -> Option<&mut Failure> {
        match self {
            Outcome::Fallback { failure, .. } | Outcome::Failed(failure) => Some(failure),
            _ => None,
        }
    }

    /// The failure behind a fallback or an error.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Outcome::Fallback { failure, .. } | Outcome::Failed(failure) => Some(failure),
            _ => None,
        }
    }
}
