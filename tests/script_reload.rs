//! Hot reload of script flows on a running server: an edited script serves its new behaviour
//! within a second; a broken edit keeps the previous version serving while `pivotforge check`
//! names the error; settings edits, new flows, removed flows and edited `lib/` modules are
//! picked up too.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    assert_error, assert_tree, at, client, flows_dir, get_with, poll_until, serve, write_flow,
    Reply, TestServer,
};
use serde_json::{json, Value};

/// How soon a change must be served.
const WITHIN: Duration = Duration::from_secs(1);

fn tts(text: &str) -> Value {
    json!({"module": "tts", "data": {"text": text}})
}

fn version(text: &str) -> String {
    format!("function main(data) {{ return {{ module: 'tts', data: {{ text: '{text}' }} }}; }}\n")
}

async fn fetch(client: &reqwest::Client, server: &TestServer, flow: &str) -> Reply {
    get_with(client, &server.url(&format!("/pivot/{flow}"))).await
}

/// Polls `flow` (up to 3 s) until it answers `expected`; returns how long that took.
async fn served_within(
    client: &reqwest::Client,
    server: &TestServer,
    flow: &str,
    expected: &Value,
    since: Instant,
) -> Duration {
    poll_until(
        Duration::from_secs(3),
        &format!("{flow} answers {expected}"),
        || async {
            let reply = fetch(client, server, flow).await;
            (reply.status == 200 && reply.json() == *expected).then(|| since.elapsed())
        },
    )
    .await
}

fn check(dir: &Path) -> (Option<i32>, String, String) {
    common::pivotforge_cli(&["check", dir.to_str().expect("utf-8 path")], &[])
}

