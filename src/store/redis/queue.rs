//! The postCall event queue in the Redis backend.
//!
//! Each pending event is a hash `P q:e:ID` (ID zero-padded to 20 digits, so ids sort as text):
//! `b` its body (flow, event, when received: JSON written once, never read by a script, so Lua
//! never re-encodes an event), `a` attempts, `n` next due, `e` last error, `w` the worker of the
//! last claim, `l` the lease's end, `s` the bytes it counts for. `P q:due` scores every pending
//! id by when it is due (its schedule, or its lease's end when later), ties in id order, so a
//! claim reads only what is due. Dead letters move to `P q:d:ID`, listed by `P q:dead_ids`
//! and expired by `P q:dead_at`. `P q:next` hands out ids, never reused; `P q:bytes` counts
//! the pending bytes for the bound. Taken marks: `P q:taken` (mark → when) and `P q:taken_at`.
//!
//! Every change is one script, so two nodes claiming at once never get the same event while its
//! lease runs, and a push is refused or stored whole.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{before, count, int, lua, shape, text, Lua, RedisStore};
use crate::store::{QueuedEvent, StoreError};

/// Longest error kept per event: a runaway error message must not bloat every record.
const MAX_ERROR_BYTES: usize = 4096;

/// The fields of an event's hash that make a [`QueuedEvent`], read by `rec(key, m)`.
macro_rules! queue_lua {
    ($body:literal) => {
        lua!(
            "local function rec(k, m)\n",
            "  local f = redis.call('HMGET', k, 'b', 'a', 'n', 'e', 'w', 'l')\n",
            "  if not f[1] then return nil end\n",
            "  return {m, f[1], f[2], f[3], f[4], f[5], f[6]}\n",
            "end\n",
            "local function fetch(keyspace, ms)\n",
            "  local out = {}\n",
            "  for _, m in ipairs(ms) do\n",
            "    local r = rec(P .. keyspace .. m, m)\n",
            "    if r then table.insert(out, r) end\n",
            "  end\n",
            "  return out\n",
            "end\n",
            $body
        )
    };
}

/// ARGV: P, body, now, max bytes, once ("1"/"0"), mark. Returns {1, id}, {0} (a repeat) or
/// {-1, pending bytes} (full).
static PUSH: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "if ARGV[5] == '1' and redis.call('HEXISTS', P .. 'q:taken', ARGV[6]) == 1 then\n\
           return {0}\n\
         end\n\
         local size = #ARGV[2]\n\
         local pending = tonumber(redis.call('GET', P .. 'q:bytes') or '0')\n\
         if pending + size > tonumber(ARGV[4]) then return {-1, pending} end\n\
         local id = redis.call('INCR', P .. 'q:next')\n\
         local m = string.format('%020d', id)\n\
         redis.call('HSET', P .. 'q:e:' .. m, 'b', ARGV[2], 's', size, 'a', 0, 'n', ARGV[3])\n\
         redis.call('ZADD', P .. 'q:due', ARGV[3], m)\n\
         redis.call('INCRBY', P .. 'q:bytes', size)\n\
         if ARGV[5] == '1' then\n\
           redis.call('HSET', P .. 'q:taken', ARGV[6], ARGV[3])\n\
           redis.call('ZADD', P .. 'q:taken_at', ARGV[3], ARGV[6])\n\
         end\n\
         return {1, id}\n"
    ))
});

/// ARGV: P, now, until, limit, worker. Returns the claimed events.
static CLAIM: Lua = Lua::new(|| {
    redis::Script::new(queue_lua!(
        "local ms = redis.call('ZRANGEBYSCORE', P .. 'q:due', '-inf', ARGV[2], 'LIMIT', 0, ARGV[4])\n\
         local out = {}\n\
         for _, m in ipairs(ms) do\n\
           local k = P .. 'q:e:' .. m\n\
           local f = redis.call('HMGET', k, 'b', 's', 'n', 'e')\n\
           if f[1] then\n\
             local size = #f[1] + #(f[4] or '') + #ARGV[5]\n\
             redis.call('INCRBY', P .. 'q:bytes', size - tonumber(f[2]))\n\
             redis.call('HSET', k, 'w', ARGV[5], 'l', ARGV[3], 's', size)\n\
             local due = ARGV[3]\n\
             if le(ARGV[3], f[3]) then due = f[3] end\n\
             redis.call('ZADD', P .. 'q:due', due, m)\n\
             table.insert(out, rec(k, m))\n\
           else\n\
             redis.call('ZREM', P .. 'q:due', m)\n\
           end\n\
         end\n\
         return out\n"
    ))
});

