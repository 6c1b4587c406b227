//! The Redis backend over real HTTP (issue 14), servers run in the test's process with `[store]
//! url` on a `redis-server` each test starts itself. Redis stopped under a running node
//! (`/readyz` 503 naming the store, rule flows still answering, a cxKV script answering its
//! fallback, `/events` and recording uploads 503 with no file kept) and everything back once
//! Redis is, without a restart; two nodes sharing one Redis: a Class 5 call whose steps alternate
//! between the nodes running as on one, and listed whole by both, each `postCall` run once by one
//! of them; and Redis with its append-only file killed and restarted under traffic keeping every
//! count a caller heard. The same across separate processes: `store_redis_nodes` (cxKV `incr`
//! exact across two nodes, recordings shared, a node killed) and `store_redis_outage`.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::redis_server::RedisServer;
use common::{assert_tree, at, flows_dir, get, post_form, post_json, TestServer};
use pivotforge::config::{Config, SecretUrl};
use serde_json::{json, Value};

use crate::recordings_support::{files_under, mp3, sha256, temp_files};

const NOW: &str = "2026-03-01T12:00:00Z";

pub(crate) const RULE: &str = r#"
[default]
module = "tts"
data = { text = "rule" }
"#;

/// One cxKV `incr` per call: the caller's count, answered as the tts text.
pub(crate) const COUNTER: &str = r#"
import { incr } from 'cxKV';
export async function main(data) {
  const n = await incr('calls:' + data['Caller-ID-Number'], 1, 600);
  return { module: 'tts', data: { text: String(n) } };
}
export function postCall(event) {}
"#;

pub(crate) const COUNTER_SETTINGS: &str = r#"
[fallback]
module = "tts"
data = { text = "fallback" }
"#;

pub(crate) fn tts(text: &str) -> Value {
    json!({"module": "tts", "data": {"text": text}})
}

fn flows() -> tempfile::TempDir {
    flows_dir(&[
        ("rule.toml", RULE),
        ("counter.js", COUNTER),
        ("counter.settings.toml", COUNTER_SETTINGS),
    ])
}

/// A node's configuration: the flows, the Redis at `url`, short waits.
fn node_config(flows: &Path, url: &str) -> Config {
    let mut config = common::config(flows);
    config.store.url = Some(SecretUrl::new(url));
    config.store.op_timeout_ms = Some(500);
    config
}

