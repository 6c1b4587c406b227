//! Recording metadata in the embedded backend.
//!
//! Records live in `recordings` (id → JSON), with three indexes kept in the same transactions:
//! by time (received_at_ms, id), by account (account, received_at_ms, id) and by call
//! (call_id, id). A listing reads the narrowest index its filters allow (call, else account,
//! else time), newest first, so it never scans recordings it can't return. Every change is
//! committed durably by the caller: an acknowledged upload's metadata must not be lost.

use redb::{ReadTransaction, TableDefinition, WriteTransaction};

use super::embedded::db_error;
use super::StoreError;
use crate::recordings::{Recording, RecordingQuery};

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

#[cfg(test)]
mod tests {
    use crate::callflow::RecordingFormat;
    use crate::recordings::{CallDetails, Recording, RecordingQuery};
    use crate::store::{EmbeddedStore, Store};

    fn rec(id: &str, account: &str, call: &str, at: i64) -> Recording {
        Recording {
            id: id.into(),
            details: CallDetails {
                call_id: call.into(),
                account_id: account.into(),
                from: "1000".into(),
                ..CallDetails::default()
            },
            size: 10,
            sha256: "ab".repeat(32),
            format: RecordingFormat::Mp3,
            format_ok: true,
            received_at_ms: at,
            path: format!("{account}/2026-01-01/{id}.mp3"),
        }
    }

    fn query() -> RecordingQuery {
        RecordingQuery {
            call_id: None,
            account_id: None,
            since_ms: None,
            until_ms: None,
            limit: 100,
        }
    }

    fn ids(recs: Vec<Recording>) -> Vec<String> {
        recs.into_iter().map(|r| r.id).collect()
    }

    #[test]
    fn put_replaces_and_reindexes() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(s.rec_put(&rec("a", "acc1", "c1", 10)).unwrap(), None);
        let newer = Recording {
            size: 99,
            ..rec("a", "acc1", "c1", 20)
        };
        let old = s.rec_put(&newer).unwrap().unwrap();
        assert_eq!(old.received_at_ms, 10);
        assert_eq!(s.rec_get("a").unwrap(), Some(newer.clone()));
        // The old time is no longer indexed: one entry, at the new time.
        let q = RecordingQuery {
            until_ms: Some(15),
            ..query()
        };
        assert!(s.rec_list(&q).unwrap().is_empty());
        assert_eq!(ids(s.rec_list(&query()).unwrap()), ["a"]);
        assert_eq!(s.rec_delete("a").unwrap(), Some(newer));
        assert_eq!(s.rec_delete("a").unwrap(), None);
        assert!(s.rec_list(&query()).unwrap().is_empty());
        // The metadata survives a restart.
        s.rec_put(&rec("b", "acc1", "c1", 5)).unwrap();
        drop(s);
        let s = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(s.rec_get("b").unwrap().unwrap().received_at_ms, 5);
    }

    #[test]
    fn listings_filter_order_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedStore::open(dir.path()).unwrap();
        for r in [
            rec("r1", "acc1", "c1", 100),
            rec("r2", "acc1", "c2", 200),
            rec("r3", "acc2", "c1", 300),
            rec("r4", "acc1", "c1", 400),
            rec("r5", "acc10", "c10", 500),
        ] {
            s.rec_put(&r).unwrap();
        }
        let list = |q: RecordingQuery| ids(s.rec_list(&q).unwrap());
        assert_eq!(list(query()), ["r5", "r4", "r3", "r2", "r1"]);
        assert_eq!(
            list(RecordingQuery {
                limit: 2,
                ..query()
            }),
            ["r5", "r4"]
        );
        assert!(list(RecordingQuery {
            limit: 0,
            ..query()
        })
        .is_empty());
        let acc1 = || RecordingQuery {
            account_id: Some("acc1".into()),
            ..query()
        };
        assert_eq!(list(acc1()), ["r4", "r2", "r1"]);
        assert_eq!(
            list(RecordingQuery {
                since_ms: Some(200),
                until_ms: Some(400),
                ..acc1()
            }),
            ["r2"]
        );
        let c1 = || RecordingQuery {
            call_id: Some("c1".into()),
            ..query()
        };
        assert_eq!(list(c1()), ["r4", "r3", "r1"]);
        assert_eq!(list(RecordingQuery { limit: 1, ..c1() }), ["r4"]);
        assert_eq!(
            list(RecordingQuery {
                account_id: Some("acc2".into()),
                ..c1()
            }),
            ["r3"]
        );
        assert_eq!(
            list(RecordingQuery {
                since_ms: Some(300),
                ..query()
            }),
            ["r5", "r4", "r3"]
        );
        assert!(list(RecordingQuery {
            since_ms: Some(300),
            until_ms: Some(300),
            ..query()
        })
        .is_empty());
        assert!(list(RecordingQuery {
            call_id: Some("c".into()),
            ..query()
        })
        .is_empty());
    }
}
