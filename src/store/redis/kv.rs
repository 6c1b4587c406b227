//! cxKV in the Redis backend.
//!
//! Keys: `P kv:v:NS` (hash: key → the value's JSON), `P kv:x:NS` (hash: key → its expiry in
//! Unix ms, for keys that have one) and `P kv:exp` (sorted set of every expiring key, scored by
//! its expiry; member `LEN:NS` + key, LEN the namespace's length in bytes, so no namespace or
//! key can be mistaken for another). An expired key reads as absent at once; every write
//! sweeps a few expired keys of any namespace, as the embedded store does.
//!
//! `incr` is one script: the sweep, the expiry check (a live counter keeps its window, a new one
//! gets the TTL: a fixed window), and `HINCRBY`, whose 64-bit arithmetic refuses overflow and
//! non-integers exactly as the embedded store does.

use std::collections::HashMap;

use redis::Script;
use serde_json::Value;

use super::{lua, Lua, RedisStore};
use crate::store::validate::decode_value;
use crate::store::{KvUsage, StoreError};

/// The sweep: up to 64 expired keys removed, the expiry compared exactly.
macro_rules! kv_lua {
    ($body:literal) => {
        lua!(
            "local function sweep(now)\n",
            "  local due = redis.call('ZRANGEBYSCORE', P .. 'kv:exp', '-inf', now, 'LIMIT', 0, 64)\n",
            "  for _, m in ipairs(due) do\n",
            "    local colon = string.find(m, ':', 1, true)\n",
            "    local n = tonumber(string.sub(m, 1, colon - 1))\n",
            "    local ns = string.sub(m, colon + 1, colon + n)\n",
            "    local key = string.sub(m, colon + n + 1)\n",
            "    local at = redis.call('HGET', P .. 'kv:x:' .. ns, key)\n",
            "    if not at then\n",
            "      redis.call('ZREM', P .. 'kv:exp', m)\n",
            "    elseif le(at, now) then\n",
            "      redis.call('HDEL', P .. 'kv:v:' .. ns, key)\n",
            "      redis.call('HDEL', P .. 'kv:x:' .. ns, key)\n",
            "      redis.call('ZREM', P .. 'kv:exp', m)\n",
            "    end\n",
            "  end\n",
            "end\n",
            "local ns, key, m = ARGV[2], ARGV[3], ARGV[4]\n",
            "local v, x = P .. 'kv:v:' .. ns, P .. 'kv:x:' .. ns\n",
            "local function expire_at(at)\n",
            "  if at == '' then\n",
            "    redis.call('HDEL', x, key)\n",
            "    redis.call('ZREM', P .. 'kv:exp', m)\n",
            "  else\n",
            "    redis.call('HSET', x, key, at)\n",
            "    redis.call('ZADD', P .. 'kv:exp', at, m)\n",
            "  end\n",
            "end\n",
            $body
        )
    };
}

/// ARGV: P, ns, key, member, text, expiry or "", now.
static SET: Lua = Lua::new(|| {
    Script::new(kv_lua!(
        "sweep(ARGV[7])\n\
         redis.call('HSET', v, key, ARGV[5])\n\
         expire_at(ARGV[6])\n\
         return 1\n"
    ))
});

/// ARGV: P, ns, key, member. Returns 1 when a stored entry was removed.
static DELETE: Lua = Lua::new(|| {
    Script::new(kv_lua!(
        "local n = redis.call('HDEL', v, key)\n\
         expire_at('')\n\
         return n\n"
    ))
});

/// ARGV: P, ns, key, member, by, expiry of a new counter or "", now.
/// Returns {'ok', value} or {'nan'} or {'overflow'}.
static INCR: Lua = Lua::new(|| {
    Script::new(kv_lua!(
        "local now = ARGV[7]\n\
         sweep(now)\n\
         local live = redis.call('HEXISTS', v, key) == 1\n\
         local at = redis.call('HGET', x, key)\n\
         if live and at and le(at, now) then\n\
           redis.call('HDEL', v, key)\n\
           live = false\n\
         end\n\
         if not live then expire_at(ARGV[6]) end\n\
         local r = redis.pcall('HINCRBY', v, key, ARGV[5])\n\
         if type(r) == 'table' and r.err then\n\
           if string.find(r.err, 'overflow', 1, true) then return {'overflow'} end\n\
           return {'nan'}\n\
         end\n\
         return {'ok', redis.call('HGET', v, key)}\n"
    ))
});

/// The sorted-set member naming `key` of `ns`.
fn member(ns: &str, key: &str) -> String {
    format!("{}:{ns}{key}", ns.len())
}

