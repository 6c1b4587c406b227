//! Kazoo's end-of-call webhook (`CHANNEL_DESTROY`) as `postCall(event)` sees it.
//!
//! Kazoo's webhooks application (`webhooks_channel_util.erl`) sends the channel's fields under
//! snake_case names, as JSON, as a form body or as a GET query (`kz_http_util:
//! json_to_querystring`: nested objects become `key[sub]=v`, every value text). A pivot node's
//! `cdr_url` would send Kazoo's own `Call-ID` style names. Both map to the same documented
//! fields, with the numbers as numbers whatever the encoding, so a script reads one shape; the
//! payload as received stays in `raw`.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value};

/// The hook event that ends a channel; any other `hook_event` is not an end-of-call event.
pub const CHANNEL_DESTROY: &str = "channel_destroy";

/// One documented field: its name in `event`, then the payload keys it is read from, in order.
struct Field {
    name: &'static str,
    from: &'static [&'static str],
    number: bool,
}

const fn text(name: &'static str, from: &'static [&'static str]) -> Field {
    Field {
        name,
        from,
        number: false,
    }
}

const fn number(name: &'static str, from: &'static [&'static str]) -> Field {
    Field {
        name,
        from,
        number: true,
    }
}

/// The mapping the README documents, webhook name first, `cdr_url` name second.
const FIELDS: [Field; 18] = [
    text("call_id", &["call_id", "Call-ID"]),
    text("account_id", &["account_id", "Account-ID"]),
    text("direction", &["call_direction", "Call-Direction"]),
    text(
        "caller_id_number",
        &["caller_id_number", "Caller-ID-Number"],
    ),
    text("caller_id_name", &["caller_id_name", "Caller-ID-Name"]),
    text(
        "callee_id_number",
        &["callee_id_number", "Callee-ID-Number"],
    ),
    text("callee_id_name", &["callee_id_name", "Callee-ID-Name"]),
    text("from", &["from", "From"]),
    text("to", &["to", "To"]),
    text("request", &["request", "Request"]),
    text("hangup_cause", &["hangup_cause", "Hangup-Cause"]),
    text("hangup_code", &["hangup_code", "Hangup-Code"]),
    number(
        "duration_seconds",
        &["duration_seconds", "Duration-Seconds"],
    ),
    number("billing_seconds", &["billing_seconds", "Billing-Seconds"]),
    number("ringing_seconds", &["ringing_seconds", "Ringing-Seconds"]),
    text(
        "other_leg_call_id",
        &["other_leg_call_id", "Other-Leg-Call-ID"],
    ),
    text("timestamp", &["timestamp", "Timestamp"]),
    text("hook_event", &["hook_event"]),
];

/// Objects carried whole: the channel's and the application's custom variables.
const OBJECTS: [(&str, &[&str]); 2] = [
    (
        "custom_channel_vars",
        &["custom_channel_vars", "Custom-Channel-Vars"],
    ),
    (
        "custom_application_vars",
        &["custom_application_vars", "Custom-Application-Vars"],
    ),
];

/// The `postCall(event)` argument for a payload received for `flow`: every documented field
/// (null when the payload has none), `flow`, and `raw`.
pub fn map(raw: Map<String, Value>, flow: &str) -> Value {
    let mut event = Map::new();
    for field in &FIELDS {
        let value = first(&raw, field.from).map_or(Value::Null, |v| {
            if field.number {
                as_number(v)
            } else {
                as_text(v)
            }
        });
        event.insert(field.name.into(), value);
    }
    for (name, from) in OBJECTS {
        let value = first(&raw, from)
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        event.insert(name.into(), value);
    }
    // Kazoo puts the account in the channel variables too; a form body may carry only those.
    if event["account_id"].is_null() {
        if let Some(id) = event["custom_channel_vars"].get("Account-ID") {
            event.insert("account_id".into(), as_text(id));
        }
    }
    event.insert("flow".into(), Value::String(flow.into()));
    event.insert("raw".into(), Value::Object(raw));
    Value::Object(event)
}

/// The first of `keys` the payload has with a value: null and empty text count as none, since
/// a form or query can only send an absent value as `key=`.
fn first<'a>(raw: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| {
        raw.get(*k)
            .filter(|v| !v.is_null() && v.as_str() != Some(""))
    })
}

