//! Removing the temporary files of uploads that a stopped process left half-written.
//!
//! A running upload removes its own temporary file on any failure; only a crash or a kill can
//! leave one behind. At start-up a background thread walks `ACCOUNT/DAY/` folders and removes
//! temporary files untouched for [`STALE_AFTER`]: an upload still running (in this process or
//! another sharing the folder) writes to its file far more often than that.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::writer::{TEMP_PREFIX, TEMP_SUFFIX};

/// A temporary file untouched this long belongs to no running upload.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Sweeps `root` on a background thread.
pub fn start(root: PathBuf) {
    let spawned = std::thread::Builder::new()
        .name("recordings-sweep".into())
        .spawn(move || {
            let removed = sweep(&root, SystemTime::now());
            if removed > 0 {
                tracing::info!(removed, root = %root.display(), "removed unfinished uploads left by an earlier run");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "unfinished uploads of an earlier run are not swept");
    }
}

/// Removes stale temporary files in `root/*/*/`; returns how many.
pub fn sweep(root: &Path, now: SystemTime) -> usize {
    let mut removed = 0;
    for account in entries(root) {
        for day in entries(&account) {
            for file in entries(&day) {
                if is_stale_temp(&file, now) && std::fs::remove_file(&file).is_ok() {
                    removed += 1;
                }
            }
        }
    }
    removed
}

/// The entries of a folder; nothing when it can't be read (not a folder, gone, no access).
fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn is_stale_temp(path: &Path, now: SystemTime) -> bool {
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX));
    let modified = std::fs::metadata(path).and_then(|m| m.modified());
    named && modified.is_ok_and(|m| now.duration_since(m).unwrap_or_default() >= STALE_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stale_temporary_files_go() {
        let root = tempfile::tempdir().unwrap();
        let day = root.path().join("acct").join("2026-01-01");
        std::fs::create_dir_all(&day).unwrap();
        let temp = day.join(format!("{TEMP_PREFIX}1-1{TEMP_SUFFIX}"));
        let kept = day.join("call%2E1.mp3");
        std::fs::write(&temp, b"half").unwrap();
        std::fs::write(&kept, b"whole").unwrap();
        assert_eq!(sweep(root.path(), SystemTime::now()), 0);
        assert!(temp.exists());
        let later = SystemTime::now() + STALE_AFTER + Duration::from_secs(1);
        assert_eq!(sweep(root.path(), later), 1);
        assert!(!temp.exists() && kept.exists());
        assert_eq!(sweep(&root.path().join("missing"), later), 0);
    }
}
