//! `GET /flows`: the flows loaded now, with their load errors, for the web console's flow list
//! and playground (and for anyone checking a deploy with curl).

use std::path::Path;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::AppState;
use crate::flows::{Flow, LoadError, Registry};
use crate::script::{BreakerState, JsPool};

/// The body of `GET /flows`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FlowList {
    /// Every flow name the registry holds, loaded or not, by name.
    pub flows: Vec<FlowInfo>,
    /// Load errors of files that serve no flow (bad names, duplicate definitions).
    pub errors: Vec<FlowError>,
}

/// One flow as the console shows it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FlowInfo {
    /// The name in `/pivot/{name}`.
    pub name: String,
    /// `rules` or `script`.
    pub kind: &'static str,
    /// The version that answers now; `null` for a flow that did not load.
    pub version: Option<String>,
    /// Its file, relative to the flows folder.
    pub file: String,
    /// Why it did not load (or why its new file did not replace a serving version), as text.
    pub error: Option<String>,
    /// For a loaded script flow, its circuit breaker: `closed`, `open` (answering its fallback
    /// at once) or `half_open` (one call testing it); `null` otherwise.
    pub breaker: Option<&'static str>,
    /// For a loaded script flow, true while its calls run long, which holds it to its share of
    /// the JS threads (its bulkhead); `null` otherwise.
    pub slow: Option<bool>,
    /// For a loaded script flow, its calls waiting or running now; `null` otherwise.
    pub in_flight: Option<usize>,
}

/// A load error not tied to a served flow.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FlowError {
    /// The file, relative to the flows folder.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// The handler.
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let registry = state.engine.registry();
    let pool = state.engine.pool().map(|p| p.as_ref());
    HttpResponse::Ok().json(describe(&registry, &state.config.flows_dir, pool))
}

/// Describes a registry, with the bulkhead and breaker state `pool` keeps for script flows.
/// Paths are shown relative to `flows_dir`: the console needs the file a person edits, not where
/// the service happens to be installed.
pub fn describe(registry: &Registry, flows_dir: &Path, pool: Option<&JsPool>) -> FlowList {
    let errors = registry.errors();
    let mut claimed = vec![false; errors.len()];
    let flows = registry
        .entries()
        .map(|entry| {
            // A broken entry's error, or a "previous version keeps serving" error for its file.
            let own = errors
                .iter()
                .enumerate()
                .find(|(_, e)| e.file == entry.file)
                .map(|(i, e)| {
                    claimed[i] = true;
                    display(e, flows_dir)
                });
            let kind = match &entry.state {
                Ok(Flow::Script(_)) => "script",
                Ok(Flow::Rules(_)) => "rules",
                Err(_) if entry.file.extension().is_some_and(|e| e == "js") => "script",
                Err(_) => "rules",
            };
            let isolation = match (&entry.state, pool) {
                (Ok(Flow::Script(_)), Some(pool)) => Some(
                    pool.flow_isolation(&entry.name)
                        .map_or((BreakerState::Closed, false, 0), |i| {
                            (i.breaker, i.slow, i.in_flight)
                        }),
                ),
                _ => None,
            };
            FlowInfo {
                breaker: isolation.map(|(b, _, _)| b.as_str()),
                slow: isolation.map(|(_, s, _)| s),
                in_flight: isolation.map(|(_, _, n)| n),
                name: entry.name.clone(),
                kind,
                version: (entry.state.is_ok() && !entry.version.is_empty())
                    .then(|| entry.version.to_string()),
                file: relative(&entry.file, flows_dir),
                error: own.or_else(|| entry.state.as_ref().err().map(|e| display(e, flows_dir))),
            }
        })
        .collect();
    let errors = errors
        .iter()
        .zip(claimed)
        .filter(|(_, claimed)| !claimed)
        .map(|(e, _)| FlowError {
            file: relative(&e.file, flows_dir),
            line: e.line,
            message: e.message.clone(),
        })
        .collect();
    FlowList { flows, errors }
}

fn relative(file: &Path, flows_dir: &Path) -> String {
    file.strip_prefix(flows_dir)
        .unwrap_or(file)
        .display()
        .to_string()
}

/// `file:line: message`, with the file relative to the flows folder.
fn display(e: &LoadError, flows_dir: &Path) -> String {
    let file = relative(&e.file, flows_dir);
    match e.line {
        Some(line) => format!("{file}:{line}: {}", e.message),
        None => format!("{file}: {}", e.message),
    }
}
