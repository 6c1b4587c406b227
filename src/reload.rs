//! Hot reload: a change under the flows folder is picked up within a second, without a restart.
//! Events are gathered for a short quiet period so a burst of writes reloads once.

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::engine::Engine;

/// Quiet time after the last change before reloading.
const SETTLE: Duration = Duration::from_millis(150);

/// Watches the flows folder and reloads the engine on changes, until the engine is gone.
pub fn watch(engine: &Arc<Engine>) -> notify::Result<()> {
    let dir = engine.options().flows_dir.clone();
    let engine = Arc::downgrade(engine);
    let (tx, rx) = channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::Recursive)?;
    std::thread::Builder::new()
        .name("pivotforge-reload".into())
        .spawn(move || {
            let _watcher = watcher;
            loop {
                match rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(()) => {}
                    Err(RecvTimeoutError::Timeout) if engine.strong_count() > 0 => continue,
                    Err(_) => return,
                }
                loop {
                    match rx.recv_timeout(SETTLE) {
                        Ok(()) => continue,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                let Some(engine) = engine.upgrade() else {
                    return;
                };
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
