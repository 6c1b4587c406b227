//! A call of the exchange log (the JSON `/calls/{call_id}` answers) as a scenario's call and
//! transcript: the first request's parameters and instant, the digits each `collect_dtmf` got
//! (read from the next request's `Digits`), the bridge outcomes the call's path shows (a bridge
//! followed by another request failed into the branch that pivots), and the logged replies
//! replayed through the simulator's walk, so that the expectations are what the call did.

use std::cell::Cell;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::callflow::{registry, CallKind, Schemas, DEFAULT_CHILD, MAX_DEPTH};
use crate::request::form;
use crate::sim::play::{play, Transport};
use crate::sim::reply::WireReply;
use crate::sim::wire::WireRequest;
use crate::sim::{BridgeOutcome, CallSpec, StepOutcome, Transcript};

/// What a logged call becomes: the call to play, what it did, and what the file can't say.
#[derive(Debug, Clone)]
pub struct FromLog {
    /// Flow, instant, parameters, digits, bridge outcomes.
    pub spec: CallSpec,
    /// The logged replies walked as Kazoo would with those digits and outcomes.
    pub transcript: Transcript,
    /// What the exchange log does not hold (for comments in the saved file).
    pub notes: Vec<String>,
}

/// Reads a logged call (`{"call_id", "steps": [...]}`); `base` is the service's public URL,
/// which the replayed steps are shown under.
pub async fn from_log(call: &Value, base: &str) -> Result<FromLog, String> {
    let steps = call
        .get("steps")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
        .ok_or("the exchange log holds no step of this call")?;
    let first = &steps[0];
    let flow = first
        .get("flow")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
        .ok_or("the call's first step names no flow")?
        .to_owned();
    let at = first
        .get("at")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let Some(request) = first.get("request").and_then(Value::as_object) else {
        return Err(
            "the first request was cut in the exchange log (over its 64 KiB): its \
                    parameters can't be saved"
                .into(),
        );
    };
    let params = form::flatten(request)
        .into_iter()
        .filter(|(k, _)| k != "Call-ID" && k != "Digits" && !k.starts_with("Digits["))
        .collect();
    let mut digits = Vec::new();
    let mut bridges = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if let Some(tree) = step.get("reply").filter(|r| r.is_object()) {
            let next = steps.get(i + 1).and_then(|s| s.get("request"));
            read_tree(tree, next, &mut digits, &mut bridges);
        }
    }
    while digits.last().is_some_and(String::is_empty) {
        digits.pop();
    }
    let spec = CallSpec {
        flow,
        params,
        digits,
        bridges,
        at,
        ..CallSpec::default()
    };
    let replay = Replay {
        steps,
        next: Cell::new(0),
        base: base.trim_end_matches('/').to_owned(),
    };
    let transcript = play(&replay, &spec, &Schemas::new()).await;
    let mut notes = vec![
        "Bridge outcomes are not in the exchange log: those here are read from the path the call \
         took (a bridge it got past failed), any later bridge answers."
            .to_owned(),
    ];
    if transcript.steps.len() != steps.len() {
        notes.push(format!(
            "The exchange log has {} requests of this call; replayed with these digits and \
             bridge outcomes it makes {}: set `digits` and `bridges` to what the caller did.",
            steps.len(),
            transcript.steps.len()
        ));
    }
    Ok(FromLog {
        spec,
        transcript,
        notes,
    })
}

/// Walks one logged tree along the path Kazoo took, adding what each `collect_dtmf` got (from
/// the next request, `next`) and the outcome of each bridge the call got past.
fn read_tree(
    tree: &Value,
    next: Option<&Value>,
    digits: &mut Vec<String>,
    bridges: &mut Vec<BridgeOutcome>,
) {
    let mut node = tree;
    for _ in 0..=MAX_DEPTH {
        let module = node.get("module").and_then(Value::as_str).unwrap_or("");
        let data = node.get("data").unwrap_or(&Value::Null);
        let children = node.get("children").and_then(Value::as_object);
        let skipped = data.get("skip_module").and_then(Value::as_bool) == Some(true);
        let kind = registry::find(module).map(|spec| spec.call.kind);
        match kind {
            _ if skipped => {}
            Some(CallKind::Collects) => {
                let name = data
                    .get("collection_name")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                digits.push(collected(next, name));
            }
            Some(CallKind::Bridge) => {
                let Some((outcome, branch)) = next.and(children).and_then(|c| failed(module, c))
                else {
                    return;
                };
                bridges.push(outcome);
                node = branch;
                continue;
            }
            Some(CallKind::Next | CallKind::Speaks) => {}
            _ => return,
        }
        match children.and_then(|c| c.get(DEFAULT_CHILD)) {
            Some(child) => node = child,
            None => return,
        }
    }
}

