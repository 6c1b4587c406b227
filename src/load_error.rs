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

    /// A TOML file's parse error, placed at the line of its span.
    pub fn from_toml(file: &Path, text: &str, e: &toml::de::Error) -> LoadError {
        let line = e.span().map(|s| line_at(text, s.start));
        LoadError::new(file, line, e.message().trim().to_owned())
    }
}

/// The 1-based line of byte `offset` in `text` (a span's start from the toml crate).
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
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
