//! Journals in the embedded backend: `journals` (key → (version, expiry, JSON text)) with an
//! expiry index (expiry, key) → (), so expiry reads only what is due. Writes are durable: a
//! journal is what another node picks a call up from.

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::{db_error, EmbeddedError, EmbeddedStore};
use crate::store::{JournalText, JournalWrite, Journals, StoreError};

/// key → (version, expiry in Unix ms or None, the value as JSON text).
const JOURNALS: TableDefinition<&str, (u64, Option<i64>, &str)> = TableDefinition::new("journals");
/// (expiry, key) → ().
const JOURNALS_EXPIRY: TableDefinition<(i64, &str), ()> = TableDefinition::new("journals_expiry");

/// Creates the tables, so read transactions never meet a missing one.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(JOURNALS).map_err(db_error)?;
    txn.open_table(JOURNALS_EXPIRY).map_err(db_error)?;
    Ok(())
}

/// A journal whose expiry is at or before now is absent.
fn live(expires: Option<i64>, now_ms: i64) -> bool {
    expires.is_none_or(|at| at > now_ms)
}

/// The live journal under `key`.
pub(super) fn get(
    txn: &ReadTransaction,
    key: &str,
    now_ms: i64,
) -> Result<Option<JournalText>, StoreError> {
    let table = txn.open_table(JOURNALS).map_err(db_error)?;
    let Some(guard) = table.get(key).map_err(db_error)? else {
        return Ok(None);
    };
    let (version, expires_at_ms, text) = guard.value();
    if !live(expires_at_ms, now_ms) {
        return Ok(None);
    }
    Ok(Some(JournalText {
        version,
        text: text.to_owned(),
        expires_at_ms,
    }))
}

/// One compare-and-set write of a journal.
pub(super) struct Put {
    /// The journal's key.
    pub key: String,
    /// Its document's JSON.
    pub text: String,
    /// The version it must be at (0: none).
    pub expected: u64,
    /// When the written journal expires.
    pub expires_at_ms: Option<i64>,
    /// Now, for what counts as live.
    pub now_ms: i64,
}

/// Writes `put.text` under `put.key` when the live journal is at `put.expected` (0: none).
pub(super) fn put(txn: &WriteTransaction, put: &Put) -> Result<JournalWrite, StoreError> {
    let Put {
        key,
        text,
        expected,
        expires_at_ms,
        now_ms,
    } = put;
    let (key, text, expected, expires_at_ms, now_ms) = (
        key.as_str(),
        text.as_str(),
        *expected,
        *expires_at_ms,
        *now_ms,
    );
    let mut table = txn.open_table(JOURNALS).map_err(db_error)?;
    let old = table.get(key).map_err(db_error)?.map(|g| {
        let (version, expires, _) = g.value();
        (version, expires)
    });
    let current = match old {
        Some((version, expires)) if live(expires, now_ms) => version,
        _ => 0,
    };
    if current != expected {
        return Ok(JournalWrite::Stale { current });
    }
    let version = current + 1;
    table
        .insert(key, (version, expires_at_ms, text))
        .map_err(db_error)?;
    let mut index = txn.open_table(JOURNALS_EXPIRY).map_err(db_error)?;
    if let Some((_, Some(at))) = old {
        index.remove((at, key)).map_err(db_error)?;
    }
    if let Some(at) = expires_at_ms {
        index.insert((at, key), ()).map_err(db_error)?;
    }
    Ok(JournalWrite::Written { version })
}

/// Removes up to `max` journals expired at `now_ms`; returns how many.
pub(super) fn expire(txn: &WriteTransaction, now_ms: i64, max: usize) -> Result<usize, StoreError> {
    let mut index = txn.open_table(JOURNALS_EXPIRY).map_err(db_error)?;
    let mut due: Vec<(i64, String)> = Vec::new();
    for row in index
        .range::<(i64, &str)>(..(now_ms.saturating_add(1), ""))
        .map_err(db_error)?
        .take(max)
    {
        let (entry, _) = row.map_err(db_error)?;
        let (at, key) = entry.value();
        due.push((at, key.to_owned()));
    }
    let mut table = txn.open_table(JOURNALS).map_err(db_error)?;
    for (at, key) in &due {
        index.remove((*at, key.as_str())).map_err(db_error)?;
        table.remove(key.as_str()).map_err(db_error)?;
    }
    Ok(due.len())
}

impl Journals for EmbeddedStore {
    fn raw_journal_get(&self, key: &str, now_ms: i64) -> Result<Option<JournalText>, StoreError> {
        self.read(|txn| get(txn, key, now_ms))
    }

    fn raw_journal_put(
        &self,
        key: &str,
        text: &str,
        expected: u64,
        expires_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<JournalWrite, StoreError> {
        let put = Put {
            key: key.to_owned(),
            text: text.to_owned(),
            expected,
            expires_at_ms,
            now_ms,
        };
        // A write transaction holds the version check and the write together; puts waiting
        // for the writer share the next one (and its fsync), each still checked on its own,
        // in order, so a second put of one key in a batch sees the first.
        let written = self
            .shared
            .journal_puts
            .submit(put, |puts| self.commit_journal_puts(&puts));
        written.unwrap_or_else(|| {
            Err(EmbeddedError::Database("the journal write's commit failed".into()).into())
        })
    }

    fn journal_expire(&self, now_ms: i64, max: usize) -> Result<usize, StoreError> {
        self.write(true, |txn| expire(txn, now_ms, max))
    }
}

impl EmbeddedStore {
    /// Commits `puts` in one durable transaction, each checked in order; one result per put.
    pub(super) fn commit_journal_puts(
        &self,
        puts: &[Put],
    ) -> Vec<Result<JournalWrite, StoreError>> {
        let all = self.write(true, |txn| {
            puts.iter()
                .map(|one| put(txn, one))
                .collect::<Result<Vec<_>, _>>()
        });
        match all {
            Ok(done) => done.into_iter().map(Ok).collect(),
            // Nothing of the batch landed: each put again on its own, so that one bad put
            // fails alone.
            Err(_) if puts.len() > 1 => puts
                .iter()
                .map(|one| self.write(true, |txn| put(txn, one)))
                .collect(),
            Err(e) => vec![Err(e)],
        }
    }
}
