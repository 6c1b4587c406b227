//! State every node shares, as small traits by domain, with backends behind them.
//!
//! Scripts' cxKV ([`Kv`]) and cxUserspace ([`Userspace`]), the queue of end-of-call events
//! waiting for a flow's `postCall` ([`EventQueue`]), the metadata of stored recordings
//! ([`RecordingIndex`]), the persisted exchange log ([`ExchangeLog`]) and the journals of calls
//! that move between nodes ([`Journals`]) live here and not in a node's memory: nothing a node
//! keeps in memory is needed by another node, so any node can serve any step of any call.
//! [`Store`] is all of them together, what the service holds.
//!
//! The record and error types are the store's own, neutral to backends; the rules for keys,
//! areas and values ([`validate`]) are checked once, by the traits' provided methods, before
//! a backend's `raw_` method sees the input. The embedded backend ([`EmbeddedStore`]: one redb
//! file under the data directory, no server to run) is the default; [`RedisStore`] holds the
//! state of several nodes in one Redis, chosen by `[store] url = "redis://…"`; [`open`] opens
//! the one `[store]` names. Both pass the same contract suite (`contract.rs`).

mod config;
#[cfg(test)]
pub(crate) mod contract;
mod embedded;
mod error;
mod exchange;
mod journals;
mod kv;
mod lists;
mod queue;
mod recordings;
mod redis;
mod userspace;
pub mod validate;

pub use config::{open, open_scratch, Backend, StoreConfig};
pub use embedded::{EmbeddedError, EmbeddedStore};
pub use error::StoreError;
pub use exchange::{CallSummary, ExchangeLog, StepFacts, StepRecord};
pub use journals::{JournalEntry, JournalText, JournalWrite, Journals};
pub use kv::{Kv, KvUsage};
pub use lists::load_lists;
pub use queue::{EventQueue, QueuedEvent};
pub use recordings::{CallDetails, Recording, RecordingIndex, RecordingQuery};
pub use redis::{RedisSettings, RedisStore, RedisStoreError};
pub use userspace::Userspace;
pub use validate::{MAX_AREA_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES};

pub(crate) use validate::check_area;

/// Everything the service keeps in the store, in one object.
pub trait Store: Kv + Userspace + EventQueue + RecordingIndex + ExchangeLog + Journals {
    /// Cheap liveness check for /readyz.
    fn ping(&self) -> Result<(), StoreError>;
    /// Makes every write so far durable (a backend may defer some, e.g. cxKV's, a little);
    /// called before the process exits.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A store in a fresh temporary folder, for unit tests (the folder lives as long as its guard).
#[cfg(test)]
pub(crate) fn temp_store() -> (tempfile::TempDir, std::sync::Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&StoreConfig::default(), dir.path()).unwrap();
    (dir, store)
}

/// A scratch store (no commit synced) in a fresh temporary folder, for unit tests.
#[cfg(test)]
pub(crate) fn scratch_temp_store() -> (tempfile::TempDir, std::sync::Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_scratch(dir.path()).unwrap();
    (dir, store)
}

/// A Redis store on a `redis-server` of its own (stopped when the guard drops), for unit tests.
#[cfg(test)]
pub(crate) fn redis_temp_store() -> (redis::test_server::RedisServer, std::sync::Arc<dyn Store>) {
    let server = redis::test_server::RedisServer::start();
    let settings = RedisSettings {
        url: server.url(),
        prefix: "test:".into(),
        op_timeout: std::time::Duration::from_secs(5),
        pool_size: 8,
    };
    let store = std::sync::Arc::new(RedisStore::open(&settings).unwrap());
    (server, store)
}
