//! State every node shares: one [`Store`] interface, backends behind it.
//!
//! Scripts' `cxKV` and `cxUserspace`, the queue of end-of-call events waiting for a flow's
//! `postCall`, the metadata of stored recordings and the persisted exchange log live here and not in a node's memory:
//! nothing a node keeps in memory is needed by another node, so any node can serve any step of
//! any call. The embedded backend ([`EmbeddedStore`]: one redb file under the data directory, no
//! server to run) is the default; a backend for several nodes behind a load balancer implements
//! the same trait.
//!
//! Keys and areas come from scripts and HTTP, so every backend checks them here, with the same
//! rules and the same messages, and uses them only as database keys, never as paths.

mod calls;
mod embedded;
mod kv;
mod lists;
mod queue;
mod recordings;
mod userspace;

pub use embedded::EmbeddedStore;
pub use lists::load_lists;

use serde_json::Value;

use crate::calls::{CallSummary, StepRecord};
use crate::recordings::{Recording, RecordingQuery};

/// Longest key (cxKV key, userspace key, flow name), in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest userspace area name, in bytes.
pub const MAX_AREA_BYTES: usize = 64;
/// Largest value, in bytes of its JSON serialisation (1 MiB).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Errors from a store: I/O, corruption, bad input. Display says what to do next where possible.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Input broke a rule (key length, area name, value size, non-integer incr); the message
    /// names the rule. Callers answering HTTP map this to 400.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The database file is held by another process.
    #[error(
        "database file {} is already open in another process; stop that process or give this one \
         another data directory",
        path.display()
    )]
    Locked {
        /// The database file.
        path: std::path::PathBuf,
    },
    /// An I/O error, with what was being done when it happened.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file or directory.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The database file is damaged or holds something that is not what this layer wrote.
    #[error(
        "database is corrupt ({0}); restore pivotforge.redb from a backup, or move it aside to \
         start empty"
    )]
    Corrupt(String),
    /// A malformed list file.
    #[error("{location}: {message}")]
    List {
        /// `FILE:LINE` of the offending row (or just `FILE`).
        location: String,
        /// What is wrong with it.
        message: String,
    },
    /// The post-call queue is at its bound in bytes: the event is refused (callers answer 503).
    #[error(
        "the post-call queue holds {pending} bytes of events waiting and this one would pass its \
         bound of {limit} bytes ([events] max_pending_bytes): the event is not stored"
    )]
    QueueFull {
        /// Bytes of events waiting.
        pending: u64,
        /// The bound.
        limit: u64,
    },
    /// `event_retry` or `event_dead` named an event that is not queued.
    #[error("no queued event with id {0} (already done or dead-lettered, or never pushed)")]
    NoSuchEvent(u64),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(String),
}

/// What `kv_usage` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KvUsage {
    /// Live (unexpired) keys.
    pub keys: u64,
    /// Bytes of those keys plus their JSON-serialised values.
    pub bytes: u64,
}

/// An end-of-call event waiting to run a flow's postCall.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueuedEvent {
    /// Queue id, increasing in push order and never reused.
    pub id: u64,
    /// The flow whose postCall handles it.
    pub flow: String,
    /// The event as the PBX sent it.
    pub event: Value,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is next due (Unix ms).
    pub next_at_ms: i64,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was pushed (Unix ms).
    pub received_at_ms: i64,
}

