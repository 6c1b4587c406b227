//! The durable postCall event queue in the embedded backend.
//!
//! Events live in `events` (id → record) with a due index (next_at_ms, id) → (), so a poll reads
//! only what is due. Ids come from a counter in `meta` and are never reused, even after the
//! newest event is done, so an id in a log always means one event. Failed-for-good events move
//! to `events_dead` under the same id, and are removed once older than the dead-letter
//! retention. Every change here is committed with full durability by the caller: "none may be
//! lost" once accepted.
//!
//! The bytes of pending records are counted in `meta` as they are stored and taken, so a push
//! can refuse an event that would take the queue past its bound without reading the queue.
//! (A queue written before the count existed starts it at zero: its events are not counted.)
//!
//! A webhook event is taken once per (flow, call id): the mark is written in the transaction
//! that queues the event, so two deliveries of one event can't both be queued, even across a
//! restart. Marks are removed once older than a day (Kazoo repeats a delivery within seconds).

use redb::{
    ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::embedded::db_error;
use super::{QueuedEvent, StoreError};

/// Pending events: id → [`Record`] as JSON.
const EVENTS: TableDefinition<u64, &str> = TableDefinition::new("events");
/// Due index over pending events: (next_at_ms, id) → ().
const EVENTS_DUE: TableDefinition<(i64, u64), ()> = TableDefinition::new("events_due");
/// Dead letters: id → [`Record`] as JSON, kept for inspection.
const EVENTS_DEAD: TableDefinition<u64, &str> = TableDefinition::new("events_dead");
/// Events taken per call: (flow, call id) → when, Unix ms.
const EVENTS_TAKEN: TableDefinition<(&str, &str), i64> = TableDefinition::new("events_taken");
/// The same marks by age: (when, flow, call id) → (), so expiry reads only old ones.
const EVENTS_TAKEN_AT: TableDefinition<(i64, &str, &str), ()> =
    TableDefinition::new("events_taken_at");
/// Counters: name → value.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The `meta` entry holding the next event id.
const NEXT_ID: &str = "next_event_id";
/// The `meta` entry holding the bytes of pending records.
const PENDING_BYTES: &str = "pending_event_bytes";
/// Longest error kept per event: a runaway error message must not bloat every record.
const MAX_ERROR_BYTES: usize = 4096;

/// An event as stored (its id is the table key).
#[derive(Serialize, Deserialize)]
struct Record {
    flow: String,
    event: Value,
    attempts: u32,
    next_at_ms: i64,
    last_error: Option<String>,
    received_at_ms: i64,
    /// When it went to the dead letters (absent on pending events and older dead letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dead_at_ms: Option<i64>,
}

impl Record {
    fn into_event(self, id: u64) -> QueuedEvent {
        QueuedEvent {
            id,
            flow: self.flow,
            event: self.event,
            attempts: self.attempts,
            next_at_ms: self.next_at_ms,
            last_error: self.last_error,
            received_at_ms: self.received_at_ms,
        }
    }

    /// Counts a failed attempt and keeps (a bounded prefix of) its error.
    fn fail(&mut self, error: &str) {
        self.attempts = self.attempts.saturating_add(1);
        self.last_error = Some(truncate(error, MAX_ERROR_BYTES).to_owned());
    }
}

/// Creates the tables, so read transactions never meet a missing one.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(EVENTS).map_err(db_error)?;
    txn.open_table(EVENTS_DUE).map_err(db_error)?;
    txn.open_table(EVENTS_DEAD).map_err(db_error)?;
    txn.open_table(META).map_err(db_error)?;
    txn.open_table(EVENTS_TAKEN).map_err(db_error)?;
    txn.open_table(EVENTS_TAKEN_AT).map_err(db_error)?;
    Ok(())
}

/// Queues the event of `call_id` for `flow` as [`push`] does, unless one was taken for them
/// already: `None` then, and nothing is written.
pub(super) fn push_once(
    txn: &WriteTransaction,
    flow: &str,
    call_id: &str,
    event: &Value,
    now_ms: i64,
    max_bytes: u64,
) -> Result<Option<u64>, StoreError> {
    let mut taken = txn.open_table(EVENTS_TAKEN).map_err(db_error)?;
    if taken.get((flow, call_id)).map_err(db_error)?.is_some() {
        return Ok(None);
    }
    let id = push(txn, flow, event, now_ms, max_bytes)?;
    taken.insert((flow, call_id), now_ms).map_err(db_error)?;
    let mut by_age = txn.open_table(EVENTS_TAKEN_AT).map_err(db_error)?;
    by_age
        .insert((now_ms, flow, call_id), ())
        .map_err(db_error)?;
    Ok(Some(id))
}