/// What the next request says collection `name` holds ("" when it holds nothing).
fn collected(next: Option<&Value>, name: &str) -> String {
    let Some(digits) = next.and_then(|r| r.get("Digits")) else {
        return String::new();
    };
    match digits {
        Value::Object(map) => map.get(name).and_then(Value::as_str).unwrap_or(""),
        Value::String(plain) if name == "default" => plain,
        _ => "",
    }
    .to_owned()
}

/// The failure that takes a bridge into a branch that pivots, and that branch: a cause child,
/// a `sip:CODE` child, else `_` (never for `resources`).
fn failed<'a>(
    module: &str,
    children: &'a Map<String, Value>,
) -> Option<(BridgeOutcome, &'a Value)> {
    let pivots = |v: &Value| pivots_within(v, 0);
    for (key, child) in children {
        if key == DEFAULT_CHILD || !pivots(child) {
            continue;
        }
        let outcome = match key.strip_prefix("sip:").map(str::parse::<u16>) {
            Some(Ok(code)) => BridgeOutcome::Failed {
                cause: unused_cause(children, "USER_BUSY"),
                code: Some(code),
            },
            Some(Err(_)) => continue,
            None => match key.parse::<BridgeOutcome>() {
                Ok(outcome @ BridgeOutcome::Failed { .. }) => outcome,
                _ => continue,
            },
        };
        return Some((outcome, child));
    }
    let default = children.get(DEFAULT_CHILD).filter(|c| pivots(c))?;
    (module != "resources").then(|| {
        let cause = unused_cause(children, "NO_ANSWER");
        (BridgeOutcome::Failed { cause, code: None }, default)
    })
}

/// `wanted`, or a cause no child names when one does (so the intended branch is taken).
fn unused_cause(children: &Map<String, Value>, wanted: &str) -> String {
    [
        wanted,
        "NO_ANSWER",
        "USER_BUSY",
        "CALL_REJECTED",
        "UNALLOCATED_NUMBER",
    ]
    .into_iter()
    .find(|c| !children.contains_key(*c))
    .unwrap_or("RECOVERY_ON_TIMER_EXPIRE")
    .to_owned()
}

/// Whether a `pivot` node is somewhere in `node`.
fn pivots_within(node: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    if node.get("module").and_then(Value::as_str) == Some("pivot") {
        return true;
    }
    node.get("children")
        .and_then(Value::as_object)
        .is_some_and(|c| c.values().any(|child| pivots_within(child, depth + 1)))
}

/// Answers the call's requests with the logged replies, in order.
struct Replay<'a> {
    steps: &'a [Value],
    next: Cell<usize>,
    base: String,
}

impl Transport for Replay<'_> {
    fn first_url(&self, flow: &str) -> String {
        format!("{}/pivot/{flow}", self.base)
    }

    async fn send(&self, _request: &WireRequest) -> WireReply {
        let i = self.next.get();
        self.next.set(i + 1);
        let Some(step) = self.steps.get(i) else {
            return WireReply {
                error: Some("the exchange log has no later request of this call".into()),
                ..WireReply::default()
            };
        };
        logged_reply(step)
    }
}

