//! The flow registry: every flow under the flows folder, by the name its URL uses. A file that
//! fails to load is kept as a broken entry with its error, so the others serve normally and
//! `pivotforge check` can list every problem at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::rules::{self, LoadContext};
use super::{valid_flow_name, Flow};
use crate::load_error::LoadError;

/// One flow name and what loading its file gave.
#[derive(Debug)]
pub struct FlowEntry {
    /// The name in `/pivot/{name}`.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// The flow, or why it could not be loaded.
    pub state: Result<Flow, LoadError>,
    /// For a flow that did not load: the fallback its settings give, if they loaded.
    pub broken_fallback: Option<serde_json::Value>,
    /// A short digest of what was loaded (file, imports, settings): names the version a call
    /// step ran in the exchange log.
    pub version: Arc<str>,
}

/// All flows of one flows folder.
#[derive(Debug, Default)]
pub struct Registry {
    flows: BTreeMap<String, Arc<FlowEntry>>,
    /// Files that are not flows but look like they were meant to be (bad names).
    skipped: Vec<LoadError>,
    /// Flows whose new file failed to load while their previous version keeps serving.
    stale: Vec<LoadError>,
}

impl Registry {
    /// Loads every flow file below `dir`. Fails only when `dir` itself cannot be read.
    pub fn load(dir: &Path, ctx: &LoadContext<'_>) -> Result<Registry, LoadError> {
        let mut files = Vec::new();
        let skip = NotFlows::new(ctx.tests_dir);
        collect_at(dir, dir, &skip, &mut files, 0).map_err(|e| {
            LoadError::new(
                dir,
                None,
                format!("can't read the flows folder: {e}; pass another with --flows DIR"),
            )
        })?;
        files.sort();
        let mut registry = Registry::default();
        for file in files {
            registry.add(dir, file, ctx);
        }
        registry.check_pivot_targets();
        Ok(registry)
    }

    fn add(&mut self, dir: &Path, file: PathBuf, ctx: &LoadContext<'_>) {
        let Some(name) = flow_name(dir, &file) else {
            self.skipped.push(LoadError::new(
                &file,
                None,
                "not served: a flow file name may hold only letters, digits, _ and - (sub-folders become /)".into(),
            ));
            return;
        };
        let (state, broken_fallback, version) = match self.flows.get(&name) {
            Some(other) => (
                Err(LoadError::new(
                    &file,
                    None,
                    format!(
                        "flow `{name}` is also defined by {}: keep one of the two files",
                        other.file.display()
                    ),
                )),
                None,
                Arc::from(""),
            ),
            None => load_file(dir, &name, &file, ctx),
        };
        if state.is_err() && self.flows.contains_key(&name) {
            self.skipped.extend(state.err());
            return;
        }
        let entry = FlowEntry {
            name: name.clone(),
            file,
            state,
            broken_fallback,
            version,
        };
        self.flows.insert(name, Arc::new(entry));
    }

    /// After a reload: a flow whose new file does not load keeps serving its previous version,
    /// and the error is reported beside it.
    pub fn keep_working_versions(&mut self, old: &Registry) {
        for (name, entry) in self.flows.iter_mut() {
            let Err(error) = &entry.state else {
                continue;
            };
            if let Some(previous) = old.flows.get(name).filter(|p| p.state.is_ok()) {
                self.stale.push(LoadError::new(
                    &error.file,
                    error.line,
                    format!("{} (the previous version keeps serving)", error.message),
                ));
                *entry = previous.clone();
            }
        }
    }

