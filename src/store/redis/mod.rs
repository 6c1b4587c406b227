//! The Redis backend: the shared state of several nodes in one Redis 7 (standalone, not
//! Cluster), chosen by `[store] url = "redis://…"`.
//!
//! This file owns the connection ([`pool`]), the key layout's prefix, the Lua helpers every
//! script shares and the backend's errors ([`RedisStoreError`]); `kv`, `userspace`, `queue`,
//! `calls`, `journals` and `recordings` hold each domain's keys and scripts. Input reaches them
//! checked by the domain traits.
//!
//! Atomicity. Every operation whose semantics need it is one Lua script (Redis runs a script
//! alone, start to end): cxKV's `incr` and its expiry sweep, the queue's push, claim, retry and
//! dead-lettering, the journals' compare-and-set, a recording's reindexing. The exchange log's
//! summaries are computed here and written under `WATCH`/`MULTI`, retried on a conflict.
//! Scripts build their keys from the prefix (passed as `ARGV[1]`), which a standalone Redis
//! allows; every key of this service starts with `[store] prefix` (default `pivotforge:`), so
//! two services can share one Redis.
//!
//! Time. As in every backend, expiries are judged against the caller's `now_ms`, never Redis's
//! clock; Redis's own expiry is not used. Integers travel as decimal text and scripts compare
//! them as text (`le` in [`lua!`]), because Lua's numbers are doubles.
//!
//! Durability is Redis's: the README gives the settings (`appendonly yes`, `appendfsync`).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use serde_json::Value;

use super::{
    CallSummary, EventQueue, ExchangeLog, JournalText, JournalWrite, Journals, Kv, KvUsage,
    QueuedEvent, Recording, RecordingIndex, RecordingQuery, StepRecord, Store, StoreError,
    Userspace,
};

mod calls;
mod journals;
mod kv;
mod pool;
mod queue;
mod recordings;
#[cfg(test)]
#[path = "../../../tests/common/redis_server.rs"]
pub(crate) mod test_server;
mod userspace;

use pool::Pool;

/// The default `[store] prefix`.
pub const DEFAULT_PREFIX: &str = "pivotforge:";
/// The default `[store] op_timeout_ms`.
pub const DEFAULT_OP_TIMEOUT_MS: u64 = 1_000;
/// The default `[store] pool_size`.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How to reach the Redis server, resolved from `[store]`.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` URL (may hold a password: never log it).
    pub url: String,
    /// Prefix of every key.
    pub prefix: String,
    /// Longest wait of any one Redis operation (a connect, a command, a free connection).
    pub op_timeout: Duration,
    /// Connections at most.
    pub pool_size: usize,
}

/// What only the Redis backend can go wrong with, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    /// The server can't be reached (down, refused, timed out, connection lost).
    #[error(
        "Redis at {at} does not answer ({detail}); start it or fix [store] url. The node keeps \
         answering rule flows and reconnects by itself"
    )]
    Unreachable {
        /// `host:port/db`.
        at: String,
        /// What failed.
        detail: String,
    },
    /// Every connection stayed busy for the whole wait.
    #[error(
        "Redis at {at}: all {size} connections stayed busy for {waited_ms} ms; raise [store] \
         pool_size, or op_timeout_ms"
    )]
    Busy {
        /// `host:port/db`.
        at: String,
        /// The pool's size.
        size: usize,
        /// How long it waited.
        waited_ms: u128,
    },
    /// Redis answered with an error.
    #[error("Redis at {at} refused an operation: {detail}")]
    Command {
        /// `host:port/db`.
        at: String,
        /// Redis's error.
        detail: String,
    },
}

impl From<RedisStoreError> for StoreError {
    fn from(err: RedisStoreError) -> StoreError {
        match err {
            RedisStoreError::Command { .. } => StoreError::Backend(Box::new(err)),
            _ => StoreError::Unavailable(Box::new(err)),
        }
    }
}