/// ARGV: P, now, limit. Returns the due events, claiming nothing.
static DUE: Lua = Lua::new(|| {
    redis::Script::new(queue_lua!(
        "local ms = redis.call('ZRANGEBYSCORE', P .. 'q:due', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])\n\
         return fetch('q:e:', ms)\n"
    ))
});

/// ARGV: P, limit. Returns the oldest dead letters.
static DEAD_LIST: Lua = Lua::new(|| {
    redis::Script::new(queue_lua!(
        "local ms = redis.call('ZRANGE', P .. 'q:dead_ids', 0, tonumber(ARGV[2]) - 1)\n\
         return fetch('q:d:', ms)\n"
    ))
});

/// ARGV: P, member.
static RELEASE: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "local k = P .. 'q:e:' .. ARGV[2]\n\
         local n = redis.call('HGET', k, 'n')\n\
         if n then\n\
           redis.call('HDEL', k, 'l')\n\
           redis.call('ZADD', P .. 'q:due', n, ARGV[2])\n\
         end\n\
         return 1\n"
    ))
});

/// ARGV: P, member.
static DONE: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "local k = P .. 'q:e:' .. ARGV[2]\n\
         local s = redis.call('HGET', k, 's')\n\
         if s then\n\
           redis.call('DECRBY', P .. 'q:bytes', s)\n\
           redis.call('DEL', k)\n\
           redis.call('ZREM', P .. 'q:due', ARGV[2])\n\
         end\n\
         return 1\n"
    ))
});

/// ARGV: P, member, next at, error. Returns 0 when the event is not pending.
static RETRY: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "local k = P .. 'q:e:' .. ARGV[2]\n\
         local f = redis.call('HMGET', k, 'b', 's', 'w')\n\
         if not f[1] then return 0 end\n\
         local size = #f[1] + #ARGV[4] + #(f[3] or '')\n\
         redis.call('INCRBY', P .. 'q:bytes', size - tonumber(f[2]))\n\
         redis.call('HINCRBY', k, 'a', 1)\n\
         redis.call('HSET', k, 'e', ARGV[4], 'n', ARGV[3], 's', size)\n\
         redis.call('HDEL', k, 'l')\n\
         redis.call('ZADD', P .. 'q:due', ARGV[3], ARGV[2])\n\
         return 1\n"
    ))
});

/// ARGV: P, member, error, now. Returns 0 when the event is not pending.
static DEAD: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "local k = P .. 'q:e:' .. ARGV[2]\n\
         local s = redis.call('HGET', k, 's')\n\
         if not s then return 0 end\n\
         redis.call('DECRBY', P .. 'q:bytes', s)\n\
         redis.call('HINCRBY', k, 'a', 1)\n\
         redis.call('HSET', k, 'e', ARGV[3], 'd', ARGV[4])\n\
         redis.call('HDEL', k, 'l')\n\
         redis.call('ZREM', P .. 'q:due', ARGV[2])\n\
         redis.call('RENAME', k, P .. 'q:d:' .. ARGV[2])\n\
         redis.call('ZADD', P .. 'q:dead_at', ARGV[4], ARGV[2])\n\
         redis.call('ZADD', P .. 'q:dead_ids', 0, ARGV[2])\n\
         return 1\n"
    ))
});

/// ARGV: P, before (exclusive bound), max. Returns how many dead letters were removed.
static EXPIRE_DEAD: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "local ms = redis.call('ZRANGEBYSCORE', P .. 'q:dead_at', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])\n\
         for _, m in ipairs(ms) do\n\
           redis.call('DEL', P .. 'q:d:' .. m)\n\
           redis.call('ZREM', P .. 'q:dead_at', m)\n\
           redis.call('ZREM', P .. 'q:dead_ids', m)\n\
         end\n\
         return #ms\n"
    ))
});

