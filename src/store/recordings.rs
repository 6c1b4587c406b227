//! Recording metadata: what is known about a stored recording, and how recordings are looked
//! up. The audio files themselves are the recordings module's; the store keeps what lists them.

use serde::{Deserialize, Serialize};

use super::validate::check_key;
use super::StoreError;
use crate::callflow::RecordingFormat;

/// The call details an upload's query carries (empty when Kazoo sent none).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CallDetails {
    /// The call id: the `call_id` parameter, else taken from the file name.
    pub call_id: String,
    /// The Kazoo account id (32 hex digits), or empty when unknown.
    pub account_id: String,
    /// `from`: the caller's SIP user and realm.
    pub from: String,
    /// `to`: the called SIP user and realm.
    pub to: String,
    /// `caller_id_name`.
    pub caller_id_name: String,
    /// `caller_id_number`.
    pub caller_id_number: String,
    /// `cdr_id`.
    pub cdr_id: String,
    /// `interaction_id`.
    pub interaction_id: String,
    /// `owner_id` (Kazoo 4.3).
    pub owner_id: String,
    /// `recording_id` (Kazoo 4.3): Kazoo's own id of the recording.
    pub recording_id: String,
    /// `start` (Kazoo 4.3), as sent.
    pub start: String,
    /// `duration_ms` (Kazoo 4.3); otherwise read from the file's header when it tells.
    pub duration_ms: Option<u64>,
}

/// A stored recording: its call details and what the service measured while storing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// Stable id (32 hex digits) derived from account, file name, Kazoo's recording id and
    /// format, so a retried upload replaces the recording it repeats.
    pub id: String,
    /// What the upload's URL said about the call.
    #[serde(flatten)]
    pub details: CallDetails,
    /// Size of the audio file in bytes.
    pub size: u64,
    /// SHA-256 of the audio file (lower-case hex), computed while it streamed in.
    pub sha256: String,
    /// The format the file name's extension names.
    pub format: RecordingFormat,
    /// Whether the file's first bytes look like that format (a failed check keeps the file).
    pub format_ok: bool,
    /// When the upload finished (Unix ms).
    pub received_at_ms: i64,
    /// The file, relative to the recordings folder; built by the service, never by a request.
    pub path: String,
}

/// Which recordings a listing wants: every given filter must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingQuery {
    /// Only this call id.
    pub call_id: Option<String>,
    /// Only this account.
    pub account_id: Option<String>,
    /// Received at or after this instant (Unix ms).
    pub since_ms: Option<i64>,
    /// Received before this instant (Unix ms).
    pub until_ms: Option<i64>,
    /// At most this many, newest first.
    pub limit: usize,
}

impl RecordingQuery {
    /// Whether `rec` passes every filter.
    pub fn matches(&self, rec: &Recording) -> bool {
        let t = rec.received_at_ms;
        self.call_id
            .as_ref()
            .is_none_or(|c| *c == rec.details.call_id)
            && self
                .account_id
                .as_ref()
                .is_none_or(|a| *a == rec.details.account_id)
            && self.since_ms.is_none_or(|s| t >= s)
            && self.until_ms.is_none_or(|u| t < u)
    }
}

/// Recording metadata. Callers use the checked methods; backends implement the `raw_` ones
/// (and [`RecordingIndex::rec_list`]). Every change is durable before a method returns: an
/// acknowledged upload's metadata must not be lost.
pub trait RecordingIndex: Send + Sync {
    /// Stores a recording's metadata under its id, replacing any earlier record; returns the
    /// record it replaced.
    fn rec_put(&self, rec: &Recording) -> Result<Option<Recording>, StoreError> {
        check_key("recording id", &rec.id)?;
        self.raw_rec_put(rec)
    }
    /// A recording's metadata by id.
    fn rec_get(&self, id: &str) -> Result<Option<Recording>, StoreError> {
        check_key("recording id", id)?;
        self.raw_rec_get(id)
    }
    /// Removes a recording's metadata; returns what was removed.
    fn rec_delete(&self, id: &str) -> Result<Option<Recording>, StoreError> {
        check_key("recording id", id)?;
        self.raw_rec_delete(id)
    }
    /// Recordings passing every filter of `query`, newest first, at most `query.limit`.
    fn rec_list(&self, query: &RecordingQuery) -> Result<Vec<Recording>, StoreError>;

    /// Backend side of [`RecordingIndex::rec_put`].
    fn raw_rec_put(&self, rec: &Recording) -> Result<Option<Recording>, StoreError>;
    /// Backend side of [`RecordingIndex::rec_get`].
    fn raw_rec_get(&self, id: &str) -> Result<Option<Recording>, StoreError>;
    /// Backend side of [`RecordingIndex::rec_delete`].
    fn raw_rec_delete(&self, id: &str) -> Result<Option<Recording>, StoreError>;
}