/// Lua functions every script starts with: `P`, the key prefix (`ARGV[1]`), and `le(a, b)`,
/// "a <= b" for integers written in decimal (exact where Lua's doubles are not).
macro_rules! lua {
    ($($part:literal),* $(,)?) => {
        concat!(
            "local P = ARGV[1]\n",
            "local function le(a, b)\n",
            "  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'\n",
            "  if na ~= nb then return na end\n",
            "  if na then a, b = string.sub(b, 2), string.sub(a, 2) end\n",
            "  if #a ~= #b then return #a < #b end\n",
            "  return a <= b\n",
            "end\n",
            $($part),*
        )
    };
}
pub(crate) use lua;

/// A script compiled once per process (Redis caches it by hash; a restarted Redis is sent it
/// again).
pub(super) type Lua = LazyLock<Script>;

/// The Redis [`Store`]: a pool of connections shared by the threads of one process.
pub struct RedisStore {
    pool: Arc<Pool>,
    prefix: String,
}

impl RedisStore {
    /// Checks the URL and builds the pool; connects lazily, so a node starts (unready) while
    /// Redis is down, and becomes ready when it comes up.
    pub fn open(settings: &RedisSettings) -> Result<RedisStore, StoreError> {
        if settings.url.starts_with("rediss://") {
            // Any provider will do; the process may have installed one already.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(settings.url.as_str()).map_err(|e| {
            // The URL may hold a password: name the setting, not the value.
            StoreError::Invalid(format!(
                "[store] url is not a usable Redis URL ({}); write it as \
                 redis://[:PASSWORD@]HOST[:PORT][/DB] or rediss://…",
                e.kind_name()
            ))
        })?;
        let info = client.get_connection_info();
        let at = format!("{}/{}", info.addr(), info.redis_settings().db());
        let pool = Pool::new(client, at, settings.pool_size, settings.op_timeout);
        let store = RedisStore {
            pool: Arc::new(pool),
            prefix: settings.prefix.clone(),
        };
        match store.ping() {
            Ok(()) => {
                tracing::info!(redis = %store.pool.at(), prefix = %store.prefix, "store opened")
            }
            Err(e) => tracing::warn!(error = %e, "store opened, but Redis does not answer yet"),
        }
        Ok(store)
    }

    /// A key of this service: the prefix, then `parts`.
    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for part in parts {
            key.push_str(part);
        }
        key
    }
}

/// The name of a Redis error's kind, for messages that must not echo input.
trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for redis::RedisError {
    fn kind_name(&self) -> String {
        format!("{:?}", self.kind())
    }
}

/// A count or limit as Redis takes it.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A score bound for "strictly before `ms`".
fn before(ms: i64) -> String {
    format!("({ms}")
}

impl Store for RedisStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.pool
            .read(|c| redis::cmd("PING").query::<String>(c))
            .map(drop)
    }
}

impl Kv for RedisStore {
    fn raw_kv_get(&self, ns: &str, key: &str, now_ms: i64) -> Result<Option<Value>, StoreError> {
        kv::get(self, ns, key, now_ms)
    }

    fn raw_kv_set(
        &self,
        ns: &str,
        key: &str,
        text: &str,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        kv::set(self, ns, key, text, ttl_ms, now_ms)
    }

    fn raw_kv_delete(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        kv::delete(self, ns, key)
    }

    fn raw_kv_incr(
        &self,
        ns: &str,
        key: &str,
        by: i64,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        kv::incr(self, ns, key, by, ttl_ms, now_ms)
    }

    fn raw_kv_keys(&self, ns: &str, now_ms: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        kv::keys(self, ns, now_ms, limit)
    }

    fn raw_kv_usage(&self, ns: &str, now_ms: i64) -> Result<KvUsage, StoreError> {
        kv::usage(self, ns, now_ms)
    }
}

impl Userspace for RedisStore {
    fn raw_us_get(&self, area: &str, key: &str) -> Result<Option<Value>, StoreError> {
        userspace::get(self, area, key)
    }