    /// A pivot to a flow that does not exist would fail on a live call: refuse the flow now.
    fn check_pivot_targets(&mut self) {
        let names: Vec<String> = self.flows.keys().cloned().collect();
        for entry in self.flows.values_mut() {
            let Ok(Flow::Rules(rule_flow)) = &entry.state else {
                continue;
            };
            let missing: Vec<&(String, Option<usize>)> = rule_flow
                .pivots_to
                .iter()
                .filter(|(t, _)| !names.contains(t))
                .collect();
            let Some((_, line)) = missing.first() else {
                continue;
            };
            let message = format!(
                "pivots to {} which {} not exist in the flows folder",
                missing
                    .iter()
                    .map(|(m, _)| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() == 1 { "does" } else { "do" }
            );
            let (file, line) = (entry.file.clone(), *line);
            if let Some(e) = Arc::get_mut(entry) {
                e.state = Err(LoadError::new(&file, line, message));
            }
        }
    }

    /// The entry for a flow name.
    pub fn get(&self, name: &str) -> Option<&Arc<FlowEntry>> {
        self.flows.get(name)
    }

    /// Every entry, by name.
    pub fn entries(&self) -> impl Iterator<Item = &Arc<FlowEntry>> {
        self.flows.values()
    }

    /// Every problem found while loading: broken flows and skipped files.
    pub fn errors(&self) -> Vec<&LoadError> {
        let broken = self.flows.values().filter_map(|e| e.state.as_ref().err());
        broken
            .chain(self.skipped.iter())
            .chain(self.stale.iter())
            .collect()
    }
}

type Loaded = (Result<Flow, LoadError>, Option<serde_json::Value>, Arc<str>);

fn load_file(dir: &Path, name: &str, file: &Path, ctx: &LoadContext<'_>) -> Loaded {
    if file.extension().is_some_and(|e| e == "js") {
        return match crate::script::load(name, file, dir, ctx.script_defaults, ctx.schemas) {
            Ok(script) => {
                let version = short_version(script.version);
                (Ok(Flow::Script(Arc::new(script))), None, version)
            }
            Err(failed) => (Err(failed.0), failed.1, Arc::from("")),
        };
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            let error = LoadError::new(file, None, format!("can't read the file: {e}"));
            return (Err(error), None, Arc::from(""));
        }
    };
    let version = short_version(rule_version(&text));
    let flow = rules::load(file, &text, ctx).map(|r| Flow::Rules(Box::new(r)));
    (flow, None, version)
}

/// The version of a rule flow: SHA-256 of its file (a rule flow has no imports or settings).
pub fn rule_version(text: &str) -> u64 {
    crate::digest::VersionHasher::new()
        .part("file", text.as_bytes())
        .finish()
}

/// Twelve hex digits: enough to tell versions of one flow apart in the exchange log.
fn short_version(version: u64) -> Arc<str> {
    Arc::from(crate::digest::short(version))
}

/// True for files that define a flow: rule files, and scripts outside `lib/` not starting with `_`.
fn is_flow_file(root: &Path, path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with('.') {
        return false;
    }
    if name.ends_with(".js") {
        return crate::script::is_script_flow(path.strip_prefix(root).unwrap_or(path));
    }
    name.ends_with(".json") || (name.ends_with(".toml") && !name.ends_with(".settings.toml"))
}

/// Deepest folder nesting followed; it also ends a loop of symbolic links.
const MAX_NESTING: usize = 16;

/// The scenario folder, which holds TOML that is not flows; compared as written and, when it
/// exists, as its canonical path (a config may spell it differently from the flows folder).
struct NotFlows<'a> {
    tests: &'a Path,
    canonical: Option<PathBuf>,
}

impl NotFlows<'_> {
    fn new(tests: &Path) -> NotFlows<'_> {
        NotFlows {
            tests,
            canonical: std::fs::canonicalize(tests).ok(),
        }
    }

    fn holds(&self, dir: &Path) -> bool {
        dir == self.tests
            || self
                .canonical
                .as_ref()
                .is_some_and(|c| std::fs::canonicalize(dir).is_ok_and(|d| d == *c))
    }
}

fn collect_at(
    root: &Path,
    dir: &Path,
    skip: &NotFlows<'_>,
    out: &mut Vec<PathBuf>,
    depth: usize,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        // `metadata` follows symbolic links: flows mounted as links (e.g. a ConfigMap) are served.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() && !hidden {
            // `lists/` at the top holds userspace CSV lists, the tests folder scenarios: never
            // flows.
            let lists = dir == root && entry.file_name() == "lists";
            if !lists && !skip.holds(&path) && depth < MAX_NESTING {
                collect_at(root, &path, skip, out, depth + 1)?;
            }
        } else if meta.is_file() && is_flow_file(root, &path) {
            out.push(path);
        }
    }
    Ok(())
}

/// `dir/sales/main.toml` → `sales/main`; `None` when the name can't be a URL path.
fn flow_name(dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(dir).ok()?.with_extension("");
    let parts: Vec<&str> = rel.iter().map(|p| p.to_str()).collect::<Option<_>>()?;
    let name = parts.join("/");
    valid_flow_name(&name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_versions_are_sha256_of_the_file() {
        let text = "[[rule]]\nthen = { module = \"hangup\" }\n";
        // Pinned: the first 12 hex digits of SHA-256 over the tagged file; a compiler upgrade
        // must not change what the exchange log stores.
        assert_eq!(&*short_version(rule_version(text)), "dc5b08e59260");
        assert_ne!(rule_version(text), rule_version("[[rule]]\n"));
    }
}
