//! The Class 5 settings of a flow: `[extensions]` (short numbers a script may bridge to),
//! `[media]` (prompt names to URLs or media ids) and `media_base_url` (where other prompt files
//! live). Written in `NAME.settings.toml`, with defaults under the config file's `[flows]`.
//!
//! ```toml
//! media_base_url = "https://media.example.com/prompts"
//! [extensions]
//! 1002 = "user:8f0c1a2b3c4d5e6f8f0c1a2b3c4d5e6f"
//! 1100 = "ring_group:device:d1,user:u2"
//! [media]
//! "user/welcome.wav" = "https://cdn.example.com/acme/welcome.wav"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::prompt::{is_media_id, is_url};
use super::target::Target;
use crate::load_error::LoadError;

/// Longest `[media]` name accepted.
const MAX_MEDIA_NAME: usize = 256;

/// The resolved tables of one flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallTables {
    /// Short number → destination (`device:ID`, `user:ID`, …, or a full number).
    pub extensions: BTreeMap<String, String>,
    /// Prompt name → `http(s)://` URL or 32-hex media id.
    pub media: BTreeMap<String, String>,
    /// `http(s)://` base URL prompt file names are appended to.
    pub media_base_url: Option<String>,
}

impl CallTables {
    /// True when no table is set (so a flow's settings serialise as before).
    pub fn is_empty(&self) -> bool {
        self.extensions.is_empty() && self.media.is_empty() && self.media_base_url.is_none()
    }
}

/// The tables as written in a settings file; every key optional. Other keys are ignored here
/// (the settings loader owns them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RawTables {
    /// See [`CallTables::extensions`].
    pub extensions: Option<BTreeMap<String, String>>,
    /// See [`CallTables::media`].
    pub media: Option<BTreeMap<String, String>>,
    /// See [`CallTables::media_base_url`].
    pub media_base_url: Option<String>,
}

/// A table entry that is wrong: its table and key, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError {
    /// `[extensions]`, `[media]`, or `""` for a top-level key.
    pub table: &'static str,
    /// The key as written (`1002`, `user/welcome.wav`, `media_base_url`).
    pub key: String,
    /// What is wrong, naming the key.
    pub message: String,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TableError {}

impl TableError {
    fn new(table: &'static str, key: &str, message: String) -> TableError {
        TableError {
            table,
            key: key.to_owned(),
            message,
        }
    }

    /// The error placed in settings file `file` whose text is `text` (at the key's line).
    pub fn in_file(self, file: &Path, text: &str) -> LoadError {
        let line = line_of(text, self.table, &self.key);
        LoadError::new(file, line, self.message)
    }
}

impl RawTables {
    /// Checks every entry; the error names the table and the key.
    pub fn check(&self) -> Result<(), TableError> {
        for (key, value) in self.extensions.iter().flatten() {
            check_extension(key, value)?;
        }
        for (key, value) in self.media.iter().flatten() {
            check_media(key, value)?;
        }
        if let Some(base) = &self.media_base_url {
            check_base(base)?;
        }
        Ok(())
    }

    /// Layers `self` over `base`: the tables merge key by key, `media_base_url` replaces.
    pub fn apply(&self, base: &CallTables) -> CallTables {
        let mut out = base.clone();
        if let Some(extensions) = &self.extensions {
            out.extensions.extend(extensions.clone());
        }
        if let Some(media) = &self.media {
            out.media.extend(media.clone());
        }
        if let Some(url) = &self.media_base_url {
            out.media_base_url = Some(url.clone());
        }
        out
    }
}

/// Reads and checks the tables from the text of settings file `file`.
pub fn load(file: &Path, text: &str) -> Result<RawTables, LoadError> {
    let raw: RawTables = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        LoadError::new(file, line, e.message().trim().to_owned())
    })?;
    raw.check().map_err(|e| e.in_file(file, text))?;
    Ok(raw)
}

fn check_extension(key: &str, value: &str) -> Result<(), TableError> {
    let fail = |why: String| Err(TableError::new("[extensions]", key, why));
    let key_ok = !key.is_empty()
        && key
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || b == b'*' || b == b'#' || (b == b'+' && i == 0));
    if !key_ok {
        return fail(format!(
            "[extensions] key `{key}` must be a number as dialled (digits, `*`, `#`, a leading \
             `+`), e.g. 1002"
        ));
    }
    match Target::parse(value) {
        Ok(Target::Extension(_)) => fail(format!(
            "[extensions] {key} = {value:?}: an extension must lead to a destination, not to \
             another short number: write user:ID, device:ID, ring_group:ID,ID, callflow:ID or a \
             full number"
        )),
        Ok(_) => Ok(()),
        Err(why) => fail(format!("[extensions] {key} = {value:?}: {why}")),
    }
}