/// The expiry for a TTL; 0 means none, as `expireSeconds = 0` does in scripts' `incr`.
fn expiry(ttl_ms: Option<u64>, now_ms: i64) -> String {
    match ttl_ms {
        None | Some(0) => String::new(),
        Some(ttl) => now_ms
            .saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))
            .to_string(),
    }
}

/// Whether a stored expiry (absent: none) is still in the future at `now_ms`.
fn live(expiry: Option<&String>, now_ms: i64) -> bool {
    expiry.is_none_or(|at| at.parse::<i64>().map_or(true, |at| at > now_ms))
}

/// The live value of `key` in `ns`.
pub(super) fn get(
    s: &RedisStore,
    ns: &str,
    key: &str,
    now_ms: i64,
) -> Result<Option<Value>, StoreError> {
    let (v, x) = (s.key(&["kv:v:", ns]), s.key(&["kv:x:", ns]));
    let (text, at): (Option<String>, Option<String>) = s
        .pool
        .read(|c| redis::pipe().atomic().hget(&v, key).hget(&x, key).query(c))?;
    match text {
        Some(text) if live(at.as_ref(), now_ms) => decode_value(&text).map(Some),
        _ => Ok(None),
    }
}

/// Stores already-encoded `text` under `key` in `ns`.
pub(super) fn set(
    s: &RedisStore,
    ns: &str,
    key: &str,
    text: &str,
    ttl_ms: Option<u64>,
    now_ms: i64,
) -> Result<(), StoreError> {
    s.pool.run(|c| {
        SET.arg(&s.prefix)
            .arg(ns)
            .arg(key)
            .arg(member(ns, key))
            .arg(text)
            .arg(expiry(ttl_ms, now_ms))
            .arg(now_ms)
            .invoke::<i64>(c)
    })?;
    Ok(())
}

/// Removes `key` from `ns`; true when an entry was removed (possibly one expired but not swept).
pub(super) fn delete(s: &RedisStore, ns: &str, key: &str) -> Result<bool, StoreError> {
    let removed = s.pool.run(|c| {
        DELETE
            .arg(&s.prefix)
            .arg(ns)
            .arg(key)
            .arg(member(ns, key))
            .invoke::<i64>(c)
    })?;
    Ok(removed == 1)
}

/// Adds `by` to the integer under `key` in `ns`; see `Kv::kv_incr`.
pub(super) fn incr(
    s: &RedisStore,
    ns: &str,
    key: &str,
    by: i64,
    ttl_ms: Option<u64>,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let reply: Vec<String> = s.pool.run(|c| {
        INCR.arg(&s.prefix)
            .arg(ns)
            .arg(key)
            .arg(member(ns, key))
            .arg(by)
            .arg(expiry(ttl_ms, now_ms))
            .arg(now_ms)
            .invoke(c)
    })?;
    match reply.as_slice() {
        [ok, value] if ok == "ok" => value.parse().map_err(|_| super::shape("an incr")),
        [nan] if nan == "nan" => {
            let shown: String = key.chars().take(64).collect();
            Err(StoreError::Invalid(format!(
                "kv key {shown:?} holds a value that is not an integer; incr needs an integer \
                 (delete the key first, or use another key)"
            )))
        }
        [overflow] if overflow == "overflow" => Err(StoreError::Invalid(format!(
            "incr by {by} would overflow the 64-bit counter"
        ))),
        _ => Err(super::shape("an incr")),
    }
}

/// Every live entry of `ns` as (key, JSON text), sorted by key.
fn live_entries(
    s: &RedisStore,
    ns: &str,
    now_ms: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let (v, x) = (s.key(&["kv:v:", ns]), s.key(&["kv:x:", ns]));
    let (values, expiries): (HashMap<String, String>, HashMap<String, String>) = s
        .pool
        .run(|c| redis::pipe().atomic().hgetall(&v).hgetall(&x).query(c))?;
    let mut out: Vec<(String, String)> = values
        .into_iter()
        .filter(|(key, _)| live(expiries.get(key), now_ms))
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Live keys of `ns` in order, at most `limit`.
pub(super) fn keys(
    s: &RedisStore,
    ns: &str,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut entries = live_entries(s, ns, now_ms)?;
    entries.truncate(limit);
    Ok(entries.into_iter().map(|(key, _)| key).collect())
}

/// Count and bytes (key + JSON value) of live entries of `ns`.
pub(super) fn usage(s: &RedisStore, ns: &str, now_ms: i64) -> Result<KvUsage, StoreError> {
    let entries = live_entries(s, ns, now_ms)?;
    Ok(KvUsage {
        keys: entries.len() as u64,
        bytes: entries
            .iter()
            .map(|(key, text)| (key.len() + text.len()) as u64)
            .sum(),
    })
}
