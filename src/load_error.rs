//! A flow file that could not be loaded: [`LoadError`] names the file, the line when known, and
//! what to change. A leaf shared by what loads flows — the registry and rule flows (`flows`),
//! scripts and their settings files (`script`) — so neither needs the other for its errors.

use std::fmt;
use std::path::{Path, PathBuf};

/// A flow file that could not be loaded: which file, which line when known, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadError {
    /// The flow file.
    pub file: PathBuf,
    /// 1-based line, when the error can be placed.
    pub line: Option<usize>,
    /// What is wrong and, where possible, what to write instead.
    pub message: String,
}

impl LoadError {
    /// Builds an error for `file`.
    pub fn new(file: &Path, line: Option<usize>, message: String) -> LoadError {
        LoadError {
            file: file.to_owned(),
            line,
            message,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for LoadError {}
