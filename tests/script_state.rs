//! State scripts share through the store, over HTTP: cxKV (`kv` with TTL, `ko` objects, atomic
//! `incr` under 50 concurrent calls, `keys`, `usage`), cxUserspace managed over
//! `/userspace/{area}/{key}` and read by scripts, the legacy `api.lookup.userspaceLookup`, lists
//! loaded from `lists/AREA.csv`, and all of it surviving a restart on the same data folder.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    assert_error, assert_tree, at, config, flows_dir, get, post_form, post_json, request, serve,
    serve_in, serve_with_clock, TestServer,
};
use pivotforge::clock::RunningClock;
use serde_json::{json, Value};

const STORE_SCRIPT: &str = r#"
const { kv, ko, incr, keys, usage } = require('cxKV');
module.exports = {
  async setget(a) {
    await kv.set(a.key, a.value, a.ttl);
    return { value: await kv.get(a.key), missing: await kv.get('no-such-key') };
  },
  async get(a) { return { value: await kv.get(a.key) }; },
  async objects() {
    await ko.set('profile', { name: 'Ann', tags: ['vip'], visits: 2 });
    await kv.set('number', 42);
    return {
      profile: await ko.get('profile'),
      number: await kv.get('number'),
      numberType: typeof (await kv.get('number')),
      missing: await ko.get('nobody'),
    };
  },
  async count(a) { return { n: await incr(a.key, a.by) }; },
  async listing() { return { keys: await keys(), usage: await usage() }; },
  async bad() { await incr('profile'); return 'unreachable'; },
};
"#;

const COUNTER: &str = r#"
import { incr } from 'cxKV';
export async function main(data) {
  const n = await incr('calls:' + data['Caller-ID-Number'], 1, 600);
  return { module: 'tts', data: { text: String(n) } };
}
"#;

const USERSPACE: &str = r#"
const { read, create, update } = require('cxUserspace');
const us = require('cxUserspace');
module.exports = {
  async main(data) {
    const found = await read('vip', data['Caller-ID-Number']);
    return { module: 'tts', data: { text: JSON.stringify(found) } };
  },
  async write(a) {
    const created = await create(a.area, a.key, a.value);
    const replaced = await update(a.area, a.key, Object.assign({ updated: true }, a.value));
    return { created, replaced, now: await read(a.area, a.key) };
  },
  async remove(a) { return { removed: await us.delete(a.area, a.key), after: await read(a.area, a.key) }; },
};
"#;

const LOOKUP: &str = r#"
function main(data) {
  const number = data['Caller-ID-Number'];
  return api.lookup.userspaceLookup('DNC', number).then(
    (entry) => Promise.reject([603, 'Denied (DNC): ' + entry.reason]),
    (failure) => ({ module: 'tts', data: { text: 'not listed: ' + JSON.stringify(failure) } })
  );
}
"#;

fn tts(text: &str) -> Value {
    json!({"module": "tts", "data": {"text": text}})
}

fn flows() -> tempfile::TempDir {
    flows_dir(&[
        ("store.js", STORE_SCRIPT),
        ("counter.js", COUNTER),
        ("us.js", USERSPACE),
        // Scripts change only the areas their settings name.
        ("us.settings.toml", "userspace_write = [\"notes\"]\n"),
        ("lookup.js", LOOKUP),
        (
            "lists/vip.csv",
            "# VIP callers\nnumber,tier,manager\n+14155550100,gold,ann\n+14155550101,silver,bob\n",
        ),
        ("lists/blocked.csv", "number\n+19995550000\n"),
    ])
}

async fn run(server: &TestServer, function: &str, arg: &Value) -> Value {
    let reply = post_json(&server.url(&format!("/run/store/{function}")), arg).await;
    assert_eq!(reply.status, 200, "{function}: {}", reply.text());
    reply.json()["result"].clone()
}

async fn put(server: &TestServer, path: &str, value: &Value) -> u16 {
    common::put_json(&server.url(path), value).await.status
}

async fn delete(server: &TestServer, path: &str) -> u16 {
    request(reqwest::Method::DELETE, &server.url(path), None, Vec::new())
        .await
        .status
}

