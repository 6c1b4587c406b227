//! `ctx.bridge(destination, continue_on)`: the destination resolved to a [`Target`], the bridge
//! node with failure children that pivot back to the flow, and the `{status: 'failed', cause,
//! code}` read back from the next request.
//!
//! Kazoo (reference §5) stops the flow after an answered bridge, and after a failed one takes
//! the child keyed by the hangup cause, then by `sip:CODE`, then `_` — except `resources`, which
//! never takes `_`. Kazoo sends nothing saying how the bridge ended, so each failure child is a
//! pivot whose URL carries the branch taken ([`BRIDGE_PARAM`]); the replay engine gives that
//! URL (with its step token) through the `back` closure.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};

use super::target::{Target, FORMS};
use crate::callflow::DEFAULT_CHILD;
use crate::callflow::{Callflow, Device, Endpoint, Node, Resources, RingGroup, User};
use crate::request::PivotRequest;

/// Query parameter of the pivot-back URL that names the failure branch taken.
pub const BRIDGE_PARAM: &str = "bridge";

/// What the `_` failure child reports: a cause and a code that no other child matched.
pub const OTHER: &str = "other";

/// Hangup causes a failed bridge gets a child for, with the SIP code each usually stands for
/// (reported as `code`; `None` when there is none).
pub const CAUSES: &[(&str, Option<u16>)] = &[
    ("NO_ANSWER", Some(480)),
    ("USER_BUSY", Some(486)),
    ("CALL_REJECTED", Some(603)),
    ("UNALLOCATED_NUMBER", Some(404)),
    ("NO_ROUTE_DESTINATION", Some(404)),
    ("NO_USER_RESPONSE", Some(408)),
    ("SUBSCRIBER_ABSENT", Some(480)),
    ("USER_NOT_REGISTERED", Some(404)),
    ("NORMAL_TEMPORARY_FAILURE", Some(503)),
    ("NORMAL_CIRCUIT_CONGESTION", Some(503)),
    ("SERVICE_UNAVAILABLE", Some(503)),
    ("DESTINATION_OUT_OF_ORDER", Some(502)),
    ("INVALID_NUMBER_FORMAT", Some(484)),
    ("NUMBER_CHANGED", Some(410)),
    ("RECOVERY_ON_TIMER_EXPIRE", Some(504)),
    ("ORIGINATOR_CANCEL", Some(487)),
    ("INCOMPATIBLE_DESTINATION", Some(488)),
    ("UNSPECIFIED", None),
];

/// SIP codes a failed bridge gets a `sip:CODE` child for (reached when the cause is unlisted).
pub const SIP_CODES: &[u16] = &[
    400, 403, 404, 408, 410, 480, 484, 486, 487, 488, 500, 502, 503, 504, 600, 603, 604,
];

/// A destination that cannot be bridged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeError {
    /// A short number that is not in the flow's `[extensions]`.
    UnknownExtension {
        /// The number as dialled.
        number: String,
        /// The flow's settings file, e.g. `ivr.settings.toml`.
        settings: String,
    },
    /// Not a destination at all (the message says why and what to write).
    Destination(String),
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::UnknownExtension { number, settings } => write!(
                f,
                "{number} is not in [extensions] of {settings}: add `{number} = \"user:ID\"` \
                 (or device:ID, ring_group:ID,ID, callflow:ID) under [extensions]; short numbers \
                 are never dialled out through the carriers"
            ),
            BridgeError::Destination(why) => write!(f, "bridge: {why}"),
        }
    }
}

impl std::error::Error for BridgeError {}

/// A destination ready to bridge: never a short number still to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved(Target);

impl Resolved {
    /// The target bridged to.
    pub fn target(&self) -> &Target {
        &self.0
    }
}

/// Resolves a script's destination for flow `flow`: typed targets and full numbers as they
/// are, short numbers through `extensions` (the flow's `[extensions]`).
pub fn resolve(
    destination: &str,
    extensions: &BTreeMap<String, String>,
    flow: &str,
) -> Result<Resolved, BridgeError> {
    let target = Target::parse(destination).map_err(BridgeError::Destination)?;
    let number = match &target {
        Target::Extension(number) | Target::Number(number) => number,
        _ => return Ok(Resolved(target)),
    };
    if let Some(listed) = extensions.get(number.as_str()) {
        return match Target::parse(listed) {
            Ok(Target::Extension(_)) => Err(BridgeError::Destination(format!(
                "[extensions] {number} = {listed:?} leads to another short number: write one of {FORMS}"
            ))),
            Ok(found) => Ok(Resolved(found)),
            Err(why) => Err(BridgeError::Destination(format!(
                "[extensions] {number} = {listed:?}: {why}"
            ))),
        };
    }
    match target {
        Target::Extension(number) => Err(BridgeError::UnknownExtension {
            number,
            settings: format!("{flow}.settings.toml"),
        }),
        other => Ok(Resolved(other)),
    }
}

