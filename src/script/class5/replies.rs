//! The replies a Class 5 flow's steps have built, kept on the loaded flow. A step's reply is
//! decided by its number, the nodes it emitted and the ctx call it ended at (with the flow's
//! settings and this service's pivot link, fixed for one loaded flow). A later step with the
//! same three sends the tree and text that the first one built and checked, and does not build,
//! check and write them again. The bridge's reply, with one pivot back per failure cause, is
//! 37 nodes, and building it was nearly a quarter of a step's CPU (24% in a profile).
//!
//! Bounded: at most [`MAX_REPLIES`] replies of at most [`MAX_REPLY_TEXT`] bytes each. When it is
//! full, it starts again empty: the replies worth keeping (the same prompt or bridge for every
//! call) come back at once, and a flow whose replies never repeat keeps none for long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;
use serde_json::Value;

use super::journal::{Pending, Step};
use super::Suspended;
use crate::ctx_map::Chain;

/// Most replies kept for one flow.
pub const MAX_REPLIES: usize = 64;

/// Largest reply kept, in bytes of JSON.
pub const MAX_REPLY_TEXT: usize = 64 * 1024;

/// A reply built and checked once.
#[derive(Debug)]
pub struct Reply {
    /// The tree sent.
    pub tree: Value,
    /// Its JSON text, as a journal stores it.
    pub text: Box<RawValue>,
    /// What it leaves waiting for the PBX.
    pub pending: Option<Pending>,
    /// True when the script ends with it.
    pub done: bool,
}

impl Reply {
    /// The journal's step for this reply.
    pub fn step(&self) -> Step {
        Step {
            reply: self.text.clone(),
            pending: self.pending.clone(),
            position: 0,
        }
    }
}

/// The replies of one loaded Class 5 flow, by what decides them.
#[derive(Debug, Default)]
pub struct Replies {
    kept: Mutex<HashMap<Box<str>, Arc<Reply>>>,
}

impl Replies {
    /// What decides the reply of step `n` that emitted `nodes` and ended at `op`.
    pub fn key(n: usize, nodes: &Chain, op: &Suspended) -> Option<Box<str>> {
        let key = (n, nodes.root(), op.method.as_str(), &op.args);
        serde_json::to_string(&key).ok().map(String::into_boxed_str)
    }

    /// The reply kept under `key`, if there is one.
    pub fn get(&self, key: &str) -> Option<Arc<Reply>> {
        self.kept.lock().ok()?.get(key).cloned()
    }

    /// Keeps `reply` under `key` if it is small enough, emptying the memo first when it is full.
    pub fn keep(&self, key: Box<str>, reply: Arc<Reply>) {
        if reply.text.get().len() > MAX_REPLY_TEXT || key.len() > MAX_REPLY_TEXT {
            return;
        }
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        if kept.len() >= MAX_REPLIES {
            kept.clear();
        }
        kept.insert(key, reply);
    }

    /// How many replies are kept.
    pub fn len(&self) -> usize {
        self.kept.lock().map_or(0, |kept| kept.len())
    }

    /// True when none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::callflow::{Hangup, Node};

    fn op(method: &str, args: Value) -> Suspended {
        Suspended {
            method: method.to_owned(),
            args,
        }
    }

    fn reply(text: &str) -> Arc<Reply> {
        Arc::new(Reply {
            tree: serde_json::from_str(text).unwrap(),
            text: RawValue::from_string(text.to_owned()).unwrap(),
            pending: Some(Pending::Bridge),
            done: false,
        })
    }

    #[test]
    fn a_reply_is_keyed_by_the_step_its_nodes_and_its_call() {
        let bridge = op("bridge", json!(["1002"]));
        let key = Replies::key(1, &Chain::new(), &bridge).unwrap();
        assert_eq!(Replies::key(1, &Chain::new(), &bridge).unwrap(), key);
        let others = [
            Replies::key(2, &Chain::new(), &bridge),
            Replies::key(1, &Chain::of(Node::new(Hangup::new())), &bridge),
            Replies::key(1, &Chain::new(), &op("bridge", json!(["1001"]))),
            Replies::key(1, &Chain::new(), &op("ivr", json!(["1002"]))),
        ];
        for other in others {
            assert_ne!(other.unwrap(), key);
        }
    }

    #[test]
    fn the_memo_gives_back_what_it_kept_and_empties_when_full() {
        let replies = Replies::default();
        replies.keep("a".into(), reply(r#"{"module":"hangup","data":{}}"#));
        let kept = replies.get("a").unwrap();
        assert_eq!(kept.text.get(), r#"{"module":"hangup","data":{}}"#);
        assert_eq!(kept.step().reply.get(), kept.text.get());
        assert_eq!(kept.step().pending, Some(Pending::Bridge));
        assert!(replies.get("b").is_none());
        for i in 0..MAX_REPLIES {
            replies.keep(format!("k{i}").into(), reply("{}"));
        }
        assert!(replies.len() <= MAX_REPLIES);
        assert!(replies.get("a").is_none(), "a full memo started again");
    }

    #[test]
    fn a_reply_too_large_is_not_kept() {
        let replies = Replies::default();
        let big = format!(
            "{{\"module\":\"tts\",\"data\":{{\"text\":\"{}\"}}}}",
            "x".repeat(MAX_REPLY_TEXT)
        );
        replies.keep("big".into(), reply(&big));
        assert!(replies.is_empty());
    }
}
