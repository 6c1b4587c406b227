//! Answers one call step: finds the flow, runs it, validates the tree and, when the tree is not
//! valid, picks the flow's fallback. Used alike by the server and by `pivotforge run`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::callflow::Schemas;
use crate::flows::{Flow, LoadContext, LoadError, Registry};
use crate::outcome::{Failure, FailureKind, Outcome};
use crate::request::PivotRequest;

/// The loaded flows and the schemas their replies are checked against.
pub struct Engine {
    schemas: Schemas,
    registry: RwLock<Arc<Registry>>,
    flows_dir: PathBuf,
    public_url: String,
}

/// One answered call step.
#[derive(Debug)]
pub struct Answer {
    /// The rule that matched, for rule flows (`None` for the default).
    pub rule: Option<String>,
    /// What goes back to the PBX.
    pub outcome: Outcome,
}

impl Engine {
    /// Loads every flow under `flows_dir`; fails only when the folder can't be read.
    pub fn load(flows_dir: &Path, public_url: &str) -> Result<Engine, LoadError> {
        let schemas = Schemas::new();
        let registry = Registry::load(
            flows_dir,
            &LoadContext {
                schemas: &schemas,
                public_url,
            },
        )?;
        Ok(Engine {
            schemas,
            registry: RwLock::new(Arc::new(registry)),
            flows_dir: flows_dir.to_owned(),
            public_url: public_url.to_owned(),
        })
    }

    /// Loads the flows folder again and swaps it in whole; the old set serves until then.
    pub fn reload(&self) -> Result<(), LoadError> {
        let registry = Registry::load(
            &self.flows_dir,
            &LoadContext {
                schemas: &self.schemas,
                public_url: &self.public_url,
            },
        )?;
        let mut slot = self.registry.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(registry);
        Ok(())
    }

    /// The flows as loaded now.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The compiled callflow schemas.
    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    /// Runs flow `name` for one request at instant `now`; `None` when no such flow exists.
    pub fn answer(&self, name: &str, req: &PivotRequest, now: DateTime<Utc>) -> Option<Answer> {
        let registry = self.registry();
        let entry = registry.get(name)?;
        let flow = match &entry.state {
            Ok(flow) => flow,
            Err(e) => {
                return Some(Answer {
                    rule: None,
                    outcome: Outcome::Failed(Failure {
                        kind: FailureKind::FlowNotLoaded,
                        detail: e.to_string(),
                        errors: Vec::new(),
                    }),
                })
            }
        };
        let (rule, tree) = match flow {
            Flow::Rules(rules) => {
                let eval = rules.evaluate(req, now);
                (eval.rule.map(str::to_owned), eval.tree)
            }
        };
        Some(Answer {
            rule,
            outcome: self.check(flow, tree),
        })
    }

    /// Validates a produced tree; an invalid one is never sent.
    fn check(&self, flow: &Flow, tree: Value) -> Outcome {
        match self.schemas.validate(&tree) {
            Ok(()) => classify(tree),
            Err(errors) => {
                let failure = Failure {
                    kind: FailureKind::InvalidTree,
                    detail: format!(
                        "the reply failed the callflow schemas: {}",
                        errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    errors,
                };
                match flow.fallback() {
                    Some(fallback) => Outcome::Fallback {
                        failure,
                        tree: fallback.clone(),
                    },
                    None => Outcome::Failed(failure),
                }
            }
        }
    }
}

/// A valid tree whose root is a `response` node is a deliberate rejection.
fn classify(tree: Value) -> Outcome {
    if tree.get("module").and_then(Value::as_str) == Some("response") {
        let data = tree.get("data");
        let code = data.and_then(|d| d.get("code")).and_then(Value::as_u64);
        if let Some(code) = code.and_then(|c| u16::try_from(c).ok()) {
            let message = data
                .and_then(|d| d.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            return Outcome::Rejected {
                code,
                message,
                tree,
            };
        }
    }
    Outcome::Tree(tree)
}