/// The bridge node for `target`. Unless `continue_on` is false (the script's
/// `continue_on === false`), it carries failure children, each `back(key)`, where `key` is
/// the cause, `sip:CODE`, or [`OTHER`] for `_`: the pivot back to the flow with `key` in its
/// URL (see [`with_outcome`]). Without children a failed bridge hangs up.
pub fn bridge_node(target: &Resolved, continue_on: bool, back: impl Fn(&str) -> Node) -> Node {
    let (node, uses_default) = match &target.0 {
        Target::Device(id) => (Node::new(Device::new(id.as_str())), true),
        Target::User(id) => (Node::new(User::new(id.as_str())), true),
        Target::RingGroup(members) => {
            let endpoints = members
                .iter()
                .map(|(kind, id)| Endpoint::new(*kind, id.as_str()))
                .collect();
            (Node::new(RingGroup::new(endpoints)), true)
        }
        // `resolve` never yields an extension; were one here, it is dialled as written.
        Target::Number(number) | Target::Extension(number) => {
            (Node::new(Resources::to(number.as_str())), false)
        }
        // The call leaves for a PBX-side callflow and never comes back to the script.
        Target::Callflow(id) => return Node::new(Callflow::new(id.as_str())),
    };
    if !continue_on {
        return node;
    }
    let mut node = node;
    for (cause, _) in CAUSES {
        node = node.child(*cause, back(cause));
    }
    for code in SIP_CODES {
        let key = format!("sip:{code}");
        let child = back(&key);
        node = node.child(key, child);
    }
    if uses_default {
        node = node.default_child(back(OTHER));
    }
    node
}

/// `url` with the failure branch `key` added as [`BRIDGE_PARAM`] (after any query it has).
pub fn with_outcome(url: &str, key: &str) -> String {
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}{}", outcome_param(key))
}

/// The query pair `bridge=KEY` naming failure branch `key`, percent-encoded.
pub fn outcome_param(key: &str) -> String {
    let value: String = key
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{BRIDGE_PARAM}={value}")
}

/// What `bridge` resolves with for the failure branch `key` (as [`BRIDGE_PARAM`] carried it):
/// `{status: 'failed', cause, code}`, `cause` a string or null, `code` a number or null.
/// `None` when `key` is not one this module writes.
pub fn outcome(key: &str) -> Option<Value> {
    let key = key.trim();
    if key == OTHER || key == DEFAULT_CHILD {
        return Some(failed(None, None));
    }
    if let Some(code) = key.strip_prefix("sip:") {
        let code: u16 = code.parse().ok().filter(|c| (300..700).contains(c))?;
        return Some(failed(None, Some(code)));
    }
    let valid = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return None;
    }
    let code = CAUSES
        .iter()
        .find(|(cause, _)| *cause == key)
        .and_then(|(_, code)| *code);
    Some(failed(Some(key), code))
}

/// The bridge outcome a pivot-back request carries (its [`BRIDGE_PARAM`]), if any.
pub fn outcome_from_request(request: &PivotRequest) -> Option<Value> {
    outcome(&request.get(BRIDGE_PARAM)?)
}