/// The state every node shares (scripts' cxKV and cxUserspace, the postCall event queue,
/// recording metadata, the exchange log).
pub trait Store: Send + Sync {
    /// cxKV read in namespace `ns` (`flow:NAME` or `shared:NAME`): the value, or `None` when
    /// missing or expired (expiry <= `now_ms`).
    fn kv_get(&self, ns: &str, key: &str, now_ms: i64) -> Result<Option<Value>, StoreError>;
    /// cxKV write (`kv.set` stores strings, `ko.set` objects); `ttl_ms` None or 0 = no expiry.
    fn kv_set(
        &self,
        ns: &str,
        key: &str,
        value: &Value,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Removes a key; true when a stored entry was removed (one expired but not yet swept counts).
    fn kv_delete(&self, ns: &str, key: &str) -> Result<bool, StoreError>;
    /// Atomic add (in one write transaction); a missing or expired key starts at 0 and, when
    /// ttl_ms is given, gets that expiry at creation only (a fixed window, like Redis INCR +
    /// EXPIRE NX). A non-integer existing value is an error.
    fn kv_incr(
        &self,
        ns: &str,
        key: &str,
        by: i64,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<i64, StoreError>;
    /// Live keys of `ns`, sorted, at most `limit`.
    fn kv_keys(&self, ns: &str, now_ms: i64, limit: usize) -> Result<Vec<String>, StoreError>;
    /// Count and size of the live keys of `ns`.
    fn kv_usage(&self, ns: &str, now_ms: i64) -> Result<KvUsage, StoreError>;
    /// cxUserspace read: the record under `key` in `area` (e.g. "dnc").
    fn us_get(&self, area: &str, key: &str) -> Result<Option<Value>, StoreError>;
    /// cxUserspace upsert; true when created, false when replaced.
    fn us_put(&self, area: &str, key: &str, value: &Value) -> Result<bool, StoreError>;
    /// Upserts many records of one area at once (list loading); returns how many were created.
    ///
    /// Backends should override this to write in one transaction: the default costs one
    /// durable write per record.
    fn us_put_many(&self, area: &str, entries: &[(String, Value)]) -> Result<usize, StoreError> {
        let mut created = 0;
        for (key, value) in entries {
            if self.us_put(area, key, value)? {
                created += 1;
            }
        }
        Ok(created)
    }
    /// cxUserspace delete; true when it existed.
    fn us_delete(&self, area: &str, key: &str) -> Result<bool, StoreError>;
    /// Records of an area, sorted by key, at most `limit`.
    fn us_list(&self, area: &str, limit: usize) -> Result<Vec<(String, Value)>, StoreError>;
    /// Queues an event for `flow`; returns only after it is on disk (fsync'd commit). Refuses
    /// it with [`StoreError::QueueFull`] when the pending events would pass `max_pending_bytes`.
    fn event_push(
        &self,
        flow: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<u64, StoreError>;
    /// Queues the event of `call_id` for `flow` like [`Store::event_push`], unless one was
    /// already taken for that flow and call (then `None`, nothing stored): the check and the
    /// mark are one transaction, so a repeated delivery is never queued twice.
    fn event_push_once(
        &self,
        flow: &str,
        call_id: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<Option<u64>, StoreError>;
    /// Removes up to `max` taken-marks written before `before_ms`; returns how many.
    fn events_expire_taken(&self, before_ms: i64, max: usize) -> Result<usize, StoreError>;
    /// Pending events with `next_at_ms <= now_ms`, soonest due first (ties: oldest first).
    fn events_due(&self, now_ms: i64, limit: usize) -> Result<Vec<QueuedEvent>, StoreError>;
    /// Removes a handled event (no error when it is already gone).
    fn event_done(&self, id: u64) -> Result<(), StoreError>;
    /// Records a failed attempt (attempts += 1) and when to try again.
    fn event_retry(&self, id: u64, next_at_ms: i64, error: &str) -> Result<(), StoreError>;
    /// Records a final failed attempt and moves the event to the dead-letter table at `now_ms`.
    fn event_dead(&self, id: u64, error: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Removes up to `max` dead letters that went dead before `before_ms`; returns how many.
    fn events_expire_dead(&self, before_ms: i64, max: usize) -> Result<usize, StoreError>;
    /// Bytes of the pending events, as the queue's bound counts them.
    fn events_pending_bytes(&self) -> Result<u64, StoreError>;
    /// Dead-lettered events, oldest first, at most `limit`.
    fn events_dead(&self, limit: usize) -> Result<Vec<QueuedEvent>, StoreError>;
    /// Number of queued (not dead) events.
    fn events_pending(&self) -> Result<u64, StoreError>;
    /// Stores a recording's metadata under its id, replacing any earlier record (durably, before
    /// returning); returns the record it replaced.
    fn rec_put(&self, rec: &Recording) -> Result<Option<Recording>, StoreError>;
    /// A recording's metadata by id.
    fn rec_get(&self, id: &str) -> Result<Option<Recording>, StoreError>;
    /// Removes a recording's metadata; returns what was removed.
    fn rec_delete(&self, id: &str) -> Result<Option<Recording>, StoreError>;
    /// Recordings passing every filter of `query`, newest first, at most `query.limit`.
    fn rec_list(&self, query: &RecordingQuery) -> Result<Vec<Recording>, StoreError>;
    /// The exchange log's next step sequence number: one past the highest ever stored.
    fn calls_next_seq(&self) -> Result<u64, StoreError>;
    /// Stores exchange-log steps in one transaction and updates their calls' summaries. The log
    /// is a record for people: backends need not make it durable before returning.
    fn calls_append(&self, steps: &[StepRecord<'_>]) -> Result<(), StoreError>;
    /// A call's stored steps as (sequence number, JSON view), in sequence order.
    fn calls_steps(&self, call_id: &str) -> Result<Vec<(u64, String)>, StoreError>;
    /// The stored summaries of `call_ids` (`None` for a call not stored), in the same order.
    fn calls_summaries(&self, call_ids: &[&str]) -> Result<Vec<Option<CallSummary>>, StoreError>;
    /// Visits the summaries of calls whose last step is at or after `since_ms`, newest first,
    /// until `visit` returns false.
    fn calls_scan(
        &self,
        since_ms: i64,
        visit: &mut dyn FnMut(CallSummary) -> bool,
    ) -> Result<(), StoreError>;
    /// Removes up to `max` calls whose last step is before `before_ms`, with all their steps;
    /// returns how many calls were removed.
    fn calls_expire(&self, before_ms: i64, max: usize) -> Result<usize, StoreError>;
    /// Cheap liveness check for /readyz.
    fn ping(&self) -> Result<(), StoreError>;
    /// Makes every write so far durable (the embedded store defers cxKV fsyncs up to a second);
    /// called before the process exits.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Checks a cxKV key, userspace key or flow name: 1 to [`MAX_KEY_BYTES`] bytes.
pub(crate) fn check_key(what: &str, key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "{what} must be 1 to {MAX_KEY_BYTES} bytes long (got {} bytes)",
            key.len()
        )));
    }
    Ok(())
}

/// Checks a cxKV namespace and key: each 1 to [`MAX_KEY_BYTES`] bytes.
pub(crate) fn check_kv(ns: &str, key: &str) -> Result<(), StoreError> {
    check_key("kv namespace", ns)?;
    check_key("kv key", key)
}

/// Checks a userspace area name: `[A-Za-z0-9_-]{1,64}`.
pub(crate) fn check_area(area: &str) -> Result<(), StoreError> {
    let valid = !area.is_empty()
        && area.len() <= MAX_AREA_BYTES
        && area
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        return Ok(());
    }
    // Echo only a prefix: the name may be arbitrarily long input from a script.
    let shown: String = area.chars().take(MAX_AREA_BYTES).collect();
    Err(StoreError::Invalid(format!(
        "area name {shown:?} must be 1 to {MAX_AREA_BYTES} characters of A-Z, a-z, 0-9, '_' or '-'"
    )))
}

/// Serialises a value for storage, refusing values over [`MAX_VALUE_BYTES`].
pub(crate) fn encode_value(value: &Value) -> Result<String, StoreError> {
    let text = serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("value cannot be serialised as JSON: {e}")))?;
    if text.len() > MAX_VALUE_BYTES {
        return Err(StoreError::Invalid(format!(
            "value is {} bytes as JSON; values must be at most {MAX_VALUE_BYTES} bytes (1 MiB)",
            text.len()
        )));
    }
    Ok(text)
}

/// Parses a stored value; text that is not JSON means the file was damaged.
pub(crate) fn decode_value(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored value: {e}")))
}

/// A store in a fresh temporary folder, for unit tests (the folder lives as long as its guard).
#[cfg(test)]
pub(crate) fn temp_store() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    (dir, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rule_names_the_limit() {
        assert!(check_key("kv key", "a").is_ok());
        assert!(check_key("kv key", &"k".repeat(MAX_KEY_BYTES)).is_ok());
        for bad in [String::new(), "k".repeat(MAX_KEY_BYTES + 1)] {
            let msg = check_key("kv key", &bad).unwrap_err().to_string();
            assert!(msg.contains("kv key must be 1 to 1024 bytes"), "{msg}");
        }
    }

    #[test]
    fn area_rule_names_the_pattern() {
        for good in ["dnc", "DNC_list-2", &"a".repeat(64)] {
            assert!(check_area(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "../etc", "dnc.csv", "é", &"a".repeat(65)] {
            let err = check_area(bad).unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)));
            assert!(err.to_string().contains("A-Z, a-z, 0-9"), "{err}");
        }
    }

    #[test]
    fn value_limit_is_one_mebibyte_of_json() {
        // A string of n bytes serialises to n + 2 (the quotes).
        let fits = Value::String("x".repeat(MAX_VALUE_BYTES - 2));
        assert!(encode_value(&fits).is_ok());
        let over = Value::String("x".repeat(MAX_VALUE_BYTES - 1));
        let msg = encode_value(&over).unwrap_err().to_string();
        assert!(msg.contains("at most 1048576 bytes"), "{msg}");
    }

    #[test]
    fn decode_reports_corruption() {
        assert_eq!(decode_value("[1]").unwrap(), serde_json::json!([1]));
        assert!(matches!(decode_value("{"), Err(StoreError::Corrupt(_))));
    }
}
