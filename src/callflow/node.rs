//! `Node`: one callflow node and its branches, with Kazoo's wire form.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer, Error as _};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::{Action, DataOf};
use super::{DEFAULT_CHILD, MAX_DEPTH};

/// One callflow node: what it does and where each branch goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Module and typed `data`.
    pub action: Action,
    /// Branches by key; `"_"` is taken when no other key matches.
    pub children: BTreeMap<String, Node>,
}

impl Node {
    /// A leaf node running this action.
    pub fn new(action: impl Into<Action>) -> Node {
        Node {
            action: action.into(),
            children: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the branch under `key`.
    #[must_use]
    pub fn child(mut self, key: impl Into<String>, node: Node) -> Node {
        self.children.insert(key.into(), node);
        self
    }

    /// Adds (or replaces) the default `"_"` branch.
    #[must_use]
    pub fn default_child(self, node: Node) -> Node {
        self.child(DEFAULT_CHILD, node)
    }

    /// The module name as written on the wire.
    pub fn module(&self) -> &'static str {
        self.action.module()
    }

    /// The wire form as a JSON value.
    pub fn to_value(&self) -> Value {
        // Every key is a string and every leaf a plain JSON scalar, so serde_json cannot fail here.
        serde_json::to_value(self).unwrap_or_else(|e| unreachable!("callflow node serialises: {e}"))
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = if self.children.is_empty() { 2 } else { 3 };
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("module", self.action.module())?;
        // Kazoo's node schema requires `data`, even when it is `{}`.
        map.serialize_entry("data", &DataOf(&self.action))?;
        if !self.children.is_empty() {
            map.serialize_entry("children", &self.children)?;
        }
        map.end()
    }
}

/// The node as it appears on the wire, before the module picks the type of `data`.
#[derive(serde::Deserialize)]
struct WireNode {
    module: String,
    #[serde(default = "empty_data")]
    data: Value,
    #[serde(default)]
    children: BTreeMap<String, Node>,
}

fn empty_data() -> Value {
    Value::Object(Map::new())
}

thread_local! {
    // Nesting of `Node::deserialize` on this thread; a hostile tree must not exhaust the stack.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Counts one level of nesting for as long as it lives.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Option<DepthGuard> {
        DEPTH.with(|depth| {
            let now = depth.get();
            (now < MAX_DEPTH).then(|| {
                depth.set(now + 1);
                DepthGuard
            })
        })
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Some(_guard) = DepthGuard::enter() else {
            return Err(D::Error::custom(format!(
                "callflow tree is nested deeper than {MAX_DEPTH} nodes"
            )));
        };
        let wire = WireNode::deserialize(deserializer)?;
        let action = Action::from_parts(&wire.module, wire.data).map_err(D::Error::custom)?;
        Ok(Node {
            action,
            children: wire.children,
        })
    }
}
