//! Memory is bounded by bytes, not by counts (issue 9, §2). The real binary runs as its own
//! process so that its resident memory can be read from `/proc`: a script flow answering trees
//! over `[limits] max_reply_bytes` gets its fallback (or a 500 naming the size) and the process
//! does not grow with them; 300 trees just under the limit are kept in the exchange log cut to
//! 64 KiB each and marked, so the process stays within a generous bound of where it started.

use crate::common;
use crate::hardening_support;

use std::time::Duration;

use common::{flows_dir, get, post_json};
use hardening_support::{mb, ServerProcess};
use serde_json::{json, Value};

/// A script whose tree is a `set_variables` node of about `bytes` of JSON in many small
/// entries (the shape that costs the most heap per byte). Built once per warm context.
fn big_tree_script(bytes: usize) -> String {
    format!(
        r#"const TREE = (() => {{
  const entries = {{}};
  for (let i = 0; i < Math.floor({bytes} / 19); i++) entries["k" + String(i).padStart(6, "0")] = {{v: i % 10}};
  return {{module: "set_variables", data: {{custom_application_vars: entries}}}};
}})();
function main(data) {{ return TREE; }}
"#
    )
}

const FALLBACK: &str = r#"[fallback]
module = "tts"
data = { text = "Sorry, please hold." }
"#;

/// Calls made of each kind.
const CALLS: usize = 300;
/// Growth allowed over the whole run: far above the 32 MiB ring, far below the >1 GB the
/// unbounded log reached.
const MAX_GROWTH: u64 = 150 * 1024 * 1024;

fn flows() -> tempfile::TempDir {
    flows_dir(&[
        ("near.js", &big_tree_script(200 * 1024)),
        ("huge.js", &big_tree_script(320 * 1024)),
        ("huge_fb.js", &big_tree_script(320 * 1024)),
        ("huge_fb.settings.toml", FALLBACK),
    ])
}

async fn call(server: &ServerProcess, flow: &str, n: usize) -> common::Reply {
    post_json(
        &server.url(&format!("/pivot/{flow}")),
        &json!({"Call-ID": format!("{flow}-{n}")}),
    )
    .await
}

/// Makes `CALLS` calls to `flow` and returns the RSS growth and the first reply that `ok`
/// refused (checked after measuring, so that a failing run still reports its figures).
async fn growth_over_calls(
    server: &ServerProcess,
    flow: &str,
    ok: impl Fn(&common::Reply) -> bool,
) -> (u64, Option<String>) {
    let mut wrong = None;
    let mut check = |r: common::Reply| {
        if wrong.is_none() && !ok(&r) {
            let text = r.text();
            wrong = Some(format!("{}: {}", r.status, &text[..text.len().min(300)]));
        }
    };
    // A first call warms the flow's context, so its one-off cost is not counted as growth.
    check(call(server, flow, 0).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss();
    for n in 1..=CALLS {
        check(call(server, flow, n).await);
    }
    // Let the log's writer catch up: what it queued is part of what the process holds.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = server.rss();
    eprintln!(
        "{flow}: {CALLS} calls, RSS {:.1} MB -> {:.1} MB (growth {:.1} MB)",
        mb(before),
        mb(after),
        mb(after.saturating_sub(before))
    );
    (after.saturating_sub(before), wrong)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_over_the_limit_are_refused_and_many_near_it_stay_bounded() {
    let _heavy = common::heavy().await;
    let flows = flows();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        flows.path(),
        data.path(),
        "[scripts]\nthreads = 1\n[flows]\ntimeout_ms = 4500\nmemory_mb = 200\n",
    );

    // Over the limit with a fallback: the fallback, every time, and no growth from it.
    let fallback = common::hold_fallback();
    let (over, over_wrong) = growth_over_calls(&server, "huge_fb", |r| {
        r.status == 200 && r.json() == fallback
    })
    .await;
    // Just under the limit: sent whole (kept cut and marked, checked below).
    let (near, near_wrong) = growth_over_calls(&server, "near", |r| {
        r.status == 200 && r.body.len() > 150 * 1024
    })
    .await;

    assert_eq!(over_wrong, None, "over the limit: the fallback, every time");
    assert_eq!(near_wrong, None, "just under the limit: the tree itself");
    assert!(
        over < MAX_GROWTH,
        "over-limit replies grew RSS by {:.1} MB",
        mb(over)
    );
    assert!(
        near < MAX_GROWTH,
        "near-limit replies grew RSS by {:.1} MB",
        mb(near)
    );

    // Over the limit without a fallback: a 500 naming the size and the limit.
    let reply = call(&server, "huge", 0).await;
    assert_eq!(
        reply.status,
        500,
        "{}",
        &reply.text()[..reply.body.len().min(300)]
    );
    let body = reply.json();
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("bytes of JSON, over the limit of 262144 bytes"),
        "{body}"
    );
    assert_eq!(body["error"], "invalid callflow tree", "{body}");

    let step = get(&server.url(&format!("/calls/near-{CALLS}")))
        .await
        .json();
    let step: &Value = &step["steps"][0];
    assert_eq!(
        step["truncated"],
        json!(["reply"]),
        "{}",
        &step.to_string()[..300]
    );
    let kept = step["reply"]
        .as_str()
        .expect("a cut reply is its JSON text");
    assert!(
        kept.len() <= 64 * 1024 && kept.starts_with("{\"module\":\"set_variables\""),
        "{}",
        kept.len()
    );
    server.stop();
}

/// A rejection is a tree too: a reason phrase over the limit gets the fallback, like a tree.
#[tokio::test]
async fn a_rejection_over_the_limit_is_an_invalid_tree() {
    let flows = flows_dir(&[
        (
            "reject.js",
            "function main(data) { throw [486, 'x'.repeat(Number(data.n))]; }",
        ),
        ("reject.settings.toml", FALLBACK),
    ]);
    let server = common::serve(flows.path(), common::at("2026-11-17T15:00:00Z"));
    let url = server.url("/pivot/reject");
    let small = post_json(&url, &json!({"n": "4"})).await;
    common::assert_tree(
        &small,
        &json!({"module": "response", "data": {"code": 486, "message": "xxxx"}}),
        "a small rejection",
    );
    let large = post_json(&url, &json!({"n": "300000"})).await;
    let fallback = common::hold_fallback();
    common::assert_tree(&large, &fallback, "a rejection over the limit");
}