#[tokio::test]
async fn an_edited_script_serves_its_new_version_within_a_second() {
    let _heavy = common::heavy().await;
    let dir = flows_dir(&[("hot.js", &version("v1")), ("other.js", &version("other"))]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let client = client();
    assert_tree(&fetch(&client, &server, "hot").await, &tts("v1"), "before");

    let since = Instant::now();
    write_flow(dir.path(), "hot.js", &version("v2"));
    let took = served_within(&client, &server, "hot", &tts("v2"), since).await;
    println!("reload of an edited script: {took:?}");
    assert!(took <= WITHIN, "the new version was served after {took:?}");
    assert_tree(
        &fetch(&client, &server, "other").await,
        &tts("other"),
        "untouched flow",
    );
}

#[tokio::test]
async fn a_broken_edit_keeps_the_previous_version_serving() {
    let _heavy = common::heavy().await;
    let dir = flows_dir(&[
        ("hot.js", &version("good")),
        ("marker.js", &version("marker 1")),
    ]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let client = client();
    assert_tree(
        &fetch(&client, &server, "hot").await,
        &tts("good"),
        "before",
    );

    // The broken file and a marker change in one burst: once the marker's new version is
    // served, the reload that saw the broken file is done.
    let since = Instant::now();
    write_flow(
        dir.path(),
        "hot.js",
        "function main(data) {\n  return { module: 'tts', data: { text: 'x' } ;\n}\n",
    );
    write_flow(dir.path(), "marker.js", &version("marker 2"));
    let took = served_within(&client, &server, "marker", &tts("marker 2"), since).await;
    assert!(took <= WITHIN, "{took:?}");
    for _ in 0..3 {
        assert_tree(
            &fetch(&client, &server, "hot").await,
            &tts("good"),
            "the previous version keeps serving",
        );
    }

    let (code, stdout, stderr) = check(dir.path());
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("hot.js"), "{stderr}");
    assert!(stderr.contains("SyntaxError"), "{stderr}");

    // Fixed again: the fixed version serves.
    let since = Instant::now();
    write_flow(dir.path(), "hot.js", &version("fixed"));
    let took = served_within(&client, &server, "hot", &tts("fixed"), since).await;
    assert!(took <= WITHIN, "{took:?}");
    let (code, stdout, stderr) = check(dir.path());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
}

#[tokio::test]
async fn settings_edits_are_picked_up() {
    let _heavy = common::heavy().await;
    let script = "function main(data) { return { module: 'tts', data: { text: data.vars.greeting + ' ' + process.env.WHO } }; }";
    let dir = flows_dir(&[
        ("hot.js", script),
        (
            "hot.settings.toml",
            "[vars]\ngreeting = \"hello\"\n[env]\nWHO = \"world\"\n",
        ),
    ]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let client = client();
    assert_tree(
        &fetch(&client, &server, "hot").await,
        &tts("hello world"),
        "before",
    );
    let since = Instant::now();
    write_flow(
        dir.path(),
        "hot.settings.toml",
        "[vars]\ngreeting = \"bonjour\"\n[env]\nWHO = \"monde\"\n",
    );
    let took = served_within(&client, &server, "hot", &tts("bonjour monde"), since).await;
    assert!(took <= WITHIN, "{took:?}");
}

#[tokio::test]
async fn new_flows_are_served_and_removed_ones_are_not() {
    let _heavy = common::heavy().await;
    let dir = flows_dir(&[("hot.js", &version("hot"))]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let client = client();
    assert_error(
        &fetch(&client, &server, "fresh").await,
        404,
        "not there yet",
    );
    assert_error(
        &fetch(&client, &server, "team/fresh").await,
        404,
        "not there yet",
    );

    let since = Instant::now();
    write_flow(dir.path(), "fresh.js", &version("fresh"));
    write_flow(dir.path(), "team/fresh.js", &version("team fresh"));
    let took = served_within(&client, &server, "fresh", &tts("fresh"), since).await;
    assert!(took <= WITHIN, "{took:?}");
    assert_tree(
        &fetch(&client, &server, "team/fresh").await,
        &tts("team fresh"),
        "in a sub-folder",
    );

    std::fs::remove_file(dir.path().join("fresh.js")).expect("remove");
    poll_until(Duration::from_secs(3), "a removed flow is 404", || async {
        (fetch(&client, &server, "fresh").await.status == 404).then_some(())
    })
    .await;
    assert_tree(
        &fetch(&client, &server, "hot").await,
        &tts("hot"),
        "the others stay",
    );
}

#[tokio::test]
async fn an_edited_lib_module_is_picked_up_by_the_flows_importing_it() {
    let _heavy = common::heavy().await;
    let flow = "import greet from './lib/helper';\nexport function main() { return { module: 'tts', data: { text: greet() } }; }";
    let dir = flows_dir(&[
        ("hot.js", flow),
        (
            "lib/helper.js",
            "export default function greet() { return 'helper v1'; }",
        ),
    ]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let client = client();
    // Warm the contexts of both JS threads.
    for _ in 0..4 {
        assert_tree(
            &fetch(&client, &server, "hot").await,
            &tts("helper v1"),
            "before",
        );
    }
    let since = Instant::now();
    write_flow(
        dir.path(),
        "lib/helper.js",
        "export default function greet() { return 'helper v2'; }",
    );
    let took = served_within(&client, &server, "hot", &tts("helper v2"), since).await;
    assert!(took <= WITHIN, "{took:?}");
}

#[tokio::test]
async fn an_edited_list_file_is_loaded_again() {
    let _heavy = common::heavy().await;
    let script = "const us = require('cxUserspace');\n\
        async function main(data) {\n\
          const hit = await us.read('vip', data['Caller-ID-Number']);\n\
          return { module: 'tts', data: { text: hit ? 'vip ' + hit.name : 'plain' } };\n\
        }\n";
    let dir = flows_dir(&[
        ("vip.js", script),
        ("lists/vip.csv", "number,name\n+14155550100,Alice\n"),
    ]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let client = client();
    let url = |n: &str| format!("/pivot/vip?Caller-ID-Number={}", n.replace('+', "%2B"));
    let ask = |n: &'static str| {
        let (client, server) = (&client, &server);
        async move { get_with(client, &server.url(&url(n))).await }
    };
    assert_tree(
        &ask("+14155550100").await,
        &tts("vip Alice"),
        "listed at start",
    );
    assert_tree(&ask("+14155550111").await, &tts("plain"), "not listed yet");

    let since = Instant::now();
    write_flow(
        dir.path(),
        "lists/vip.csv",
        "number,name\n+14155550100,Alice\n+14155550111,Bob\n",
    );
    let took = poll_until(Duration::from_secs(3), "the new row is served", || async {
        let reply = ask("+14155550111").await;
        (reply.status == 200 && reply.json() == tts("vip Bob")).then(|| since.elapsed())
    })
    .await;
    assert!(took <= WITHIN, "the edited list was served after {took:?}");

    // A malformed file changes nothing.
    write_flow(
        dir.path(),
        "lists/vip.csv",
        "number,name\n+14155550111\n\"open",
    );
    // A flow written after it is served once the watcher has handled both changes; by then
    // the bad file has been read and refused.
    write_flow(dir.path(), "probe.js", &version("probe"));
    served_within(&client, &server, "probe", &tts("probe"), Instant::now()).await;
    assert_tree(
        &ask("+14155550111").await,
        &tts("vip Bob"),
        "after a bad edit",
    );
}
