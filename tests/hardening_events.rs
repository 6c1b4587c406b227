//! The post-call queue is bounded on disk (issue 9, §2): past `[events] max_pending_bytes`,
//! `POST /events` answers 503 JSON and that event is not stored, while every accepted one stays
//! queued. Dead letters expire after `[events] dead_letter_days` by the service clock.

use crate::common;

use chrono::Duration as Days;
use common::{assert_error, at, config, flows_dir, get, open_store, post_json, serve_in};
use serde_json::json;

/// postCall always fails, so accepted events stay queued (retrying) for the whole test.
const FLOW: &str = r#"
export function postCall(event) { throw new Error('down for the test'); }
export function main() { return { module: 'hangup', data: {} }; }
"#;

const NOW: &str = "2026-11-17T15:00:00Z";

#[tokio::test]
async fn events_past_the_queue_bound_are_refused_with_503() {
    let flows = flows_dir(&[("ev.js", FLOW)]);
    let data = tempfile::tempdir().unwrap();
    let mut bounded = config(flows.path());
    bounded.events.max_pending_bytes = 6_000;
    let server = serve_in(bounded, data.path(), at(NOW));
    let mut accepted = 0;
    let mut refused = None;
    for n in 0..60 {
        let call_id = format!("q-{n}");
        // Events are taken for calls that ran the flow: run it first.
        let step = post_json(&server.url("/pivot/ev"), &json!({"Call-ID": call_id})).await;
        assert_eq!(step.status, 200, "{}", step.text());
        let event = json!({"Call-ID": call_id, "pad": "x".repeat(100)});
        let reply = post_json(&server.url("/events/ev"), &event).await;
        if reply.status == 503 {
            refused = Some(reply);
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["result"], "stored", "{}", reply.text());
        accepted += 1;
    }
    let refused = refused.expect("the queue refused an event once past its bound");
    let body = assert_error(&refused, 503, "past the bound");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("[events] max_pending_bytes") && detail.contains("6000 bytes"),
        "{body}"
    );
    assert!(
        accepted >= 5,
        "events under the bound are taken: {accepted}"
    );
    drop(server);
    // Nothing accepted was lost; nothing refused was kept.
    let store = open_store(data.path());
    let kept = store.events_pending().unwrap() + store.events_dead(1000).unwrap().len() as u64;
    assert_eq!(kept, accepted);
    assert!(store.events_pending_bytes().unwrap() <= 6_000 + accepted * 4096);
}

#[tokio::test]
async fn dead_letters_expire_after_the_retention_by_the_service_clock() {
    let flows = flows_dir(&[("ev.js", FLOW)]);
    let data = tempfile::tempdir().unwrap();
    let now = at(NOW);
    let day_ms = |days: i64| (now - Days::days(days)).timestamp_millis();
    let (old, recent) = {
        let store = open_store(data.path());
        let old = store
            .event_push("ev", &json!({"Call-ID": "old"}), day_ms(40), u64::MAX)
            .unwrap();
        let recent = store
            .event_push("ev", &json!({"Call-ID": "recent"}), day_ms(40), u64::MAX)
            .unwrap();
        store.event_dead(old, "gave up", day_ms(31)).unwrap();
        store.event_dead(recent, "gave up", day_ms(29)).unwrap();
        (old, recent)
    };
    assert_ne!(old, recent);
    let server = serve_in(config(flows.path()), data.path(), now);
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    drop(server);
    let store = open_store(data.path());
    let ids: Vec<u64> = store
        .events_dead(10)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        [recent],
        "the 31-day-old dead letter is gone, the 29-day one kept"
    );
    drop(store);

    // A shorter retention, set by the operator, is followed too.
    let mut short = config(flows.path());
    short.events.dead_letter_days = 7;
    let server = serve_in(short, data.path(), now);
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    drop(server);
    assert!(open_store(data.path()).events_dead(10).unwrap().is_empty());
}
