//! Walks one reply tree as Kazoo runs it (reference §5): along `_` children, the next digits into
//! each `collect_dtmf`, the next bridge outcome at each bridge and the branch Kazoo takes after it,
//! until a pivot (the next request), a terminal node or the end of the tree.

use std::collections::VecDeque;

use serde_json::{Map, Value};

use super::line::{line, main_of, role_of};
use super::spec::{BridgeOutcome, CallSpec, KazooVersion};
use super::transcript::{End, NodeLine};
use crate::callflow::{CallKind, DEFAULT_CHILD, MAX_DEPTH};

/// What the caller's side of the call still holds, and the parameters the next request carries.
#[derive(Debug, Clone)]
pub struct CallState {
    /// The parameters of the next request (`Digits` and `Custom-Application-Vars` grow as the
    /// call goes).
    pub params: Map<String, Value>,
    digits: VecDeque<String>,
    bridges: VecDeque<BridgeOutcome>,
    kazoo: KazooVersion,
    caller_id: (Option<Value>, Option<Value>),
    /// `scheme://host[:port]` of the call's first URL: pivot lines show URLs there as paths.
    pub origin: String,
}

/// Where a walk stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// At a `pivot` node: the next request is its (the node, children included).
    Pivot(Value),
    /// The call ended.
    End(End),
}

impl CallState {
    /// The state a call of `spec` starts in, with its first request's parameters.
    pub fn new(spec: &CallSpec, params: Map<String, Value>) -> CallState {
        let caller_id = (
            params.get("Caller-ID-Name").cloned(),
            params.get("Caller-ID-Number").cloned(),
        );
        CallState {
            params,
            digits: spec.digits.iter().cloned().collect(),
            bridges: spec.bridges.iter().cloned().collect(),
            kazoo: spec.kazoo,
            caller_id,
            origin: String::new(),
        }
    }

    /// Runs `tree` from its root, adding a line per node to `nodes`.
    pub fn walk(&mut self, tree: &Value, nodes: &mut Vec<NodeLine>) -> Next {
        let mut node = tree;
        for _ in 0..=MAX_DEPTH {
            let module = node.get("module").and_then(Value::as_str).unwrap_or("");
            let data = node.get("data").unwrap_or(&Value::Null);
            let children = node.get("children").and_then(Value::as_object);
            let child = |key: &str| children.and_then(|c| c.get(key));
            let Some(role) = role_of(module, self.kazoo) else {
                let reason = format!(
                    "{} has no module `{module}`: it hangs up",
                    self.kazoo.name()
                );
                return Next::End(End::HungUp { reason });
            };
            let main = main_of(&role, data);
            let mut push = |result: Option<String>| {
                nodes.push(NodeLine {
                    module: module.to_owned(),
                    main: main.clone(),
                    line: line(module, role.kind, &main, data, result.as_deref()),
                    result,
                });
            };
            if data.get("skip_module").and_then(Value::as_bool) == Some(true) {
                push(Some("skipped".into()));
            } else {
                match role.kind {
                    CallKind::Next | CallKind::Speaks => {
                        self.apply(module, data);
                        push(None);
                    }
                    CallKind::Collects => {
                        let digits = self.collect(data);
                        push(Some(digits));
                    }
                    CallKind::Pivots => {
                        let url = data.get("voice_url").and_then(Value::as_str).unwrap_or("");
                        let shown = super::wire::masked(url);
                        let relative = (!self.origin.is_empty())
                            .then(|| shown.strip_prefix(self.origin.as_str()))
                            .flatten()
                            .filter(|rest| rest.starts_with('/'));
                        push(Some(relative.unwrap_or(&shown).to_owned()));
                        return Next::Pivot(node.clone());
                    }
                    CallKind::Rejects | CallKind::Ends => {
                        push(None);
                        return Next::End(End::Terminal {
                            module: module.to_owned(),
                        });
                    }
                    CallKind::Bridge => {
                        let outcome = self.bridges.pop_front().unwrap_or(BridgeOutcome::Answer);
                        push(Some(outcome.to_string()));
                        match after_bridge(module, &outcome, &child) {
                            Ok(next) => {
                                node = next;
                                continue;
                            }
                            Err(end) => return Next::End(end),
                        }
                    }
                }
            }
            match child(DEFAULT_CHILD) {
                Some(next) => node = next,
                None => return Next::End(End::EndOfTree),
            }
        }
        Next::End(End::HungUp {
            reason: format!("the tree is deeper than {MAX_DEPTH} nodes"),
        })
    }

