//! What a simulated call did, step by step and node by node: printed by `pivotforge call`
//! (text, or `--json`: one object per step), matched by `pivotforge test`, shown by the console.

use serde::Serialize;

/// One whole simulated call.
#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    /// The flow the call started in.
    pub flow: String,
    /// Every request the call made, in order.
    pub steps: Vec<Step>,
    /// How the call ended.
    pub end: End,
    /// The call ran to its end (a terminal node, an answered bridge or a tree's last node) with
    /// every reply a valid tree or rejection: `pivotforge call`'s exit code 0.
    pub ok: bool,
}

/// One request and what Kazoo did with its reply.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// 1 for the first request.
    pub number: usize,
    /// `GET` or `POST`.
    pub method: String,
    /// The URL requested, as the pivot node names it (a GET's parameters, appended on the wire,
    /// are in `changed`; secrets masked).
    pub url: String,
    /// The parameters that differ from the previous request (all of them for the first).
    pub changed: Vec<(String, String)>,
    /// What the flow answered.
    pub outcome: StepOutcome,
    /// The nodes Kazoo ran from the reply, in order.
    pub nodes: Vec<NodeLine>,
    /// The rule that matched, for rule flows.
    pub rule: Option<String>,
    /// The script's log lines (`console.*`, `ctx.log`) as `LEVEL: message`.
    pub logs: Vec<String>,
    /// Wall time of the request, in milliseconds.
    pub ms: f64,
}

/// What one reply was.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepOutcome {
    /// A valid tree.
    Tree,
    /// A rejection (`[486, "Busy"]`): a valid `response`/`hangup` tree.
    Rejected {
        /// The SIP code.
        code: u16,
        /// The reason phrase.
        message: String,
    },
    /// The flow failed and its fallback tree was sent.
    Fallback {
        /// The failure's kind (`timeout`, `script_error`, …).
        failure: String,
        /// What went wrong.
        detail: String,
    },
    /// A non-200, a timeout or an invalid tree: Kazoo runs the calling pivot node's `_` child or
    /// hangs up.
    Failed {
        /// The HTTP status, when there was one.
        status: Option<u16>,
        /// What went wrong.
        detail: String,
    },
}

/// One node Kazoo ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeLine {
    /// The callflow module (`tts`, `collect_dtmf`, `device`, …).
    pub module: String,
    /// The node's main field (the text, the media, the collection name, the id, the URL, the
    /// code), what scenarios match against.
    pub main: String,
    /// What happened at it, when something did: the digits collected, the bridge's outcome.
    pub result: Option<String>,
    /// The transcript line: `tts "…"`, `collect custom_name (max 4) ← "1234"`, `bridge device
    /// 3f1c… → NO_ANSWER`, `pivot → /pivot/collected`, `hangup 486 User Busy`.
    pub line: String,
}

/// How the call ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum End {
    /// At a terminal node: an answered bridge, `voicemail`, `hangup`, `response`, … (the module).
    Terminal {
        /// The module that ended it.
        module: String,
    },
    /// A node with no `_` child: Kazoo hangs up.
    EndOfTree,
    /// Kazoo hung up on something wrong (a failed pivot with no `_`, a module this Kazoo lacks,
    /// a failed `resources` with no cause child, too many steps).
    HungUp {
        /// Why.
        reason: String,
    },
}
