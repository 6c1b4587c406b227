//! cxKV in the embedded backend: keys with optional expiry, values as JSON text, each key in a
//! namespace (`flow:NAME` for a flow's own keys, `shared:NAME` for flows that share state).
//!
//! Expiry is judged against the caller's `now_ms`, never the system clock, so callers and tests
//! control time. An expired key reads as absent at once; its row is removed later by a sweep
//! that every write runs over the expiry index, a few keys at a time.
//!
//! Keys written before namespaces existed are in the old `kv` table, which nothing reads any
//! more: which flow wrote each of them is not recorded, so they can't be moved into the right
//! namespace, and guessing would hand one flow's keys to another. They are left in place (a
//! downgrade finds them), counted once at start-up, and cost only their disk space.

use redb::{
    ReadTransaction, ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction,
};
use serde_json::Value;

use super::{db_error, EmbeddedStore};
use crate::store::validate::decode_value;
use crate::store::{Kv, KvUsage, StoreError};

/// Expired keys removed per write, so no write pays for a large backlog at once.
const SWEEP_BATCH: usize = 64;

/// (namespace, key) → (expiry in Unix ms, or None; the value as JSON text).
const KV: TableDefinition<(&str, &str), (Option<i64>, &str)> = TableDefinition::new("kv_ns");
/// Expiry index: (expiry, namespace, key) → (), so expired keys are found without a scan.
const KV_EXPIRY: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("kv_ns_expiry");
/// The table of keys written before namespaces (see the module docs); only counted.
const LEGACY_KV: TableDefinition<&str, (Option<i64>, &str)> = TableDefinition::new("kv");

type KvTable<'t> = Table<'t, (&'static str, &'static str), (Option<i64>, &'static str)>;
type ExpiryTable<'t> = Table<'t, (i64, &'static str, &'static str), ()>;

/// Creates the tables, so read transactions never meet a missing one.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(KV).map_err(db_error)?;
    txn.open_table(KV_EXPIRY).map_err(db_error)?;
    Ok(())
}

/// How many keys an older version left in the table without namespaces (0 when there is none).
pub(super) fn legacy_keys(txn: &ReadTransaction) -> Result<u64, StoreError> {
    match txn.open_table(LEGACY_KV) {
        Ok(table) => table.len().map_err(db_error),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(db_error(e)),
    }
}

/// A key is absent once its expiry is at or before now.
fn is_expired(expires: Option<i64>, now_ms: i64) -> bool {
    expires.is_some_and(|at| at <= now_ms)
}

/// The expiry for a TTL; 0 means none, as `expireSeconds = 0` does in scripts' `incr`.
fn expiry(ttl_ms: Option<u64>, now_ms: i64) -> Option<i64> {
    match ttl_ms {
        None | Some(0) => None,
        Some(ttl) => Some(now_ms.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))),
    }
}

/// The live value of `key` in `ns`.
pub(super) fn get(
    txn: &ReadTransaction,
    ns: &str,
    key: &str,
    now_ms: i64,
) -> Result<Option<Value>, StoreError> {
    let table = txn.open_table(KV).map_err(db_error)?;
    let Some(guard) = table.get((ns, key)).map_err(db_error)? else {
        return Ok(None);
    };
    let (expires, text) = guard.value();
    if is_expired(expires, now_ms) {
        return Ok(None);
    }
    decode_value(text).map(Some)
}

/// Stores already-encoded `text` under `key` in `ns`.
pub(super) fn set(
    txn: &WriteTransaction,
    ns: &str,
    key: &str,
    text: &str,
    ttl_ms: Option<u64>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (mut kv, mut index) = open(txn)?;
    sweep_expired(&mut kv, &mut index, now_ms)?;
    put(&mut kv, &mut index, (ns, key), expiry(ttl_ms, now_ms), text)
}

/// Removes `key` from `ns`; true when a row was removed (possibly one expired but not yet swept).
pub(super) fn delete(txn: &WriteTransaction, ns: &str, key: &str) -> Result<bool, StoreError> {
    let (mut kv, mut index) = open(txn)?;
    let old = kv.remove((ns, key)).map_err(db_error)?.map(|g| g.value().0);
    if let Some(Some(at)) = old {
        index.remove((at, ns, key)).map_err(db_error)?;
    }
    Ok(old.is_some())
}

/// Adds `by` to the integer under `key` in `ns`; see `Kv::kv_incr`.
pub(super) fn incr(
    txn: &WriteTransaction,
    ns: &str,
    key: &str,
    by: i64,
    ttl_ms: Option<u64>,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let (mut kv, mut index) = open(txn)?;
    sweep_expired(&mut kv, &mut index, now_ms)?;
    let current = kv.get((ns, key)).map_err(db_error)?.map(|g| {
        let (expires, text) = g.value();
        (expires, text.to_owned())
    });
    let (start, expires) = match current {
        // A live key keeps its expiry: the window is fixed when the counter is created.
        Some((expires, text)) if !is_expired(expires, now_ms) => {
            (stored_integer(key, &text)?, expires)
        }
        _ => (0, expiry(ttl_ms, now_ms)),
    };
    let next = start.checked_add(by).ok_or_else(|| {
        StoreError::Invalid(format!(
            "incr by {by} would overflow the 64-bit counter (now {start})"
        ))
    })?;
    put(&mut kv, &mut index, (ns, key), expires, &next.to_string())?;
    Ok(next)
}

