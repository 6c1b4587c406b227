//! Several nodes as separate processes (issue 14 §3, §4): `pivotforge serve` run twice as child
//! processes on one `redis-server` of the test's own. 2 × 100 concurrent cxKV increments through
//! both make exactly 200, and a recording uploaded through one node (their `[recordings] dir` is
//! one folder) is listed and downloaded through the other. One node killed with SIGKILL: a
//! Class 5 call whose first step the killed node answered goes on on the other node from the
//! journal; a node killed while it runs a `postCall` holds the event until its lease
//! (`[events] lease_ms`) ends, and then the other node runs it, seeing the same `event_id`.
//! Redis itself stopped under the nodes is `store_redis_outage`.

use crate::common;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::redis_server::RedisServer;
use common::serve_process::ServeProcess;
use common::{get, kazoo_form, kazoo_params, post_form, post_json, with, PUBLIC_URL};
use pivotforge::config::SecretUrl;
use serde_json::{json, Value};

use crate::recordings_support::mp3;
use crate::store_redis::{tts, upload_path, COUNTER, COUNTER_SETTINGS};

/// A node's configuration file after its `listen` line: its own data folder, the shared Redis.
pub(crate) fn node_config(flows: &Path, data: &Path, redis: &RedisServer, extra: &str) -> String {
    format!(
        "public_url = '{PUBLIC_URL}'\nflows_dir = '{}'\ndata_dir = '{}'\n{extra}\n[store]\nurl = '{}'\nop_timeout_ms = 2000\n",
        flows.display(),
        data.display(),
        redis.url()
    )
}

/// A store of the test's own on the nodes' Redis, to look at the state they share.
pub(crate) fn store_on(redis: &RedisServer) -> std::sync::Arc<dyn pivotforge::store::Store> {
    let config = pivotforge::store::StoreConfig {
        url: Some(SecretUrl::new(redis.url())),
        ..Default::default()
    };
    pivotforge::store::open(&config, Path::new("/nonexistent")).expect("a Redis store")
}

