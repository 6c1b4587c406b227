//! Post-call events and overload: `POST /events/{flow}` answers 200 only once the event is
//! stored (for a call that ran the flow), refuses what it can't parse or store, runs the flow's
//! `postCall` with retries, keeps events
//! across a restart (checked in the store file itself while no server holds it), moves events
//! that fail for good to the dead letters; a full JS queue answers 503 at once.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    assert_error, assert_tree, at, config, flows_dir, open_store, poll_until, post_form, post_json,
    serve_in, serve_in_with_clock, serve_with, serve_with_clock,
};
use pivotforge::clock::{Clock, RunningClock};
use pivotforge::server::RunningServer;
use serde_json::{json, Value};

/// postCall counts its attempts per Call-ID in cxKV; `fail` makes the first `fail` attempts
/// throw; a finished event is kept under `done:` with the attempt that finished it and the time
/// the script saw.
const EVENTS_FLOW: &str = r#"
import { ko, incr } from 'cxKV';
export async function postCall(event) {
  const id = event.call_id;
  const attempt = await incr('attempts:' + id);
  if (attempt <= Number(event.raw.fail || 0)) throw new Error(`attempt ${attempt} fails on purpose`);
  await ko.set('done:' + id, { event, attempt, at: new Date().toISOString() });
  return { done: attempt };
}
export async function peek(arg) {
  return { attempts: await ko.get('attempts:' + arg.id), done: await ko.get('done:' + arg.id) };
}
export function main() { return { module: 'hangup', data: {} }; }
"#;

const RULE: &str = "[default]\nmodule = \"hangup\"\ndata = {}\n";

fn flows() -> tempfile::TempDir {
    flows_dir(&[("ev.js", EVENTS_FLOW), ("rule.toml", RULE)])
}