async fn count(server: &TestServer, caller: &str) -> Value {
    let reply = post_form(
        &server.url("/pivot/counter"),
        &format!("Caller-ID-Number={caller}"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// An upload's path and query for `call`, as Kazoo's `record_call` sends it.
pub(crate) fn upload_path(call: &str) -> String {
    format!(
        "/recordings/call_recording_{call}.mp3?call_id={call}&account_id=\
         3a1d5c7e9b2f4a6c8e0d1f3b5a7c9e2d"
    )
}

async fn upload(server: &TestServer, call: &str, body: &[u8]) -> common::Reply {
    common::request(
        reqwest::Method::PUT,
        &server.url(&upload_path(call)),
        Some("audio/mpeg"),
        body.to_vec(),
    )
    .await
}

/// A Class 5 step reads and writes its journal off the HTTP worker: while Redis stalls under
/// three Class 5 requests, a rule flow on the same one-worker node still answers at once.
#[tokio::test]
async fn a_stalled_store_holds_class5_steps_but_not_the_worker() {
    use crate::class5::{IVR, MEDIA};
    use std::io::{Read, Write};
    let redis = RedisServer::start();
    let dir = flows_dir(&[
        ("rule.toml", RULE),
        ("ivr.js", IVR),
        ("ivr.settings.toml", MEDIA),
    ]);
    let mut config = node_config(dir.path(), &redis.url());
    config.store.op_timeout_ms = Some(5_000);
    assert_eq!(
        config.workers,
        Some(1),
        "one worker: a blocked worker holds every request"
    );
    let server = common::serve_with(config, at(NOW));
    assert_tree(
        &get(&server.url("/pivot/rule")).await,
        &tts("rule"),
        "before",
    );
    redis.pause();
    // Written before the rule request is sent, so the worker meets them first.
    let steps: Vec<_> = (0..3)
        .map(|i| {
            let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
            let request = format!(
                "GET /pivot/ivr?Call-ID=stall-{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).unwrap();
            std::thread::spawn(move || {
                let mut reply = Vec::new();
                let _ = stream.read_to_end(&mut reply);
                reply
            })
        })
        .collect();
    let rule = get(&server.url("/pivot/rule")).await;
    let waiting = steps.iter().filter(|s| !s.is_finished()).count();
    redis.resume();
    assert_tree(&rule, &tts("rule"), "while Redis stalls");
    assert_eq!(
        waiting, 3,
        "the rule flow answered only after a Class 5 step gave up on the stalled store: the \
         journal was read on the HTTP worker"
    );
    for step in steps {
        let reply = String::from_utf8_lossy(&step.join().unwrap()).into_owned();
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "once Redis runs again: {reply}"
        );
    }
}

#[tokio::test]
async fn redis_down_makes_the_node_unready_and_it_recovers_without_a_restart() {
    let mut redis = RedisServer::start();
    let dir = flows();
    let server = common::serve_with(node_config(dir.path(), &redis.url()), at(NOW));
    let recordings = server.data.path().join("recordings");
    assert_eq!(get(&server.url("/readyz")).await.status, 200);
    assert_eq!(count(&server, "100").await, tts("1"), "first count");

    redis.stop();
    let ready = get(&server.url("/readyz")).await;
    let body = common::assert_error(&ready, 503, "readyz with Redis down");
    assert_eq!(body["store"], "error", "{body}");
    let detail = body["detail"].as_str().unwrap();
    let at_port = format!("Redis at 127.0.0.1:{}/0 does not answer", redis.port());
    assert!(detail.contains(&at_port), "{detail}");
    // A rule flow needs no store; a script that touches cxKV answers its fallback.
    let rule = post_form(&server.url("/pivot/rule"), "Caller-ID-Number=100").await;
    assert_tree(&rule, &tts("rule"), "rule flow with Redis down");
    assert_eq!(count(&server, "100").await, tts("fallback"));
    // The sender of an event retries on 503; an upload is refused whole.
    let event = post_json(
        &server.url("/events/counter"),
        &json!({"Call-ID": "down-1", "Event-Name": "CHANNEL_DESTROY"}),
    )
    .await;
    common::assert_error(&event, 503, "an event with Redis down");
    let refused = upload(&server, "down-2", &mp3(20_000, 1)).await;
    let body = common::assert_error(&refused, 503, "an upload with Redis down");
    assert!(
        body["detail"].as_str().unwrap().contains(&at_port),
        "{body}"
    );
    assert!(
        files_under(&recordings).is_empty() && temp_files(&recordings).is_empty(),
        "nothing kept of the refused upload: {:?}",
        files_under(&recordings)
    );

    redis.restart();
    common::poll_until(Duration::from_secs(10), "readyz back to 200", || async {
        (get(&server.url("/readyz")).await.status == 200).then_some(())
    })
    .await;
    // Redis ran without persistence: the counter starts again, and works.
    assert_eq!(count(&server, "100").await, tts("1"));
    let body = mp3(20_000, 2);
    let stored = upload(&server, "up-1", &body).await;
    assert_eq!(stored.status, 201, "{}", stored.text());
    assert_eq!(stored.json()["sha256"], sha256(&body));
}

#[tokio::test]
async fn a_class5_call_alternating_nodes_runs_as_on_one_and_both_list_it_whole() {
    use crate::class5::{collection, first, follow, node, IVR, MEDIA};
    let redis = RedisServer::start();
    let dir = flows_dir(&[("ivr.js", IVR), ("ivr.settings.toml", MEDIA)]);
    let node_a = common::serve_with(node_config(dir.path(), &redis.url()), at(NOW));
    let node_b = common::serve_with(node_config(dir.path(), &redis.url()), at(NOW));
    let call = "alt-1@pbx";
    let step0 = first(&node_a, "ivr", call).await;
    assert_eq!(step0.status, 200, "{}", step0.text());
    let spoken = node(&step0.json(), "tts")["data"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(spoken.starts_with("Caller 1, 0."), "{spoken}");
    // Step 1 on the other node: it replays A's journal (the same count and random value).
    let name = collection(&step0.json());
    let digits = json!({ name: "1" });
    let step1 = follow(&node_b, &step0, call, &digits).await;
    assert_eq!(step1.status, 200, "{}", step1.text());
    let said = node(&step1.json(), "tts")["data"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(said, format!("You pressed 1. {spoken}"));
    // A retry of step 1 sent to A gets the same reply.
    let again = follow(&node_a, &step0, call, &digits).await;
    assert_eq!(
        again.json(),
        step1.json(),
        "a retried step on the other node"
    );
    // Both nodes list the call with its three steps, numbered once each, the same on both.
    // (The servers' clock is fixed, so the steps' arrival ties and they list in the order
    // the nodes' log writers stored them; `store_redis_nodes` has real clocks.)
    let mut listings = Vec::new();
    for server in [&node_a, &node_b] {
        let steps = common::poll_until(Duration::from_secs(10), "the call's steps", || async {
            let reply = get(&server.url(&format!("/calls/{call}"))).await;
            let steps = reply.json()["steps"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (steps.len() == 3).then_some(steps)
        })
        .await;
        let numbers: Vec<u64> = steps.iter().filter_map(|s| s["step"].as_u64()).collect();
        assert_eq!(numbers, [1, 2, 3], "{steps:?}");
        let mut notes: Vec<String> = steps
            .iter()
            .map(|s| s["logs"][0]["message"].as_str().unwrap_or("").to_owned())
            .collect();
        listings.push(notes.clone());
        notes.sort();
        assert!(
            notes[0].starts_with("class5 step 0: journal position 0 -> 4"),
            "{notes:?}"
        );
        assert!(notes[1].starts_with("class5 step 1 repeated"), "{notes:?}");
        assert!(
            notes[2].starts_with("class5 step 1: journal position 5 -> 6"),
            "{notes:?}"
        );
    }
    assert_eq!(
        listings[0], listings[1],
        "both nodes list the same steps in the same order"
    );
}

/// A store of the test's own on the nodes' Redis (the default prefix), to look at the state.
fn store_on(redis: &RedisServer) -> std::sync::Arc<dyn pivotforge::store::Store> {
    let config = pivotforge::store::StoreConfig {
        url: Some(SecretUrl::new(redis.url())),
        ..Default::default()
    };
    pivotforge::store::open(&config, Path::new("/nonexistent")).expect("a Redis store")
}

/// postCall counts its runs per call; `main` answers so the call is in the exchange log.
const POSTCALL: &str = r#"
import { incr } from 'cxKV';
export function main() { return { module: 'tts', data: { text: 'hi' } }; }
export async function postCall(event) { await incr('post:' + event.call_id); }
"#;

#[tokio::test]
async fn two_nodes_run_each_postcall_once() {
    let redis = RedisServer::start();
    let dir = flows_dir(&[("ev.js", POSTCALL)]);
    let node_a = common::serve_with(node_config(dir.path(), &redis.url()), at(NOW));
    let node_b = common::serve_with(node_config(dir.path(), &redis.url()), at(NOW));
    let calls: Vec<String> = (0..20).map(|n| format!("post-{n}")).collect();
    for (n, call) in calls.iter().enumerate() {
        let server = if n % 2 == 0 { &node_a } else { &node_b };
        let step = post_json(&server.url("/pivot/ev"), &json!({"Call-ID": call})).await;
        assert_eq!(step.status, 200, "{}", step.text());
        let event = post_json(&server.url("/events/ev"), &json!({"Call-ID": call})).await;
        assert_eq!(event.status, 200, "{}", event.text());
        assert_eq!(event.json()["result"], "stored", "{}", event.text());
    }
    let store = store_on(&redis);
    common::poll_until(Duration::from_secs(20), "every event handled", || async {
        let pending = store.events_pending().unwrap();
        (pending == 0).then_some(())
    })
    .await;
    assert!(store.events_dead(10).unwrap().is_empty());
    for call in &calls {
        let runs = store.kv_get("flow:ev", &format!("post:{call}"), 0).unwrap();
        assert_eq!(runs, Some(json!(1)), "postCall of {call} ran once");
    }
}

#[tokio::test]
async fn a_durable_redis_restarted_under_traffic_keeps_every_acknowledged_write() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CALLS: usize = 60;
    let _heavy = common::heavy().await;
    let mut redis = RedisServer::start_durable();
    // Every write waits for an fsync, slow on a busy disk: roomy bounds, the store's below the
    // script's, so a slow write ends as a store error (the fallback), not a script timeout.
    let settings = format!("timeout_ms = 8000\n{COUNTER_SETTINGS}");
    let dir = flows_dir(&[
        ("counter.js", COUNTER),
        ("counter.settings.toml", &settings),
    ]);
    let mut config = node_config(dir.path(), &redis.url());
    config.store.op_timeout_ms = Some(4_000);
    let server = common::serve_with(config, at(NOW));
    let url = server.url("/pivot/counter");
    let progress = std::sync::Arc::new(AtomicUsize::new(0));
    let made = progress.clone();
    let traffic = tokio::spawn(async move {
        let client = common::client();
        let mut counted = Vec::new();
        let mut fallbacks = 0;
        for _ in 0..CALLS {
            made.fetch_add(1, Ordering::SeqCst);
            let started = std::time::Instant::now();
            let reply = client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("Caller-ID-Number=traffic")
                .send()
                .await
                .expect("every call is answered");
            assert_eq!(reply.status(), 200);
            // A store that is down costs a call at most its op timeout, never a hang.
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{:?}",
                started.elapsed()
            );
            let tree: Value = reply.json().await.expect("a tree");
            match tree["data"]["text"]
                .as_str()
                .and_then(|t| t.parse::<u64>().ok())
            {
                Some(n) => counted.push(n),
                None => {
                    assert_eq!(tree, tts("fallback"));
                    fallbacks += 1;
                }
            }
        }
        (counted, fallbacks)
    });
    // Restart Redis (killed, as a crash) while the calls go on.
    common::poll_until(
        Duration::from_secs(30),
        "20 calls before the restart",
        || {
            let done = progress.load(Ordering::SeqCst) >= 20 || traffic.is_finished();
            async move { done.then_some(()) }
        },
    )
    .await;
    redis.restart();
    let (counted, fallbacks) = traffic.await.expect("the traffic task");
    // Every count a caller heard survived the crash: had Redis lost one, a later caller would
    // have heard it again.
    let mut heard = counted.clone();
    heard.sort_unstable();
    heard.dedup();
    assert_eq!(
        heard.len(),
        counted.len(),
        "a count was heard twice: {counted:?}"
    );
    assert_eq!(counted.len() + fallbacks, CALLS);
    let next = count(&server, "traffic").await["data"]["text"]
        .as_str()
        .and_then(|t| t.parse::<u64>().ok())
        .expect("a count once Redis is back");
    assert!(next > *heard.last().unwrap(), "{next} after {heard:?}");
    // A count nobody heard is an increment whose answer came too late (past op_timeout_ms, as
    // an fsync'd write may on a busy disk): its caller got the fallback.
    let unheard = (next - 1) as usize - counted.len();
    assert!(
        unheard <= fallbacks,
        "{unheard} unheard counts, {fallbacks} fallbacks"
    );
}
