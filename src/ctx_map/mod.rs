//! What each Class 5 ctx call becomes on a Kazoo PBX: pure functions from a ScriptForge `ctx`
//! call (`bridge`, a prompt, `get`/`header`) and the flow's tables to typed callflow nodes, and
//! back from the next pivot request to the call's result. No I/O, no journal: the replay engine
//! calls these with the flow's settings and its own step-token URLs.
//!
//! - [`bridge`]: `ctx.bridge(destination, continue_on)` → a bridge node with failure children
//!   that pivot back with the cause; the cause read back from the next request.
//! - [`prompt`](mod@prompt): a prompt argument → `play` / `tts` nodes; [`Chain`] strings nodes on `_`.
//! - [`target`]: the destination forms, and what counts as a long number.
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

pub use bridge::{
    bridge_node, outcome, outcome_from_request, outcome_param, resolve, with_outcome, BridgeError,
    Resolved, BRIDGE_PARAM,
};
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use proptest::test_runner::Config;

    use super::test_support::assert_valid;
    use super::*;
    use crate::callflow::{CollectDtmf, Node, Pivot};

    fn back(key: &str) -> Node {
        Node::new(Pivot::new(with_outcome(
            "https://pf.example.com/pivot/ivr?step=2",
            key,
        )))
    }

    fn tables() -> CallTables {
        CallTables {
            extensions: BTreeMap::from([("1002".into(), "user:u1".into())]),
            media: BTreeMap::new(),
            media_base_url: Some("https://media.example.com/p".into()),
        }
    }

    #[test]
    fn one_step_of_an_ivr_is_one_valid_tree() {
        // What a step that speaks, plays a file, then bridges becomes.
        let tables = tables();
        let mut chain = tts("Connecting you now.").unwrap_or_else(|e| panic!("{e}"));
        chain.append(prompt("user/hold.wav", &tables, "ivr").unwrap_or_else(|e| panic!("{e}")));
        let target = resolve("1002", &tables.extensions, "ivr").unwrap_or_else(|e| panic!("{e}"));
        let tree = chain.finish(bridge_node(&target, true, back));
        assert_valid(&tree);
        let value = tree.to_value();
        assert_eq!(value["children"]["_"]["children"]["_"]["module"], "user");
        // And a step that prompts and collects.
        let collect = Node::new(CollectDtmf::new("step_2", 1)).default_child(back("x"));
        let chain = prompt("Press one for sales", &tables, "ivr").unwrap_or_else(|e| panic!("{e}"));
        assert_valid(&chain.finish(collect));
    }

    proptest! {
        #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

        #[test]
        fn any_destination_resolves_to_a_valid_bridge_or_an_error(text in "\\PC{0,40}") {
            if let Ok(target) = resolve(&text, &tables().extensions, "ivr") {
                assert_valid(&bridge_node(&target, true, back));
                assert_valid(&bridge_node(&target, false, back));
            }
        }

        #[test]
        fn a_short_number_never_goes_out_through_the_carriers(number in "[0-9*#]{1,6}") {
            let resolved = resolve(&number, &BTreeMap::new(), "ivr");
            prop_assert!(matches!(resolved, Err(BridgeError::UnknownExtension { .. })), "{resolved:?}");
        }

        #[test]
        fn any_prompt_is_valid_nodes_or_an_error(text in "\\PC{0,1500}") {
            if let Some(node) = prompt(&text, &tables(), "ivr").ok().and_then(Chain::into_node) {
                assert_valid(&node);
            }
        }

        #[test]
        fn any_outcome_key_reads_as_a_failure_or_nothing(key in "\\PC{0,40}") {
            if let Some(value) = outcome(&key) {
                prop_assert_eq!(&value["status"], "failed");
            }
        }
    }
}
