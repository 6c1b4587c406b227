//! Hot reload: a change under the flows folder is picked up within a second, without a restart.
//! Events are gathered for a short quiet period so a burst of writes reloads once. A changed
//! `lists/AREA.csv` is loaded into the store again (an upsert, as at start-up). Changes in the
//! scenario folder (`tests/`) are not flows and reload nothing.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::engine::Engine;
use crate::store::Store;

/// Quiet time after the last change before reloading.
const SETTLE: Duration = Duration::from_millis(150);

/// The scenario folder, as written and as its canonical path, to tell its changes apart.
struct ScenarioFolder {
    written: PathBuf,
    canonical: Option<PathBuf>,
}

impl ScenarioFolder {
    fn new(dir: &Path) -> ScenarioFolder {
        ScenarioFolder {
            written: dir.to_owned(),
            canonical: std::fs::canonicalize(dir).ok(),
        }
    }

    /// Whether `path` is the folder or below it (a path that no longer exists compares as
    /// written).
    fn holds(&self, path: &Path) -> bool {
        if self.written.as_os_str().is_empty() {
            return false;
        }
        path.starts_with(&self.written)
            || self.canonical.as_ref().is_some_and(|c| {
                path.starts_with(c)
                    || path
                        .parent()
                        .and_then(|p| std::fs::canonicalize(p).ok())
                        .is_some_and(|p| p.starts_with(c))
            })
    }
}

/// Watches the flows folder and reloads the engine on changes, until the engine is gone; list
/// files go to `store`.
pub fn watch(engine: &Arc<Engine>, store: Arc<dyn Store>) -> notify::Result<()> {
    let dir = engine.options().flows_dir.clone();
    let lists = dir.join("lists");
    let tests = ScenarioFolder::new(&engine.options().tests_dir);
    let engine = Arc::downgrade(engine);
    let (tx, rx) = channel::<bool>();
    let watched_lists = lists.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let only_scenarios = !event.paths.is_empty() && event.paths.iter().all(|p| tests.holds(p));
        if event.kind.is_access() || only_scenarios {
            return;
        }
        let touches_lists = event
            .paths
            .iter()
            .any(|p| p.starts_with(&watched_lists) && p.extension().is_some_and(|e| e == "csv"));
        let _ = tx.send(touches_lists);
    })?;
    watcher.watch(&dir, RecursiveMode::Recursive)?;
    std::thread::Builder::new()
        .name("pivotforge-reload".into())
        .spawn(move || {
            let _watcher = watcher;
            loop {
                let mut reload_lists = match rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(touches_lists) => touches_lists,
                    Err(RecvTimeoutError::Timeout) if engine.strong_count() > 0 => continue,
                    Err(_) => return,
                };
                loop {
                    match rx.recv_timeout(SETTLE) {
                        Ok(touches_lists) => reload_lists |= touches_lists,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                if reload_lists {
                    // A malformed file changes nothing (load_lists checks a file before writing).
                    if let Err(e) = crate::store::load_lists(store.as_ref(), &lists) {
                        tracing::error!(error = %e, "userspace list not reloaded; fix the file");
                    }
                }
                match engine.reload() {
                    Ok(()) => {
                        let registry = engine.registry();
                        for problem in registry.errors() {
                            tracing::error!(error = %problem, "flow not loaded");
                        }
                        tracing::info!(flows = registry.entries().count(), "flows reloaded");
                    }
                    Err(e) => tracing::error!(error = %e, "reload failed; the previous flows keep serving"),
                }
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_in_the_scenario_folder_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let tests = dir.path().join("tests");
        std::fs::create_dir(&tests).unwrap();
        let folder = ScenarioFolder::new(&tests);
        assert!(folder.holds(&tests.join("menu.toml")));
        assert!(folder.holds(&tests.join("deep/gone.toml")));
        assert!(!folder.holds(&dir.path().join("menu.toml")));
        assert!(!folder.holds(&dir.path().join("tests_old/menu.toml")));
        // Spelled another way: through `..`.
        let other = dir.path().join("lists/../tests/menu.toml");
        std::fs::create_dir(dir.path().join("lists")).unwrap();
        assert!(folder.holds(&other));
        assert!(!ScenarioFolder::new(Path::new("")).holds(&tests));
    }
}
