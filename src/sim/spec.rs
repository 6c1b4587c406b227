//! What a simulated call is made of: the flow, the caller's side (parameters, digits, the outcome
//! of each bridge), the instant, and for in-process runs the store's seeds and `fetch`'s canned
//! answers.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One call to play.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallSpec {
    /// The flow the first request names (`/pivot/FLOW`).
    pub flow: String,
    /// Request parameters under Kazoo's names (`Caller-ID-Number`, …), over the simulator's own
    /// defaults (a fresh `Call-ID`, `Request`, `To`, …).
    pub params: Vec<(String, String)>,
    /// What the caller presses at each `collect_dtmf`, in order; none left = nothing pressed
    /// (the collection is sent empty).
    pub digits: Vec<String>,
    /// The outcome of each bridge of the call, in order; none left = answered.
    pub bridges: Vec<BridgeOutcome>,
    /// The instant the call runs at (the engine's clock in-process; only the `Date`-free
    /// parameters over `--url`); now when absent.
    pub at: Option<DateTime<Utc>>,
    /// How the first request is sent (later ones follow the pivot nodes).
    pub method: Method,
    /// Which Kazoo's differences to play.
    pub kazoo: KazooVersion,
}

/// How one bridge of the call ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum BridgeOutcome {
    /// The callee answers: the call ends with the bridge.
    Answer,
    /// The bridge fails with a hangup cause (`NO_ANSWER`) and optionally a SIP code (`486`).
    Failed {
        /// Kazoo's hangup cause, upper case.
        cause: String,
        /// The SIP code, when given (`USER_BUSY/sip:486`).
        code: Option<u16>,
    },
}

/// The HTTP method of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Method {
    /// Parameters in the query (Kazoo's first request).
    #[default]
    Get,
    /// Parameters in a form body (or JSON, as the pivot node's `req_body_format` says).
    Post,
}

/// The Kazoo release whose behaviour is played.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum KazooVersion {
    /// 4.3: modules only master has (`answer`, `noop`, `wait_for_hangup`) hang the call up.
    #[default]
    V43,
    /// master.
    Master,
}

/// What an in-process call starts from besides `lists/*.csv` (scenarios' `kv`, `userspace` and
/// `fetch`); empty for `pivotforge call`.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// cxKV entries: (namespace — the flow's own unless it names a shared one —, key, JSON value).
    pub kv: Vec<(String, String, serde_json::Value)>,
    /// cxUserspace entries: (area, key, JSON value).
    pub userspace: Vec<(String, String, serde_json::Value)>,
    /// Canned answers for `fetch`; a script's fetch of a URL with none fails (no scenario reaches
    /// the network). `None` = the real network (`pivotforge call`).
    pub fetch: Option<Vec<CannedFetch>>,
}

/// One canned `fetch` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedFetch {
    /// The URL it answers, exactly as the script fetches it.
    pub url: String,
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}