/// Removes up to `max` taken-marks written before `before_ms`; returns how many.
pub(super) fn expire_taken(
    txn: &WriteTransaction,
    before_ms: i64,
    max: usize,
) -> Result<usize, StoreError> {
    let mut by_age = txn.open_table(EVENTS_TAKEN_AT).map_err(db_error)?;
    let mut old: Vec<(i64, String, String)> = Vec::new();
    for row in by_age
        .range::<(i64, &str, &str)>(..(before_ms, "", ""))
        .map_err(db_error)?
    {
        if old.len() >= max {
            break;
        }
        let (key, _) = row.map_err(db_error)?;
        let (at, flow, call_id) = key.value();
        old.push((at, flow.to_owned(), call_id.to_owned()));
    }
    let mut taken = txn.open_table(EVENTS_TAKEN).map_err(db_error)?;
    for (at, flow, call_id) in &old {
        by_age
            .remove((*at, flow.as_str(), call_id.as_str()))
            .map_err(db_error)?;
        taken
            .remove((flow.as_str(), call_id.as_str()))
            .map_err(db_error)?;
    }
    Ok(old.len())
}

/// Queues an event, due at once, unless the pending records would then pass `max_bytes`;
/// returns its id.
pub(super) fn push(
    txn: &WriteTransaction,
    flow: &str,
    event: &Value,
    now_ms: i64,
    max_bytes: u64,
) -> Result<u64, StoreError> {
    let record = Record {
        flow: flow.to_owned(),
        event: event.clone(),
        attempts: 0,
        next_at_ms: now_ms,
        last_error: None,
        received_at_ms: now_ms,
        dead_at_ms: None,
    };
    let size = encode(&record)?.len() as u64;
    let pending = counter(txn, PENDING_BYTES)?;
    if pending.saturating_add(size) > max_bytes {
        return Err(StoreError::QueueFull {
            pending,
            limit: max_bytes,
        });
    }
    let mut meta = txn.open_table(META).map_err(db_error)?;
    let id = meta
        .get(NEXT_ID)
        .map_err(db_error)?
        .map_or(1, |g| g.value());
    let next = id
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt("event id counter is exhausted".into()))?;
    meta.insert(NEXT_ID, next).map_err(db_error)?;
    drop(meta);
    store(txn, id, &record)?;
    Ok(id)
}

/// A `meta` counter (0 when never set).
fn counter(txn: &WriteTransaction, name: &str) -> Result<u64, StoreError> {
    let meta = txn.open_table(META).map_err(db_error)?;
    let value = meta.get(name).map_err(db_error)?.map_or(0, |g| g.value());
    Ok(value)
}

/// Adds `delta` bytes to the pending count (never below zero).
fn count_pending(txn: &WriteTransaction, delta: i64) -> Result<(), StoreError> {
    let value = counter(txn, PENDING_BYTES)?.saturating_add_signed(delta);
    let mut meta = txn.open_table(META).map_err(db_error)?;
    meta.insert(PENDING_BYTES, value).map_err(db_error)?;
    Ok(())
}

/// Bytes of the pending records, as counted.
pub(super) fn pending_bytes(txn: &ReadTransaction) -> Result<u64, StoreError> {
    let meta = txn.open_table(META).map_err(db_error)?;
    let value = meta
        .get(PENDING_BYTES)
        .map_err(db_error)?
        .map_or(0, |g| g.value());
    Ok(value)
}

