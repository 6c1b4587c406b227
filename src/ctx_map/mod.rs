//! What each Class 5 ctx call becomes on a Kazoo PBX: pure functions from a ScriptForge `ctx`
//! call (`bridge`, a prompt, `get`/`header`) and the flow's tables to typed callflow nodes, and
//! back from the next pivot request to the call's result. No I/O, no journal: the replay engine
//! calls these with the flow's settings and its own step-token URLs.
//!
//! - [`bridge`]: `ctx.bridge(destination, continue_on)` → a bridge node with failure children
//!   that pivot back with the cause; the cause read back from the next request.
//! - [`prompt`]: a prompt argument → `play` / `tts` nodes; [`Chain`] strings nodes on `_`.
//! - [`vars`]: ScriptForge's call-variable names → pivot request parameters (`ctx.get`).
//! - [`tables`]: the `[extensions]`, `[media]` and `media_base_url` settings.
//! - [`calls`]: `record`, `waitForHangup`, and the methods Kazoo cannot offer.
//! - [`versions`]: a tree must run on Kazoo 4.3 and on master.
//!
//! Every tree built here passes [`Schemas::validate`](crate::callflow::Schemas::validate)
//! (each file's tests check it).

pub mod bridge;
pub mod calls;
pub mod prompt;
pub mod tables;
pub mod target;
pub mod vars;
pub mod versions;

pub use bridge::{bridge_node, outcome, outcome_from_request, resolve, BridgeError, BRIDGE_PARAM};
pub use prompt::{prompt, tts, Chain, PromptError};
pub use tables::{CallTables, RawTables, TableError};
pub use target::Target;
pub use versions::{check_both, check_for, KazooVersion};

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::OnceLock;

    use crate::callflow::{Node, Schemas};

    /// The schemas, compiled once for all of this module's tests.
    pub(crate) fn schemas() -> &'static Schemas {
        static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
        SCHEMAS.get_or_init(Schemas::new)
    }

    /// Panics with the schema errors unless `node` is valid for Kazoo and both its versions.
    pub(crate) fn assert_valid(node: &Node) {
        let tree = node.to_value();
        if let Err(errors) = super::check_both(schemas(), &tree) {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("invalid tree {tree}: {}", shown.join("; "));
        }
    }
}