#[tokio::test]
async fn kv_set_get_with_and_without_ttl() {
    let dir = flows();
    // TTLs read the service's clock: one the test moves on, so the expiry is not a wait.
    let clock = Arc::new(RunningClock::new(at("2026-11-17T15:00:00Z")));
    let server = serve_with_clock(config(dir.path()), clock.clone());
    let got = run(
        &server,
        "setget",
        &json!({"key": "greeting", "value": "hello"}),
    )
    .await;
    assert_eq!(got, json!({"value": "hello", "missing": null}));
    let got = run(
        &server,
        "setget",
        &json!({"key": "short", "value": "soon gone", "ttl": 1}),
    )
    .await;
    assert_eq!(
        got,
        json!({"value": "soon gone", "missing": null}),
        "set with a TTL, then get"
    );
    // The TTL runs on the service's clock: a second on, the key is gone, the other one stays.
    clock.advance(Duration::from_secs(1));
    let v = run(&server, "get", &json!({"key": "short"})).await;
    assert!(v["value"].is_null(), "the 1 s TTL expires: {v}");
    assert_eq!(
        run(&server, "get", &json!({"key": "greeting"})).await,
        json!({"value": "hello"})
    );
}

#[tokio::test]
async fn ko_objects_keys_and_usage() {
    let dir = flows();
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let got = run(&server, "objects", &json!({})).await;
    assert_eq!(
        got,
        json!({
            "profile": {"name": "Ann", "tags": ["vip"], "visits": 2},
            "number": "42",
            "numberType": "string",
            "missing": null,
        }),
        "ko keeps objects; kv stores strings"
    );
    assert_eq!(
        run(&server, "count", &json!({"key": "c", "by": 5})).await,
        json!({"n": 5})
    );
    assert_eq!(
        run(&server, "count", &json!({"key": "c", "by": -2})).await,
        json!({"n": 3})
    );
    let listing = run(&server, "listing", &json!({})).await;
    assert_eq!(
        listing["keys"],
        json!(["c", "number", "profile"]),
        "{listing}"
    );
    assert_eq!(listing["usage"]["keys"], 3, "{listing}");
    assert!(
        listing["usage"]["bytes"].as_u64().is_some_and(|b| b > 20),
        "{listing}"
    );
    // incr on an object is an error the script sees.
    let reply = post_json(&server.url("/run/store/bad"), &json!({})).await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert_eq!(reply.json()["error"], "exception");
}

#[tokio::test]
async fn incr_is_atomic_across_50_concurrent_calls() {
    let dir = flows();
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let client = common::client();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (client, url) = (client.clone(), server.url("/pivot/counter"));
        calls.spawn(common::counted(client, url));
    }
    assert_eq!(calls.len(), 50);
    common::assert_counts_once_each(calls).await;
    assert_tree(
        &post_form(
            &server.url("/pivot/counter"),
            "Caller-ID-Number=%2B14155550100",
        )
        .await,
        &tts("51"),
        "the 51st call",
    );
    assert_tree(
        &post_form(&server.url("/pivot/counter"), "Caller-ID-Number=other").await,
        &tts("1"),
        "another key",
    );
}

#[tokio::test]
async fn userspace_over_http_then_read_by_a_script() {
    let dir = flows();
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let number = "+14155550177";
    let path = format!("/userspace/vip/{number}");
    let script = |n: &str| {
        let url = server.url("/pivot/us");
        let body = format!("Caller-ID-Number={}", n.replace('+', "%2B"));
        async move { post_form(&url, &body).await }
    };

    assert_error(&get(&server.url(&path)).await, 404, "missing key");
    assert_tree(
        &script(number).await,
        &tts("null"),
        "read of a missing key is null",
    );

    assert_eq!(
        put(&server, &path, &json!({"tier": "platinum"})).await,
        201,
        "created"
    );
    assert_eq!(
        put(&server, &path, &json!({"tier": "diamond"})).await,
        200,
        "replaced"
    );
    let reply = get(&server.url(&path)).await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"tier": "diamond"}))
    );
    assert_tree(
        &script(number).await,
        &tts(r#"{"tier":"diamond"}"#),
        "the script reads it",
    );

    let listing = get(&server.url("/userspace/vip")).await;
    assert_eq!(listing.status, 200, "{}", listing.text());
    let keys: Vec<String> = listing.json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        keys,
        ["+14155550100", "+14155550101", number],
        "sorted: two from the list, one PUT"
    );

    assert_eq!(delete(&server, &path).await, 204);
    assert_eq!(delete(&server, &path).await, 404);
    assert_tree(&script(number).await, &tts("null"), "deleted");

    // Written by a script, seen over HTTP.
    let reply = post_json(
        &server.url("/run/us/write"),
        &json!({"area": "notes", "key": "k1", "value": {"text": "hi"}}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["result"],
        json!({"created": true, "replaced": false, "now": {"updated": true, "text": "hi"}})
    );
    let reply = get(&server.url("/userspace/notes/k1")).await;
    assert_eq!(reply.json(), json!({"updated": true, "text": "hi"}));
    let reply = post_json(
        &server.url("/run/us/remove"),
        &json!({"area": "notes", "key": "k1"}),
    )
    .await;
    assert_eq!(
        reply.json()["result"],
        json!({"removed": true, "after": null})
    );
    assert_error(
        &get(&server.url("/userspace/notes/k1")).await,
        404,
        "deleted by the script",
    );
}