/// Pending events due at `now_ms`: soonest due first, then oldest.
pub(super) fn due(
    txn: &ReadTransaction,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<QueuedEvent>, StoreError> {
    let index = txn.open_table(EVENTS_DUE).map_err(db_error)?;
    let events = txn.open_table(EVENTS).map_err(db_error)?;
    let mut out = Vec::new();
    for row in index
        .range::<(i64, u64)>(..=(now_ms, u64::MAX))
        .map_err(db_error)?
    {
        if out.len() >= limit {
            break;
        }
        let (entry, _) = row.map_err(db_error)?;
        let (_, id) = entry.value();
        match events.get(id).map_err(db_error)? {
            Some(text) => out.push(decode(text.value())?.into_event(id)),
            // Index and table change in one transaction, so this means damage; skip, say so.
            None => tracing::warn!(id, "due index names an event that is not queued"),
        }
    }
    Ok(out)
}

/// Removes a handled event; an id that is already gone is not an error (a repeated "done").
pub(super) fn done(txn: &WriteTransaction, id: u64) -> Result<(), StoreError> {
    take(txn, id)?;
    Ok(())
}

/// Records a failed attempt and reschedules the event.
pub(super) fn retry(
    txn: &WriteTransaction,
    id: u64,
    next_at_ms: i64,
    error: &str,
) -> Result<(), StoreError> {
    let mut record = take(txn, id)?.ok_or(StoreError::NoSuchEvent(id))?;
    record.fail(error);
    record.next_at_ms = next_at_ms;
    store(txn, id, &record)
}

/// Records a final failed attempt and moves the event to the dead letters at `now_ms`.
pub(super) fn dead(
    txn: &WriteTransaction,
    id: u64,
    error: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut record = take(txn, id)?.ok_or(StoreError::NoSuchEvent(id))?;
    record.fail(error);
    record.dead_at_ms = Some(now_ms);
    let text = encode(&record)?;
    let mut dead = txn.open_table(EVENTS_DEAD).map_err(db_error)?;
    dead.insert(id, text.as_str()).map_err(db_error)?;
    Ok(())
}

/// Dead letters, oldest first.
pub(super) fn dead_list(
    txn: &ReadTransaction,
    limit: usize,
) -> Result<Vec<QueuedEvent>, StoreError> {
    let dead = txn.open_table(EVENTS_DEAD).map_err(db_error)?;
    let mut out = Vec::new();
    for row in dead.iter().map_err(db_error)? {
        if out.len() >= limit {
            break;
        }
        let (id, text) = row.map_err(db_error)?;
        out.push(decode(text.value())?.into_event(id.value()));
    }
    Ok(out)
}

/// Removes up to `max` dead letters that died before `before_ms` (those from before the time
/// was kept count from when they were received); returns how many.
pub(super) fn expire_dead(
    txn: &WriteTransaction,
    before_ms: i64,
    max: usize,
) -> Result<usize, StoreError> {
    let mut dead = txn.open_table(EVENTS_DEAD).map_err(db_error)?;
    let mut old = Vec::new();
    for row in dead.iter().map_err(db_error)? {
        if old.len() >= max {
            break;
        }
        let (id, text) = row.map_err(db_error)?;
        let record = decode(text.value())?;
        if record.dead_at_ms.unwrap_or(record.received_at_ms) < before_ms {
            old.push(id.value());
        }
    }
    for id in &old {
        dead.remove(*id).map_err(db_error)?;
    }
    Ok(old.len())
}

/// Number of pending events.
pub(super) fn pending(txn: &ReadTransaction) -> Result<u64, StoreError> {
    let events = txn.open_table(EVENTS).map_err(db_error)?;
    events.len().map_err(db_error)
}

/// Writes a pending record and its due-index entry.
fn store(txn: &WriteTransaction, id: u64, record: &Record) -> Result<(), StoreError> {
    let text = encode(record)?;
    let mut events = txn.open_table(EVENTS).map_err(db_error)?;
    let mut index = txn.open_table(EVENTS_DUE).map_err(db_error)?;
    events.insert(id, text.as_str()).map_err(db_error)?;
    index
        .insert((record.next_at_ms, id), ())
        .map_err(db_error)?;
    drop((events, index));
    count_pending(txn, i64::try_from(text.len()).unwrap_or(i64::MAX))
}

/// Removes a pending record and its due-index entry, returning the record.
fn take(txn: &WriteTransaction, id: u64) -> Result<Option<Record>, StoreError> {
    let mut events = txn.open_table(EVENTS).map_err(db_error)?;
    let Some(text) = events
        .remove(id)
        .map_err(db_error)?
        .map(|g| g.value().to_owned())
    else {
        return Ok(None);
    };
    let record = decode(&text)?;
    let mut index = txn.open_table(EVENTS_DUE).map_err(db_error)?;
    index.remove((record.next_at_ms, id)).map_err(db_error)?;
    drop((events, index));
    count_pending(txn, -i64::try_from(text.len()).unwrap_or(i64::MAX))?;
    Ok(Some(record))
}

fn encode(record: &Record) -> Result<String, StoreError> {
    serde_json::to_string(record)
        .map_err(|e| StoreError::Invalid(format!("event cannot be serialised as JSON: {e}")))
}

fn decode(text: &str) -> Result<Record, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("queued event: {e}")))
}

