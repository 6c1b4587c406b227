//! End-of-call events from Kazoo's webhooks application (issue 10, §3), over real HTTP.
//!
//! Kazoo counts only a 200 as delivered and retries nothing else, and its `channel_destroy`
//! hook is account-wide: it fires once per channel (caller's leg, callee's leg, loopback legs,
//! calls that never reached the flow). So `/events/NAME` answers 200 to every event that
//! parses, runs `postCall` once per call that ran the flow (matched by Call-ID against the
//! exchange log), drops and counts the rest, and refuses only when the queue is full (503).
//! Payloads are built as `webhooks_channel_util:format_event/3` and `webhooks_util:do_fire/3`
//! build them: JSON (`format: json`), a form body (`format: form-data`) or a GET query.

use crate::common;
use crate::hardening_support;

use std::time::Duration;

use common::{
    at, config, flows_dir, get, kazoo_form, kazoo_params, poll_until, post, post_json, serve_in,
    serve_with, with,
};
use pivotforge::server::RunningServer;
use serde_json::{json, Value};

const ACCOUNT: &str = "91eb05e5c68d7ca05e7618b6821d2d16";
const NOW: &str = "2026-11-17T15:00:00Z";

/// postCall counts its runs per call and keeps the last event it was given.
const FLOW: &str = r#"
import { ko, incr } from 'cxKV';
export async function postCall(event) {
  await incr('runs:' + event.call_id);
  await ko.set('event:' + event.call_id, event);
  return { ok: true };
}
export async function peek(arg) {
  return { runs: await ko.get('runs:' + arg.id), event: await ko.get('event:' + arg.id) };
}
export function main() { return { module: 'hangup', data: {} }; }
"#;

/// A script flow that exports no postCall, and a rule flow.
const PLAIN: &str = "export function main() { return { module: 'hangup', data: {} }; }";
const RULE: &str = "[default]\nmodule = \"hangup\"\ndata = {}\n";

fn flows() -> tempfile::TempDir {
    flows_dir(&[("ev.js", FLOW), ("plain.js", PLAIN), ("rule.toml", RULE)])
}

/// The CHANNEL_DESTROY payload Kazoo sends for one channel (base fields, the destroy fields
/// and the `cluster_id` `fire_hook` adds).
fn destroy(call_id: &str, other_leg: &str, direction: &str) -> Value {
    json!({
        "account_id": ACCOUNT,
        "authorizing_id": "7f2b66a620cf9523d349cc5de8f21f37",
        "authorizing_type": "device",
        "call_direction": direction,
        "call_forwarded": false,
        "call_id": call_id,
        "callee_id_name": "Front Desk",
        "callee_id_number": "2030",
        "caller_id_name": "Alice Smith",
        "caller_id_number": "+14155550100",
        "custom_application_vars": {},
        "custom_channel_vars": {"Account-ID": ACCOUNT, "Owner-ID": "d860229e722bf8f738737365b0b1e333"},
        "emergency_resource_used": false,
        "from": "+14155550100@acme.test",
        "inception": "+14155550100@acme.test",
        "is_internal_leg": false,
        "local_resource_used": true,
        "other_leg_call_id": other_leg,
        "owner_id": "d860229e722bf8f738737365b0b1e333",
        "request": "2030@acme.test",
        "reseller_id": "026f4f0a6d99f9a19b6aa4aa75501d7d",
        "timestamp": 63_900_000_000_i64,
        "to": "2030@acme.test",
        "hook_event": "channel_destroy",
        "hangup_cause": "NORMAL_CLEARING",
        "hangup_code": "sip:200",
        "duration_seconds": 61,
        "ringing_seconds": 3,
        "billing_seconds": 58,
        "cluster_id": "c0ffee"
    })
}