/// Calls `visit(key, json_text)` on each live entry of `ns` in key order until it returns false.
pub(super) fn scan(
    txn: &ReadTransaction,
    ns: &str,
    now_ms: i64,
    mut visit: impl FnMut(&str, &str) -> bool,
) -> Result<(), StoreError> {
    let table = txn.open_table(KV).map_err(db_error)?;
    // "" sorts first, so the range starts at the namespace's first key.
    for row in table.range((ns, "")..).map_err(db_error)? {
        let (key, value) = row.map_err(db_error)?;
        let (row_ns, key) = key.value();
        if row_ns != ns {
            break;
        }
        let (expires, text) = value.value();
        if !is_expired(expires, now_ms) && !visit(key, text) {
            break;
        }
    }
    Ok(())
}

/// Live keys of `ns` in order, at most `limit`.
pub(super) fn keys(
    txn: &ReadTransaction,
    ns: &str,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut keys = Vec::new();
    if limit == 0 {
        return Ok(keys);
    }
    scan(txn, ns, now_ms, |key, _| {
        keys.push(key.to_owned());
        keys.len() < limit
    })?;
    Ok(keys)
}

/// Count and bytes (key + JSON value) of live entries of `ns`.
pub(super) fn usage(txn: &ReadTransaction, ns: &str, now_ms: i64) -> Result<KvUsage, StoreError> {
    let mut usage = KvUsage { keys: 0, bytes: 0 };
    scan(txn, ns, now_ms, |key, text| {
        usage.keys += 1;
        usage.bytes += (key.len() + text.len()) as u64;
        true
    })?;
    Ok(usage)
}

/// A cheap read of the table, for liveness checks.
pub(super) fn probe(txn: &ReadTransaction) -> Result<(), StoreError> {
    let table = txn.open_table(KV).map_err(db_error)?;
    table.first().map_err(db_error)?;
    Ok(())
}

fn open(txn: &WriteTransaction) -> Result<(KvTable<'_>, ExpiryTable<'_>), StoreError> {
    let kv = txn.open_table(KV).map_err(db_error)?;
    let index = txn.open_table(KV_EXPIRY).map_err(db_error)?;
    Ok((kv, index))
}

/// Removes up to [`SWEEP_BATCH`] expired keys, of any namespace, so expired data does not pile
/// up on disk.
fn sweep_expired(
    kv: &mut KvTable<'_>,
    index: &mut ExpiryTable<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut due: Vec<(i64, String, String)> = Vec::new();
    for row in index
        .range::<(i64, &str, &str)>(..(now_ms.saturating_add(1), "", ""))
        .map_err(db_error)?
        .take(SWEEP_BATCH)
    {
        let (entry, _) = row.map_err(db_error)?;
        let (at, ns, key) = entry.value();
        due.push((at, ns.to_owned(), key.to_owned()));
    }
    for (at, ns, key) in &due {
        index
            .remove((*at, ns.as_str(), key.as_str()))
            .map_err(db_error)?;
        let current = kv
            .get((ns.as_str(), key.as_str()))
            .map_err(db_error)?
            .map(|g| g.value().0);
        // The index and the table move together, but only drop a key still carrying this expiry.
        if current == Some(Some(*at)) {
            kv.remove((ns.as_str(), key.as_str())).map_err(db_error)?;
        }
    }
    Ok(())
}

/// Writes an entry, keeping the expiry index in step with it.
fn put(
    kv: &mut KvTable<'_>,
    index: &mut ExpiryTable<'_>,
    (ns, key): (&str, &str),
    expires: Option<i64>,
    text: &str,
) -> Result<(), StoreError> {
    let old = kv
        .insert((ns, key), (expires, text))
        .map_err(db_error)?
        .and_then(|g| g.value().0);
    if let Some(at) = old {
        index.remove((at, ns, key)).map_err(db_error)?;
    }
    if let Some(at) = expires {
        index.insert((at, ns, key), ()).map_err(db_error)?;
    }
    Ok(())
}

/// Reads a stored value as the integer `incr` adds to.
fn stored_integer(key: &str, text: &str) -> Result<i64, StoreError> {
    decode_value(text)?.as_i64().ok_or_else(|| {
        let shown: String = key.chars().take(64).collect();
        StoreError::Invalid(format!(
            "kv key {shown:?} holds a value that is not an integer; incr needs an integer \
             (delete the key first, or use another key)"
        ))
    })
}

impl Kv for EmbeddedStore {
    fn raw_kv_get(&self, ns: &str, key: &str, now_ms: i64) -> Result<Option<Value>, StoreError> {
        self.read(|txn| get(txn, ns, key, now_ms))
    }

    fn raw_kv_set(
        &self,
        ns: &str,
        key: &str,
        text: &str,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(false, |txn| set(txn, ns, key, text, ttl_ms, now_ms))
    }

    fn raw_kv_delete(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        self.write(false, |txn| delete(txn, ns, key))
    }

    fn raw_kv_incr(
        &self,
        ns: &str,
        key: &str,
        by: i64,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        // redb runs one write transaction at a time, so the read-add-write inside is atomic.
        self.write(false, |txn| incr(txn, ns, key, by, ttl_ms, now_ms))
    }

    fn raw_kv_keys(&self, ns: &str, now_ms: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.read(|txn| keys(txn, ns, now_ms, limit))
    }

    fn raw_kv_usage(&self, ns: &str, now_ms: i64) -> Result<KvUsage, StoreError> {
        self.read(|txn| usage(txn, ns, now_ms))
    }
}
