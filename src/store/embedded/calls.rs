//! The persisted part of the exchange log in the embedded backend.
//!
//! Steps live in `call_steps`, keyed (call_id, seq) so one call's steps are one range read. Each
//! call has a summary in `calls` (call_id → JSON), and `calls_by_last` indexes the calls by their
//! last step, (last_at_ms, last_seq) → call_id: listing newest first reads it backwards, and
//! retention reads it forwards up to the cut-off, so neither scans what it does not return.
//! A call is removed whole once its last step is older than the cut-off.
//!
//! Sequence numbers are handed out from `calls_meta` (`reserve`); a step stored with a number
//! past it (one not handed out here) moves the counter past it too, so none is given twice.
//!
//! The log is a record for people, not state a call depends on: its writes are not fsync'd on
//! commit (the store's flusher makes them durable within a second).

use std::collections::HashMap;

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::{db_error, EmbeddedStore};
use crate::store::{CallSummary, ExchangeLog, StepRecord, StoreError};

/// (call_id, seq) → the step's JSON view.
const STEPS: TableDefinition<(&str, u64), &str> = TableDefinition::new("call_steps");
/// call_id → [`CallSummary`] as JSON.
const CALLS: TableDefinition<&str, &str> = TableDefinition::new("calls");
/// (last_at_ms, last_seq) → call_id.
const BY_LAST: TableDefinition<(i64, u64), &str> = TableDefinition::new("calls_by_last");
/// Counters: name → value.
const META: TableDefinition<&str, u64> = TableDefinition::new("calls_meta");
/// A `calls_by_last` key: (last_at_ms, last_seq).
type IndexKey = (i64, u64);
/// The `calls_meta` entry holding one past the highest stored sequence number.
const NEXT_SEQ: &str = "next_seq";

/// Creates the tables, so read transactions never meet a missing one.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(STEPS).map_err(db_error)?;
    txn.open_table(CALLS).map_err(db_error)?;
    txn.open_table(BY_LAST).map_err(db_error)?;
    txn.open_table(META).map_err(db_error)?;
    Ok(())
}

fn decode(text: &str) -> Result<CallSummary, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("call summary: {e}")))
}

fn encode(summary: &CallSummary) -> Result<String, StoreError> {
    serde_json::to_string(summary)
        .map_err(|e| StoreError::Invalid(format!("call summary can't be serialised: {e}")))
}

/// One past the highest sequence number ever handed out or stored.
pub(super) fn next_seq(txn: &ReadTransaction) -> Result<u64, StoreError> {
    let meta = txn.open_table(META).map_err(db_error)?;
    Ok(meta
        .get(NEXT_SEQ)
        .map_err(db_error)?
        .map_or(0, |g| g.value()))
}

/// Takes `count` sequence numbers; returns the first.
pub(super) fn reserve(txn: &WriteTransaction, count: u64) -> Result<u64, StoreError> {
    let mut meta = txn.open_table(META).map_err(db_error)?;
    let first = meta
        .get(NEXT_SEQ)
        .map_err(db_error)?
        .map_or(0, |g| g.value());
    let next = first
        .checked_add(count)
        .ok_or_else(|| StoreError::Corrupt("the step sequence counter is exhausted".into()))?;
    meta.insert(NEXT_SEQ, next).map_err(db_error)?;
    Ok(first)
}

