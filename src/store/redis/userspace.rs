//! cxUserspace in the Redis backend: one hash per area, `P us:AREA` (key → the record's JSON).
//! Area names are checked before they get here (`[A-Za-z0-9_-]`), so they can't reach outside
//! the prefix; a batch is one `HSET` of every field, so it lands whole or not at all.

use std::collections::HashMap;

use serde_json::Value;

use super::RedisStore;
use crate::store::validate::decode_value;
use crate::store::StoreError;

/// The record under (area, key).
pub(super) fn get(s: &RedisStore, area: &str, key: &str) -> Result<Option<Value>, StoreError> {
    let hash = s.key(&["us:", area]);
    let text: Option<String> = s
        .pool
        .run(|c| redis::cmd("HGET").arg(&hash).arg(key).query(c))?;
    text.map(|t| decode_value(&t)).transpose()
}

/// Upserts already-encoded records in one command; returns how many were created.
pub(super) fn put_many(
    s: &RedisStore,
    area: &str,
    entries: &[(&str, String)],
) -> Result<usize, StoreError> {
    if entries.is_empty() {
        return Ok(0);
    }
    let hash = s.key(&["us:", area]);
    let mut cmd = redis::cmd("HSET");
    cmd.arg(&hash);
    for (key, text) in entries {
        cmd.arg(*key).arg(text.as_str());
    }
    let created: usize = s.pool.run(|c| cmd.query(c))?;
    Ok(created)
}

/// Removes (area, key); true when it existed.
pub(super) fn delete(s: &RedisStore, area: &str, key: &str) -> Result<bool, StoreError> {
    let hash = s.key(&["us:", area]);
    let removed: i64 = s
        .pool
        .run(|c| redis::cmd("HDEL").arg(&hash).arg(key).query(c))?;
    Ok(removed == 1)
}

/// An area's records in key order, at most `limit`.
pub(super) fn list(
    s: &RedisStore,
    area: &str,
    limit: usize,
) -> Result<Vec<(String, Value)>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let hash = s.key(&["us:", area]);
    let all: HashMap<String, String> =
        s.pool.read(|c| redis::cmd("HGETALL").arg(&hash).query(c))?;
    let mut keys: Vec<&String> = all.keys().collect();
    keys.sort_unstable();
    keys.into_iter()
        .take(limit)
        .map(|key| Ok((key.clone(), decode_value(&all[key])?)))
        .collect()
}
