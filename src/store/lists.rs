//! Loading userspace lists shipped as CSV files (`callflows/lists/AREA.csv`, e.g. `dnc.csv`).
//!
//! A file is parsed and checked completely before anything is written, and then written in one
//! call, so a malformed file changes nothing and the error names the file and line to fix.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::validate::{check_area, check_key, encode_value};
use super::{Store, StoreError};

/// Loads every `DIR/AREA.csv` into userspace area AREA (upsert; entries not in the file are left alone). First row is a header; the first column is the key; the value is an object of the other columns (header → cell), or `true` when the file has one column. Blank lines and lines starting with `#` are skipped. Returns (area, rows loaded) per file; an unreadable or malformed file is an error naming file and line. A missing DIR is not an error (returns empty).
pub fn load_lists(store: &dyn Store, dir: &Path) -> Result<Vec<(String, usize)>, StoreError> {
    let mut loaded = Vec::new();
    for (area, path) in list_files(dir)? {
        let entries = parse_file(&path)?;
        store.us_put_many(&area, &entries)?;
        tracing::info!(area = %area, rows = entries.len(), file = %path.display(), "list loaded");
        loaded.push((area, entries.len()));
    }
    Ok(loaded)
}

/// The `AREA.csv` files of `dir`, sorted by name, with their areas.
fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let read_dir = match std::fs::read_dir(dir) {
        Ok(read_dir) => read_dir,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StoreError::Io {
                context: format!("reading list directory {}", dir.display()),
                source,
            })
        }
    };
    let mut files = Vec::new();
    for entry in read_dir {
        let path = entry
            .map_err(|source| StoreError::Io {
                context: format!("reading list directory {}", dir.display()),
                source,
            })?
            .path();
        let is_csv = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("csv"));
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        // Hidden files are editors' and tools' scratch copies, not lists.
        if !is_csv || stem.starts_with('.') || !path.is_file() {
            continue;
        }
        let area = stem.to_owned();
        if let Err(StoreError::Invalid(rule)) = check_area(&area) {
            return Err(StoreError::List {
                location: path.display().to_string(),
                message: format!("the file name must be AREA.csv: {rule}"),
            });
        }
        files.push((area, path));
    }
    files.sort();
    Ok(files)
}

/// Parses one list file into (key, value) entries, checking every row.
fn parse_file(path: &Path) -> Result<Vec<(String, Value)>, StoreError> {
    let mut reader = csv::ReaderBuilder::new()
        // The header is read as a record, so blank and comment lines before it are skipped too.
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|err| csv_error(path, err))?;
    let mut header: Option<Vec<String>> = None;
    let mut entries = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| csv_error(path, err))?;
        let line = record.position().map_or(0, |p| p.line());
        let at = |message: String| StoreError::List {
            location: format!("{}:{line}", path.display()),
            message,
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let Some(columns) = &header else {
            header = Some(parse_header(&record).map_err(at)?);
            continue;
        };
        if record.len() != columns.len() {
            return Err(at(format!(
                "expected {} fields as in the header, found {}",
                columns.len(),
                record.len()
            )));
        }
        let key = record.get(0).unwrap_or_default();
        check_key("the key (first column)", key).map_err(|e| at(rule(e)))?;
        let value = if columns.len() == 1 {
            Value::Bool(true)
        } else {
            let object: Map<String, Value> = columns
                .iter()
                .zip(record.iter())
                .skip(1)
                .map(|(name, cell)| (name.clone(), Value::String(cell.to_owned())))
                .collect();
            Value::Object(object)
        };
        encode_value(&value).map_err(|e| at(rule(e)))?;
        entries.push((key.to_owned(), value));
    }
    Ok(entries)
}

/// Checks the header row: named, distinct columns.
fn parse_header(record: &csv::StringRecord) -> Result<Vec<String>, String> {
    let mut seen = HashSet::new();
    let mut columns = Vec::with_capacity(record.len());
    for (i, name) in record.iter().enumerate() {
        // Spreadsheets often save a byte-order mark before the first name.
        let name = name.trim_start_matches('\u{feff}');
        if name.is_empty() {
            return Err(format!("header column {} has no name", i + 1));
        }
        if !seen.insert(name) {
            return Err(format!("header names column {name:?} twice"));
        }
        columns.push(name.to_owned());
    }
    Ok(columns)
}

/// The message of an `Invalid` error, without its "invalid input" prefix.
fn rule(err: StoreError) -> String {
    match err {
        StoreError::Invalid(message) => message,
        other => other.to_string(),
    }
}

