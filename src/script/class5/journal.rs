//! The journal of one Class 5 call (per Call-ID and flow, in the Store's `Journals`): the
//! first request the script saw, every result a replay must give back in order, and each
//! step's reply with the operation it left waiting for the PBX.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{JournalWrite, Journals, StoreError};

/// One recorded result, in the order the script asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// What was asked: `now`, `random`, `kv.incr`, `fetch.done`, `ctx.ivr`, …
    pub k: String,
    /// What it gave.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub v: Value,
    /// The error it threw instead, if it did (a replay throws it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl Entry {
    /// An entry of kind `k` with result `v`.
    pub fn new(k: &str, v: Value) -> Entry {
        Entry {
            k: k.to_owned(),
            v,
            e: None,
        }
    }

    /// An entry of kind `k` for `result`.
    pub fn of(k: &str, result: &Result<Value, String>) -> Entry {
        match result {
            Ok(v) => Entry::new(k, v.clone()),
            Err(e) => Entry {
                k: k.to_owned(),
                v: Value::Null,
                e: Some(e.clone()),
            },
        }
    }

    /// The result it recorded.
    pub fn result(&self) -> Result<Value, String> {
        match &self.e {
            Some(e) => Err(e.clone()),
            None => Ok(self.v.clone()),
        }
    }
}

/// A prompt-and-collect the PBX is doing for an `ivr` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ivr {
    /// The `collect_dtmf` collection this step's digits come back in.
    pub collection: String,
    /// The prompt, as the script gave it.
    pub prompt: Option<String>,
    /// Seconds to wait for the first digit.
    pub timeout_s: f64,
    /// Fewest digits that succeed.
    pub min: usize,
    /// Most digits collected.
    pub max: usize,
    /// Keys that end the input.
    pub terminators: Vec<String>,
    /// Prompts left, this one included.
    pub tries_left: u32,
    /// Played before a re-prompt after invalid digits.
    pub invalid_file: Option<String>,
    /// A pattern valid digits match.
    pub regexp: Option<String>,
}

/// What a step's reply left waiting for the PBX; the next request resolves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Pending {
    /// Digits for an `ivr`.
    Ivr(Ivr),
    /// A bridge's failure: its pivot back carries the branch taken (`&bridge=…`); a bridge that
    /// succeeds ends the call, and no request follows.
    Bridge,
}

/// One answered request: its reply, kept so that a retry gets it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// The tree sent, as the JSON text it was stored as: a step reads and writes the journal's
    /// earlier replies without parsing them, as only a retry needs one.
    pub reply: Box<serde_json::value::RawValue>,
    /// The operation it waits for; none once the call's script has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// How many entries the journal held after this step (its position).
    pub position: usize,
}

impl Step {
    /// The step that sent `reply` and waits for `pending`, at journal position `position`.
    pub fn new(reply: &Value, pending: Option<Pending>, position: usize) -> Step {
        Step {
            // A tree of strings, numbers and string-keyed maps: writing it out cannot fail.
            reply: serde_json::value::to_raw_value(reply)
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned()),
            pending,
            position,
        }
    }

    /// The tree sent.
    pub fn reply_value(&self) -> Value {
        serde_json::from_str(self.reply.get()).unwrap_or(Value::Null)
    }
}

impl PartialEq for Step {
    fn eq(&self, other: &Step) -> bool {
        self.reply.get() == other.reply.get()
            && self.pending == other.pending
            && self.position == other.position
    }
}

/// The script a call started with, kept in its journal so that any node replays that version
/// even after the file changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pinned {
    /// The flow file's text.
    pub source: String,
    /// True for an ES module.
    pub module: bool,
    /// The files it imports, by resolved name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub imports: std::collections::BTreeMap<String, String>,
}

