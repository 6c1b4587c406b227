//! cxUserspace in the embedded backend: named areas (e.g. `dnc`) of key → JSON value.
//!
//! All areas share one table keyed by (area, key): area names stay data, never table names or
//! paths, and an area's entries are one contiguous, sorted run.

use redb::{ReadTransaction, TableDefinition, WriteTransaction};
use serde_json::Value;

use super::embedded::db_error;
use super::{decode_value, StoreError};

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::store::{temp_store as store, Store, StoreError};

    #[test]
    fn put_get_delete() {
        let (_dir, s) = store();
        assert_eq!(s.us_get("dnc", "+15550100").unwrap(), None);
        assert!(s.us_put("dnc", "+15550100", &json!(true)).unwrap());
        assert!(!s
            .us_put("dnc", "+15550100", &json!({"reason": "asked"}))
            .unwrap());
        assert_eq!(
            s.us_get("dnc", "+15550100").unwrap(),
            Some(json!({"reason": "asked"}))
        );
        assert!(s.us_delete("dnc", "+15550100").unwrap());
        assert!(!s.us_delete("dnc", "+15550100").unwrap());
        assert_eq!(s.us_get("dnc", "+15550100").unwrap(), None);
    }

    #[test]
    fn areas_are_separate_and_lists_sorted() {
        let (_dir, s) = store();
        // Areas that are prefixes of each other must not bleed into one another.
        for (area, key) in [
            ("dnc", "3"),
            ("dnc", "1"),
            ("dnc", "2"),
            ("dn", "9"),
            ("dnc-extra", "0"),
            ("dnc_2", "0"),
        ] {
            s.us_put(area, key, &json!(key)).unwrap();
        }
        let keys = |area: &str, limit| -> Vec<String> {
            s.us_list(area, limit)
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(keys("dnc", 10), ["1", "2", "3"]);
        assert_eq!(keys("dnc", 2), ["1", "2"]);
        assert!(keys("dnc", 0).is_empty());
        assert_eq!(keys("dn", 10), ["9"]);
        assert_eq!(keys("dnc-extra", 10), ["0"]);
        assert!(keys("empty", 10).is_empty());
        assert_eq!(s.us_get("dn", "1").unwrap(), None);
        assert_eq!(
            s.us_list("dnc", 1).unwrap(),
            vec![("1".to_string(), json!("1"))]
        );
    }

    #[test]
    fn put_many_is_one_all_or_nothing_upsert() {
        let (_dir, s) = store();
        s.us_put("vip", "a", &json!(1)).unwrap();
        let entries = vec![
            ("a".to_string(), json!(2)),
            ("b".to_string(), json!(3)),
            ("c".to_string(), json!(4)),
        ];
        assert_eq!(s.us_put_many("vip", &entries).unwrap(), 2);
        assert_eq!(s.us_get("vip", "a").unwrap(), Some(json!(2)));
        assert_eq!(s.us_list("vip", 10).unwrap().len(), 3);
        // One bad key refuses the whole batch.
        let bad = vec![("d".to_string(), json!(5)), (String::new(), json!(6))];
        assert!(matches!(
            s.us_put_many("vip", &bad),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.us_get("vip", "d").unwrap(), None);
    }

    #[test]
    fn bad_areas_keys_and_values_are_refused_with_the_rule() {
        let (_dir, s) = store();
        let long_area = "a".repeat(65);
        for area in [
            "",
            "no spaces",
            "../x",
            "a/b",
            "dnc.csv",
            long_area.as_str(),
        ] {
            for err in [
                s.us_get(area, "k").unwrap_err(),
                s.us_put(area, "k", &json!(1)).unwrap_err(),
                s.us_delete(area, "k").unwrap_err(),
                s.us_list(area, 10).unwrap_err(),
            ] {
                assert!(matches!(err, StoreError::Invalid(_)));
                assert!(err.to_string().contains("1 to 64 characters"), "{err}");
            }
        }
        let err = s.us_put("dnc", &"k".repeat(1025), &json!(1)).unwrap_err();
        assert!(err
            .to_string()
            .contains("userspace key must be 1 to 1024 bytes"));
        let err = s.us_get("dnc", "").unwrap_err();
        assert!(err.to_string().contains("userspace key"), "{err}");
        let huge = json!({"note": "x".repeat(1024 * 1024)});
        let err = s.us_put("dnc", "k", &huge).unwrap_err();
        assert!(err.to_string().contains("at most 1048576 bytes"), "{err}");
    }
}
