//! cxUserspace in the embedded backend: named areas (e.g. `dnc`) of key → JSON value.
//!
//! All areas share one table keyed by (area, key): area names stay data, never table names or
//! paths, and an area's entries are one contiguous, sorted run.

use redb::{ReadTransaction, TableDefinition, WriteTransaction};
use serde_json::Value;

use super::{db_error, EmbeddedStore};
use crate::store::validate::decode_value;
use crate::store::{StoreError, Userspace};

/// (area, key) → value as JSON text.
const USERSPACE: TableDefinition<(&str, &str), &str> = TableDefinition::new("userspace");

/// Creates the table, so read transactions never meet a missing one.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(USERSPACE).map_err(db_error)?;
    Ok(())
}

/// The record under (area, key).
pub(super) fn get(
    txn: &ReadTransaction,
    area: &str,
    key: &str,
) -> Result<Option<Value>, StoreError> {
    let table = txn.open_table(USERSPACE).map_err(db_error)?;
    let found = table.get((area, key)).map_err(db_error)?;
    found.map(|g| decode_value(g.value())).transpose()
}

/// Upserts already-encoded records; returns how many were created.
pub(super) fn put_many<'k>(
    txn: &WriteTransaction,
    area: &str,
    entries: impl IntoIterator<Item = (&'k str, &'k str)>,
) -> Result<usize, StoreError> {
    let mut table = txn.open_table(USERSPACE).map_err(db_error)?;
    let mut created = 0;
    for (key, text) in entries {
        let old = table.insert((area, key), text).map_err(db_error)?;
        if old.is_none() {
            created += 1;
        }
    }
    Ok(created)
}

/// Removes (area, key); true when it existed.
pub(super) fn delete(txn: &WriteTransaction, area: &str, key: &str) -> Result<bool, StoreError> {
    let mut table = txn.open_table(USERSPACE).map_err(db_error)?;
    let old = table.remove((area, key)).map_err(db_error)?;
    Ok(old.is_some())
}

/// An area's records in key order, at most `limit`.
pub(super) fn list(
    txn: &ReadTransaction,
    area: &str,
    limit: usize,
) -> Result<Vec<(String, Value)>, StoreError> {
    let table = txn.open_table(USERSPACE).map_err(db_error)?;
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    for row in table
        .range::<(&str, &str)>((area, "")..)
        .map_err(db_error)?
    {
        let (entry, value) = row.map_err(db_error)?;
        let (row_area, key) = entry.value();
        if row_area != area {
            break;
        }
        out.push((key.to_owned(), decode_value(value.value())?));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

impl Userspace for EmbeddedStore {
    fn raw_us_get(&self, area: &str, key: &str) -> Result<Option<Value>, StoreError> {
        self.read(|txn| get(txn, area, key))
    }

    fn raw_us_put_many(&self, area: &str, entries: &[(&str, String)]) -> Result<usize, StoreError> {
        self.write(true, |txn| {
            put_many(txn, area, entries.iter().map(|(k, t)| (*k, t.as_str())))
        })
    }

    fn raw_us_delete(&self, area: &str, key: &str) -> Result<bool, StoreError> {
        self.write(true, |txn| delete(txn, area, key))
    }

    fn raw_us_list(&self, area: &str, limit: usize) -> Result<Vec<(String, Value)>, StoreError> {
        self.read(|txn| list(txn, area, limit))
    }
}