    fn raw_us_put_many(&self, area: &str, entries: &[(&str, String)]) -> Result<usize, StoreError> {
        userspace::put_many(self, area, entries)
    }

    fn raw_us_delete(&self, area: &str, key: &str) -> Result<bool, StoreError> {
        userspace::delete(self, area, key)
    }

    fn raw_us_list(&self, area: &str, limit: usize) -> Result<Vec<(String, Value)>, StoreError> {
        userspace::list(self, area, limit)
    }
}

impl EventQueue for RedisStore {
    fn raw_event_push(
        &self,
        flow: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<u64, StoreError> {
        queue::push(self, flow, None, event, now_ms, max_pending_bytes)?
            .ok_or_else(|| StoreError::Corrupt("a push without a mark came back a repeat".into()))
    }

    fn raw_event_push_once(
        &self,
        flow: &str,
        call_id: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<Option<u64>, StoreError> {
        queue::push(self, flow, Some(call_id), event, now_ms, max_pending_bytes)
    }

    fn raw_events_claim(
        &self,
        worker: &str,
        now_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<QueuedEvent>, StoreError> {
        queue::claim(self, worker, now_ms, until_ms, limit)
    }

    fn event_release(&self, id: u64) -> Result<(), StoreError> {
        queue::release(self, id)
    }

    fn events_expire_taken(&self, before_ms: i64, max: usize) -> Result<usize, StoreError> {
        queue::expire_taken(self, before_ms, max)
    }

    fn events_due(&self, now_ms: i64, limit: usize) -> Result<Vec<QueuedEvent>, StoreError> {
        queue::due(self, now_ms, limit)
    }

    fn event_done(&self, id: u64) -> Result<(), StoreError> {
        queue::done(self, id)
    }

    fn event_retry(&self, id: u64, next_at_ms: i64, error: &str) -> Result<(), StoreError> {
        queue::retry(self, id, next_at_ms, error)
    }

    fn event_dead(&self, id: u64, error: &str, now_ms: i64) -> Result<(), StoreError> {
        queue::dead(self, id, error, now_ms)
    }

    fn events_expire_dead(&self, before_ms: i64, max: usize) -> Result<usize, StoreError> {
        queue::expire_dead(self, before_ms, max)
    }

    fn events_pending_bytes(&self) -> Result<u64, StoreError> {
        queue::pending_bytes(self)
    }

    fn events_dead(&self, limit: usize) -> Result<Vec<QueuedEvent>, StoreError> {
        queue::dead_list(self, limit)
    }

    fn events_pending(&self) -> Result<u64, StoreError> {
        queue::pending(self)
    }
}

impl RecordingIndex for RedisStore {
    fn rec_list(&self, query: &RecordingQuery) -> Result<Vec<Recording>, StoreError> {
        recordings::list(self, query)
    }

    fn raw_rec_put(&self, rec: &Recording) -> Result<Option<Recording>, StoreError> {
        recordings::put(self, rec)
    }

    fn raw_rec_get(&self, id: &str) -> Result<Option<Recording>, StoreError> {
        recordings::get(self, id)
    }

    fn raw_rec_delete(&self, id: &str) -> Result<Option<Recording>, StoreError> {
        recordings::delete(self, id)
    }
}

impl ExchangeLog for RedisStore {
    fn calls_reserve(&self, count: u64) -> Result<u64, StoreError> {
        calls::reserve(self, count)
    }

    fn calls_append(&self, steps: &[StepRecord<'_>]) -> Result<(), StoreError> {
        calls::append(self, steps)
    }

    fn calls_steps(&self, call_id: &str) -> Result<Vec<(u64, String)>, StoreError> {
        calls::steps(self, call_id)
    }

    fn calls_summaries(&self, call_ids: &[&str]) -> Result<Vec<Option<CallSummary>>, StoreError> {
        calls::summaries(self, call_ids)
    }

    fn calls_scan(
        &self,
        since_ms: i64,
        visit: &mut dyn FnMut(CallSummary) -> bool,
    ) -> Result<(), StoreError> {
        calls::scan(self, since_ms, visit)
    }

    fn calls_expire(&self, before_ms: i64, max: usize) -> Result<usize, StoreError> {
        calls::expire(self, before_ms, max)
    }
}

impl Journals for RedisStore {
    fn raw_journal_get(&self, key: &str, now_ms: i64) -> Result<Option<JournalText>, StoreError> {
        journals::get(self, key, now_ms)
    }

    fn raw_journal_put(
        &self,
        key: &str,
        text: &str,
        expected: u64,
        expires_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<JournalWrite, StoreError> {
        journals::put(self, key, text, expected, expires_at_ms, now_ms)
    }

    fn journal_expire(&self, now_ms: i64, max: usize) -> Result<usize, StoreError> {
        journals::expire(self, now_ms, max)
    }
}

/// Reads a reply as text (a bulk or simple string, or an integer written out).
fn text(value: &redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a reply as an integer.
fn int(value: &redis::Value) -> Option<i64> {
    match value {
        redis::Value::Int(n) => Some(*n),
        other => text(other).and_then(|t| t.parse().ok()),
    }
}

/// A reply of the wrong shape: a script and this code disagree (or another program wrote
/// under our prefix).
fn shape(what: &str) -> StoreError {
    StoreError::Corrupt(format!("Redis answered {what} in an unexpected shape"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_on_a_dead_port_fails_fast_and_names_the_server() {
        // Nothing listens on port 1; connects are refused at once.
        let store = RedisStore::open(&RedisSettings {
            url: "redis://:hunter2@127.0.0.1:1/0".into(),
            prefix: DEFAULT_PREFIX.into(),
            op_timeout: Duration::from_millis(300),
            pool_size: 2,
        })
        .unwrap();
        let started = std::time::Instant::now();
        for _ in 0..5 {
            let err = store.kv_get("flow:a", "k", 0).unwrap_err();
            assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
            let msg = err.to_string();
            assert!(
                msg.contains("Redis at 127.0.0.1:1/0 does not answer"),
                "{msg}"
            );
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_server_that_never_answers_costs_an_operation_its_timeout_not_a_hang() {
        // Accepts connections (the kernel's backlog does) and never says a word.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let store = RedisStore::open(&RedisSettings {
            url: format!("redis://127.0.0.1:{port}/0"),
            prefix: DEFAULT_PREFIX.into(),
            op_timeout: Duration::from_millis(200),
            pool_size: 1,
        })
        .unwrap();
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let err = store.kv_incr("flow:a", "k", 1, None, 0).unwrap_err();
            assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
        }
        drop(silent);
    }

    #[test]
    fn reads_after_a_redis_restart_succeed_on_the_first_try() {
        use crate::store::Kv;
        let mut redis = test_server::RedisServer::start_durable();
        let store = RedisStore::open(&RedisSettings {
            url: redis.url(),
            prefix: DEFAULT_PREFIX.into(),
            op_timeout: Duration::from_secs(2),
            pool_size: 2,
        })
        .unwrap();
        store
            .kv_set("flow:a", "k", &serde_json::json!(7), None, 0)
            .unwrap();
        store.journal_put_text("j", "{}", 0, None, 0).unwrap();
        // Every operation left its connection idle in the pool; the restart drops them.
        redis.restart();
        let got = store.kv_get("flow:a", "k", 0);
        assert_eq!(got.unwrap(), Some(serde_json::json!(7)));
        assert_eq!(store.journal_get_text("j", 0).unwrap().unwrap().version, 1);
        store.ping().unwrap();
    }

    #[test]
    fn a_bad_url_is_refused_naming_the_setting_not_the_password() {
        let err = RedisStore::open(&RedisSettings {
            url: "redis://:hunter2@[::1/0".into(),
            prefix: DEFAULT_PREFIX.into(),
            op_timeout: Duration::from_millis(300),
            pool_size: 2,
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("[store] url"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