/// A number from JSON, or from the text a form or query carries; other text stays text.
fn as_number(value: &Value) -> Value {
    match value {
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| s.trim().parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

/// Text as text; a JSON number (Kazoo's `timestamp`) as its digits, so both encodings agree.
fn as_text(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

/// Whether a script could export `postCall`: its source or a file it imports names it. A
/// script that names it nowhere can't define it, so its events would only ever fail.
pub fn may_define_post_call(script: &crate::script::ScriptFlow) -> bool {
    const NAME: &str = "postCall";
    script.source.contains(NAME)
        || script
            .imports
            .values()
            .any(|bytes| bytes.windows(NAME.len()).any(|w| w == NAME.as_bytes()))
}

/// A warning for each of `flows` (`[events] webhook_flows`) that can't take end-of-call
/// events: it is not loaded, is a rule flow, or is a script that defines no `postCall`. The
/// service can't tell offline which flows Kazoo's webhooks point at, so it asks the operator.
pub fn unfit_flows(registry: &crate::flows::Registry, flows: &[String]) -> Vec<String> {
    use crate::flows::Flow;
    let mut out = Vec::new();
    for name in flows {
        let problem = match registry.get(name).map(|e| &e.state) {
            None => "there is no such flow: events sent to it are dropped",
            Some(Ok(Flow::Rules(_))) => {
                "it is a rule flow: only a script's postCall(event) takes events"
            }
            Some(Ok(Flow::Script(script))) if !may_define_post_call(script) => {
                "its script defines no postCall(event): events sent to it are dropped"
            }
            _ => continue,
        };
        out.push(format!(
            "[events] webhook_flows names `{name}`, but {problem}"
        ));
    }
    out
}

/// What the `/events` handler remembers between requests: the flows already warned about
/// (to warn once per flow, not once per call).
#[derive(Default)]
pub struct Intake {
    warned: Mutex<HashSet<String>>,
}

impl Intake {
    /// True the first time it is asked about `flow` (this process).
    pub fn first_warning(&self, flow: &str) -> bool {
        self.warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(flow.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{map, Intake};

    #[test]
    fn a_flow_is_warned_about_once() {
        let intake = Intake::default();
        assert!(intake.first_warning("f"));
        assert!(!intake.first_warning("f"));
        assert!(intake.first_warning("g"));
    }

    fn raw(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn json_and_form_payloads_map_to_the_same_fields() {
        let json_body = raw(
            json!({"call_id": "c1", "duration_seconds": 6, "timestamp": 63724349409_i64,
            "hangup_cause": "NORMAL_CLEARING", "custom_channel_vars": {"Account-ID": "a1"}}),
        );
        let form_body = raw(
            json!({"call_id": "c1", "duration_seconds": "6", "timestamp": "63724349409",
            "hangup_cause": "NORMAL_CLEARING", "custom_channel_vars": {"Account-ID": "a1"}}),
        );
        let (a, b) = (map(json_body, "f"), map(form_body, "f"));
        for key in [
            "call_id",
            "duration_seconds",
            "timestamp",
            "hangup_cause",
            "account_id",
        ] {
            assert_eq!(a[key], b[key], "{key}");
        }
        assert_eq!(a["duration_seconds"], 6);
        assert_eq!(a["account_id"], "a1");
        assert_eq!(a["billing_seconds"], json!(null));
        assert_eq!(b["raw"]["duration_seconds"], "6");
    }

    #[test]
    fn cdr_url_names_map_too_and_odd_numbers_stay_text() {
        let e = map(
            raw(json!({"Call-ID": "c2", "Duration-Seconds": "n/a", "Caller-ID-Number": "+1"})),
            "f",
        );
        assert_eq!(e["call_id"], "c2");
        assert_eq!(e["duration_seconds"], "n/a");
        assert_eq!(e["caller_id_number"], "+1");
        assert_eq!(e["flow"], "f");
        assert_eq!(e["custom_application_vars"], json!({}));
        let empty = map(raw(json!({"call_id": "c3", "other_leg_call_id": ""})), "f");
        assert_eq!(empty["other_leg_call_id"], json!(null), "`key=` is absent");
    }
}
