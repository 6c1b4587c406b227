//! Removing the temporary files of uploads that a stopped process left half-written.
//!
//! A running upload removes its own temporary file on any failure; only a crash or a kill can
//! leave one behind. Every upload holds an exclusive advisory lock (`flock`) on its temporary
//! file for as long as it writes it, and the kernel drops the lock when the process dies,
//! however it dies. So at start-up a background thread walks the `ACCOUNT/DAY/` folders and
//! removes every temporary file whose lock it can take: that file belongs to no live upload, of
//! this process or of any other sharing the folder (on NFS, Linux turns `flock` into a lock the
//! server sees, so this holds across hosts). A file whose lock is held is left alone, whatever
//! its age.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::writer::{names_file, try_lock, TEMP_PREFIX, TEMP_SUFFIX};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Temporary files of stopped uploads, removed.
    pub removed: usize,
    /// Temporary files of uploads still being written (their lock is held), left alone.
    pub in_use: usize,
}

/// Sweeps `root` on a background thread.
pub fn start(root: PathBuf) {
    let spawned = std::thread::Builder::new()
        .name("recordings-sweep".into())
        .spawn(move || {
            let swept = sweep(&root);
            tracing::info!(
                removed = swept.removed,
                in_use = swept.in_use,
                root = %root.display(),
                "swept unfinished uploads: removed those no running upload holds"
            );
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "unfinished uploads of an earlier run are not swept");
    }
}

/// Removes the temporary files in `root/*/*/` that no running upload holds.
pub fn sweep(root: &Path) -> Swept {
    let mut swept = Swept::default();
    for account in entries(root) {
        for day in entries(&account) {
            for path in entries(&day).into_iter().filter(|p| is_temp(p)) {
                match remove_if_unheld(&path) {
                    Ok(true) => swept.removed += 1,
                    Ok(false) => swept.in_use += 1,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "could not sweep an unfinished upload");
                    }
                }
            }
        }
    }
    swept
}

/// Removes `path` if its lock can be taken; false when a running upload holds it. The lock is
/// held while the file is removed, so its writer can't take it back in between.
fn remove_if_unheld(path: &Path) -> std::io::Result<bool> {
    let file = match File::open(path) {
        Ok(file) => file,
        // Placed or removed by its upload meanwhile: nothing to do.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if !try_lock(&file)? {
        return Ok(false);
    }
    // Names are never reused, but check the name still leads to the file we locked.
    if !names_file(path, &file) {
        return Ok(false);
    }
    std::fs::remove_file(path)?;
    Ok(true)
}

/// The entries of a folder; nothing when it can't be read (not a folder, gone, no access).
fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn is_temp(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX))
}

#[cfg(test)]
mod tests {
    use super::super::writer::Part;
    use super::*;

    #[test]
    fn unheld_temporary_files_go_and_held_ones_stay() {
        let root = tempfile::tempdir().unwrap();
        let day = root.path().join("acct").join("2026-01-01");
        std::fs::create_dir_all(&day).unwrap();
        let left = day.join(format!("{TEMP_PREFIX}1-1-0{TEMP_SUFFIX}"));
        let kept = day.join("call%2E1.mp3");
        std::fs::write(&left, b"half").unwrap();
        std::fs::write(&kept, b"whole").unwrap();
        let live = Part::create(&day).unwrap();
        assert_eq!(
            sweep(root.path()),
            Swept {
                removed: 1,
                in_use: 1
            }
        );
        assert!(!left.exists() && kept.exists());
        assert_eq!(
            std::fs::read_dir(&day).unwrap().count(),
            2,
            "the live part stays"
        );
        drop(live);
        assert_eq!(sweep(root.path()), Swept::default());
        assert_eq!(sweep(&root.path().join("missing")), Swept::default());
    }
}
