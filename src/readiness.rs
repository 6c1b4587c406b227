//! Readiness (`/readyz`): should a load balancer send this node calls? Yes when the flows folder
//! can be read and the store answers. A broken flow file does not make the node unready — the
//! other flows serve, and that flow answers its fallback — but a folder that is gone, or a store
//! that fails, does.

use std::path::Path;

use serde_json::{json, Value};

use crate::engine::Engine;
use crate::store::Store;

/// What `/readyz` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Flows loaded, or why the flows folder is not usable.
    pub flows: Result<usize, String>,
    /// Whether the store answered, or its error.
    pub store: Result<(), String>,
}

impl Readiness {
    /// True when the node can serve calls.
    pub fn ready(&self) -> bool {
        self.flows.is_ok() && self.store.is_ok()
    }

    /// The JSON body: `{"ready", "flows", "store"}`, plus `error` and `detail` naming what is
    /// not ready.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "ready": self.ready(),
            "flows": self.flows.as_ref().ok(),
            "store": if self.store.is_ok() { "ok" } else { "error" },
        });
        let problems: Vec<&str> = [self.flows.as_ref().err(), self.store.as_ref().err()]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if !problems.is_empty() {
            body["error"] = json!("not ready");
            body["detail"] = json!(problems.join("; "));
        }
        body
    }
}

/// Checks the flows folder and the store; blocking (it reads the folder and the store), so run
/// it off the HTTP worker.
pub fn check(engine: &Engine, store: &dyn Store) -> Readiness {
    Readiness {
        flows: folder(&engine.options().flows_dir).map(|()| {
            engine
                .registry()
                .entries()
                .filter(|e| e.state.is_ok())
                .count()
        }),
        store: store.ping().map_err(|e| match e {
            // A server's error already says where it is and what to do.
            crate::store::StoreError::Unavailable(_) => format!("the store does not answer: {e}"),
            _ => format!("the store does not answer: {e}; check the data folder and its disk"),
        }),
    }
}

fn folder(dir: &Path) -> Result<(), String> {
    std::fs::read_dir(dir).map(drop).map_err(|e| {
        format!(
            "the flows folder {} can't be read: {e}; restore it (the flows loaded before keep \
             serving meanwhile)",
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_flows_and_store_are() {
        let ok = Readiness {
            flows: Ok(3),
            store: Ok(()),
        };
        assert!(ok.ready());
        assert_eq!(
            ok.to_json(),
            json!({"ready": true, "flows": 3, "store": "ok"})
        );
        let store_down = Readiness {
            flows: Ok(3),
            store: Err("the store does not answer: disk gone".into()),
        };
        assert!(!store_down.ready());
        let body = store_down.to_json();
        assert_eq!(body["store"], "error");
        assert_eq!(body["flows"], 3);
        assert!(body["detail"].as_str().unwrap().contains("disk gone"));
        let both = Readiness {
            flows: Err("folder gone".into()),
            store: Err("store gone".into()),
        };
        let body = both.to_json();
        assert_eq!(body["flows"], Value::Null);
        assert_eq!(body["detail"], "folder gone; store gone");
    }
}