    /// The next `--digits` entry as Kazoo stores it: cut at a terminator, at most `max_digits`;
    /// none left is an empty collection (the caller pressed nothing before the timeout).
    fn collect(&mut self, data: &Value) -> String {
        let name = data
            .get("collection_name")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned();
        let max = data.get("max_digits").and_then(Value::as_u64).unwrap_or(1);
        let terminators: Vec<String> = match data.get("terminator").and_then(Value::as_str) {
            // When both are set, `terminator` wins (reference §5).
            Some(one) => vec![one.to_owned()],
            None => match data.get("terminators").and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                None => vec!["#".to_owned()],
            },
        };
        let pressed = self.digits.pop_front().unwrap_or_default();
        let cut = pressed
            .char_indices()
            .find(|(_, c)| terminators.iter().any(|t| t.starts_with(*c)))
            .map_or(pressed.as_str(), |(i, _)| &pressed[..i]);
        let kept: String = cut
            .chars()
            .take(usize::try_from(max).unwrap_or(usize::MAX))
            .collect();
        let digits = self
            .params
            .entry("Digits")
            .or_insert_with(|| Value::Object(Map::new()));
        if !digits.is_object() {
            *digits = Value::Object(Map::new());
        }
        if let Value::Object(map) = digits {
            map.insert(name, Value::String(kept.clone()));
        }
        kept
    }

    /// What a pass-through module changes in later requests: call variables, the caller id.
    fn apply(&mut self, module: &str, data: &Value) {
        let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_owned);
        match module {
            "set_variables" => {
                let Some(Value::Object(vars)) = data.get("custom_application_vars") else {
                    return;
                };
                let slot = self
                    .params
                    .entry("Custom-Application-Vars")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = slot {
                    for (k, v) in vars {
                        map.insert(k.clone(), v.clone());
                    }
                }
            }
            "set_cid" => {
                for (key, field) in [
                    ("Caller-ID-Name", "caller_id_name"),
                    ("Caller-ID-Number", "caller_id_number"),
                ] {
                    if let Some(value) = text(field) {
                        self.params.insert(key.into(), Value::String(value));
                    }
                }
            }
            "prepend_cid" if text("action").as_deref() == Some("reset") => {
                for (key, original) in [
                    ("Caller-ID-Name", self.caller_id.0.clone()),
                    ("Caller-ID-Number", self.caller_id.1.clone()),
                ] {
                    match original {
                        Some(v) => self.params.insert(key.into(), v),
                        None => self.params.remove(key),
                    };
                }
            }
            "prepend_cid" => {
                for (key, field) in [
                    ("Caller-ID-Name", "caller_id_name_prefix"),
                    ("Caller-ID-Number", "caller_id_number_prefix"),
                ] {
                    if let Some(prefix) = text(field) {
                        let now = self.params.get(key).and_then(Value::as_str).unwrap_or("");
                        let value = format!("{prefix}{now}");
                        self.params.insert(key.into(), Value::String(value));
                    }
                }
            }
            _ => {}
        }
    }
}

