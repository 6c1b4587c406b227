//! Scripts' cxUserspace: named areas (e.g. `dnc`) of key → JSON record, filled by the lists
//! shipped as CSV files and by flows allowed to write them.

use serde_json::Value;

use super::validate::{check_area, check_key, encode_value};
use super::StoreError;

/// cxUserspace. Callers use the checked methods; backends implement the `raw_` ones, which
/// get input that passed the rules of [`super::validate`] (records encoded as JSON text).
pub trait Userspace: Send + Sync {
    /// The record under `key` in `area`.
    fn us_get(&self, area: &str, key: &str) -> Result<Option<Value>, StoreError> {
        check_area(area)?;
        check_key("userspace key", key)?;
        self.raw_us_get(area, key)
    }
    /// Upserts one record, durably; true when created, false when replaced.
    fn us_put(&self, area: &str, key: &str, value: &Value) -> Result<bool, StoreError> {
        check_area(area)?;
        check_key("userspace key", key)?;
        let text = encode_value(value)?;
        Ok(self.raw_us_put_many(area, &[(key, text)])? == 1)
    }
    /// Upserts many records of one area at once, all or nothing (list loading); returns how
    /// many were created. One bad entry writes nothing.
    fn us_put_many(&self, area: &str, entries: &[(String, Value)]) -> Result<usize, StoreError> {
        check_area(area)?;
        let mut encoded = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            check_key("userspace key", key)?;
            encoded.push((key.as_str(), encode_value(value)?));
        }
        self.raw_us_put_many(area, &encoded)
    }
    /// Removes a record; true when it existed.
    fn us_delete(&self, area: &str, key: &str) -> Result<bool, StoreError> {
        check_area(area)?;
        check_key("userspace key", key)?;
        self.raw_us_delete(area, key)
    }
    /// Records of an area, sorted by key, at most `limit`.
    fn us_list(&self, area: &str, limit: usize) -> Result<Vec<(String, Value)>, StoreError> {
        check_area(area)?;
        self.raw_us_list(area, limit)
    }

    /// Backend side of [`Userspace::us_get`].
    fn raw_us_get(&self, area: &str, key: &str) -> Result<Option<Value>, StoreError>;
    /// Backend side of the puts: (key, JSON text) pairs upserted in one durable transaction;
    /// returns how many were created.
    fn raw_us_put_many(&self, area: &str, entries: &[(&str, String)]) -> Result<usize, StoreError>;
    /// Backend side of [`Userspace::us_delete`].
    fn raw_us_delete(&self, area: &str, key: &str) -> Result<bool, StoreError>;
    /// Backend side of [`Userspace::us_list`].
    fn raw_us_list(&self, area: &str, limit: usize) -> Result<Vec<(String, Value)>, StoreError>;
}
