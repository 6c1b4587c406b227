//! The durable postCall event queue in the embedded backend.
//!
//! Events live in `events` (id → record) with a due index (due at, id) → (), so a poll reads
//! only what is due. An event is due at its schedule, or at the end of its lease while it is
//! claimed: a claim moves its index entry to the lease's end, a retry or a release moves it
//! back, so a claimed event is found again once its lease runs out, and not before. Ids come from a counter in `meta` and are never reused, even after the
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

use super::{db_error, EmbeddedStore};
use crate::store::{EventQueue, QueuedEvent, StoreError};

/// Pending events: id → [`Record`] as JSON.
const EVENTS: TableDefinition<u64, &str> = TableDefinition::new("events");
/// Due index over pending events: (when due, id) → ().
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
    /// The worker of the last claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claimed_by: Option<String>,
    /// When the last claim's lease ends (absent when never claimed, retried or released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_until_ms: Option<i64>,
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
            claimed_by: self.claimed_by,
            lease_until_ms: self.lease_until_ms,
        }
    }

    /// Its key in the due index: the schedule, or the lease's end when later.
    fn due_at(&self) -> i64 {
        self.lease_until_ms
            .map_or(self.next_at_ms, |lease| lease.max(self.next_at_ms))
    }

    /// Counts a failed attempt, keeps (a bounded prefix of) its error and ends the lease.
    fn fail(&mut self, error: &str) {
        self.lease_until_ms = None;
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
        claimed_by: None,
        lease_until_ms: None,
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

/// Leases up to `limit` due events to `worker` until `until_ms`; returns them as leased.
pub(super) fn claim(
    txn: &WriteTransaction,
    worker: &str,
    now_ms: i64,
    until_ms: i64,
    limit: usize,
) -> Result<Vec<QueuedEvent>, StoreError> {
    let ids: Vec<u64> = {
        let index = txn.open_table(EVENTS_DUE).map_err(db_error)?;
        let mut ids = Vec::new();
        for row in index
            .range::<(i64, u64)>(..=(now_ms, u64::MAX))
            .map_err(db_error)?
            .take(limit)
        {
            ids.push(row.map_err(db_error)?.0.value().1);
        }
        ids
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(mut record) = take(txn, id)? else {
            // Index and table change in one transaction, so this means damage; skip, say so.
            tracing::warn!(id, "due index names an event that is not queued");
            continue;
        };
        record.claimed_by = Some(worker.to_owned());
        record.lease_until_ms = Some(until_ms);
        store(txn, id, &record)?;
        out.push(record.into_event(id));
    }
    Ok(out)
}

/// Ends an event's lease without counting an attempt; an id that is gone is not an error.
pub(super) fn release(txn: &WriteTransaction, id: u64) -> Result<(), StoreError> {
    if let Some(mut record) = take(txn, id)? {
        record.lease_until_ms = None;
        store(txn, id, &record)?;
    }
    Ok(())
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
    index.insert((record.due_at(), id), ()).map_err(db_error)?;
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
    index.remove((record.due_at(), id)).map_err(db_error)?;
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

impl EventQueue for EmbeddedStore {
    fn raw_event_push(
        &self,
        flow: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<u64, StoreError> {
        self.write(true, |txn| {
            push(txn, flow, event, now_ms, max_pending_bytes)
        })
    }

    fn raw_event_push_once(
        &self,
        flow: &str,
        call_id: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.write(true, |txn| {
            push_once(txn, flow, call_id, event, now_ms, max_pending_bytes)
        })
    }

    fn raw_events_claim(
        &self,
        worker: &str,
        now_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<QueuedEvent>, StoreError> {
        self.write(true, |txn| claim(txn, worker, now_ms, until_ms, limit))
    }

    fn event_release(&self, id: u64) -> Result<(), StoreError> {
        self.write(true, |txn| release(txn, id))
    }

    fn events_expire_taken(&self, before_ms: i64, max: usize) -> Result<usize, StoreError> {
        self.write(true, |txn| expire_taken(txn, before_ms, max))
    }

    fn events_due(&self, now_ms: i64, limit: usize) -> Result<Vec<QueuedEvent>, StoreError> {
        self.read(|txn| due(txn, now_ms, limit))
    }

    fn event_done(&self, id: u64) -> Result<(), StoreError> {
        self.write(true, |txn| done(txn, id))
    }

    fn event_retry(&self, id: u64, next_at_ms: i64, error: &str) -> Result<(), StoreError> {
        self.write(true, |txn| retry(txn, id, next_at_ms, error))
    }

    fn event_dead(&self, id: u64, error: &str, now_ms: i64) -> Result<(), StoreError> {
        self.write(true, |txn| dead(txn, id, error, now_ms))
    }

    fn events_expire_dead(&self, before_ms: i64, max: usize) -> Result<usize, StoreError> {
        self.write(true, |txn| expire_dead(txn, before_ms, max))
    }

    fn events_pending_bytes(&self) -> Result<u64, StoreError> {
        self.read(pending_bytes)
    }

    fn events_dead(&self, limit: usize) -> Result<Vec<QueuedEvent>, StoreError> {
        self.read(|txn| dead_list(txn, limit))
    }

    fn events_pending(&self) -> Result<u64, StoreError> {
        self.read(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
    }
}