/// The branch Kazoo takes after a bridge: none when answered (the call ends with it); on a
/// failure the cause child, then the SIP code child, then `_` — except `resources`, which never
/// uses `_` (it sends a default response and stops).
fn after_bridge<'a>(
    module: &str,
    outcome: &BridgeOutcome,
    child: &dyn Fn(&str) -> Option<&'a Value>,
) -> Result<&'a Value, End> {
    let BridgeOutcome::Failed { cause, code } = outcome else {
        return Err(End::Terminal {
            module: module.to_owned(),
        });
    };
    let by_code = code.and_then(|code| child(&format!("sip:{code}")));
    let by_default = (module != "resources")
        .then(|| child(DEFAULT_CHILD))
        .flatten();
    if let Some(next) = child(cause).or(by_code).or(by_default) {
        return Ok(next);
    }
    if module == "resources" {
        let code = code.map(|c| format!(" or sip:{c}")).unwrap_or_default();
        return Err(End::HungUp {
            reason: format!(
                "resources failed with {outcome} and the node has no {cause}{code} child \
                 (resources never takes `_`): Kazoo sends a default response and stops"
            ),
        });
    }
    Err(End::EndOfTree)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn state(digits: &[&str], bridges: &[&str], kazoo: KazooVersion) -> CallState {
        let spec = CallSpec {
            digits: digits.iter().map(|d| (*d).to_owned()).collect(),
            bridges: bridges.iter().filter_map(|b| b.parse().ok()).collect(),
            kazoo,
            ..CallSpec::default()
        };
        CallState::new(&spec, Map::new())
    }

    fn lines(nodes: &[NodeLine]) -> Vec<&str> {
        nodes.iter().map(|n| n.line.as_str()).collect()
    }

    fn bridge(module: &str, children: Value) -> Value {
        json!({"module": module, "data": {"id": "d1", "to_did": "+1415"}, "children": children})
    }

    fn say(text: &str) -> Value {
        json!({"module": "tts", "data": {"text": text}})
    }

    #[test]
    fn a_failed_bridge_takes_the_cause_then_the_code_then_default() {
        let children =
            json!({"NO_ANSWER": say("no answer"), "sip:486": say("busy"), "_": say("other")});
        for (outcome, heard) in [
            ("NO_ANSWER", "no answer"),
            ("USER_BUSY/sip:486", "busy"),
            ("CALL_REJECTED/sip:603", "other"),
        ] {
            let mut call = state(&[], &[outcome], KazooVersion::V43);
            let mut nodes = Vec::new();
            let end = call.walk(&bridge("device", children.clone()), &mut nodes);
            assert_eq!(end, Next::End(End::EndOfTree), "{outcome}");
            assert_eq!(nodes[1].main, heard, "{outcome}");
            assert_eq!(nodes[0].line, format!("bridge device d1 → {outcome}"));
        }
        // None left: answered, the call ends with the bridge.
        let mut nodes = Vec::new();
        let end = state(&[], &[], KazooVersion::V43).walk(&bridge("user", children), &mut nodes);
        assert_eq!(
            end,
            Next::End(End::Terminal {
                module: "user".into()
            })
        );
        assert_eq!(lines(&nodes), ["bridge user d1 → answered"]);
    }

    #[test]
    fn resources_never_takes_default() {
        let children = json!({"USER_BUSY": say("busy"), "_": say("never")});
        let mut nodes = Vec::new();
        let mut call = state(&[], &["NO_ANSWER", "USER_BUSY"], KazooVersion::V43);
        let end = call.walk(&bridge("resources", children.clone()), &mut nodes);
        let Next::End(End::HungUp { reason }) = end else {
            panic!("{end:?}")
        };
        assert!(reason.contains("never takes `_`"), "{reason}");
        assert_eq!(lines(&nodes), ["bridge resources +1415 → NO_ANSWER"]);
        let mut nodes = Vec::new();
        call.walk(&bridge("resources", children), &mut nodes);
        assert_eq!(nodes[1].main, "busy", "the cause child is taken");
        // A device with the same children falls to `_`.
        let mut nodes = Vec::new();
        let mut call = state(&[], &["NO_ANSWER"], KazooVersion::V43);
        call.walk(&bridge("device", json!({"_": say("fallback")})), &mut nodes);
        assert_eq!(nodes[1].main, "fallback");
    }

    #[test]
    fn collections_accumulate_and_digits_are_cut_as_kazoo_stores_them() {
        let tree = json!({"module": "collect_dtmf", "data": {"collection_name": "pin", "max_digits": 4},
            "children": {"_": {"module": "collect_dtmf", "data": {"collection_name": "menu"},
                "children": {"_": {"module": "collect_dtmf", "data": {"collection_name": "last", "max_digits": 3}}}}}});
        let mut call = state(&["123456#", "2"], &[], KazooVersion::V43);
        let mut nodes = Vec::new();
        call.walk(&tree, &mut nodes);
        assert_eq!(
            call.params["Digits"],
            json!({"pin": "1234", "menu": "2", "last": ""}),
            "max 4; then the next entry; none left = nothing pressed"
        );
        assert_eq!(nodes[0].line, "collect pin (max 4) ← \"1234\"");
        let mut call = state(&["12#34"], &[], KazooVersion::V43);
        call.walk(&tree, &mut Vec::new());
        assert_eq!(call.params["Digits"]["pin"], "12", "cut at the terminator");
        // A later collection keeps the earlier ones; a second `menu` replaces the first.
        let again = json!({"module": "collect_dtmf", "data": {"collection_name": "menu"}});
        let mut call = state(&["1234", "1", "", "9"], &[], KazooVersion::V43);
        call.walk(&tree, &mut Vec::new());
        call.walk(&again, &mut Vec::new());
        assert_eq!(
            call.params["Digits"],
            json!({"pin": "1234", "menu": "9", "last": ""})
        );
    }

    #[test]
    fn master_only_modules_end_a_4_3_call_and_run_on_master() {
        let tree = json!({"module": "noop", "data": {}, "children": {"_": say("after")}});
        let mut nodes = Vec::new();
        let end = state(&[], &[], KazooVersion::V43).walk(&tree, &mut nodes);
        let Next::End(End::HungUp { reason }) = end else {
            panic!("{end:?}")
        };
        assert!(
            reason.contains("Kazoo 4.3 has no module `noop`"),
            "{reason}"
        );
        let mut nodes = Vec::new();
        let end = state(&[], &[], KazooVersion::Master).walk(&tree, &mut nodes);
        assert_eq!(end, Next::End(End::EndOfTree));
        assert_eq!(lines(&nodes), ["noop", "tts \"after\""]);
    }

    #[test]
    fn a_pivot_stops_the_walk_and_variables_ride_along() {
        let tree = json!({"module": "set_variables", "data": {"custom_application_vars": {"tier": "gold"}},
            "children": {"_": {"module": "pivot", "data": {"voice_url": "http://pf/pivot/next"},
                "children": {"_": say("pbx side")}}}});
        let mut call = state(&[], &[], KazooVersion::V43);
        call.origin = "http://pf".into();
        let mut nodes = Vec::new();
        let Next::Pivot(node) = call.walk(&tree, &mut nodes) else {
            panic!("no pivot")
        };
        assert_eq!(node["data"]["voice_url"], "http://pf/pivot/next");
        assert_eq!(
            call.params["Custom-Application-Vars"],
            json!({"tier": "gold"})
        );
        assert_eq!(nodes[1].line, "pivot → /pivot/next");
    }
}