#[tokio::test]
async fn userspace_rejects_bad_input() {
    let dir = flows();
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let reply = request(
        reqwest::Method::PUT,
        &server.url("/userspace/vip/x"),
        Some("application/json"),
        b"{not json".to_vec(),
    )
    .await;
    assert_error(&reply, 400, "a body that is not JSON");
    let reply = request(
        reqwest::Method::PUT,
        &server.url("/userspace/bad.area/x"),
        Some("application/json"),
        b"1".to_vec(),
    )
    .await;
    assert_error(&reply, 400, "an area name with a dot");
    // A script that writes to a bad area gets an error, the server lives on.
    let reply = post_json(
        &server.url("/run/us/write"),
        &json!({"area": "no/slash", "key": "k", "value": {}}),
    )
    .await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("area name"),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn lists_are_loaded_at_start() {
    let dir = flows();
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let reply = get(&server.url("/userspace/vip/+14155550100")).await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"tier": "gold", "manager": "ann"}))
    );
    let reply = get(&server.url("/userspace/blocked/+19995550000")).await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!(true)),
        "a one-column list"
    );
    assert_tree(
        &post_form(&server.url("/pivot/us"), "Caller-ID-Number=%2B14155550101").await,
        &tts(r#"{"tier":"silver","manager":"bob"}"#),
        "a script reads a listed number",
    );
}

#[tokio::test]
async fn api_lookup_resolves_when_found_and_rejects_when_not() {
    let dir = flows();
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    assert_eq!(
        put(
            &server,
            "/userspace/DNC/+14155550123",
            &json!({"reason": "asked"})
        )
        .await,
        201
    );
    assert_tree(
        &post_form(
            &server.url("/pivot/lookup"),
            "Caller-ID-Number=%2B14155550123",
        )
        .await,
        &json!({"module": "response", "data": {"code": 603, "message": "Denied (DNC): asked"}}),
        "found: resolves with the record",
    );
    assert_tree(
        &post_form(
            &server.url("/pivot/lookup"),
            "Caller-ID-Number=%2B14155550124",
        )
        .await,
        &tts(r#"not listed: [404,"Not Found"]"#),
        "not found: rejects",
    );
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = flows();
    let data = tempfile::tempdir().expect("data dir");
    let now = at("2026-11-17T15:00:00Z");
    let first = serve_in(config(dir.path()), data.path(), now);
    let post = |server: &pivotforge::server::RunningServer, path: &str, body: Value| {
        let url = server.url(path);
        async move { post_json(&url, &body).await }
    };
    let reply = post(
        &first,
        "/run/store/setget",
        json!({"key": "kept", "value": "across restarts"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = post(
        &first,
        "/run/store/count",
        json!({"key": "restarts", "by": 7}),
    )
    .await;
    assert_eq!(reply.json()["result"], json!({"n": 7}));
    let reply = request(
        reqwest::Method::PUT,
        &first.url("/userspace/vip/+14155550188"),
        Some("application/json"),
        br#"{"tier":"kept"}"#.to_vec(),
    )
    .await;
    assert_eq!(reply.status, 201);
    drop(first);

    let second = serve_in(config(dir.path()), data.path(), now);
    let reply = post(&second, "/run/store/get", json!({"key": "kept"})).await;
    assert_eq!(
        reply.json()["result"],
        json!({"value": "across restarts"}),
        "{}",
        reply.text()
    );
    let reply = post(
        &second,
        "/run/store/count",
        json!({"key": "restarts", "by": 1}),
    )
    .await;
    assert_eq!(reply.json()["result"], json!({"n": 8}));
    let reply = get(&second.url("/userspace/vip/+14155550188")).await;
    assert_eq!((reply.status, reply.json()), (200, json!({"tier": "kept"})));
    assert_tree(
        &post_form(&second.url("/pivot/us"), "Caller-ID-Number=%2B14155550188").await,
        &tts(r#"{"tier":"kept"}"#),
        "a script reads it after the restart",
    );
}
