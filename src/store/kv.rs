//! Scripts' cxKV: keys with an optional expiry, values as JSON, each key in a namespace
//! (`flow:NAME` for a flow's own keys, `shared:NAME` for flows that share state).
//!
//! Expiry is judged against the caller's `now_ms` (the service's clock), never a backend's own
//! clock, so callers and tests control time.

use serde_json::Value;

use super::validate::{check_key, check_kv, encode_value};
use super::StoreError;

/// What `kv_usage` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KvUsage {
    /// Live (unexpired) keys.
    pub keys: u64,
    /// Bytes of those keys plus their JSON-serialised values.
    pub bytes: u64,
}

/// cxKV. Callers use the checked methods; backends implement the `raw_` ones, which get input
/// that passed the rules of [`super::validate`] (values already encoded as JSON text).
pub trait Kv: Send + Sync {
    /// cxKV read in namespace `ns`: the value, or `None` when missing or expired (expiry <=
    /// `now_ms`).
    fn kv_get(&self, ns: &str, key: &str, now_ms: i64) -> Result<Option<Value>, StoreError> {
        check_kv(ns, key)?;
        self.raw_kv_get(ns, key, now_ms)
    }
    /// cxKV write (`kv.set` stores strings, `ko.set` objects); `ttl_ms` None or 0 = no expiry.
    fn kv_set(
        &self,
        ns: &str,
        key: &str,
        value: &Value,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        check_kv(ns, key)?;
        let text = encode_value(value)?;
        self.raw_kv_set(ns, key, &text, ttl_ms, now_ms)
    }
    /// Removes a key; true when a stored entry was removed (one expired but not yet swept counts).
    fn kv_delete(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        check_kv(ns, key)?;
        self.raw_kv_delete(ns, key)
    }
    /// Atomic add; a missing or expired key starts at 0 and, when ttl_ms is given, gets that
    /// expiry at creation only (a fixed window, like Redis INCR + EXPIRE NX). A non-integer
    /// existing value is an error.
    fn kv_incr(
        &self,
        ns: &str,
        key: &str,
        by: i64,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        check_kv(ns, key)?;
        self.raw_kv_incr(ns, key, by, ttl_ms, now_ms)
    }
    /// Live keys of `ns`, sorted, at most `limit`.
    fn kv_keys(&self, ns: &str, now_ms: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        check_key("kv namespace", ns)?;
        self.raw_kv_keys(ns, now_ms, limit)
    }
    /// Count and size of the live keys of `ns`.
    fn kv_usage(&self, ns: &str, now_ms: i64) -> Result<KvUsage, StoreError> {
        check_key("kv namespace", ns)?;
        self.raw_kv_usage(ns, now_ms)
    }

    /// Backend side of [`Kv::kv_get`].
    fn raw_kv_get(&self, ns: &str, key: &str, now_ms: i64) -> Result<Option<Value>, StoreError>;
    /// Backend side of [`Kv::kv_set`]: `text` is the value's JSON.
    fn raw_kv_set(
        &self,
        ns: &str,
        key: &str,
        text: &str,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Backend side of [`Kv::kv_delete`].
    fn raw_kv_delete(&self, ns: &str, key: &str) -> Result<bool, StoreError>;
    /// Backend side of [`Kv::kv_incr`]: the read, add and write are one atomic step.
    fn raw_kv_incr(
        &self,
        ns: &str,
        key: &str,
        by: i64,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<i64, StoreError>;
    /// Backend side of [`Kv::kv_keys`].
    fn raw_kv_keys(&self, ns: &str, now_ms: i64, limit: usize) -> Result<Vec<String>, StoreError>;
    /// Backend side of [`Kv::kv_usage`].
    fn raw_kv_usage(&self, ns: &str, now_ms: i64) -> Result<KvUsage, StoreError>;
}