/// The longest prefix of `text` within `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::truncate;
    use crate::store::{temp_store as store, Store, StoreError};

    #[test]
    fn push_due_done() {
        let (_dir, s) = store();
        assert_eq!(s.events_pending().unwrap(), 0);
        let a = s
            .event_push("sales", &json!({"call_id": "a"}), 1_000, u64::MAX)
            .unwrap();
        let b = s
            .event_push("support", &json!({"call_id": "b"}), 2_000, u64::MAX)
            .unwrap();
        assert!(b > a);
        assert_eq!(s.events_pending().unwrap(), 2);
        assert!(s.events_due(999, 10).unwrap().is_empty());
        let due = s.events_due(2_000, 10).unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].id, a);
        assert_eq!(due[0].flow, "sales");
        assert_eq!(due[0].event, json!({"call_id": "a"}));
        assert_eq!(due[0].attempts, 0);
        assert_eq!(due[0].next_at_ms, 1_000);
        assert_eq!(due[0].received_at_ms, 1_000);
        assert_eq!(due[0].last_error, None);
        assert_eq!(s.events_due(2_000, 1).unwrap().len(), 1);
        assert!(s.events_due(2_000, 0).unwrap().is_empty());
        s.event_done(a).unwrap();
        s.event_done(a).unwrap(); // a repeated done is harmless
        assert_eq!(s.events_pending().unwrap(), 1);
        assert_eq!(s.events_due(2_000, 10).unwrap()[0].id, b);
        // Ids are never reused, even once the newest event is gone.
        s.event_done(b).unwrap();
        let c = s.event_push("sales", &json!({}), 3_000, u64::MAX).unwrap();
        assert!(c > b);
    }

    #[test]
    fn retry_reschedules_and_counts() {
        let (_dir, s) = store();
        let first = s.event_push("f", &json!(1), 0, u64::MAX).unwrap();
        let second = s.event_push("f", &json!(2), 0, u64::MAX).unwrap();
        s.event_retry(first, 5_000, "postCall threw: boom").unwrap();
        let due = s.events_due(4_999, 10).unwrap();
        assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), [second]);
        s.event_retry(first, 6_000, "timeout").unwrap();
        assert!(s
            .events_due(5_999, 10)
            .unwrap()
            .iter()
            .all(|e| e.id != first));
        let due = s.events_due(6_000, 10).unwrap();
        // Soonest due first: `second` has been due since 0.
        assert_eq!(
            due.iter().map(|e| e.id).collect::<Vec<_>>(),
            [second, first]
        );
        assert_eq!(due[1].attempts, 2);
        assert_eq!(due[1].next_at_ms, 6_000);
        assert_eq!(due[1].received_at_ms, 0);
        assert_eq!(due[1].last_error.as_deref(), Some("timeout"));
        assert_eq!(s.events_pending().unwrap(), 2);
        // Long errors are kept bounded.
        s.event_retry(first, 7_000, &"é".repeat(5_000)).unwrap();
        let kept = s.events_due(7_000, 10).unwrap()[1]
            .last_error
            .clone()
            .unwrap();
        assert!(kept.len() <= 4096 && kept.starts_with('é'));
    }

    #[test]
    fn dead_letters_are_kept_for_inspection() {
        let (_dir, s) = store();
        let id = s
            .event_push("f", &json!({"call_id": "x"}), 10, u64::MAX)
            .unwrap();
        let other = s
            .event_push("f", &json!({"call_id": "y"}), 10, u64::MAX)
            .unwrap();
        s.event_retry(id, 20, "first failure").unwrap();
        s.event_dead(id, "gave up", 0).unwrap();
        assert_eq!(s.events_pending().unwrap(), 1);
        assert_eq!(
            s.events_due(i64::MAX, 10)
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect::<Vec<_>>(),
            [other]
        );
        let dead = s.events_dead(10).unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].id, id);
        assert_eq!(dead[0].attempts, 2);
        assert_eq!(dead[0].event, json!({"call_id": "x"}));
        assert_eq!(dead[0].last_error.as_deref(), Some("gave up"));
        s.event_dead(other, "no postCall", 0).unwrap();
        assert_eq!(s.events_dead(10).unwrap().len(), 2);
        assert_eq!(s.events_dead(1).unwrap()[0].id, id);
        assert_eq!(s.events_pending().unwrap(), 0);
    }

    #[test]
    fn unknown_ids_and_bad_input_are_refused() {
        let (_dir, s) = store();
        assert!(matches!(
            s.event_retry(42, 0, "e"),
            Err(StoreError::NoSuchEvent(42))
        ));
        let err = s.event_dead(42, "e", 0).unwrap_err();
        assert!(
            err.to_string().contains("no queued event with id 42"),
            "{err}"
        );
        s.event_done(42).unwrap();
        let err = s.event_push("", &json!({}), 0, u64::MAX).unwrap_err();
        assert!(err
            .to_string()
            .contains("flow name must be 1 to 1024 bytes"));
        let huge = json!({"body": "x".repeat(1024 * 1024)});
        let err = s.event_push("f", &huge, 0, u64::MAX).unwrap_err();
        assert!(err.to_string().contains("at most 1048576 bytes"), "{err}");
        assert_eq!(s.events_pending().unwrap(), 0);
    }

    #[test]
    fn the_pending_bound_counts_bytes_stored_and_frees_them_when_taken() {
        let (_dir, s) = store();
        let event = json!({"pad": "x".repeat(200)});
        let first = s.event_push("f", &event, 0, 600).unwrap();
        let one = s.events_pending_bytes().unwrap();
        assert!(one > 200 && one < 300, "{one}");
        s.event_push("f", &event, 0, 600).unwrap();
        let err = s.event_push("f", &event, 0, 600).unwrap_err();
        assert!(
            matches!(err, StoreError::QueueFull { limit: 600, .. }),
            "{err}"
        );
        assert_eq!(
            s.events_pending().unwrap(),
            2,
            "a refused event is not stored"
        );
        // Done, retried and dead events give their bytes back (a retry keeps its new size).
        s.event_done(first).unwrap();
        assert_eq!(s.events_pending_bytes().unwrap(), one);
        let third = s.event_push("f", &event, 0, 600).unwrap();
        s.event_retry(third, 5, "e").unwrap();
        s.event_dead(third, "gave up", 7).unwrap();
        assert_eq!(s.events_pending_bytes().unwrap(), one);
        // Dead letters expire by when they died.
        assert_eq!(s.events_expire_dead(7, 10).unwrap(), 0);
        assert_eq!(s.events_expire_dead(8, 10).unwrap(), 1);
        assert!(s.events_dead(10).unwrap().is_empty());
    }

    #[test]
    fn an_event_is_taken_once_per_flow_and_call_until_its_mark_expires() {
        let (_dir, s) = store();
        let event = json!({"call_id": "c"});
        let first = s
            .event_push_once("f", "c", &event, 1_000, u64::MAX)
            .unwrap();
        assert!(first.is_some());
        assert_eq!(
            s.event_push_once("f", "c", &event, 2_000, u64::MAX)
                .unwrap(),
            None
        );
        assert!(s
            .event_push_once("g", "c", &event, 2_000, u64::MAX)
            .unwrap()
            .is_some());
        assert_eq!(s.events_pending().unwrap(), 2);
        // Handled events keep their mark: a late repeat is still a repeat.
        s.event_done(first.unwrap()).unwrap();
        assert_eq!(
            s.event_push_once("f", "c", &event, 3_000, u64::MAX)
                .unwrap(),
            None
        );
        // A refused push leaves no mark.
        assert!(s.event_push_once("h", "c", &event, 3_000, 1).is_err());
        assert!(s
            .event_push_once("h", "c", &event, 3_000, u64::MAX)
            .unwrap()
            .is_some());
        assert_eq!(s.events_expire_taken(1_000, 10).unwrap(), 0);
        assert_eq!(s.events_expire_taken(2_001, 10).unwrap(), 2);
        assert!(s
            .event_push_once("f", "c", &event, 4_000, u64::MAX)
            .unwrap()
            .is_some());
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
    }
}