fn failed(cause: Option<&str>, code: Option<u16>) -> Value {
    json!({"status": "failed", "cause": cause, "code": code})
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::callflow::{EndpointType, Pivot};
    use crate::ctx_map::test_support::assert_valid;
    use crate::request::BodyFormat;

    const BASE: &str = "https://pf.example.com/pivot/ivr?step=3";

    fn back(key: &str) -> Node {
        Node::new(Pivot::new(with_outcome(BASE, key)))
    }

    fn extensions() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("1002".to_owned(), "user:u1002".to_owned()),
            ("1100".to_owned(), "ring_group:d1,user:u2".to_owned()),
            ("5550100".to_owned(), "device:lobby".to_owned()),
            ("1200".to_owned(), "+14155550100".to_owned()),
        ])
    }

    fn target(destination: &str) -> Target {
        match resolve(destination, &extensions(), "ivr") {
            Ok(resolved) => resolved.target().clone(),
            Err(e) => panic!("{destination}: {e}"),
        }
    }

    #[test]
    fn destinations_resolve() {
        assert_eq!(target("device:d9"), Target::Device("d9".into()));
        assert_eq!(target("1002"), Target::User("u1002".into()));
        assert_eq!(
            target("1100"),
            Target::RingGroup(vec![
                (EndpointType::Device, "d1".into()),
                (EndpointType::User, "u2".into())
            ])
        );
        // A listed long number goes where the table says, an unlisted one out.
        assert_eq!(target("555-0100"), Target::Device("lobby".into()));
        assert_eq!(target("5550199"), Target::Number("5550199".into()));
        assert_eq!(target("1200"), Target::Number("+14155550100".into()));
        assert_eq!(
            target("+44 20 7946 0958"),
            Target::Number("+442079460958".into())
        );
    }

    #[test]
    fn an_unknown_extension_names_the_table_and_never_dials_out() {
        let err = resolve("1003", &extensions(), "ivr").err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.starts_with(
                "1003 is not in [extensions] of ivr.settings.toml: add `1003 = \"user:ID\"`"
            ),
            "{text}"
        );
        let bad = BTreeMap::from([("7".to_owned(), "8".to_owned())]);
        let text = resolve("7", &bad, "ivr")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("another short number"), "{text}");
        let text = resolve("fax:1", &bad, "ivr")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("unknown destination type"), "{text}");
    }

    fn keys(node: &Node) -> Vec<String> {
        node.children.keys().cloned().collect()
    }

    #[test]
    fn device_user_and_ring_group_fail_to_cause_code_and_default() {
        for destination in ["device:d1", "user:u1", "1100"] {
            let resolved =
                resolve(destination, &extensions(), "ivr").unwrap_or_else(|e| panic!("{e}"));
            let node = bridge_node(&resolved, true, back);
            assert_valid(&node);
            let keys = keys(&node);
            assert_eq!(
                keys.len(),
                CAUSES.len() + SIP_CODES.len() + 1,
                "{destination}"
            );
            for key in ["NO_ANSWER", "USER_BUSY", "CALL_REJECTED", "sip:486", "_"] {
                assert!(keys.iter().any(|k| k == key), "{destination}: no {key}");
            }
            let value = node.to_value();
            assert_eq!(
                value["children"]["USER_BUSY"]["data"]["voice_url"],
                format!("{BASE}&bridge=USER_BUSY")
            );
            assert_eq!(
                value["children"]["sip:486"]["data"]["voice_url"],
                format!("{BASE}&bridge=sip%3A486")
            );
            assert_eq!(
                value["children"]["_"]["data"]["voice_url"],
                format!("{BASE}&bridge=other")
            );
        }
        let group = bridge_node(&Resolved(target("1100")), true, back).to_value();
        assert_eq!(
            group["data"]["endpoints"],
            json!([{"endpoint_type": "device", "id": "d1"}, {"endpoint_type": "user", "id": "u2"}])
        );
    }

    #[test]
    fn resources_never_get_a_default_child() {
        let node = bridge_node(&Resolved(target("+14155550100")), true, back);
        assert_valid(&node);
        assert_eq!(node.to_value()["data"], json!({"to_did": "+14155550100"}));
        assert!(!node.children.contains_key("_"));
        assert_eq!(node.children.len(), CAUSES.len() + SIP_CODES.len());
    }

    #[test]
    fn continue_on_false_and_callflow_have_no_children() {
        for destination in [
            "device:d1",
            "user:u1",
            "1100",
            "+14155550100",
            "callflow:cf1",
        ] {
            let node = bridge_node(&Resolved(target(destination)), false, back);
            assert_valid(&node);
            assert!(node.children.is_empty(), "{destination}");
        }
        let node = bridge_node(&Resolved(target("callflow:cf1")), true, back);
        assert_valid(&node);
        assert_eq!(
            node.to_value(),
            json!({"module": "callflow", "data": {"id": "cf1"}})
        );
    }

    #[test]
    fn every_child_key_reads_back_as_a_failure() {
        let node = bridge_node(&Resolved(target("user:u1")), true, back);
        for (key, child) in &node.children {
            let url = child.to_value()["data"]["voice_url"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
            let request = PivotRequest::parse(query, b"", BodyFormat::Form)
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let got = outcome_from_request(&request).unwrap_or_else(|| panic!("{key}: none"));
            assert_eq!(got["status"], "failed", "{key}");
            match key.as_str() {
                "_" => assert_eq!(
                    got,
                    json!({"status": "failed", "cause": null, "code": null})
                ),
                code if code.starts_with("sip:") => {
                    assert_eq!(got["cause"], Value::Null);
                    assert_eq!(got["code"].to_string(), code["sip:".len()..]);
                }
                cause => assert_eq!(got["cause"], cause),
            }
        }
    }

    #[test]
    fn outcomes_parse() {
        assert_eq!(
            outcome("NO_ANSWER"),
            Some(json!({"status": "failed", "cause": "NO_ANSWER", "code": 480}))
        );
        assert_eq!(
            outcome("UNSPECIFIED"),
            Some(json!({"status": "failed", "cause": "UNSPECIFIED", "code": null}))
        );
        assert_eq!(
            outcome("sip:486"),
            Some(json!({"status": "failed", "cause": null, "code": 486}))
        );
        // A cause Kazoo may send that is not listed still reads as one.
        assert_eq!(
            outcome("MANDATORY_IE_MISSING").map(|v| v["cause"].clone()),
            Some(json!("MANDATORY_IE_MISSING"))
        );
        for bad in ["", "sip:", "sip:99", "sip:abc", "no answer", "<script>"] {
            assert_eq!(outcome(bad), None, "{bad}");
        }
        let request = PivotRequest::parse("step=3", b"", BodyFormat::Form).unwrap_or_default();
        assert_eq!(outcome_from_request(&request), None);
        assert_eq!(
            with_outcome("https://a.example/p", "X"),
            "https://a.example/p?bridge=X"
        );
    }
}
