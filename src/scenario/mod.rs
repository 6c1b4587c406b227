//! Flow tests: scenario files (`callflows/tests/*.toml`) each naming a flow, a caller's side of a
//! call and what must happen; `pivotforge test` plays every scenario with the call simulator on
//! its own fresh store and checks the transcript against it. Parsing is in `parse` (each field's
//! check in `fields`), matching in `expect`, the readable diff in `report`, JUnit XML in `junit`,
//! running and the command in `run`; `save` writes a played call as a scenario file, `from_log`
//! reads a call of the exchange log as one (the console's "save as scenario").

pub mod expect;
mod fields;
pub mod from_log;
pub mod junit;
pub mod parse;
pub mod report;
pub mod run;
pub mod save;

use std::path::PathBuf;

use crate::sim::{CallSpec, CannedFetch};

pub use expect::{check, Verdict};
pub use parse::{parse_file, parse_text};
pub use run::{check_folder, test_command, TestArgs};
pub use save::to_toml;

/// One scenario of a file: the call to play and what must happen.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name, unique in its file.
    pub name: String,
    /// The file it is in.
    pub file: PathBuf,
    /// The line of its `[[scenario]]`.
    pub line: usize,
    /// The line of its `flow = …`, for errors about the flow.
    pub flow_line: usize,
    /// The call: flow, parameters, digits, bridges, instant, method, Kazoo version.
    pub spec: CallSpec,
    /// What the store and `fetch` start from.
    pub seeds: Seeds,
    /// What the transcript must show.
    pub expect: Expectations,
}

/// A scenario's seeds: cxKV and cxUserspace entries, canned `fetch` answers.
#[derive(Debug, Clone, Default)]
pub struct Seeds {
    /// cxKV entries.
    pub kv: Vec<KvSeed>,
    /// cxUserspace entries: (area, key, value).
    pub userspace: Vec<(String, String, serde_json::Value)>,
    /// Canned answers; a fetch of any other URL fails (no scenario reaches the network).
    pub fetch: Vec<CannedFetch>,
}

/// One cxKV entry to seed.
#[derive(Debug, Clone, PartialEq)]
pub struct KvSeed {
    /// A shared namespace (`kv_namespace` in a flow's settings), or `flow:NAME` for another
    /// flow's own; `None` = the scenario's flow's own (its shared one when its settings say so).
    pub namespace: Option<String>,
    /// The key, as the script names it.
    pub key: String,
    /// The value, as the script reads it.
    pub value: serde_json::Value,
}

/// What a scenario checks; every part optional, all given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    /// Nodes that must appear in this order (others may come between).
    pub nodes: Vec<NodeExpect>,
    /// How the call must end.
    pub ends: Option<EndExpect>,
    /// A step must be a rejection with this SIP code.
    pub rejected: Option<u16>,
    /// `true`: a step must have been answered by the flow's fallback; `false`: none was.
    pub fallback: Option<bool>,
    /// Each must be part of some log line of the call.
    pub logs_contain: Vec<String>,
    /// The number of requests the call made.
    pub steps: Option<usize>,
}

/// One expected node: a module and what its main field must be.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeExpect {
    /// The callflow module (`tts`, `device`, …).
    pub module: String,
    /// How its main field is matched.
    pub text: TextMatch,
    /// The line of the expectation in its file.
    pub line: usize,
}

/// How an expected node's main field is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    /// `{ tts = "…" }`: exactly this.
    Exact(String),
    /// `{ tts = { contains = "…" } }`: holds this.
    Contains(String),
    /// `{ hangup = true }`: any node of the module.
    Any,
}

/// How the call must end (`ends = …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndExpect {
    /// `"bridge"`: an answered bridge of any kind (`device`, `user`, `ring_group`, `resources`, …).
    Bridge,
    /// A module name: at a terminal node of that module (`hangup`, `voicemail`, `response`, …).
    Module(String),
    /// `"end_of_tree"`: a node with no `_` child, where Kazoo hangs up.
    EndOfTree,
    /// `"hung_up"`: Kazoo hung up on something wrong (a failed pivot, a missing module, …).
    HungUp,
}

/// The modules an answered bridge can end the call at.
pub const BRIDGE_MODULES: &[&str] = &["device", "user", "ring_group", "resources", "callflow"];
