//! The fuzzers' saved inputs, on stable Rust: every file of `fuzz/seeds/NAME/`,
//! `fuzz/corpus/NAME/` (the minimised corpus of the last fuzzing run) and
//! `fuzz/regressions/NAME/` (inputs that once crashed) goes to its target in
//! `pivotforge::fuzzing`, which must return without a panic.

use std::path::{Path, PathBuf};

use pivotforge::fuzzing::TARGETS;

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_saved_fuzz_input_runs_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, target) in TARGETS {
        let mut fed = 0;
        for kind in ["seeds", "corpus", "regressions"] {
            for file in files(&root.join(kind).join(name)) {
                let bytes = std::fs::read(&file).unwrap();
                let run = std::panic::catch_unwind(|| target(&bytes));
                assert!(
                    run.is_ok(),
                    "fuzz target {name} panicked on {}",
                    file.display()
                );
                fed += 1;
            }
        }
        assert!(
            fed > 0,
            "no saved input for fuzz target {name} under {}",
            root.display()
        );
    }
}
