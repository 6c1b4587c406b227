//! The call simulator: plays Kazoo's side of one whole call against a flow — the first request
//! with Kazoo's parameters and encoding, walking each reply along `_` children, digits into
//! `collect_dtmf`, the outcomes of bridges, following `pivot` nodes, Kazoo's reaction to a
//! non-200 — in-process on a fresh store, or against a running service's URL. `pivotforge call`
//! prints its [`Transcript`]; `pivotforge test` checks scenarios against transcripts; the
//! console's playground runs the same simulator.

pub mod spec;
pub mod transcript;

pub use spec::{BridgeOutcome, CallSpec, CannedFetch, KazooVersion, Method, Setup};
pub use transcript::{End, NodeLine, Step, StepOutcome, Transcript};
