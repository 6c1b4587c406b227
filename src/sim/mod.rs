//! The call simulator: plays Kazoo's side of one whole call against a flow — the first request
//! with Kazoo's parameters and encoding, walking each reply along `_` children, digits into
//! `collect_dtmf`, the outcomes of bridges, following `pivot` nodes, Kazoo's reaction to a
//! non-200 — in-process on a fresh store, or against a running service's URL. `pivotforge call`
//! prints its [`Transcript`]; `pivotforge test` checks scenarios against transcripts; the
//! console's playground runs the same simulator.
//!
//! [`play::play`] is the one core, over a [`play::Transport`]: [`play_offline`] (the engine
//! in-process) and [`play_url`] (HTTP) are its two.

pub mod http;
pub mod line;
pub mod offline;
pub mod play;
pub mod render;
pub mod reply;
pub mod spec;
pub mod transcript;
pub mod walk;
pub mod wire;

pub use http::play_url;
pub use offline::play_offline;
pub use spec::{BridgeOutcome, CallSpec, CannedFetch, KazooVersion, Method, Setup};
pub use transcript::{End, NodeLine, Step, StepOutcome, Transcript};