/// A Class 5 call's journal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// The script version the call started with.
    pub version: String,
    /// That version's script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Pinned>,
    /// The first request, as `main`'s `data`: every replay starts from it.
    pub data: Value,
    /// The results a replay gives back, in order.
    pub entries: Vec<Entry>,
    /// Request `n`'s reply is `steps[n]`.
    pub steps: Vec<Step>,
    /// True once the script has ended: no step follows.
    #[serde(default)]
    pub done: bool,
}

/// The store key of the journal of call `call_id` in flow `flow`: hashed, so that any Call-ID
/// fits the store's key limit.
pub fn key(flow: &str, call_id: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(flow.as_bytes());
    h.update([0]);
    h.update(call_id.as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("class5:{hex}")
}

/// A journal as read, with the store version a write must name.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The journal.
    pub journal: Journal,
    /// Its store version (0: new).
    pub version: u64,
}

/// Reads the live journal under `key`; one that does not parse reads as an error, never as a
/// fresh call.
pub fn load(store: &dyn Journals, key: &str, now_ms: i64) -> Result<Option<Loaded>, String> {
    let found = store
        .journal_get_text(key, now_ms)
        .map_err(|e| format!("the call's journal could not be read: {e}"))?;
    found
        .map(|entry| {
            serde_json::from_str(&entry.text)
                .map(|journal| Loaded {
                    journal,
                    version: entry.version,
                })
                .map_err(|e| format!("the call's journal is unreadable: {e}"))
        })
        .transpose()
}

/// The journal as the store keeps it: its JSON text.
pub fn encode(journal: &Journal) -> String {
    // Strings, numbers and maps with string keys only: writing it out cannot fail.
    serde_json::to_string(journal).unwrap_or_default()
}

/// Decodes a journal from its stored JSON text (the store's, or a `run --journal` file's).
pub fn decode(bytes: &[u8]) -> Result<Journal, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("not a Class 5 journal: {e}"))
}

/// Where request `n` of a call stands against the call's journal.
#[derive(Debug, PartialEq)]
pub enum Placement<'a> {
    /// The call's first request.
    First,
    /// A request answered before (Kazoo or a proxy retried it): its stored step.
    Retry(&'a Step),
    /// The next request: what the step before it left waiting for the PBX.
    Next(&'a Pending),
}

/// Places request `n` of call `call_id` (`stored`: the store held a journal for it), or says
/// why it can't be placed: no journal, a token that doesn't follow it, the step limit.
pub fn place<'a>(
    journal: &'a Journal,
    stored: bool,
    n: usize,
    max_steps: usize,
    call_id: &str,
) -> Result<Placement<'a>, String> {
    if !stored && n > 0 {
        return Err(format!(
            "step {n} of call `{call_id}` has no journal: it expired ([class5] journal_hours \
             after the last step) or the call never started here"
        ));
    }
    if let Some(step) = journal.steps.get(n) {
        return Ok(Placement::Retry(step));
    }
    if n > journal.steps.len() || journal.done {
        return Err(format!(
            "step token {n} does not follow call `{call_id}`'s journal ({} steps{})",
            journal.steps.len(),
            if journal.done { ", ended" } else { "" }
        ));
    }
    if n >= max_steps {
        return Err(format!(
            "the call reached {max_steps} steps, the limit ([class5] max_steps)"
        ));
    }
    let Some(before) = n.checked_sub(1) else {
        return Ok(Placement::First);
    };
    match journal
        .steps
        .get(before)
        .and_then(|step| step.pending.as_ref())
    {
        Some(pending) => Ok(Placement::Next(pending)),
        None => Err(format!(
            "step {n} of call `{call_id}` follows a step that waits for nothing"
        )),
    }
}

/// Writes the journal `encoded` (by [`encode`]) if the stored one is still at `expected`;
/// `Ok(false)` when another request moved it on first.
pub fn save(
    store: &dyn Journals,
    key: &str,
    encoded: &str,
    expected: u64,
    ttl_ms: u64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    match store.journal_put_text(key, encoded, expected, Some(ttl_ms), now_ms)? {
        JournalWrite::Written { .. } => Ok(true),
        JournalWrite::Stale { .. } => Ok(false),
    }
}
