//! Journals in the Redis backend: a hash per journal, `P j:KEY` (`v` version, `x` expiry in
//! Unix ms when it has one, `d` the document's JSON), and `P j:exp`, the expiring keys scored
//! by expiry. A write is one script: the version check and the write can't be split by another
//! node's write (compare-and-set).

use super::{count, int, lua, shape, text, Lua, RedisStore};
use crate::store::{JournalText, JournalWrite, StoreError};

/// ARGV: P, key, text, expected, expiry or "", now. Returns {1, version} or {0, current}.
static PUT: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "local k = P .. 'j:' .. ARGV[2]\n\
         local f = redis.call('HMGET', k, 'v', 'x')\n\
         local current = '0'\n\
         if f[1] and (not f[2] or not le(f[2], ARGV[6])) then current = f[1] end\n\
         if current ~= ARGV[4] then return {0, tonumber(current)} end\n\
         local version = tonumber(current) + 1\n\
         redis.call('DEL', k)\n\
         redis.call('HSET', k, 'v', version, 'd', ARGV[3])\n\
         if ARGV[5] == '' then\n\
           redis.call('ZREM', P .. 'j:exp', ARGV[2])\n\
         else\n\
           redis.call('HSET', k, 'x', ARGV[5])\n\
           redis.call('ZADD', P .. 'j:exp', ARGV[5], ARGV[2])\n\
         end\n\
         return {1, version}\n"
    ))
});

/// ARGV: P, now, max. Removes journals expired at now; returns how many.
static EXPIRE: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "local keys = redis.call('ZRANGEBYSCORE', P .. 'j:exp', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])\n\
         local n = 0\n\
         for _, key in ipairs(keys) do\n\
           local at = redis.call('HGET', P .. 'j:' .. key, 'x')\n\
           if not at then\n\
             redis.call('ZREM', P .. 'j:exp', key)\n\
           elseif le(at, ARGV[2]) then\n\
             redis.call('DEL', P .. 'j:' .. key)\n\
             redis.call('ZREM', P .. 'j:exp', key)\n\
             n = n + 1\n\
           end\n\
         end\n\
         return n\n"
    ))
});

/// The live journal under `key`.
pub(super) fn get(
    s: &RedisStore,
    key: &str,
    now_ms: i64,
) -> Result<Option<JournalText>, StoreError> {
    let hash = s.key(&["j:", key]);
    let fields: Vec<redis::Value> = s.pool.read(|c| {
        redis::cmd("HMGET")
            .arg(&hash)
            .arg("v")
            .arg("x")
            .arg("d")
            .query(c)
    })?;
    let [v, x, d] = fields.as_slice() else {
        return Err(shape("a journal"));
    };
    let (Some(version), Some(doc)) = (int(v), text(d)) else {
        return Ok(None);
    };
    let expires_at_ms = int(x);
    if expires_at_ms.is_some_and(|at| at <= now_ms) {
        return Ok(None);
    }
    Ok(Some(JournalText {
        version: u64::try_from(version).map_err(|_| shape("a journal's version"))?,
        text: doc,
        expires_at_ms,
    }))
}

/// Writes `text` under `key` when the live journal is at `expected` (0: none).
pub(super) fn put(
    s: &RedisStore,
    key: &str,
    text: &str,
    expected: u64,
    expires_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<JournalWrite, StoreError> {
    let reply: Vec<u64> = s.pool.run(|c| {
        PUT.arg(&s.prefix)
            .arg(key)
            .arg(text)
            .arg(expected)
            .arg(expires_at_ms.map(|at| at.to_string()).unwrap_or_default())
            .arg(now_ms)
            .invoke(c)
    })?;
    match reply.as_slice() {
        [1, version] => Ok(JournalWrite::Written { version: *version }),
        [0, current] => Ok(JournalWrite::Stale { current: *current }),
        _ => Err(shape("a journal write")),
    }
}

/// Removes up to `max` journals expired at `now_ms`.
pub(super) fn expire(s: &RedisStore, now_ms: i64, max: usize) -> Result<usize, StoreError> {
    if max == 0 {
        return Ok(0);
    }
    s.pool
        .run(|c| EXPIRE.arg(&s.prefix).arg(now_ms).arg(count(max)).invoke(c))
}
