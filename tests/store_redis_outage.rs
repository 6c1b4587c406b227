//! Redis stopped and started again under two `pivotforge serve` processes (issue 14 §3, §4),
//! with calls going to both the whole time. While it is down each node says so in `/readyz`
//! (503 naming the store), still answers its rule flows, answers a cxKV script with its
//! fallback and refuses `/events` with 503; once Redis is back on the same port and folder
//! (append-only, fsync'd on every write) both recover without a restart, no count a caller
//! heard is given again, and an event acknowledged before the stop is still queued and runs.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::serve_process::ServeProcess;
use common::{assert_tree, get, post_form, post_json};
use serde_json::{json, Value};

use crate::store_redis::{tts, COUNTER, COUNTER_SETTINGS, RULE};
use crate::store_redis_nodes::{node_config, store_on};

/// postCall counts its attempts at each event and fails the first attempt at the call
/// `before-stop`, so that event is still queued (retrying) when Redis is stopped.
const EVENTS: &str = r#"
import { incr, ko } from 'cxKV';
export function main() { return { module: 'tts', data: { text: 'hi' } }; }
export async function postCall(event) {
  const n = await incr('tries:' + event.call_id);
  if (event.call_id === 'before-stop' && n === 1) throw new Error('not yet');
  await ko.set('done:' + event.call_id, { attempt: n });
}
"#;

/// The tree's tts text as a count, or `None` for the fallback.
fn counted(tree: &Value) -> Option<u64> {
    if *tree == tts("fallback") {
        return None;
    }
    let text = tree["data"]["text"].as_str();
    Some(
        text.and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("a count or the fallback, not {tree}")),
    )
}

/// What the calls made during the test heard: counts, fallbacks, rule answers.
#[derive(Default)]
struct Heard {
    counts: Vec<u64>,
    fallbacks: usize,
    rules: usize,
}