/// Stores `steps` and brings the summaries of their calls up to date.
pub(super) fn append(txn: &WriteTransaction, steps: &[StepRecord<'_>]) -> Result<(), StoreError> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut table = txn.open_table(STEPS).map_err(db_error)?;
    let mut calls = txn.open_table(CALLS).map_err(db_error)?;
    let mut by_last = txn.open_table(BY_LAST).map_err(db_error)?;
    // Each call's summary is read and written once per batch, however many steps it has in it,
    // with the index key it had when read.
    let mut touched: HashMap<&str, (Option<IndexKey>, CallSummary)> = HashMap::new();
    let mut next = 0;
    for step in steps {
        table
            .insert((step.call_id, step.facts.seq), step.json.as_ref())
            .map_err(db_error)?;
        next = next.max(step.facts.seq + 1);
        if let Some((_, summary)) = touched.get_mut(step.call_id) {
            summary.add(&step.facts);
            continue;
        }
        let stored = calls
            .get(step.call_id)
            .map_err(db_error)?
            .map(|g| decode(g.value()))
            .transpose()?;
        let entry = match stored {
            Some(mut summary) => {
                let indexed = (summary.last_at_ms, summary.last_seq);
                summary.add(&step.facts);
                (Some(indexed), summary)
            }
            None => (None, CallSummary::new(step.call_id, &step.facts)),
        };
        touched.insert(step.call_id, entry);
    }
    for (call_id, (indexed, summary)) in &touched {
        calls
            .insert(*call_id, encode(summary)?.as_str())
            .map_err(db_error)?;
        let key = (summary.last_at_ms, summary.last_seq);
        if *indexed != Some(key) {
            if let Some(old) = indexed {
                by_last.remove(*old).map_err(db_error)?;
            }
            by_last.insert(key, *call_id).map_err(db_error)?;
        }
    }
    let mut meta = txn.open_table(META).map_err(db_error)?;
    let stored_next = meta
        .get(NEXT_SEQ)
        .map_err(db_error)?
        .map_or(0, |g| g.value());
    if next > stored_next {
        meta.insert(NEXT_SEQ, next).map_err(db_error)?;
    }
    Ok(())
}

/// A call's steps as (seq, JSON), in sequence order.
pub(super) fn steps(
    txn: &ReadTransaction,
    call_id: &str,
) -> Result<Vec<(u64, String)>, StoreError> {
    let table = txn.open_table(STEPS).map_err(db_error)?;
    let mut out = Vec::new();
    for row in table
        .range::<(&str, u64)>((call_id, 0)..=(call_id, u64::MAX))
        .map_err(db_error)?
    {
        let (key, value) = row.map_err(db_error)?;
        out.push((key.value().1, value.value().to_owned()));
    }
    Ok(out)
}

/// The summaries of `call_ids`, in the same order.
pub(super) fn summaries(
    txn: &ReadTransaction,
    call_ids: &[&str],
) -> Result<Vec<Option<CallSummary>>, StoreError> {
    let calls = txn.open_table(CALLS).map_err(db_error)?;
    call_ids
        .iter()
        .map(|id| {
            calls
                .get(*id)
                .map_err(db_error)?
                .map(|g| decode(g.value()))
                .transpose()
        })
        .collect()
}

/// Visits the summaries of calls whose last step is at or after `since_ms`, newest first, until
/// `visit` returns false.
pub(super) fn scan(
    txn: &ReadTransaction,
    since_ms: i64,
    visit: &mut dyn FnMut(CallSummary) -> bool,
) -> Result<(), StoreError> {
    let by_last = txn.open_table(BY_LAST).map_err(db_error)?;
    let calls = txn.open_table(CALLS).map_err(db_error)?;
    for row in by_last
        .range::<(i64, u64)>((since_ms, 0)..)
        .map_err(db_error)?
        .rev()
    {
        let (_, call_id) = row.map_err(db_error)?;
        let Some(text) = calls.get(call_id.value()).map_err(db_error)? else {
            // The index changes with the table in one transaction, so this means damage.
            tracing::warn!(
                call_id = call_id.value(),
                "the calls index names a missing call"
            );
            continue;
        };
        if !visit(decode(text.value())?) {
            break;
        }
    }
    Ok(())
}

/// Removes up to `max` calls whose last step is before `before_ms`, with their steps; returns
/// how many calls were removed.
pub(super) fn expire(
    txn: &WriteTransaction,
    before_ms: i64,
    max: usize,
) -> Result<usize, StoreError> {
    let mut by_last = txn.open_table(BY_LAST).map_err(db_error)?;
    let mut calls = txn.open_table(CALLS).map_err(db_error)?;
    let mut table = txn.open_table(STEPS).map_err(db_error)?;
    let mut old = Vec::new();
    for row in by_last
        .range::<(i64, u64)>(..(before_ms, 0))
        .map_err(db_error)?
        .take(max)
    {
        let (key, call_id) = row.map_err(db_error)?;
        old.push((key.value(), call_id.value().to_owned()));
    }
    for (key, call_id) in &old {
        by_last.remove(*key).map_err(db_error)?;
        calls.remove(call_id.as_str()).map_err(db_error)?;
        let mut seqs = Vec::new();
        for row in table
            .range::<(&str, u64)>((call_id.as_str(), 0)..=(call_id.as_str(), u64::MAX))
            .map_err(db_error)?
        {
            seqs.push(row.map_err(db_error)?.0.value().1);
        }
        for seq in seqs {
            table.remove((call_id.as_str(), seq)).map_err(db_error)?;
        }
    }
    Ok(old.len())
}

impl ExchangeLog for EmbeddedStore {
    fn calls_reserve(&self, count: u64) -> Result<u64, StoreError> {
        if count == 0 {
            return self.read(next_seq);
        }
        // Not durable, like the steps: a crash may hand a number out again only together with
        // the steps that carried it, which the crash lost as well.
        self.write(false, |txn| reserve(txn, count))
    }

    fn calls_append(&self, steps: &[StepRecord<'_>]) -> Result<(), StoreError> {
        self.write(false, |txn| append(txn, steps))
    }

    fn calls_steps(&self, call_id: &str) -> Result<Vec<(u64, String)>, StoreError> {
        self.read(|txn| steps(txn, call_id))
    }

    fn calls_summaries(&self, call_ids: &[&str]) -> Result<Vec<Option<CallSummary>>, StoreError> {
        self.read(|txn| summaries(txn, call_ids))
    }

    fn calls_scan(
        &self,
        since_ms: i64,
        visit: &mut dyn FnMut(CallSummary) -> bool,
    ) -> Result<(), StoreError> {
        self.read(|txn| scan(txn, since_ms, visit))
    }

    fn calls_expire(&self, before_ms: i64, max: usize) -> Result<usize, StoreError> {
        self.write(false, |txn| expire(txn, before_ms, max))
    }
}
