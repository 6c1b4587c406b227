//! Class 5 flows: ScriptForge voice apps (`async function main(data, ctx)`) run over pivot by
//! deterministic replay. Every request re-runs the script from the top (in the flow's realm on
//! its JS thread, see `script::realms`, or in a fresh context), giving back the call's journal
//! of earlier results until the script awaits a ctx call the journal does not hold; that step's
//! nodes, what the call needs and a pivot back with the next step token are the reply, and the
//! journal is saved (compare-and-set) before it leaves.
//!
//! - [`detect`]: which flows are Class 5 (a second parameter of `main`);
//! - [`journal`]: the journal's shape and its place in the Store;
//! - [`effects`]: the effects boundary (live, recording, replaying) the script host goes through;
//! - [`ops`]: what each ctx method does on Kazoo;
//! - [`host`]: the host functions the ctx object calls;
//! - [`replies`]: the replies a flow's steps built, for steps that would build them again;
//! - [`step`]: one request: step token, journal, replay, reply;
//! - [`offline`]: `pivotforge run --journal FILE`.

pub mod detect;
pub mod effects;
pub mod host;
pub mod journal;
pub mod offline;
pub mod ops;
pub mod replies;
pub mod step;

use serde::{Deserialize, Serialize};

pub use detect::declares_ctx;
pub use effects::{CallInfo, Effects, Mode, Replayed, Suspended};
pub use host::{install, with_idempotency_key};

/// The `ctx` object's source, evaluated in each Class 5 context.
pub const CTX_JS: &str = include_str!("ctx.js");

/// The `[class5]` section: the bounds of a Class 5 call's journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Class5Config {
    /// Hours a journal is kept after its call's last step.
    pub journal_hours: u64,
    /// Most steps (requests) of one call; past it the call gets the flow's fallback.
    pub max_steps: usize,
    /// Largest journal, in bytes of JSON; past it the call gets the flow's fallback.
    pub max_journal_bytes: usize,
}

impl Default for Class5Config {
    fn default() -> Class5Config {
        Class5Config {
            journal_hours: 4,
            max_steps: 256,
            max_journal_bytes: 1024 * 1024,
        }
    }
}

impl Class5Config {
    /// A journal's time to live after each write.
    pub fn ttl_ms(&self) -> u64 {
        self.journal_hours.max(1).saturating_mul(3_600_000)
    }
}

/// What a Class 5 step gives back from its JS thread.
#[derive(Debug, Clone, Default)]
pub struct StepOutput {
    /// Entries recorded by the step.
    pub recorded: Vec<journal::Entry>,
    /// Nodes it emitted.
    pub nodes: crate::ctx_map::Chain,
    /// The ctx call it ended at.
    pub suspended: Option<Suspended>,
    /// Why its replay did not match the journal, if it did not.
    pub diverged: Option<String>,
}

impl StepOutput {
    /// Takes what a finished step left in its effects.
    pub fn of(fx: Effects) -> StepOutput {
        let diverged = fx.divergence();
        StepOutput {
            recorded: fx.recorded,
            nodes: fx.nodes,
            suspended: fx.suspended,
            diverged,
        }
    }
}