/// One call step of `flow` for `call_id`, so the exchange log knows the call ran it.
async fn ran(server: &RunningServer, flow: &str, call_id: &str) {
    let params = with(&kazoo_params(), &json!({"Call-ID": call_id}));
    let reply = post(
        &server.url(&format!("/pivot/{flow}")),
        "application/x-www-form-urlencoded",
        kazoo_form(&params),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// What Kazoo sends with `format: json`: pretty JSON and its two headers.
async fn send_json(server: &RunningServer, flow: &str, event: &Value) -> common::Reply {
    let reply = common::client()
        .post(server.url(&format!("/events/{flow}")))
        .header("Content-Type", "application/json")
        .header("X-Hook-ID", "hook-1")
        .header("X-Account-ID", ACCOUNT)
        .body(serde_json::to_string_pretty(event).unwrap())
        .send()
        .await
        .expect("the event is sent");
    common::finish(reply).await
}

async fn peek(server: &RunningServer, id: &str) -> Value {
    let reply = post_json(&server.url("/run/ev/peek"), &json!({"id": id})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["result"].clone()
}

async fn ran_post_call(server: &RunningServer, id: &str) -> Value {
    poll_until(
        Duration::from_secs(6),
        &format!("postCall of {id}"),
        || async {
            let seen = peek(server, id).await;
            (!seen["event"].is_null()).then_some(seen)
        },
    )
    .await
}

/// `pivotforge_events_received_total{flow,result}` as scraped.
async fn counted(server: &RunningServer, flow: &str, result: &str) -> u64 {
    let text = get(&server.url("/metrics")).await.text();
    let series =
        format!("pivotforge_events_received_total{{flow=\"{flow}\",result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

fn assert_ok(reply: &common::Reply, result: &str) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["result"], result, "{}", reply.text());
}

#[tokio::test]
async fn a_channel_destroy_as_json_runs_post_call_once_with_the_mapped_fields() {
    let dir = flows();
    let server = serve_with(config(dir.path()), at(NOW));
    ran(&server, "ev", "a-leg-1").await;
    let reply = send_json(&server, "ev", &destroy("a-leg-1", "b-leg-1", "inbound")).await;
    assert_ok(&reply, "stored");
    let seen = ran_post_call(&server, "a-leg-1").await;
    let event = &seen["event"];
    for (field, expected) in [
        ("call_id", json!("a-leg-1")),
        ("account_id", json!(ACCOUNT)),
        ("direction", json!("inbound")),
        ("caller_id_number", json!("+14155550100")),
        ("caller_id_name", json!("Alice Smith")),
        ("callee_id_number", json!("2030")),
        ("hangup_cause", json!("NORMAL_CLEARING")),
        ("hangup_code", json!("sip:200")),
        ("duration_seconds", json!(61)),
        ("billing_seconds", json!(58)),
        ("other_leg_call_id", json!("b-leg-1")),
        ("flow", json!("ev")),
    ] {
        assert_eq!(event[field], expected, "{field}: {event}");
    }
    assert_eq!(
        event["raw"]["cluster_id"], "c0ffee",
        "the payload is kept whole"
    );

    // Kazoo delivers the same event again (e.g. after a connection error): acknowledged,
    // postCall not run twice.
    let again = send_json(&server, "ev", &destroy("a-leg-1", "b-leg-1", "inbound")).await;
    assert_ok(&again, "duplicate");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(peek(&server, "a-leg-1").await["runs"], 1);
    assert_eq!(counted(&server, "ev", "stored").await, 1);
    assert_eq!(counted(&server, "ev", "duplicate").await, 1);
}

#[tokio::test]
async fn form_and_get_webhooks_map_to_the_same_fields() {
    let dir = flows();
    let server = serve_with(config(dir.path()), at(NOW));
    ran(&server, "ev", "form-1").await;
    ran(&server, "ev", "get-1").await;
    // format: form-data, as kz_http_util:json_to_querystring encodes it.
    let body = kazoo_form(&destroy("form-1", "", "inbound"));
    let reply = post(
        &server.url("/events/ev"),
        "application/x-www-form-urlencoded",
        body,
    )
    .await;
    assert_ok(&reply, "stored");
    // http_verb: get: the same string as the URL's query.
    let query = kazoo_form(&destroy("get-1", "", "inbound"));
    let reply = get(&server.url(&format!("/events/ev?{query}"))).await;
    assert_ok(&reply, "stored");
    for id in ["form-1", "get-1"] {
        let event = ran_post_call(&server, id).await["event"].clone();
        assert_eq!(event["call_id"], id);
        assert_eq!(
            event["duration_seconds"], 61,
            "a number, as from JSON: {event}"
        );
        assert_eq!(event["account_id"], ACCOUNT);
        assert_eq!(event["hangup_cause"], "NORMAL_CLEARING");
        assert_eq!(event["custom_channel_vars"]["Account-ID"], ACCOUNT);
        assert_eq!(event["raw"]["duration_seconds"], "61", "raw as received");
    }
}

#[tokio::test]
async fn other_legs_other_calls_and_flows_without_post_call_are_acknowledged_and_dropped() {
    let dir = flows();
    let server = serve_with(config(dir.path()), at(NOW));
    ran(&server, "ev", "a-leg-2").await;
    ran(&server, "plain", "p-1").await;

    // The callee's leg: its own Call-ID, the caller's as the other leg.
    assert_ok(
        &send_json(&server, "ev", &destroy("b-leg-2", "a-leg-2", "outbound")).await,
        "other_leg",
    );
    // A call of the same account that never reached this flow.
    assert_ok(
        &send_json(&server, "ev", &destroy("elsewhere-1", "", "inbound")).await,
        "unknown_call",
    );
    // A hook for every event (`hook: all`) also sends channel_create for the call.
    let create = with(
        &destroy("a-leg-2", "", "inbound"),
        &json!({"hook_event": "channel_create"}),
    );
    assert_ok(&send_json(&server, "ev", &create).await, "other_event");
    // A flow without postCall, a rule flow, a flow that was renamed away.
    assert_ok(
        &send_json(&server, "plain", &destroy("p-1", "", "inbound")).await,
        "no_postcall",
    );
    assert_ok(
        &send_json(&server, "rule", &destroy("p-1", "", "inbound")).await,
        "no_postcall",
    );
    assert_ok(
        &send_json(&server, "renamed", &destroy("a-leg-2", "", "inbound")).await,
        "unknown_flow",
    );
    // A well-formed payload with fields of its own is taken; garbage is still a 400.
    let bad = post(&server.url("/events/ev"), "application/json", "{not json").await;
    common::assert_error(&bad, 400, "malformed JSON");

    tokio::time::sleep(Duration::from_millis(1000)).await;
    for id in ["b-leg-2", "elsewhere-1", "a-leg-2"] {
        assert!(
            peek(&server, id).await["runs"].is_null(),
            "no postCall for {id}"
        );
    }
    for (flow, result) in [
        ("ev", "other_leg"),
        ("ev", "unknown_call"),
        ("ev", "other_event"),
        ("plain", "no_postcall"),
        ("rule", "no_postcall"),
        ("(unknown)", "unknown_flow"),
    ] {
        assert_eq!(counted(&server, flow, result).await, 1, "{flow} {result}");
    }
    assert_eq!(counted(&server, "ev", "stored").await, 0);

    // The caller's leg itself, after all that, still runs postCall.
    assert_ok(
        &send_json(&server, "ev", &destroy("a-leg-2", "b-leg-2", "inbound")).await,
        "stored",
    );
    assert_eq!(ran_post_call(&server, "a-leg-2").await["runs"], 1);
}

#[tokio::test]
async fn a_full_queue_is_the_one_refusal() {
    let dir = flows();
    let data = tempfile::tempdir().expect("data dir");
    let mut cfg = config(dir.path());
    cfg.events.max_pending_bytes = 100;
    let server = serve_in(cfg, data.path(), at(NOW));
    ran(&server, "ev", "full-1").await;
    let reply = send_json(&server, "ev", &destroy("full-1", "", "inbound")).await;
    let body = common::assert_error(&reply, 503, "a full queue");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("max_pending_bytes"),
        "{body}"
    );
    assert_eq!(counted(&server, "ev", "queue_full").await, 1);
    // The refusal did not mark the call as taken: were the queue free again, a resend stores it.
    let reply = send_json(&server, "ev", &destroy("full-1", "", "inbound")).await;
    assert_eq!(
        reply.status,
        503,
        "still full, not a duplicate: {}",
        reply.text()
    );
}

#[tokio::test]
async fn a_call_that_left_memory_is_matched_in_the_store() {
    let dir = flows();
    let mut cfg = config(dir.path());
    cfg.calls.memory_steps = 1;
    let server = serve_with(cfg, at(NOW));
    ran(&server, "ev", "long-call").await;
    // A later call pushes the first out of memory; the exchange log still has it on disk.
    ran(&server, "ev", "later-call").await;
    poll_until(Duration::from_secs(5), "the step is stored", || async {
        let calls = get(&server.url("/calls?limit=10")).await.json();
        let listed = calls["calls"].as_array().map_or(0, Vec::len);
        (listed == 2).then_some(())
    })
    .await;
    let reply = send_json(&server, "ev", &destroy("long-call", "", "inbound")).await;
    assert_ok(&reply, "stored");
    assert_eq!(ran_post_call(&server, "long-call").await["runs"], 1);
}

#[tokio::test]
async fn a_repeated_delivery_after_a_restart_is_still_a_duplicate() {
    let dir = flows();
    let data = tempfile::tempdir().expect("data dir");
    let first = serve_in(config(dir.path()), data.path(), at(NOW));
    ran(&first, "ev", "restart-1").await;
    let event = destroy("restart-1", "", "inbound");
    assert_ok(&send_json(&first, "ev", &event).await, "stored");
    assert_eq!(ran_post_call(&first, "restart-1").await["runs"], 1);
    drop(first);
    // Kazoo retries after a connection error, which is what a restart looks like to it.
    let second = serve_in(config(dir.path()), data.path(), at(NOW));
    assert_ok(&send_json(&second, "ev", &event).await, "duplicate");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(peek(&second, "restart-1").await["runs"], 1);
}

#[tokio::test]
async fn a_flow_without_post_call_is_warned_about_at_start_up_and_on_its_first_event() {
    let dir = flows();
    let data = tempfile::tempdir().expect("data dir");
    let server = hardening_support::ServerProcess::start(
        dir.path(),
        data.path(),
        "[events]\nwebhook_flows = [\"ev\", \"plain\"]\n",
    );
    for call in ["p-1", "p-2"] {
        let reply = post_json(&server.url("/events/plain"), &destroy(call, "", "inbound")).await;
        assert_ok(&reply, "no_postcall");
    }
    let log = server.stop();
    assert!(
        log.contains("[events] webhook_flows names `plain`, but its script defines no postCall"),
        "the start-up warning: {log}"
    );
    assert!(!log.contains("names `ev`"), "ev has postCall: {log}");
    let fix = "flow `plain` has no postCall: export `postCall(event)` from callflows/plain.js";
    assert_eq!(
        log.matches(fix).count(),
        1,
        "warned once, not per call: {log}"
    );
}
