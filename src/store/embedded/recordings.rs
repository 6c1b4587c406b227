//! Recording metadata in the embedded backend.
//!
//! Records live in `recordings` (id → JSON), with three indexes kept in the same transactions:
//! by time (received_at_ms, id), by account (account, received_at_ms, id) and by call
//! (call_id, id). A listing reads the narrowest index its filters allow (call, else account,
//! else time), newest first, so it never scans recordings it can't return. Every change is
//! committed durably by the caller: an acknowledged upload's metadata must not be lost.

use redb::{ReadTransaction, TableDefinition, WriteTransaction};

use super::{db_error, EmbeddedStore};
use crate::store::{Recording, RecordingIndex, RecordingQuery, StoreError};

/// id → [`Recording`] as JSON.
const RECORDINGS: TableDefinition<&str, &str> = TableDefinition::new("recordings");
/// (received_at_ms, id) → ().
const BY_TIME: TableDefinition<(i64, &str), ()> = TableDefinition::new("recordings_by_time");
/// (account_id, received_at_ms, id) → ().
const BY_ACCOUNT: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("recordings_by_account");
/// (call_id, id) → ().
const BY_CALL: TableDefinition<(&str, &str), ()> = TableDefinition::new("recordings_by_call");

/// Creates the tables, so read transactions never meet a missing one.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(RECORDINGS).map_err(db_error)?;
    txn.open_table(BY_TIME).map_err(db_error)?;
    txn.open_table(BY_ACCOUNT).map_err(db_error)?;
    txn.open_table(BY_CALL).map_err(db_error)?;
    Ok(())
}

fn decode(text: &str) -> Result<Recording, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("recording record: {e}")))
}

/// Adds (`add`) or removes a record's index entries.
fn index(txn: &WriteTransaction, rec: &Recording, add: bool) -> Result<(), StoreError> {
    let (id, t) = (rec.id.as_str(), rec.received_at_ms);
    let (account, call) = (
        rec.details.account_id.as_str(),
        rec.details.call_id.as_str(),
    );
    let mut by_time = txn.open_table(BY_TIME).map_err(db_error)?;
    let mut by_account = txn.open_table(BY_ACCOUNT).map_err(db_error)?;
    let mut by_call = txn.open_table(BY_CALL).map_err(db_error)?;
    if add {
        by_time.insert((t, id), ()).map_err(db_error)?;
        by_account.insert((account, t, id), ()).map_err(db_error)?;
        by_call.insert((call, id), ()).map_err(db_error)?;
    } else {
        by_time.remove((t, id)).map_err(db_error)?;
        by_account.remove((account, t, id)).map_err(db_error)?;
        by_call.remove((call, id)).map_err(db_error)?;
    }
    Ok(())
}

/// Upserts a record; returns the one it replaced.
pub(super) fn put(
    txn: &WriteTransaction,
    rec: &Recording,
) -> Result<Option<Recording>, StoreError> {
    let text = serde_json::to_string(rec)
        .map_err(|e| StoreError::Invalid(format!("recording can't be serialised: {e}")))?;
    let old = {
        let mut table = txn.open_table(RECORDINGS).map_err(db_error)?;
        let old = table
            .insert(rec.id.as_str(), text.as_str())
            .map_err(db_error)?;
        old.map(|g| decode(g.value())).transpose()?
    };
    if let Some(old) = &old {
        index(txn, old, false)?;
    }
    index(txn, rec, true)?;
    Ok(old)
}

/// The record with `id`.
pub(super) fn get(txn: &ReadTransaction, id: &str) -> Result<Option<Recording>, StoreError> {
    let table = txn.open_table(RECORDINGS).map_err(db_error)?;
    let found = table.get(id).map_err(db_error)?;
    found.map(|g| decode(g.value())).transpose()
}

/// Removes the record with `id`; returns it.
pub(super) fn delete(txn: &WriteTransaction, id: &str) -> Result<Option<Recording>, StoreError> {
    let old = {
        let mut table = txn.open_table(RECORDINGS).map_err(db_error)?;
        let old = table.remove(id).map_err(db_error)?;
        old.map(|g| decode(g.value())).transpose()?
    };
    if let Some(old) = &old {
        index(txn, old, false)?;
    }
    Ok(old)
}

/// Records passing `query`, newest first, at most `query.limit`.
pub(super) fn list(
    txn: &ReadTransaction,
    query: &RecordingQuery,
) -> Result<Vec<Recording>, StoreError> {
    let since = query.since_ms.unwrap_or(i64::MIN);
    let until = query.until_ms.unwrap_or(i64::MAX);
    let mut out = Vec::new();
    if query.limit == 0 || until <= since {
        return Ok(out);
    }
    let table = txn.open_table(RECORDINGS).map_err(db_error)?;
    // The record an index entry names, when it passes the filters.
    let fetch = |id: &str| -> Result<Option<Recording>, StoreError> {
        match table.get(id).map_err(db_error)? {
            Some(text) => Ok(Some(decode(text.value())?).filter(|rec| query.matches(rec))),
            // Indexes change with the table in one transaction, so this means damage.
            None => {
                tracing::warn!(id, "a recordings index names a missing recording");
                Ok(None)
            }
        }
    };
    if let Some(call) = query.call_id.as_deref() {
        // One call has a handful of recordings: gather them all, then order.
        let by_call = txn.open_table(BY_CALL).map_err(db_error)?;
        for row in by_call
            .range::<(&str, &str)>((call, "")..)
            .map_err(db_error)?
        {
            let (key, _) = row.map_err(db_error)?;
            let (row_call, id) = key.value();
            if row_call != call {
                break;
            }
            out.extend(fetch(id)?);
        }
        out.sort_by(|a, b| (b.received_at_ms, &b.id).cmp(&(a.received_at_ms, &a.id)));
        out.truncate(query.limit);
    } else if let Some(account) = query.account_id.as_deref() {
        let by_account = txn.open_table(BY_ACCOUNT).map_err(db_error)?;
        let range = by_account
            .range::<(&str, i64, &str)>((account, since, "")..(account, until, ""))
            .map_err(db_error)?;
        for row in range.rev() {
            if out.len() >= query.limit {
                break;
            }
            out.extend(fetch(row.map_err(db_error)?.0.value().2)?);
        }
    } else {
        let by_time = txn.open_table(BY_TIME).map_err(db_error)?;
        let range = by_time
            .range::<(i64, &str)>((since, "")..(until, ""))
            .map_err(db_error)?;
        for row in range.rev() {
            if out.len() >= query.limit {
                break;
            }
            out.extend(fetch(row.map_err(db_error)?.0.value().1)?);
        }
    }
    Ok(out)
}

impl RecordingIndex for EmbeddedStore {
    fn raw_rec_put(&self, rec: &Recording) -> Result<Option<Recording>, StoreError> {
        self.write(true, |txn| put(txn, rec))
    }

    fn raw_rec_get(&self, id: &str) -> Result<Option<Recording>, StoreError> {
        self.read(|txn| get(txn, id))
    }

    fn raw_rec_delete(&self, id: &str) -> Result<Option<Recording>, StoreError> {
        self.write(true, |txn| delete(txn, id))
    }

    fn rec_list(&self, query: &RecordingQuery) -> Result<Vec<Recording>, StoreError> {
        self.read(|txn| list(txn, query))
    }
}
