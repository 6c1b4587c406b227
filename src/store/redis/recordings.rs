//! Recording metadata in the Redis backend: `P rec:all` (id → the record's JSON) with three
//! sorted sets scored by when each was received: `P rec:time`, `P rec:acc:ACCOUNT` and
//! `P rec:call:CALL`. A listing reads the narrowest set its filters allow, newest first (ties
//! by id, as the embedded store orders them), page by page, so it never reads every recording.
//! A put or delete is one script, the record and its index entries moving together.

use super::{count, lua, Lua, RedisStore};
use crate::store::{Recording, RecordingQuery, StoreError};

/// Records fetched per round trip while listing.
const LIST_PAGE: usize = 100;

/// The unindexing both scripts share: `unindex(old JSON, id)`.
macro_rules! rec_lua {
    ($body:literal) => {
        lua!(
            "local function unindex(old, id)\n",
            "  local o = cjson.decode(old)\n",
            "  redis.call('ZREM', P .. 'rec:time', id)\n",
            "  redis.call('ZREM', P .. 'rec:acc:' .. (o.account_id or ''), id)\n",
            "  redis.call('ZREM', P .. 'rec:call:' .. (o.call_id or ''), id)\n",
            "end\n",
            $body
        )
    };
}

/// ARGV: P, id, JSON, received at, account, call. Returns the record replaced, or nil.
static PUT: Lua = Lua::new(|| {
    redis::Script::new(rec_lua!(
        "local id = ARGV[2]\n\
         local old = redis.call('HGET', P .. 'rec:all', id)\n\
         if old then unindex(old, id) end\n\
         redis.call('HSET', P .. 'rec:all', id, ARGV[3])\n\
         redis.call('ZADD', P .. 'rec:time', ARGV[4], id)\n\
         redis.call('ZADD', P .. 'rec:acc:' .. ARGV[5], ARGV[4], id)\n\
         redis.call('ZADD', P .. 'rec:call:' .. ARGV[6], ARGV[4], id)\n\
         return old\n"
    ))
});

/// ARGV: P, id. Returns the record removed, or nil.
static DELETE: Lua = Lua::new(|| {
    redis::Script::new(rec_lua!(
        "local id = ARGV[2]\n\
         local old = redis.call('HGET', P .. 'rec:all', id)\n\
         if old then\n\
           unindex(old, id)\n\
           redis.call('HDEL', P .. 'rec:all', id)\n\
         end\n\
         return old\n"
    ))
});

fn decode(text: &str) -> Result<Recording, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("recording record: {e}")))
}

/// Upserts a record; returns the one it replaced.
pub(super) fn put(s: &RedisStore, rec: &Recording) -> Result<Option<Recording>, StoreError> {
    let text = serde_json::to_string(rec)
        .map_err(|e| StoreError::Invalid(format!("recording can't be serialised: {e}")))?;
    let old: Option<String> = s.pool.run(|c| {
        PUT.arg(&s.prefix)
            .arg(&rec.id)
            .arg(&text)
            .arg(rec.received_at_ms)
            .arg(&rec.details.account_id)
            .arg(&rec.details.call_id)
            .invoke(c)
    })?;
    old.as_deref().map(decode).transpose()
}

/// The record with `id`.
pub(super) fn get(s: &RedisStore, id: &str) -> Result<Option<Recording>, StoreError> {
    let all = s.key(&["rec:all"]);
    let text: Option<String> = s
        .pool
        .read(|c| redis::cmd("HGET").arg(&all).arg(id).query(c))?;
    text.as_deref().map(decode).transpose()
}

/// Removes the record with `id`; returns it.
pub(super) fn delete(s: &RedisStore, id: &str) -> Result<Option<Recording>, StoreError> {
    let old: Option<String> = s.pool.run(|c| DELETE.arg(&s.prefix).arg(id).invoke(c))?;
    old.as_deref().map(decode).transpose()
}

/// Records passing `query`, newest first, at most `query.limit`.
pub(super) fn list(s: &RedisStore, query: &RecordingQuery) -> Result<Vec<Recording>, StoreError> {
    let since = query.since_ms.unwrap_or(i64::MIN);
    let until = query.until_ms.unwrap_or(i64::MAX);
    let mut out = Vec::new();
    if query.limit == 0 || until <= since {
        return Ok(out);
    }
    let index = match (&query.call_id, &query.account_id) {
        (Some(call), _) => s.key(&["rec:call:", call]),
        (None, Some(account)) => s.key(&["rec:acc:", account]),
        (None, None) => s.key(&["rec:time"]),
    };
    let max = query
        .until_ms
        .map_or_else(|| "+inf".to_owned(), |u| format!("({u}"));
    let min = query
        .since_ms
        .map_or_else(|| "-inf".to_owned(), |s| s.to_string());
    let all = s.key(&["rec:all"]);
    let mut offset = 0;
    loop {
        let ids: Vec<String> = s.pool.read(|c| {
            redis::cmd("ZREVRANGEBYSCORE")
                .arg(&index)
                .arg(&max)
                .arg(&min)
                .arg("LIMIT")
                .arg(offset)
                .arg(count(LIST_PAGE))
                .query(c)
        })?;
        if ids.is_empty() {
            return Ok(out);
        }
        let texts: Vec<Option<String>> = s
            .pool
            .read(|c| redis::cmd("HMGET").arg(&all).arg(&ids).query(c))?;
        for text in texts.into_iter().flatten() {
            let rec = decode(&text)?;
            if query.matches(&rec) {
                out.push(rec);
                if out.len() >= query.limit {
                    return Ok(out);
                }
            }
        }
        if ids.len() < LIST_PAGE {
            return Ok(out);
        }
        offset += LIST_PAGE;
    }
}
