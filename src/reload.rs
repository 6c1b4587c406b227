//! Hot reload: a change under the flows folder is picked up within a second, without a restart.
//! Events are gathered for a short quiet period so a burst of writes reloads once. A changed
//! `lists/AREA.csv` is loaded into the store again (an upsert, as at start-up).

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::engine::Engine;
use crate::store::Store;

/// Quiet time after the last change before reloading.
const SETTLE: Duration = Duration::from_millis(150);

/// Watches the flows folder and reloads the engine on changes, until the engine is gone; list
/// files go to `store`.
pub fn watch(engine: &Arc<Engine>, store: Arc<dyn Store>) -> notify::Result<()> {
    let dir = engine.options().flows_dir.clone();
    let lists = dir.join("lists");
    let engine = Arc::downgrade(engine);
    let (tx, rx) = channel::<bool>();
    let watched_lists = lists.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
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