/// ARGV: P, before (exclusive bound), max. Returns how many marks were removed.
static EXPIRE_TAKEN: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "local ms = redis.call('ZRANGEBYSCORE', P .. 'q:taken_at', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])\n\
         for _, m in ipairs(ms) do\n\
           redis.call('HDEL', P .. 'q:taken', m)\n\
           redis.call('ZREM', P .. 'q:taken_at', m)\n\
         end\n\
         return #ms\n"
    ))
});

/// What an event's `b` field holds: the parts that never change.
#[derive(Serialize, Deserialize)]
struct Body {
    flow: String,
    event: Value,
    received_at_ms: i64,
}

/// An id as the sorted sets and hashes name it.
fn member(id: u64) -> String {
    format!("{id:020}")
}

/// A taken-mark naming (flow, call id) unambiguously.
fn mark(flow: &str, call_id: &str) -> String {
    format!("{}:{flow}{call_id}", flow.len())
}

/// Queues an event (once per `call_id` when given); `None` when one was taken for it already.
pub(super) fn push(
    s: &RedisStore,
    flow: &str,
    call_id: Option<&str>,
    event: &Value,
    now_ms: i64,
    max_bytes: u64,
) -> Result<Option<u64>, StoreError> {
    let body = serde_json::to_string(&Body {
        flow: flow.to_owned(),
        event: event.clone(),
        received_at_ms: now_ms,
    })
    .map_err(|e| StoreError::Invalid(format!("event cannot be serialised as JSON: {e}")))?;
    let once = call_id.map(|c| mark(flow, c));
    let reply: Vec<i64> = s.pool.run(|c| {
        PUSH.arg(&s.prefix)
            .arg(&body)
            .arg(now_ms)
            .arg(max_bytes)
            .arg(if once.is_some() { "1" } else { "0" })
            .arg(once.as_deref().unwrap_or(""))
            .invoke(c)
    })?;
    match reply.as_slice() {
        [1, id] => Ok(Some(u64::try_from(*id).map_err(|_| shape("a push"))?)),
        [0] => Ok(None),
        [-1, pending] => Err(StoreError::QueueFull {
            pending: u64::try_from(*pending).unwrap_or(0),
            limit: max_bytes,
        }),
        _ => Err(shape("a push")),
    }
}

/// Reads the events a script returned as `{m, b, a, n, e, w, l}` each.
fn events(reply: redis::Value) -> Result<Vec<QueuedEvent>, StoreError> {
    let redis::Value::Array(rows) = reply else {
        return Err(shape("queued events"));
    };
    rows.iter().map(event).collect()
}

fn event(row: &redis::Value) -> Result<QueuedEvent, StoreError> {
    let redis::Value::Array(f) = row else {
        return Err(shape("a queued event"));
    };
    let [m, b, a, n, e, w, l] = f.as_slice() else {
        return Err(shape("a queued event"));
    };
    let id = int(m).and_then(|id| u64::try_from(id).ok());
    let body: Option<Body> = text(b).and_then(|b| serde_json::from_str(&b).ok());
    let (Some(id), Some(body)) = (id, body) else {
        return Err(StoreError::Corrupt(
            "a queued event in Redis can't be read".into(),
        ));
    };
    Ok(QueuedEvent {
        id,
        flow: body.flow,
        event: body.event,
        attempts: int(a).and_then(|a| u32::try_from(a).ok()).unwrap_or(0),
        next_at_ms: int(n).unwrap_or(body.received_at_ms),
        last_error: text(e),
        received_at_ms: body.received_at_ms,
        claimed_by: text(w),
        lease_until_ms: int(l),
    })
}

/// Leases up to `limit` due events to `worker` until `until_ms`.
pub(super) fn claim(
    s: &RedisStore,
    worker: &str,
    now_ms: i64,
    until_ms: i64,
    limit: usize,
) -> Result<Vec<QueuedEvent>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let reply = s.pool.run(|c| {
        CLAIM
            .arg(&s.prefix)
            .arg(now_ms)
            .arg(until_ms)
            .arg(count(limit))
            .arg(worker)
            .invoke(c)
    })?;
    events(reply)
}

