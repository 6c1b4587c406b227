//! The one core of a simulated call, whatever carries its requests: send the request, judge the
//! reply as Kazoo does, walk the tree, follow the pivot, until the call ends. In-process
//! ([`super::offline`]) and over HTTP ([`super::http`]) are two [`Transport`]s of it.

use std::future::Future;
use std::time::Instant;

use super::reply::{judge, Verdict, WireReply};
use super::spec::CallSpec;
use super::transcript::{End, Step, StepOutcome, Transcript};
use super::walk::{CallState, Next};
use super::wire::{changed, first_params, masked, Target, WireRequest};
use crate::callflow::Schemas;
use crate::request::form;

/// The most requests one simulated call makes: a flow that pivots for ever is hung up.
pub const MAX_STEPS: usize = 200;

/// Carries a simulated call's requests to the flows.
pub trait Transport {
    /// The URL of flow `flow`'s first request (`BASE/pivot/FLOW`).
    fn first_url(&self, flow: &str) -> String;
    /// Sends one request and waits for its reply (within the request's timeout).
    fn send(&self, request: &WireRequest) -> impl Future<Output = WireReply>;
}

/// Plays `spec` through `transport`, judging trees with `schemas`.
pub async fn play<T: Transport>(transport: &T, spec: &CallSpec, schemas: &Schemas) -> Transcript {
    let first = transport.first_url(&spec.flow);
    let mut state = CallState::new(spec, first_params(spec, &call_id()));
    state.origin = origin(&first);
    let mut target = Target::first(first, spec);
    let mut before: Vec<(String, String)> = Vec::new();
    let mut steps = Vec::new();
    for number in 1..=MAX_STEPS {
        let request = WireRequest::build(&target, &state.params);
        let now = form::flatten(&state.params);
        let changed = changed(&before, &now);
        before = now;
        let started = Instant::now();
        let reply = transport.send(&request).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut nodes = Vec::new();
        let (outcome, next) = match judge(&reply, spec.kazoo, schemas) {
            Verdict::Run(tree, outcome) => (outcome, state.walk(&tree, &mut nodes)),
            Verdict::HangUp(outcome) => {
                let reason = detail(&outcome);
                (outcome, Next::End(End::HungUp { reason }))
            }
            Verdict::Failed(outcome) => {
                let next = match &target.fallback {
                    Some(child) => state.walk(child, &mut nodes),
                    None if number == 1 => Next::End(End::HungUp {
                        reason: "the first request failed: the PBX runs its own pivot node's `_` \
                                 branch, or hangs up without one"
                            .into(),
                    }),
                    None => Next::End(End::HungUp {
                        reason: "the pivot failed and its node has no `_` child".into(),
                    }),
                };
                (outcome, next)
            }
        };
        steps.push(Step {
            number,
            method: request.method.as_str().to_owned(),
            url: masked(&target.url),
            changed,
            outcome,
            nodes,
            rule: reply.rule,
            logs: reply.logs,
            ms,
        });
        match next {
            Next::Pivot(node) => target = Target::of_pivot(&node),
            Next::End(end) => return finish(spec, steps, end),
        }
    }
    let reason = format!("{MAX_STEPS} requests and the call had not ended (a loop?): hung up");
    finish(spec, steps, End::HungUp { reason })
}

fn finish(spec: &CallSpec, steps: Vec<Step>, end: End) -> Transcript {
    let replies_ok = steps
        .iter()
        .all(|s| matches!(s.outcome, StepOutcome::Tree | StepOutcome::Rejected { .. }));
    let ended = matches!(end, End::Terminal { .. } | End::EndOfTree);
    Transcript {
        flow: spec.flow.clone(),
        steps,
        end,
        ok: replies_ok && ended,
    }
}

fn detail(outcome: &StepOutcome) -> String {
    match outcome {
        StepOutcome::Failed { detail, .. } => detail.clone(),
        _ => String::new(),
    }
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return String::new();
    };
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    url[..end].to_owned()
}