fn text_of(tree: &Value) -> String {
    crate::class5::node(tree, "tts")["data"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no tts text in {tree}"))
        .to_owned()
}

#[tokio::test]
async fn a_class5_call_goes_on_on_the_other_node_after_a_kill_9() {
    use crate::class5::{collection, pivot_of, IVR};
    let _heavy = common::heavy().await;
    let redis = RedisServer::start();
    let work = tempfile::tempdir().unwrap();
    let flows = common::flows_dir(&[
        ("ivr.js", IVR),
        (
            "ivr.settings.toml",
            "media_base_url = \"https://media.example/p\"\n",
        ),
    ]);
    let (data_a, data_b) = (work.path().join("a"), work.path().join("b"));
    let mut node_a = ServeProcess::start(
        work.path(),
        "a",
        &node_config(flows.path(), &data_a, &redis, ""),
    );
    let node_b = ServeProcess::start(
        work.path(),
        "b",
        &node_config(flows.path(), &data_b, &redis, ""),
    );
    let call = "kill9-1@pbx";
    let params = with(&kazoo_params(), &json!({"Call-ID": call}));
    let step0 = get(&node_a.url(&format!("/pivot/ivr?{}", kazoo_form(&params)))).await;
    assert_eq!(step0.status, 200, "{}", step0.text());
    let tree = step0.json();
    let spoken = text_of(&tree);
    assert!(spoken.starts_with("Caller 1, 0."), "{spoken}");
    node_a.kill_9();
    // Kazoo's next request for the call reaches B: it replays A's journal (the same count,
    // the same random value) and goes on past the menu.
    let pivot = pivot_of(&tree).unwrap_or_else(|| panic!("no pivot in {tree}"));
    let path = pivot["data"]["voice_url"]
        .as_str()
        .and_then(|u| u.strip_prefix(PUBLIC_URL))
        .unwrap_or_else(|| panic!("a pivot back to this service: {pivot}"))
        .to_owned();
    let digits = json!({ collection(&tree): "1" });
    let params = with(&kazoo_params(), &json!({"Call-ID": call, "Digits": digits}));
    let step1 = post_form(&node_b.url(&path), &kazoo_form(&params)).await;
    assert_eq!(step1.status, 200, "{}", step1.text());
    let tree1 = step1.json();
    assert_eq!(
        text_of(&tree1),
        format!("You pressed 1. {spoken}"),
        "{tree1}"
    );
    assert_eq!(
        crate::class5::node(&tree1, "hangup")["module"],
        "hangup",
        "{tree1}"
    );
    // The count the killed node took is not taken again.
    let callers = store_on(&redis).kv_get("flow:ivr", "callers", 0).unwrap();
    assert_eq!(callers, Some(json!(1)));
}

/// postCall counts its runs of each event and notes which node ran each one and when; the
/// first run waits on a server that never answers, so the node running it is killed in it.
const HELD_POSTCALL: &str = r#"
import { incr, ko } from 'cxKV';
export function main() { return { module: 'tts', data: { text: 'hi' } }; }
export async function postCall(event) {
  const id = event.event_id;
  const n = await incr('runs:' + id);
  await ko.set('run' + n + ':' + id, { node: process.env.NODE, at: Date.now() });
  if (n === 1) await fetch(process.env.HOLD);
}
"#;

const LEASE_MS: i64 = 3000;

#[tokio::test]
async fn a_postcall_killed_mid_run_is_run_by_the_other_node_after_the_lease() {
    let _heavy = common::heavy().await;
    let redis = RedisServer::start();
    // Accepts connections (the kernel's backlog) and never answers them.
    let hold = TcpListener::bind("127.0.0.1:0").unwrap();
    let hold_url = format!("http://{}/hold", hold.local_addr().unwrap());
    let work = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for name in ["a", "b"] {
        let settings = format!(
            "timeout_ms = 4500\nallow_hosts = [\"127.0.0.1:*\"]\n\n[env]\nNODE = \"{name}\"\nHOLD = \"{hold_url}\"\n"
        );
        let flows = common::flows_dir(&[("ev.js", HELD_POSTCALL), ("ev.settings.toml", &settings)]);
        let config = node_config(
            flows.path(),
            &work.path().join(name),
            &redis,
            &format!("\n[events]\nlease_ms = {LEASE_MS}\n"),
        );
        nodes.push(Some(ServeProcess::start(work.path(), name, &config)));
        dirs.push(flows);
    }
    let call = "held-1@pbx";
    let a = nodes[0].as_ref().unwrap();
    let step = post_json(&a.url("/pivot/ev"), &json!({"Call-ID": call})).await;
    assert_eq!(step.status, 200, "{}", step.text());
    let event = post_json(&a.url("/events/ev"), &json!({"Call-ID": call})).await;
    assert_eq!(event.status, 200, "{}", event.text());
    assert_eq!(event.json()["result"], "stored", "{}", event.text());
    let store = store_on(&redis);
    // Whichever node claimed it is in its first run, waiting: kill it there.
    let (id, first) = common::poll_until(Duration::from_secs(10), "a first run", || async {
        (1..=5u64).find_map(|id| {
            let run = store.kv_get("flow:ev", &format!("run1:{id}"), 0).unwrap()?;
            Some((id, run))
        })
    })
    .await;
    let runner = usize::from(first["node"] == "b");
    nodes[runner].as_mut().unwrap().kill_9();
    let survivor = nodes[1 - runner].take().unwrap();
    let second = common::poll_until(Duration::from_secs(20), "a second run", || async {
        store.kv_get("flow:ev", &format!("run2:{id}"), 0).unwrap()
    })
    .await;
    assert_ne!(second["node"], first["node"], "{first} then {second}");
    let gap = second["at"].as_i64().unwrap() - first["at"].as_i64().unwrap();
    // The claim came just before the first run began: allow that much.
    assert!(
        gap >= LEASE_MS - 500,
        "the other node took the event {gap} ms after the first run began, within the lease of {LEASE_MS} ms"
    );
    common::poll_until(Duration::from_secs(10), "the event done", || async {
        (store.events_pending().unwrap() == 0).then_some(())
    })
    .await;
    assert!(store.events_dead(10).unwrap().is_empty());
    let runs = store.kv_get("flow:ev", &format!("runs:{id}"), 0).unwrap();
    assert_eq!(runs, Some(json!(2)), "run once by each node");
    // Its log reaches stdout in batches every 100 ms.
    let logged = common::poll_until(Duration::from_secs(5), "the survivor's log", || async {
        let done = survivor.logged("postCall done");
        (!done.is_empty()).then_some(done)
    })
    .await;
    assert!(
        logged.iter().any(|l| l.contains(&format!("event_id={id}"))),
        "the surviving node logged the event done: {logged:?}"
    );
    drop(hold);
}

/// The count `/pivot/counter` answered `caller` through `node`.
async fn count_on(node: &ServeProcess, caller: &str) -> Value {
    let reply = post_form(
        &node.url("/pivot/counter"),
        &format!("Caller-ID-Number={caller}"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[tokio::test]
async fn two_node_processes_count_exactly_and_share_recordings() {
    let _heavy = common::heavy().await;
    let redis = RedisServer::start();
    let work = tempfile::tempdir().unwrap();
    let flows = common::flows_dir(&[
        ("counter.js", COUNTER),
        ("counter.settings.toml", COUNTER_SETTINGS),
    ]);
    let shared = work.path().join("shared-recordings");
    let recordings = format!("\n[recordings]\ndir = '{}'\n", shared.display());
    let node = |name: &str| {
        let config = node_config(flows.path(), &work.path().join(name), &redis, &recordings);
        ServeProcess::start(work.path(), name, &config)
    };
    let (a, b) = (node("a"), node("b"));

    let client = common::client();
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..200 {
        let url = if n % 2 == 0 { &a } else { &b }.url("/pivot/counter");
        let client = client.clone();
        calls.spawn(common::counted(client, url));
    }
    assert_eq!(calls.len(), 200);
    common::assert_counts_once_each(calls).await;
    let stored = store_on(&redis)
        .kv_get("flow:counter", "calls:+14155550100", 0)
        .unwrap();
    assert_eq!(stored, Some(json!(200)), "exactly 200 read back");
    assert_eq!(count_on(&b, "%2B14155550100").await, tts("201"));

    // Uploaded through A, listed and downloaded through B.
    let body = mp3(30_000, 9);
    let put = common::request(
        reqwest::Method::PUT,
        &a.url(&upload_path("shared-1")),
        Some("audio/mpeg"),
        body.clone(),
    )
    .await;
    assert_eq!(put.status, 201, "{}", put.text());
    let listed = get(&b.url("/recordings?call_id=shared-1")).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let recordings = listed.json()["recordings"].as_array().unwrap().clone();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert_eq!(recordings[0]["id"], put.json()["id"]);
    let url = recordings[0]["url"].as_str().unwrap();
    let audio = get(&b.url(url)).await;
    assert_eq!(audio.status, 200, "{}", audio.text());
    assert_eq!(audio.body, body, "byte-identical through the other node");
}

#[tokio::test]
async fn steps_of_one_call_on_two_node_processes_list_in_arrival_order() {
    use crate::store_redis::RULE;
    const STEPS: usize = 8;
    let redis = RedisServer::start();
    let work = tempfile::tempdir().unwrap();
    let flows = common::flows_dir(&[("rule.toml", RULE)]);
    let node = |name: &str| {
        let config = node_config(flows.path(), &work.path().join(name), &redis, "");
        ServeProcess::start(work.path(), name, &config)
    };
    let nodes = [node("a"), node("b")];
    // The steps alternate between the nodes, a few milliseconds apart: all within one batch of
    // each node's log writer (every 200 ms), so the nodes store them in their own turns.
    let call = "order-1@pbx";
    for n in 0..STEPS {
        let body = format!("Call-ID={call}&Caller-ID-Number={n}");
        let step = post_form(&nodes[n % 2].url("/pivot/rule"), &body).await;
        assert_eq!(step.status, 200, "{}", step.text());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let want: Vec<String> = (0..STEPS).map(|n| n.to_string()).collect();
    for node in &nodes {
        let steps = common::poll_until(Duration::from_secs(10), "the call's steps", || async {
            let reply = get(&node.url(&format!("/calls/{call}"))).await;
            let steps = reply.json()["steps"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (steps.len() == STEPS).then_some(steps)
        })
        .await;
        let numbers: Vec<u64> = steps.iter().filter_map(|s| s["step"].as_u64()).collect();
        assert_eq!(numbers, (1..=STEPS as u64).collect::<Vec<_>>(), "{steps:?}");
        let order: Vec<&str> = steps
            .iter()
            .map(|s| s["request"]["Caller-ID-Number"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(order, want, "the steps in the order they arrived");
    }
}