/// One call step of `flow` for `call_id`: events are taken only for calls that ran the flow.
async fn ran(server: &RunningServer, flow: &str, call_id: &str) {
    let reply = post_json(
        &server.url(&format!("/pivot/{flow}")),
        &json!({"Call-ID": call_id}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

async fn peek(server: &RunningServer, id: &str) -> Value {
    let reply = post_json(&server.url("/run/ev/peek"), &json!({"id": id})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["result"].clone()
}

async fn done(server: &RunningServer, id: &str) -> Value {
    poll_until(
        Duration::from_secs(6),
        &format!("postCall of {id} done"),
        || async {
            let seen = peek(server, id).await;
            (!seen["done"].is_null()).then_some(seen)
        },
    )
    .await
}

#[tokio::test]
async fn events_are_accepted_once_stored_and_run() {
    let dir = flows();
    let data = tempfile::tempdir().expect("data dir");
    let server = serve_in(config(dir.path()), data.path(), at("2026-11-17T15:00:00Z"));
    ran(&server, "ev", "e1").await;
    ran(&server, "ev", "e2").await;
    let reply = post_json(
        &server.url("/events/ev"),
        &json!({"Call-ID": "e1", "Duration-Seconds": 12, "nested": {"a": [1]}}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let first_id = reply.json()["id"].as_u64().expect("an id");
    let reply = post_form(
        &server.url("/events/ev?account=acme"),
        "Call-ID=e2&Hangup-Cause=NORMAL_CLEARING",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.json()["id"].as_u64().expect("an id") > first_id,
        "ids increase"
    );

    let e1 = done(&server, "e1").await;
    assert_eq!(e1["attempts"], 1);
    assert_eq!(e1["done"]["attempt"], 1);
    // postCall reads the service's injected clock too (the server runs on a fixed clock).
    let seen = e1["done"]["at"].as_str().unwrap_or("");
    assert!(
        seen.starts_with("2026-11-17T15:0"),
        "postCall's Date: {seen}"
    );
    let event = &e1["done"]["event"];
    assert_eq!(
        (&event["call_id"], &event["duration_seconds"]),
        (&json!("e1"), &json!(12))
    );
    assert_eq!(
        event["raw"],
        json!({"Call-ID": "e1", "Duration-Seconds": 12, "nested": {"a": [1]}})
    );
    let e2 = done(&server, "e2").await;
    assert_eq!(e2["done"]["event"]["hangup_cause"], "NORMAL_CLEARING");
    assert_eq!(
        e2["done"]["event"]["raw"],
        json!({"Call-ID": "e2", "Hangup-Cause": "NORMAL_CLEARING", "account": "acme"})
    );

    // What a webhook can't be helped with is acknowledged (Kazoo retries nothing but
    // connection errors) and not queued; what can't be parsed is refused.
    for (flow, result) in [("nope", "unknown_flow"), ("rule", "no_postcall")] {
        let reply = post_json(&server.url(&format!("/events/{flow}")), &json!({})).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["result"], result);
    }
    assert_error(
        &common::post(&server.url("/events/ev"), "application/json", "{broken").await,
        400,
        "malformed JSON",
    );
    assert_error(
        &post_json(&server.url("/events/ev"), &json!([1, 2])).await,
        400,
        "not an object",
    );
    assert_error(
        &common::request(
            reqwest::Method::DELETE,
            &server.url("/events/ev"),
            None,
            Vec::new(),
        )
        .await,
        405,
        "DELETE",
    );
    drop(server);
    let store = open_store(data.path());
    assert_eq!(
        store.events_pending().expect("pending"),
        0,
        "both ran; the refused were never queued"
    );
    assert!(store.events_dead(10).expect("dead").is_empty());
}

#[tokio::test]
async fn post_call_sees_the_event_id_the_same_on_every_attempt() {
    let dir = flows();
    let clock = Arc::new(RunningClock::new(at("2026-11-17T15:00:00Z")));
    let server = serve_with_clock(config(dir.path()), clock.clone());
    ran(&server, "ev", "id1").await;
    let reply = post_json(
        &server.url("/events/ev"),
        &json!({"Call-ID": "id1", "fail": 1}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply.json()["id"].as_u64().expect("an id");
    // The first attempt fails; moving the clock past the backoff brings the retry at once.
    poll_until(Duration::from_secs(4), "the first attempt", || async {
        (peek(&server, "id1").await["attempts"] == 1).then_some(())
    })
    .await;
    clock.advance(Duration::from_secs(2));
    let seen = done(&server, "id1").await;
    assert_eq!(seen["done"]["attempt"], 2, "{seen}");
    // What postCall was given: the queue's id, to tell a repeated run of one event.
    assert_eq!(seen["done"]["event"]["event_id"], json!(id), "{seen}");
    assert_eq!(seen["done"]["event"]["call_id"], "id1");
}

#[tokio::test]
async fn a_failed_post_call_is_retried() {
    let dir = flows();
    // Retries come due on the service's clock: one that runs, from the chosen instant.
    let clock = Arc::new(RunningClock::new(at("2026-11-17T15:00:00Z")));
    let server = serve_with_clock(config(dir.path()), clock);
    ran(&server, "ev", "r1").await;
    let started = Instant::now();
    let reply = post_json(
        &server.url("/events/ev"),
        &json!({"Call-ID": "r1", "fail": 2}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Attempt 1 fails at once, attempt 2 after 1 s, attempt 3 after 5 s more succeeds.
    let after_two = poll_until(Duration::from_secs(4), "the first retry", || async {
        let seen = peek(&server, "r1").await;
        (seen["attempts"] == 2).then_some(started.elapsed())
    })
    .await;
    assert!(
        after_two >= Duration::from_millis(900),
        "the retry waited about a second: {after_two:?}"
    );
    assert!(
        peek(&server, "r1").await["done"].is_null(),
        "attempt 2 failed too"
    );
    let seen = poll_until(Duration::from_secs(9), "the second retry", || async {
        let seen = peek(&server, "r1").await;
        (!seen["done"].is_null()).then_some(seen)
    })
    .await;
    assert_eq!(seen["done"]["attempt"], 3, "{seen}");
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "backoff 1 s then 5 s: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn events_survive_a_restart() {
    let dir = flows();
    let data = tempfile::tempdir().expect("data dir");
    let now = at("2026-11-17T15:00:00Z");
    // The retry comes due on the service's clock: one that runs, from the same instant each time.
    let running = || -> Arc<dyn Clock> { Arc::new(RunningClock::new(now)) };
    let first = serve_in_with_clock(config(dir.path()), data.path(), running());
    ran(&first, "ev", "s1").await;
    // The first attempt fails; the retry is due a second later. Stop before it.
    let reply = post_json(
        &first.url("/events/ev"),
        &json!({"Call-ID": "s1", "fail": 1}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply.json()["id"].as_u64().expect("an id");
    poll_until(Duration::from_secs(3), "the first attempt", || async {
        (peek(&first, "s1").await["attempts"] == 1).then_some(())
    })
    .await;
    drop(first);

    // In the store file, with no server holding it: queued, one failed attempt, its error.
    {
        let store = open_store(data.path());
        let far = chrono::Utc::now().timestamp_millis() + 3_600_000;
        let due = store.events_due(far, 10).expect("due");
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].id, id);
        assert_eq!(due[0].flow, "ev");
        assert_eq!(due[0].event["raw"], json!({"Call-ID": "s1", "fail": 1}));
        assert_eq!(due[0].event["call_id"], "s1");
        assert_eq!(due[0].attempts, 1);
        assert!(
            due[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("attempt 1 fails on purpose")),
            "{due:?}"
        );
    }

    let second = serve_in_with_clock(config(dir.path()), data.path(), running());
    let seen = done(&second, "s1").await;
    assert_eq!(
        seen["done"]["attempt"], 2,
        "run once more, by the new server: {seen}"
    );
    drop(second);
    let store = open_store(data.path());
    assert_eq!(store.events_pending().expect("pending"), 0);
}

#[tokio::test]
async fn an_accepted_event_is_on_disk_before_anything_runs_it() {
    // A postCall that always throws: every attempt fails, so the event stays queued.
    let dir = flows_dir(&[(
        "plain.js",
        "function postCall() { throw new Error('postCall is down'); }\n\
         function main() { return { module: 'hangup', data: {} }; }",
    )]);
    let data = tempfile::tempdir().expect("data dir");
    let server = serve_in(config(dir.path()), data.path(), at("2026-11-17T15:00:00Z"));
    let mut ids = Vec::new();
    for n in 0..3 {
        ran(&server, "plain", &format!("d{n}")).await;
        let reply = post_json(
            &server.url("/events/plain"),
            &json!({"Call-ID": format!("d{n}")}),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        ids.push(reply.json()["id"].as_u64().expect("an id"));
    }
    drop(server);
    let store = open_store(data.path());
    let far = chrono::Utc::now().timestamp_millis() + 3_600_000;
    let due = store.events_due(far, 10).expect("due");
    // Due order puts the not-yet-retried first; compare by id.
    let mut found: Vec<(u64, Value)> = due.iter().map(|e| (e.id, e.event["raw"].clone())).collect();
    found.sort_by_key(|(id, _)| *id);
    assert_eq!(
        found,
        ids.iter()
            .enumerate()
            .map(|(n, id)| (*id, json!({"Call-ID": format!("d{n}")})))
            .collect::<Vec<_>>()
    );
    assert!(
        due.iter().all(|e| e.attempts == 0
            || e.last_error
                .as_deref()
                .is_some_and(|m| m.contains("postCall"))),
        "the error names the missing function: {due:?}"
    );
}

#[tokio::test]
async fn an_event_that_keeps_failing_ends_in_the_dead_letters() {
    let dir = flows();
    let data = tempfile::tempdir().expect("data dir");
    // Seed an event that already failed seven times and is due now, by the server's clock.
    let server_now = at("2026-11-17T15:00:00Z");
    let id = {
        let store = open_store(data.path());
        let now = server_now.timestamp_millis();
        let id = store
            .event_push(
                "ev",
                &json!({"call_id": "dead1", "raw": {"fail": 99}}),
                now,
                u64::MAX,
            )
            .expect("push");
        for _ in 0..7 {
            store
                .event_retry(id, now - 1, "seeded failure")
                .expect("retry");
        }
        id
    };
    let server = serve_in(config(dir.path()), data.path(), server_now);
    poll_until(Duration::from_secs(4), "the eighth attempt", || async {
        (peek(&server, "dead1").await["attempts"] == 1).then_some(())
    })
    .await;
    drop(server);
    let store = open_store(data.path());
    assert_eq!(store.events_pending().expect("pending"), 0);
    let dead = store.events_dead(10).expect("dead");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].attempts, 8);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("attempt 1 fails on purpose")),
        "{dead:?}"
    );
}

#[tokio::test]
async fn events_run_on_a_server_whose_clock_is_in_the_future() {
    let dir = flows();
    let server = serve_with(config(dir.path()), at("2030-01-01T12:00:00Z"));
    ran(&server, "ev", "f1").await;
    let reply = post_json(&server.url("/events/ev"), &json!({"Call-ID": "f1"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = done(&server, "f1").await;
    assert_eq!(seen["done"]["attempt"], 1);
}

// ---- overload -----------------------------------------------------------------------------------

const SLOW: &str = r#"
async function main(data) {
  if (data.mode !== 'fast') await new Promise((resolve) => setTimeout(resolve, 1000));
  return { module: 'tts', data: { text: data.mode === 'fast' ? 'fast' : 'slow' } };
}
"#;

#[tokio::test]
async fn a_full_queue_answers_503_at_once() {
    let dir = flows_dir(&[
        ("slow.js", SLOW),
        ("slow.settings.toml", "timeout_ms = 3000\n"),
        ("rule.toml", RULE),
    ]);
    let mut cfg = config(dir.path());
    cfg.js_threads = 1;
    cfg.js_queue = 1;
    cfg.workers = Some(2);
    let server = serve_with(cfg, at("2026-11-17T15:00:00Z"));
    let client = common::client();
    // Warm the connection pool so the burst is not slowed by connecting.
    assert_tree(
        &common::get_with(&client, &server.url("/pivot/slow?mode=fast")).await,
        &json!({"module": "tts", "data": {"text": "fast"}}),
        "warm-up",
    );

    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (client, url) = (client.clone(), server.url("/pivot/slow"));
        burst.spawn(async move {
            let started = Instant::now();
            let reply = common::get_with(&client, &url).await;
            (reply, started.elapsed())
        });
    }
    // A rule flow answers during the overload: rules never wait for the JS pool.
    let started = Instant::now();
    let rule = common::get_with(&client, &server.url("/pivot/rule")).await;
    assert_tree(
        &rule,
        &json!({"module": "hangup", "data": {}}),
        "a rule flow during overload",
    );
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    let (mut refused, mut served) = (Vec::new(), Vec::new());
    while let Some(done) = burst.join_next().await {
        let (reply, took) = done.expect("request task");
        match reply.status {
            503 => {
                let body = assert_error(&reply, 503, "overloaded");
                assert_eq!(body["error"], "overloaded", "{body}");
                refused.push(took);
            }
            200 => {
                assert_eq!(
                    reply.json(),
                    json!({"module": "tts", "data": {"text": "slow"}})
                );
                served.push(took);
            }
            other => panic!("unexpected {other}: {}", reply.text()),
        }
    }
    println!("overload: refused after {refused:?}, served after {served:?}");
    assert!(
        (1..=2).contains(&served.len()),
        "one thread + one queued: {served:?}"
    );
    assert_eq!(refused.len(), 6 - served.len());
    for took in &refused {
        assert!(
            *took < Duration::from_millis(250),
            "a 503 came after {took:?}, not at once"
        );
    }
    for took in &served {
        assert!(*took >= Duration::from_millis(900), "{took:?}");
    }
    // /run shares the pool: after the burst it runs again.
    let reply = post_json(&server.url("/run/slow"), &json!({"mode": "fast"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn run_is_refused_with_503_while_the_pool_is_full() {
    let dir = flows_dir(&[
        ("slow.js", SLOW),
        ("slow.settings.toml", "timeout_ms = 3000\n"),
    ]);
    let mut cfg = config(dir.path());
    cfg.js_threads = 1;
    cfg.js_queue = 1;
    cfg.workers = Some(2);
    let server = serve_with(cfg, at("2026-11-17T15:00:00Z"));
    let url = server.url("/run/slow");
    let client = common::client();
    let run = |client: reqwest::Client, url: String, body: Value| async move {
        let started = Instant::now();
        let reply = client.post(url).json(&body).send().await.expect("/run");
        let status = reply.status().as_u16();
        let text = reply.text().await.expect("body");
        (status, text, started.elapsed())
    };
    // Slow calls one by one: the first runs, the second waits in the queue (both still
    // pending after 150 ms), the third is refused at once.
    let mut held = Vec::new();
    let refused = loop {
        assert!(held.len() < 4, "the pool never filled up");
        let mut call = tokio::spawn(run(client.clone(), url.clone(), json!({})));
        match tokio::time::timeout(Duration::from_millis(150), &mut call).await {
            Ok(done) => break done.expect("task"),
            Err(_) => held.push(call),
        }
    };
    assert_eq!(held.len(), 2, "one running, one queued");
    assert_eq!(refused.0, 503, "{}", refused.1);
    // Both slots stay taken for the rest of the first call's second: refused at once.
    let (status, text, took) = run(client.clone(), url.clone(), json!({"mode": "fast"})).await;
    assert_eq!(status, 503, "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["error"], "overloaded", "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert!(took < Duration::from_millis(250), "{took:?}");
    for call in held {
        let (status, text, took) = call.await.expect("task");
        assert_eq!(status, 200, "{text}");
        assert!(took >= Duration::from_millis(900), "{took:?}");
    }
}