/// A CSV reader error, naming the file (and line, when the reader knows it).
fn csv_error(path: &Path, err: csv::Error) -> StoreError {
    let location = match err.position() {
        Some(pos) => format!("{}:{}", path.display(), pos.line()),
        None => path.display().to_string(),
    };
    match err.into_kind() {
        csv::ErrorKind::Io(source) => StoreError::Io {
            context: format!("reading list {location}"),
            source,
        },
        csv::ErrorKind::Utf8 { .. } => StoreError::List {
            location,
            message: "not valid UTF-8; save the file as UTF-8".into(),
        },
        other => StoreError::List {
            location,
            message: format!("{other:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::StoreConfig;

    fn setup(files: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf, std::sync::Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let lists = dir.path().join("lists");
        std::fs::create_dir(&lists).unwrap();
        for (name, body) in files {
            std::fs::write(lists.join(name), body).unwrap();
        }
        let store = crate::store::open(&StoreConfig::default(), &dir.path().join("data")).unwrap();
        (dir, lists, store)
    }

    fn list_error(err: StoreError) -> (String, String) {
        match err {
            StoreError::List { location, message } => (location, message),
            other => panic!("expected a list error, got {other:?}"),
        }
    }

    #[test]
    fn loads_header_columns_into_objects() {
        let csv = b"number, reason ,added\n+15550100 , asked,2024-01-02\n\"+15550101\",\"court, order\",\n";
        let (_dir, lists, s) = setup(&[("dnc.csv", csv)]);
        assert_eq!(
            load_lists(s.as_ref(), &lists).unwrap(),
            vec![("dnc".into(), 2)]
        );
        assert_eq!(
            s.us_get("dnc", "+15550100").unwrap(),
            Some(json!({"reason": "asked", "added": "2024-01-02"}))
        );
        assert_eq!(
            s.us_get("dnc", "+15550101").unwrap(),
            Some(json!({"reason": "court, order", "added": ""}))
        );
    }

    #[test]
    fn one_column_files_map_to_true_and_comments_and_blanks_are_skipped() {
        let csv = b"\xef\xbb\xbf# numbers never to call\n\nnumber\n# a comment\n+15550100\n\n   \n+15550101\n";
        let (_dir, lists, s) = setup(&[
            ("vip.csv", csv),
            ("notes.txt", b"not a list"),
            (".dnc.csv", b"scratch copy"),
        ]);
        assert_eq!(
            load_lists(s.as_ref(), &lists).unwrap(),
            vec![("vip".into(), 2)]
        );
        assert_eq!(s.us_get("vip", "+15550100").unwrap(), Some(json!(true)));
        assert_eq!(s.us_get("vip", "+15550101").unwrap(), Some(json!(true)));
        assert_eq!(s.us_get("vip", "number").unwrap(), None);
        assert_eq!(s.us_list("vip", 10).unwrap().len(), 2);
    }

    #[test]
    fn loading_is_an_upsert_and_files_come_in_name_order() {
        let (_dir, lists, s) = setup(&[
            ("dnc.csv", b"number,why\n1,new\n2,also\n"),
            ("allow.csv", b"number\n9\n"),
            ("empty.csv", b""),
        ]);
        s.us_put("dnc", "1", &json!("old")).unwrap();
        s.us_put("dnc", "0", &json!("kept")).unwrap();
        let loaded = load_lists(s.as_ref(), &lists).unwrap();
        assert_eq!(
            loaded,
            vec![("allow".into(), 1), ("dnc".into(), 2), ("empty".into(), 0)]
        );
        assert_eq!(s.us_get("dnc", "1").unwrap(), Some(json!({"why": "new"})));
        assert_eq!(s.us_get("dnc", "0").unwrap(), Some(json!("kept")));
        // Loading again changes nothing and reports the same rows.
        assert_eq!(load_lists(s.as_ref(), &lists).unwrap(), loaded);
    }

    #[test]
    fn a_malformed_row_names_file_and_line_and_writes_nothing() {
        let csv = b"number,reason\n# comment\n1,ok\n2,too,many\n";
        let (_dir, lists, s) = setup(&[("dnc.csv", csv)]);
        let (location, message) = list_error(load_lists(s.as_ref(), &lists).unwrap_err());
        assert!(location.ends_with("dnc.csv:4"), "{location}");
        assert!(message.contains("expected 2 fields"), "{message}");
        assert_eq!(s.us_get("dnc", "1").unwrap(), None);
        let err = load_lists(s.as_ref(), &lists).unwrap_err().to_string();
        assert!(err.contains("dnc.csv:4: expected 2 fields"), "{err}");
    }

    #[test]
    fn bad_keys_headers_names_and_encodings_are_reported() {
        let long_key = format!("number\n{}\n", "9".repeat(1025));
        let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
            (
                "a.csv",
                b"number,why\n,empty key\n".to_vec(),
                "a.csv:2",
                "1 to 1024 bytes",
            ),
            ("b.csv", long_key.into_bytes(), "b.csv:2", "1 to 1024 bytes"),
            (
                "c.csv",
                b"number,,x\n1,2,3\n".to_vec(),
                "c.csv:1",
                "column 2 has no name",
            ),
            (
                "d.csv",
                b"n,x,x\n1,2,3\n".to_vec(),
                "d.csv:1",
                "\"x\" twice",
            ),
            ("e.csv", b"n\n\xff\xfe\n".to_vec(), "e.csv:2", "UTF-8"),
            (
                "bad name.csv",
                b"n\n1\n".to_vec(),
                "bad name.csv",
                "AREA.csv",
            ),
        ];
        for (name, body, want_location, want_message) in cases {
            let (_dir, lists, s) = setup(&[(name, &body)]);
            let (location, message) = list_error(load_lists(s.as_ref(), &lists).unwrap_err());
            assert!(location.ends_with(want_location), "{name}: {location}");
            assert!(message.contains(want_message), "{name}: {message}");
        }
    }

    #[test]
    fn a_missing_directory_loads_nothing() {
        let (dir, _lists, s) = setup(&[]);
        assert!(load_lists(s.as_ref(), &dir.path().join("absent"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_directory_that_is_a_file_is_an_io_error() {
        let (dir, _lists, s) = setup(&[]);
        let file = dir.path().join("lists.txt");
        std::fs::write(&file, "x").unwrap();
        let err = load_lists(s.as_ref(), &file).unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("lists.txt"), "{err}");
    }
}