/// Calls both nodes in turn, a rule flow and the counter, until `stop`: every call answered
/// 200 within the bound, whatever Redis is doing. Counts the fallbacks in `fallbacks` as
/// they come.
async fn traffic(urls: [String; 2], stop: Arc<AtomicBool>, fallbacks: Arc<AtomicUsize>) -> Heard {
    let client = common::client();
    let mut heard = Heard::default();
    for n in 0usize.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let (flow, base) = (["rule", "counter"][n % 2], &urls[(n / 2) % 2]);
        let started = Instant::now();
        let reply = client
            .post(format!("{base}/pivot/{flow}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("Caller-ID-Number=traffic")
            .send()
            .await
            .expect("every call is answered");
        assert_eq!(reply.status(), 200, "{flow} on {base}");
        let tree: Value = reply.json().await.expect("a tree");
        // A store that is down costs a call at most its op timeout, never a hang.
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{flow} took {:?}",
            started.elapsed()
        );
        if flow == "rule" {
            assert_eq!(tree, tts("rule"));
            heard.rules += 1;
        } else {
            match counted(&tree) {
                Some(n) => heard.counts.push(n),
                None => {
                    heard.fallbacks += 1;
                    fallbacks.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
    heard
}

async fn ready(node: &ServeProcess) -> u16 {
    get(&node.url("/readyz")).await.status
}

#[tokio::test]
async fn two_nodes_ride_out_a_redis_restart_under_traffic() {
    let _heavy = common::heavy().await;
    let mut redis = RedisServer::start_durable();
    let work = tempfile::tempdir().unwrap();
    // The script's deadline above the store's op timeout (2 s): a store error is the fallback.
    let settings = format!("timeout_ms = 6000\n{COUNTER_SETTINGS}");
    let flows = common::flows_dir(&[
        ("rule.toml", RULE),
        ("counter.js", COUNTER),
        ("counter.settings.toml", &settings),
        ("ev.js", EVENTS),
        ("ev.settings.toml", "timeout_ms = 6000\n"),
    ]);
    let node = |name: &str| {
        let config = node_config(flows.path(), &work.path().join(name), &redis, "");
        ServeProcess::start(work.path(), name, &config)
    };
    let nodes = [node("a"), node("b")];
    for n in &nodes {
        assert_eq!(ready(n).await, 200);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let fallbacks = Arc::new(AtomicUsize::new(0));
    let calls = tokio::spawn(traffic(
        [nodes[0].url(""), nodes[1].url("")],
        stop.clone(),
        fallbacks.clone(),
    ));
    let before_stop = common::poll_until(Duration::from_secs(10), "counts", || async {
        (counted(&count_on(&nodes[1]).await)).filter(|n| *n >= 5)
    })
    .await;
    // An event acknowledged before the stop, whose first attempt fails: Redis is stopped as
    // soon as it is queued for a retry (due a second later, by the backoff).
    let store = store_on(&redis);
    let call = json!({"Call-ID": "before-stop"});
    let step = post_json(&nodes[0].url("/pivot/ev"), &call).await;
    assert_eq!(step.status, 200, "{}", step.text());
    let event = post_json(&nodes[0].url("/events/ev"), &call).await;
    assert_eq!(event.status, 200, "{}", event.text());
    assert_eq!(event.json()["result"], "stored", "{}", event.text());
    common::poll_until(
        Duration::from_secs(10),
        "the first attempt failed",
        || async {
            let due = store.events_due(i64::MAX, 10).unwrap();
            due.iter().any(|e| e.attempts == 1).then_some(())
        },
    )
    .await;

    redis.stop();
    let at_port = format!("Redis at 127.0.0.1:{}/0 does not answer", redis.port());
    for n in &nodes {
        let reply = get(&n.url("/readyz")).await;
        let body = common::assert_error(&reply, 503, "readyz with Redis down");
        assert_eq!(body["store"], "error", "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(&at_port), "{detail}");
        let rule = post_form(&n.url("/pivot/rule"), "Caller-ID-Number=100").await;
        assert_tree(&rule, &tts("rule"), "rule flow with Redis down");
        assert_eq!(count_on(n).await, tts("fallback"));
        let event = post_json(&n.url("/events/ev"), &json!({"Call-ID": "during"})).await;
        common::assert_error(&event, 503, "an event with Redis down");
    }
    common::poll_until(Duration::from_secs(10), "the traffic's fallbacks", || {
        let seen = fallbacks.load(Ordering::SeqCst) > 0;
        async move { seen.then_some(()) }
    })
    .await;

    redis.restart();
    for n in &nodes {
        common::poll_until(Duration::from_secs(20), "readyz back to 200", || async {
            (ready(n).await == 200).then_some(())
        })
        .await;
    }
    let call = json!({"Call-ID": "after-restart"});
    let step = post_json(&nodes[1].url("/pivot/ev"), &call).await;
    assert_eq!(step.status, 200, "{}", step.text());
    let event = post_json(&nodes[1].url("/events/ev"), &call).await;
    assert_eq!(event.status, 200, "{}", event.text());
    assert_eq!(event.json()["result"], "stored", "{}", event.text());
    // The event from before the stop ran once Redis was back, on its second attempt; the one
    // from after it on its first. (A store of the test's own anew: the first one's connections
    // went with the server.)
    let store = store_on(&redis);
    common::poll_until(Duration::from_secs(20), "both events done", || async {
        (store.events_pending().unwrap() == 0).then_some(())
    })
    .await;
    assert!(store.events_dead(10).unwrap().is_empty());
    let done = |call: &str| store.kv_get("flow:ev", &format!("done:{call}"), 0).unwrap();
    assert_eq!(done("before-stop"), Some(json!({"attempt": 2})));
    assert_eq!(done("after-restart"), Some(json!({"attempt": 1})));

    stop.store(true, Ordering::SeqCst);
    let heard = calls.await.expect("the traffic");
    assert!(heard.rules > 0 && heard.fallbacks > 0, "rule calls went on");
    // Every count a caller heard survived: had Redis lost one, a later caller would have
    // heard it again. Both nodes count on past them.
    let mut counts = heard.counts.clone();
    counts.sort_unstable();
    counts.dedup();
    assert_eq!(
        counts.len(),
        heard.counts.len(),
        "a count was heard twice: {:?}",
        heard.counts
    );
    let mut after = Vec::new();
    for n in &nodes {
        after.push(counted(&count_on(n).await).expect("a count once Redis is back"));
    }
    let last = counts.last().copied().unwrap_or(0).max(before_stop);
    assert!(
        after[0] > last && after[1] > after[0],
        "{last} then {after:?}"
    );
}

/// `/pivot/counter` through `node` for the caller the traffic uses.
async fn count_on(node: &ServeProcess) -> Value {
    let reply = post_form(&node.url("/pivot/counter"), "Caller-ID-Number=traffic").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}
