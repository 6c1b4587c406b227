//! `pivotforge run --journal FILE`: one step of a Class 5 call offline. The file's journal
//! (none yet: a new call) is put in the store under the call before the step runs, and the
//! journal after the step is written back, so that running again with the next digits
//! continues the call.

use std::path::Path;

use serde_json::Value;

use super::journal::{self, Journal};
use crate::store::Store;

/// The call id `run` uses when none is given.
pub const CALL_ID: &str = "pivotforge-run";

/// Loads the journal in `file` (if it exists) into `store` for call `call_id` of `flow`; gives
/// the step token the next request carries (the journal's step count).
pub fn load(
    store: &dyn Store,
    file: &Path,
    flow: &str,
    call_id: &str,
    now_ms: i64,
    ttl_ms: u64,
) -> Result<usize, String> {
    let key = journal::key(flow, call_id);
    let current = store
        .journal_get(&key, now_ms)
        .map_err(|e| e.to_string())?
        .map_or(0, |j| j.version);
    let saved: Option<Journal> = match std::fs::read_to_string(file) {
        Ok(text) => {
            Some(journal::decode(text.as_bytes()).map_err(|e| format!("{}: {e}", file.display()))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let Some(saved) = saved else {
        // A new call: whatever the store held for it is not this call's.
        if current > 0 {
            let empty = serde_json::to_value(Journal::default()).unwrap_or(Value::Null);
            store
                .journal_put(&key, &empty, current, Some(ttl_ms), now_ms)
                .map_err(|e| e.to_string())?;
        }
        return Ok(0);
    };
    let steps = saved.steps.len();
    let value = serde_json::to_value(&saved).map_err(|e| e.to_string())?;
    store
        .journal_put(&key, &value, current, Some(ttl_ms), now_ms)
        .map_err(|e| e.to_string())?;
    Ok(steps)
}

/// Writes the call's journal as it stands after the step to `file`.
pub fn save(
    store: &dyn Store,
    file: &Path,
    flow: &str,
    call_id: &str,
    now_ms: i64,
) -> Result<(), String> {
    let key = journal::key(flow, call_id);
    let Some(entry) = store.journal_get(&key, now_ms).map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(&entry.value).map_err(|e| e.to_string())?;
    std::fs::write(file, text + "\n").map_err(|e| format!("{}: {e}", file.display()))
}