/// One logged step as the reply the PBX got.
fn logged_reply(step: &Value) -> WireReply {
    let text = |key: &str| step.get(key).and_then(Value::as_str).unwrap_or("");
    let status = step
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok());
    let reply = step.get("reply").filter(|r| !r.is_null());
    let body = match reply {
        Some(Value::String(cut)) => cut.clone(),
        Some(tree) => tree.to_string(),
        None => serde_json::json!({"error": text("outcome"), "detail": text("detail")}).to_string(),
    };
    let outcome = match text("outcome") {
        "fallback" => Some(StepOutcome::Fallback {
            failure: "fallback".into(),
            detail: text("detail").to_owned(),
        }),
        _ => None,
    };
    let logs = step
        .get("logs")
        .and_then(Value::as_array)
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    let level = l.get("level").and_then(Value::as_str).unwrap_or("");
                    let message = l.get("message").and_then(Value::as_str).unwrap_or("");
                    format!("{level}: {message}")
                })
                .collect()
        })
        .unwrap_or_default();
    WireReply {
        status,
        content_type: Some("application/json".into()),
        body: body.into_bytes(),
        error: None,
        outcome,
        rule: step.get("rule").and_then(Value::as_str).map(str::to_owned),
        logs,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sim::End;

    fn run(call: &Value) -> FromLog {
        let runtime = tokio::runtime::Builder::new_current_thread().build();
        runtime
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(from_log(call, "http://pf.test/")))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn digits_come_from_the_next_request_and_a_passed_bridge_failed() {
        let first = json!({"module": "collect_dtmf", "data": {"collection_name": "menu"},
            "children": {"_": {"module": "pivot", "data": {"voice_url": "http://pf.test/pivot/b"}}}});
        let second = json!({"module": "device", "data": {"id": "d1"}, "children": {
            "USER_BUSY": {"module": "tts", "data": {"text": "Busy."}},
            "_": {"module": "pivot", "data": {"voice_url": "http://pf.test/pivot/c"}}}});
        let third = json!({"module": "hangup", "data": {}});
        let call = json!({"call_id": "c1", "steps": [
            {"step": 1, "at": "2026-12-24T20:00:00.000Z", "flow": "a", "status": 200,
             "outcome": "tree", "reply": first,
             "request": {"Call-ID": "c1", "Caller-ID-Number": "+1415", "Custom-SIP-Headers": {"X-A": "1"}}},
            {"step": 2, "flow": "b", "status": 200, "outcome": "tree", "reply": second,
             "request": {"Call-ID": "c1", "Digits": {"menu": "2"}}},
            {"step": 3, "flow": "c", "status": 200, "outcome": "tree", "reply": third,
             "logs": [{"level": "info", "message": "hi"}],
             "request": {"Call-ID": "c1", "Digits": {"menu": "2"}}},
        ]});
        let saved = run(&call);
        assert_eq!(saved.spec.flow, "a");
        assert_eq!(
            saved.spec.params,
            vec![
                ("Caller-ID-Number".to_owned(), "+1415".to_owned()),
                ("Custom-SIP-Headers[X-A]".to_owned(), "1".to_owned()),
            ]
        );
        assert_eq!(saved.spec.digits, ["2"]);
        assert_eq!(
            saved.spec.bridges,
            vec![BridgeOutcome::Failed {
                cause: "NO_ANSWER".into(),
                code: None
            }]
        );
        assert_eq!(
            saved.spec.at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-12-24T20:00:00+00:00")
        );
        let t = &saved.transcript;
        assert_eq!(t.steps.len(), 3);
        assert_eq!(t.steps[0].url, "http://pf.test/pivot/a");
        assert_eq!(t.steps[2].logs, ["info: hi"]);
        assert_eq!(
            t.end,
            End::Terminal {
                module: "hangup".into()
            }
        );
        assert_eq!(saved.notes.len(), 1, "{:?}", saved.notes);
    }

    #[test]
    fn a_cut_first_request_and_an_empty_call_are_refused() {
        let cut = json!({"steps": [{"flow": "a", "request": "{\"Call-ID\":", "reply": null}]});
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let err = runtime.block_on(from_log(&cut, "http://x")).err();
        assert!(err.is_some_and(|e| e.contains("cut in the exchange log")));
        let err = runtime
            .block_on(from_log(&json!({"steps": []}), "http://x"))
            .err();
        assert!(err.is_some_and(|e| e.contains("no step")));
    }
}
