//! Journals: small JSON documents that several nodes update in turn (the state of a Class 5
//! call as it moves between nodes). Every write names the version it read, and is refused when
//! the document moved on since (compare-and-set), so two nodes never overwrite each other.

use serde_json::Value;

use super::validate::{check_key, check_value_size, decode_value, encode_value};
use super::StoreError;

/// A journal as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// Its version: 1 when created, one more with every write.
    pub version: u64,
    /// The document.
    pub value: Value,
    /// When it expires (Unix ms), if ever.
    pub expires_at_ms: Option<i64>,
}

/// A journal as stored, its document still as JSON text (what a caller that decodes it into
/// its own type reads: no detour through a [`Value`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JournalText {
    /// Its version: 1 when created, one more with every write.
    pub version: u64,
    /// The document's JSON.
    pub text: String,
    /// When it expires (Unix ms), if ever.
    pub expires_at_ms: Option<i64>,
}

/// What a compare-and-set write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalWrite {
    /// Written, now at this version.
    Written {
        /// The new version.
        version: u64,
    },
    /// Refused: the journal is not at the version the write named.
    Stale {
        /// Its version now (0: there is none).
        current: u64,
    },
}

/// Journals. Callers use the checked methods; backends implement the `raw_` ones and
/// [`Journals::journal_expire`].
pub trait Journals: Send + Sync {
    /// The live journal under `key` (an expired one reads as absent).
    fn journal_get(&self, key: &str, now_ms: i64) -> Result<Option<JournalEntry>, StoreError> {
        let Some(found) = self.journal_get_text(key, now_ms)? else {
            return Ok(None);
        };
        Ok(Some(JournalEntry {
            version: found.version,
            value: decode_value(&found.text)?,
            expires_at_ms: found.expires_at_ms,
        }))
    }
    /// [`Journals::journal_get`] with the document as its JSON text.
    fn journal_get_text(&self, key: &str, now_ms: i64) -> Result<Option<JournalText>, StoreError> {
        check_key("journal key", key)?;
        self.raw_journal_get(key, now_ms)
    }
    /// Writes `value` under `key` if the live journal is at version `expected` (0: there is no
    /// live journal, create it), with an expiry `ttl_ms` from `now_ms` (None or 0: none).
    fn journal_put(
        &self,
        key: &str,
        value: &Value,
        expected: u64,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<JournalWrite, StoreError> {
        let text = encode_value(value)?;
        self.journal_put_text(key, &text, expected, ttl_ms, now_ms)
    }
    /// [`Journals::journal_put`] of a document already written as JSON `text` (a caller that
    /// serialises its own type writes it once, with no [`Value`] in between).
    fn journal_put_text(
        &self,
        key: &str,
        text: &str,
        expected: u64,
        ttl_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<JournalWrite, StoreError> {
        check_key("journal key", key)?;
        check_value_size(text)?;
        let expires = match ttl_ms {
            None | Some(0) => None,
            Some(ttl) => Some(now_ms.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))),
        };
        self.raw_journal_put(key, text, expected, expires, now_ms)
    }

    /// Backend side of [`Journals::journal_get`].
    fn raw_journal_get(&self, key: &str, now_ms: i64) -> Result<Option<JournalText>, StoreError>;
    /// Backend side of [`Journals::journal_put`]: the version check and the write are one
    /// atomic step; `text` is the value's JSON, `expires_at_ms` its expiry.
    fn raw_journal_put(
        &self,
        key: &str,
        text: &str,
        expected: u64,
        expires_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<JournalWrite, StoreError>;
    /// Removes up to `max` journals expired at `now_ms`; returns how many.
    fn journal_expire(&self, now_ms: i64, max: usize) -> Result<usize, StoreError>;
}