fn check_media(key: &str, value: &str) -> Result<(), TableError> {
    let fail = |why: String| Err(TableError::new("[media]", key, why));
    if key.trim().is_empty() || key.len() > MAX_MEDIA_NAME {
        return fail(format!(
            "[media] names must be 1 to {MAX_MEDIA_NAME} characters, e.g. \"user/welcome.wav\""
        ));
    }
    if is_url(key) || is_media_id(key) {
        return fail(format!(
            "[media] {key:?}: a URL or a media id already plays as is; list file names here, \
             e.g. \"user/welcome.wav\""
        ));
    }
    if !(is_url(value) || is_media_id(value)) {
        return fail(format!(
            "[media] {key:?} = {value:?}: the value must be an http(s):// URL or a 32-hex media id"
        ));
    }
    Ok(())
}

fn check_base(base: &str) -> Result<(), TableError> {
    if !is_url(base) || base.contains(['?', '#']) || base.chars().any(char::is_whitespace) {
        return Err(TableError::new(
            "",
            "media_base_url",
            format!(
                "media_base_url {base:?} must be an http(s):// URL without a query or spaces \
                 (prompt file names are appended to it), e.g. \"https://media.example.com/prompts\""
            ),
        ));
    }
    Ok(())
}

/// The 1-based line where `key` is set inside `table` (or at the top level for `""`).
fn line_of(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut in_table = table.is_empty();
    let mut header = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.starts_with('[') {
            in_table = line.trim_end() == table;
            if in_table {
                header = Some(index + 1);
            }
            continue;
        }
        let unquoted = line.trim_start_matches(['"', '\'']);
        let sets_key = unquoted.strip_prefix(key).is_some_and(|rest| {
            rest.trim_start_matches(['"', '\''])
                .trim_start()
                .starts_with('=')
        });
        if in_table && sets_key {
            return Some(index + 1);
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef";

    fn file() -> &'static Path {
        Path::new("callflows/ivr.settings.toml")
    }

    #[test]
    fn loads_and_merges_over_defaults() {
        let text = format!(
            "timeout_ms = 1000\nmedia_base_url = \"https://m.example.com/p\"\n\
             [extensions]\n1002 = \"user:u1\"\n\"*97\" = \"callflow:vm\"\n\
             [media]\n\"user/welcome.wav\" = \"{HEX}\"\n"
        );
        let raw = load(file(), &text).unwrap_or_else(|e| panic!("{e}"));
        let base = CallTables {
            extensions: BTreeMap::from([("1001".into(), "device:d1".into())]),
            ..CallTables::default()
        };
        let tables = raw.apply(&base);
        assert_eq!(tables.extensions.len(), 3);
        assert_eq!(tables.extensions["1002"], "user:u1");
        assert_eq!(tables.extensions["1001"], "device:d1");
        assert_eq!(tables.media["user/welcome.wav"], HEX);
        assert_eq!(
            tables.media_base_url.as_deref(),
            Some("https://m.example.com/p")
        );
        assert!(CallTables::default().is_empty());
        assert!(!tables.is_empty());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "[extensions]\n1002 = \"fax:9\"\n",
                2,
                "[extensions] 1002 = \"fax:9\"",
            ),
            (
                "[extensions]\n1002 = \"1003\"\n",
                2,
                "not to another short number",
            ),
            ("[extensions]\n\"sales\" = \"user:u\"\n", 2, "key `sales`"),
            (
                "[media]\n\"a.wav\" = \"a.wav\"\n",
                2,
                "[media] \"a.wav\" = \"a.wav\"",
            ),
            (
                "[media]\n\"https://x.example/a\" = \"https://y.example/a\"\n",
                2,
                "plays as is",
            ),
            (
                "x = 1\nmedia_base_url = \"ftp://m\"\n",
                2,
                "media_base_url \"ftp://m\"",
            ),
            (
                "media_base_url = \"https://m.example/?a=b\"\n",
                1,
                "without a query",
            ),
        ];
        for (text, line, expected) in cases {
            let err = load(file(), text)
                .err()
                .unwrap_or_else(|| panic!("{text}: accepted"));
            assert_eq!(err.file, file());
            assert_eq!(err.line, Some(line), "{text}: {err}");
            assert!(err.message.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn wrong_types_are_placed_too() {
        let err = load(file(), "[extensions]\n1002 = 5\n").err();
        assert_eq!(err.map(|e| e.line), Some(Some(2)));
    }
}