/// Pending events due at `now_ms`, soonest first.
pub(super) fn due(
    s: &RedisStore,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<QueuedEvent>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let reply = s
        .pool
        .run(|c| DUE.arg(&s.prefix).arg(now_ms).arg(count(limit)).invoke(c))?;
    events(reply)
}

/// Dead letters, oldest first.
pub(super) fn dead_list(s: &RedisStore, limit: usize) -> Result<Vec<QueuedEvent>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let reply = s
        .pool
        .run(|c| DEAD_LIST.arg(&s.prefix).arg(count(limit)).invoke(c))?;
    events(reply)
}

/// Ends an event's lease without counting an attempt.
pub(super) fn release(s: &RedisStore, id: u64) -> Result<(), StoreError> {
    s.pool
        .run(|c| RELEASE.arg(&s.prefix).arg(member(id)).invoke::<i64>(c))
        .map(drop)
}

/// Removes a handled event.
pub(super) fn done(s: &RedisStore, id: u64) -> Result<(), StoreError> {
    s.pool
        .run(|c| DONE.arg(&s.prefix).arg(member(id)).invoke::<i64>(c))
        .map(drop)
}

/// Records a failed attempt and reschedules the event.
pub(super) fn retry(
    s: &RedisStore,
    id: u64,
    next_at_ms: i64,
    error: &str,
) -> Result<(), StoreError> {
    let found: i64 = s.pool.run(|c| {
        RETRY
            .arg(&s.prefix)
            .arg(member(id))
            .arg(next_at_ms)
            .arg(truncate(error, MAX_ERROR_BYTES))
            .invoke(c)
    })?;
    if found == 0 {
        return Err(StoreError::NoSuchEvent(id));
    }
    Ok(())
}

/// Records a final failed attempt and moves the event to the dead letters.
pub(super) fn dead(s: &RedisStore, id: u64, error: &str, now_ms: i64) -> Result<(), StoreError> {
    let found: i64 = s.pool.run(|c| {
        DEAD.arg(&s.prefix)
            .arg(member(id))
            .arg(truncate(error, MAX_ERROR_BYTES))
            .arg(now_ms)
            .invoke(c)
    })?;
    if found == 0 {
        return Err(StoreError::NoSuchEvent(id));
    }
    Ok(())
}

/// Removes up to `max` dead letters that died before `before_ms`.
pub(super) fn expire_dead(s: &RedisStore, before_ms: i64, max: usize) -> Result<usize, StoreError> {
    if max == 0 {
        return Ok(0);
    }
    s.pool.run(|c| {
        EXPIRE_DEAD
            .arg(&s.prefix)
            .arg(before(before_ms))
            .arg(count(max))
            .invoke(c)
    })
}

/// Removes up to `max` taken-marks written before `before_ms`.
pub(super) fn expire_taken(
    s: &RedisStore,
    before_ms: i64,
    max: usize,
) -> Result<usize, StoreError> {
    if max == 0 {
        return Ok(0);
    }
    s.pool.run(|c| {
        EXPIRE_TAKEN
            .arg(&s.prefix)
            .arg(before(before_ms))
            .arg(count(max))
            .invoke(c)
    })
}

/// Bytes of the pending events.
pub(super) fn pending_bytes(s: &RedisStore) -> Result<u64, StoreError> {
    let key = s.key(&["q:bytes"]);
    let bytes: Option<i64> = s.pool.read(|c| redis::cmd("GET").arg(&key).query(c))?;
    Ok(bytes.map_or(0, |b| u64::try_from(b).unwrap_or(0)))
}

/// Number of pending events.
pub(super) fn pending(s: &RedisStore) -> Result<u64, StoreError> {
    let key = s.key(&["q:due"]);
    s.pool.read(|c| redis::cmd("ZCARD").arg(&key).query(c))
}

/// The longest prefix of `text` within `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