/// A fresh Call-ID, so that calls (and Class 5 journals) never meet.
fn call_id() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Low 64 bits of the time: distinct across runs; the pid and the count within one.
    let stamp = nanos as u64;
    format!("sim-{stamp:x}-{}-{n}@pivotforge", std::process::id())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use serde_json::{json, Value};

    use super::*;
    use crate::sim::spec::KazooVersion;

    /// Answers by URL path from a table; records what was asked.
    struct Canned {
        replies: HashMap<&'static str, (u16, Value)>,
        asked: Mutex<Vec<WireRequest>>,
    }

    impl Transport for Canned {
        fn first_url(&self, flow: &str) -> String {
            format!("http://pf.test/pivot/{flow}")
        }

        async fn send(&self, request: &WireRequest) -> WireReply {
            self.asked.lock().map(|mut a| a.push(request.clone())).ok();
            let path = request.url.trim_start_matches("http://pf.test");
            let path = path.split('?').next().unwrap_or("");
            let (status, body) = self.replies.get(path).cloned().unwrap_or((404, json!({})));
            WireReply {
                status: Some(status),
                content_type: Some("application/json".into()),
                body: body.to_string().into_bytes(),
                ..WireReply::default()
            }
        }
    }

    fn run(
        replies: &[(&'static str, u16, Value)],
        spec: CallSpec,
    ) -> (Transcript, Vec<WireRequest>) {
        let transport = Canned {
            replies: replies
                .iter()
                .map(|(p, s, v)| (*p, (*s, v.clone())))
                .collect(),
            asked: Mutex::new(Vec::new()),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build();
        let transcript = runtime
            .map(|rt| rt.block_on(play(&transport, &spec, &Schemas::new())))
            .unwrap_or_else(|e| panic!("{e}"));
        let asked = transport.asked.into_inner().unwrap_or_default();
        (transcript, asked)
    }

    fn spec(flow: &str, digits: &[&str]) -> CallSpec {
        CallSpec {
            flow: flow.into(),
            digits: digits.iter().map(|d| (*d).to_owned()).collect(),
            kazoo: KazooVersion::V43,
            ..CallSpec::default()
        }
    }

    #[test]
    fn a_non_200_runs_the_calling_pivot_nodes_default_child() {
        let menu = json!({"module": "collect_dtmf", "data": {"collection_name": "menu"},
            "children": {"_": {"module": "pivot",
                "data": {"voice_url": "http://pf.test/pivot/broken", "method": "post", "req_format": "kazoo"},
                "children": {"_": {"module": "tts", "data": {"text": "Sorry."},
                    "children": {"_": {"module": "hangup", "data": {}}}}}}}});
        let (transcript, asked) = run(
            &[
                ("/pivot/menu", 200, menu),
                ("/pivot/broken", 500, json!({"error": "script_error"})),
            ],
            spec("menu", &["3"]),
        );
        assert_eq!(transcript.steps.len(), 2);
        let second = &transcript.steps[1];
        assert!(
            matches!(
                &second.outcome,
                StepOutcome::Failed {
                    status: Some(500),
                    ..
                }
            ),
            "{:?}",
            second.outcome
        );
        let lines: Vec<&str> = second.nodes.iter().map(|n| n.line.as_str()).collect();
        assert_eq!(lines, ["tts \"Sorry.\"", "hangup"]);
        assert_eq!(
            transcript.end,
            End::Terminal {
                module: "hangup".into()
            }
        );
        assert!(!transcript.ok, "a failed reply is not a clean call");
        assert_eq!(second.method, "POST");
        assert_eq!(
            second.changed,
            [("Digits[menu]".to_owned(), "3".to_owned())]
        );
        let body = asked[1]
            .body
            .as_ref()
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        assert!(String::from_utf8_lossy(&body).contains("Digits[menu]=3"));
        assert!(asked[0]
            .url
            .starts_with("http://pf.test/pivot/menu?Call-ID=sim-"));
    }

    #[test]
    fn a_failed_first_request_hangs_up_and_loops_are_cut() {
        let (transcript, _) = run(&[], spec("missing", &[]));
        assert!(matches!(transcript.end, End::HungUp { .. }));
        let looping =
            json!({"module": "pivot", "data": {"voice_url": "http://pf.test/pivot/loop"}});
        let (transcript, _) = run(&[("/pivot/loop", 200, looping)], spec("loop", &[]));
        assert_eq!(transcript.steps.len(), MAX_STEPS);
        assert!(matches!(&transcript.end, End::HungUp { reason } if reason.contains("a loop?")));
    }
}
