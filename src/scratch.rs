//! Throw-away folders: the scratch store of `pivotforge run` beside a running service, and the
//! fresh store of every simulated call. A leaf: it uses nothing of the crate.

use std::path::{Path, PathBuf};

/// A new folder under the system's temporary folder, removed with everything in it when dropped.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates a new, empty folder `PREFIX-PID-NANOS` under the system's temporary folder
    /// (`TMPDIR`).
    pub fn create(prefix: &str) -> std::io::Result<ScratchDir> {
        let base = std::env::temp_dir();
        // The pid alone could name a folder a killed run left behind, and one process may make
        // several: a counter and the time too.
        static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = base.join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(ScratchDir(path))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
