//! The limits of script flows, each a real script through real HTTP: a script that loops, blocks
//! in a regex, awaits forever, eats memory, recurses, sets too many timers, throws a non-Error or
//! does not compile is answered 200 with its fallback within `timeout_ms` + 100 ms, while a
//! normal script flow and a rule flow keep answering during it. After a limit the same flow
//! answers normally on its next call (a fresh context), and a limit hit twice in a row is
//! answered both times.
//!
//! The cases run one at a time (a lock): the timing assertions are the requirement, and the
//! machine has two cores.

use crate::common;

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{
    assert_error, assert_tree, client, config, flows_dir, get_with, post_json, serve_with, Reply,
};
use serde_json::{json, Value};

/// Every bad script's time limit.
const TIMEOUT_MS: u64 = 500;
/// What the issue allows past the time limit.
const SLACK_MS: u64 = 100;

const SETTINGS: &str = r#"
timeout_ms = 500
memory_mb = 32

[fallback]
module = "tts"
data = { text = "Sorry, please hold." }
"#;

const RULE: &str = r#"
[default]
module = "play"
data = { id = "rule-ok" }
"#;

fn ok_tree() -> Value {
    json!({"module": "tts", "data": {"text": "bad flow ok"}})
}

/// A script that behaves with `mode=ok` and runs `body` otherwise.
fn guarded(body: &str, asynchronous: bool) -> String {
    let keyword = if asynchronous { "async " } else { "" };
    format!(
        "{keyword}function main(data) {{\n  if (data.mode === 'ok') return {ok};\n  {body}\n}}\n",
        ok = ok_tree()
    )
}

/// Runs `f` on a fresh runtime, one case at a time across this file.
fn serial<F: Future>(f: F) -> F::Output {
    static LOCK: Mutex<()> = Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(f)
}

/// A server for `bad.js` (+ settings) beside `good.js` and `rule.toml`, with two JS threads.
fn bad_server(
    script: &str,
    settings: &str,
    js_threads: usize,
) -> (tempfile::TempDir, common::TestServer) {
    let dir = flows_dir(&[
        ("good.js", common::GOOD_SCRIPT),
        ("rule.toml", RULE),
        ("bad.js", script),
        ("bad.settings.toml", settings),
    ]);
    let mut cfg = config(dir.path());
    cfg.js_threads = js_threads;
    cfg.js_queue = 32;
    cfg.workers = Some(2);
    let server = serve_with(cfg, common::at("2026-11-17T15:00:00Z"));
    (dir, server)
}

async fn timed(client: &reqwest::Client, url: &str) -> (Reply, Duration, Instant) {
    let start = Instant::now();
    let reply = get_with(client, url).await;
    (reply, start.elapsed(), Instant::now())
}

/// Good requests (script and rule flows, alternating) sent one after another while a bad one
/// runs; each must be right and quick. Returns when the last one finished.
async fn good_requests(client: &reqwest::Client, server: &common::TestServer) -> Instant {
    for i in 0..3 {
        let number = format!("+1415555{i:04}");
        let (reply, took, _) = timed(
            client,
            &server.url(&format!(
                "/pivot/good?Caller-ID-Number={}",
                number.replace('+', "%2B")
            )),
        )
        .await;
        assert_tree(
            &reply,
            &json!({"module": "tts", "data": {"text": format!("good {number}")}}),
            "good script during a bad one",
        );
        assert!(
            took < Duration::from_millis(400),
            "the good script took {took:?} while a bad one ran"
        );
        let (reply, took, _) = timed(client, &server.url("/pivot/rule")).await;
        assert_tree(
            &reply,
            &json!({"module": "play", "data": {"id": "rule-ok"}}),
            "rule flow during a bad script",
        );
        assert!(
            took < Duration::from_millis(400),
            "the rule flow took {took:?} while a bad script ran"
        );
    }
    Instant::now()
}

/// One bad call with good ones beside it: asserts the fallback in time and returns the elapsed.
async fn bad_call_beside_good(
    client: &reqwest::Client,
    server: &common::TestServer,
    what: &str,
    runs_to_limit: bool,
) -> Duration {
    let good_client = common::client();
    let url = server.url("/pivot/bad");
    let ((reply, took, bad_done), good_done) =
        tokio::join!(timed(client, &url), good_requests(&good_client, server));
    assert_tree(&reply, &common::hold_fallback(), what);
    assert!(
        took <= Duration::from_millis(TIMEOUT_MS + SLACK_MS),
        "{what}: answered after {took:?}, more than {TIMEOUT_MS} + {SLACK_MS} ms"
    );
    if runs_to_limit {
        assert!(
            took >= Duration::from_millis(TIMEOUT_MS - 50),
            "{what}: a time-limit case answered after only {took:?}"
        );
        assert!(
            good_done < bad_done,
            "{what}: the good requests did not all finish while the bad one ran"
        );
    }
    took
}

/// The whole case: bad beside good, bad again at once, then the same flow answers normally,
/// and `/run` reports the failure kind.
async fn limit_case(what: &str, script: &str, kind: &str, runs_to_limit: bool) {
    let _heavy = common::heavy().await;
    let (_dir, server) = bad_server(script, SETTINGS, 2);
    let client = client();
    let first = bad_call_beside_good(&client, &server, what, runs_to_limit).await;
    let again = bad_call_beside_good(
        &client,
        &server,
        &format!("{what} (twice in a row)"),
        runs_to_limit,
    )
    .await;
    println!("limit case {what}: first {first:?}, again {again:?}");

    let (reply, took, _) = timed(&client, &server.url("/pivot/bad?mode=ok")).await;
    assert_tree(
        &reply,
        &ok_tree(),
        &format!("{what}: the next call, in a fresh context"),
    );
    assert!(
        took < Duration::from_millis(400),
        "{what}: the next call took {took:?}"
    );

    let run = post_json(&server.url("/run/bad"), &json!({})).await;
    assert_eq!(run.status, 500, "{what}: /run {}", run.text());
    let body = run.json();
    assert!(
        kind.split('|').any(|k| body["error"] == k),
        "{what}: /run failure kind {kind}: {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {body}"
    );
}

#[test]
fn endless_loop() {
    serial(limit_case(
        "while(true){}",
        &guarded("while (true) {}", false),
        "timeout",
        true,
    ));
}

#[test]
fn endless_loop_inside_try_catch() {
    let body = "for (;;) { try { while (true) {} } catch (e) { console.log('caught', e); } finally { console.log('finally'); } }";
    serial(limit_case(
        "while(true){} in try/catch",
        &guarded(body, false),
        "timeout",
        true,
    ));
}

#[test]
fn sleeping_past_the_deadline() {
    serial(limit_case(
        "await a 10 s timer",
        &guarded("await new Promise((resolve) => setTimeout(resolve, 10000)); return { module: 'hangup', data: {} };", true),
        "timeout",
        true,
    ));
}

#[test]
fn endless_loop_at_the_top_level() {
    // Every call builds the context again, and every time the top level runs out of time.
    serial(async {
        let (_dir, server) = bad_server(
            "while (true) {}\nfunction main() { return { module: 'hangup', data: {} }; }",
            SETTINGS,
            2,
        );
        let client = client();
        let first = bad_call_beside_good(&client, &server, "top-level loop", true).await;
        let again = bad_call_beside_good(&client, &server, "top-level loop (again)", true).await;
        println!("limit case endless loop at the top level: first {first:?}, again {again:?}");
        let run = post_json(&server.url("/run/bad"), &json!({})).await;
        assert_eq!(run.status, 500, "{}", run.text());
        assert_eq!(run.json()["error"], "timeout", "{}", run.text());
    });
}

#[test]
fn catastrophic_regex() {
    serial(limit_case(
        "catastrophic regex",
        &guarded(
            "return /^(a+)+$/.test('a'.repeat(40) + 'b') ? 1 : 2;",
            false,
        ),
        "timeout",
        true,
    ));
}

#[test]
fn endless_await_loop() {
    serial(limit_case(
        "for(;;) await null",
        &guarded("for (;;) await null;", true),
        "timeout",
        true,
    ));
}

#[test]
fn promise_that_never_settles() {
    serial(limit_case(
        "a promise that never settles",
        &guarded("return new Promise(() => {});", false),
        "never_settled",
        false,
    ));
}

#[test]
fn array_growing_without_end() {
    serial(limit_case(
        "pushing into an array without end",
        &guarded("const a = []; for (;;) a.push({ n: a.length });", false),
        "memory_limit",
        false,
    ));
}

#[test]
fn string_doubling() {
    serial(limit_case(
        "doubling a string",
        &guarded("let s = 'x'; for (;;) s += s;", false),
        "memory_limit",
        false,
    ));
}

#[test]
fn unbounded_recursion() {
    serial(limit_case(
        "unbounded recursion",
        &guarded(
            "function down(n) { return down(n + 1) + 1; } return down(0);",
            false,
        ),
        "stack_overflow",
        false,
    ));
}

#[test]
fn huge_array_join() {
    serial(limit_case(
        "new Array(5e7).join()",
        &guarded(
            "const s = new Array(5e7).join(); return { module: 'tts', data: { text: s } };",
            false,
        ),
        // The native join polls neither limit: whichever the service sees first is right.
        "memory_limit|timeout",
        false,
    ));
}

#[test]
fn more_than_ten_timers() {
    let body = "await new Promise((resolve) => { for (let i = 0; i < 11; i++) setTimeout(resolve, 10); }); return { module: 'tts', data: { text: 'timers' } };";
    serial(limit_case(
        "more than 10 timers",
        &guarded(body, true),
        "exception",
        false,
    ));
}

#[test]
fn ten_timers_are_fine() {
    // The other side of the limit: ten pending timers are allowed and all fire.
    let script = r#"
async function main() {
  let fired = 0;
  await new Promise((resolve) => {
    for (let i = 0; i < 10; i++) setTimeout(() => { fired += 1; if (fired === 10) resolve(); }, 5 + i);
  });
  return { module: 'tts', data: { text: 'fired ' + fired } };
}
"#;
    serial(async {
        let (_dir, server) = bad_server(script, SETTINGS, 2);
        let reply = get_with(&client(), &server.url("/pivot/bad")).await;
        assert_tree(
            &reply,
            &json!({"module": "tts", "data": {"text": "fired 10"}}),
            "ten timers",
        );
    });
}

#[test]
fn throwing_a_non_error() {
    serial(limit_case(
        "throwing a non-Error",
        &guarded("throw { not: 'an error' };", false),
        "exception",
        false,
    ));
}

#[test]
fn garbage_kept_in_a_global_across_calls() {
    // 12 MiB per call under a 32 MiB limit: the third call runs out of memory.
    let script = format!(
        "var kept = [];\n{}",
        guarded(
            "kept.push('x'.repeat(12 * 1024 * 1024)); return { module: 'tts', data: { text: 'kept ' + kept.length } };",
            false
        )
    );
    serial(async {
        // One JS thread, so every call meets the same warm context (globals are per thread).
        let (_dir, server) = bad_server(&script, SETTINGS, 1);
        let client = client();
        let url = server.url("/pivot/bad");
        let mut answers = Vec::new();
        let mut latencies = Vec::new();
        for _ in 0..5 {
            let (reply, took, _) = timed(&client, &url).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            assert!(
                took <= Duration::from_millis(TIMEOUT_MS + SLACK_MS),
                "garbage in a global: a call took {took:?}"
            );
            latencies.push(took);
            answers.push(reply.json());
        }
        println!("limit case garbage kept in a global: {latencies:?}");
        let kept = |n: u32| json!({"module": "tts", "data": {"text": format!("kept {n}")}});
        assert_eq!(
            answers,
            vec![kept(1), kept(2), common::hold_fallback(), kept(1), kept(2)],
            "the third call hits the memory limit; the fourth starts from a fresh context"
        );
        // The limit again, on the next call after the global filled up once more.
        let (reply, took, _) = timed(&client, &url).await;
        assert_tree(
            &reply,
            &common::hold_fallback(),
            "garbage in a global, the limit again",
        );
        assert!(
            took <= Duration::from_millis(TIMEOUT_MS + SLACK_MS),
            "{took:?}"
        );
    });
}

#[test]
fn syntax_error_keeps_the_server_up_and_answers_the_fallback() {
    serial(async {
        let broken = "function main(data) {\n  return { module: 'tts', data: { text: 'x' } ;\n}\n";
        let dir = flows_dir(&[
            ("good.js", common::GOOD_SCRIPT),
            ("rule.toml", RULE),
            ("bad.js", broken),
            ("bad.settings.toml", SETTINGS),
            ("bare.js", broken),
        ]);
        let mut cfg = config(dir.path());
        cfg.js_threads = 2;
        let server = serve_with(cfg, common::at("2026-11-17T15:00:00Z"));
        let client = client();
        let took = bad_call_beside_good(&client, &server, "syntax error", false).await;
        let again = bad_call_beside_good(&client, &server, "syntax error (again)", false).await;
        println!("limit case syntax error: first {took:?}, again {again:?}");

        // Without a fallback: 500 JSON naming the compile error and the file.
        let reply = get_with(&client, &server.url("/pivot/bare")).await;
        let body = assert_error(&reply, 500, "syntax error without a fallback");
        assert_eq!(body["error"], "flow failed to load", "{body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("bare.js"),
            "the error names the file: {detail}"
        );
        assert!(
            detail.contains("SyntaxError"),
            "the error names the compile error: {detail}"
        );

        // /run says it did not load.
        let run = post_json(&server.url("/run/bad"), &json!({})).await;
        assert_eq!(run.status, 500, "{}", run.text());
        assert_eq!(run.json()["error"], "script not loaded");

        // `pivotforge check` exits 1 and names the file.
        let (code, stdout, stderr) =
            common::pivotforge_cli(&["check", dir.path().to_str().expect("utf-8 path")], &[]);
        assert_eq!(code, Some(1), "check: {stdout} {stderr}");
        assert!(
            stderr.contains("bad.js") && stderr.contains("bare.js"),
            "{stderr}"
        );
        assert!(stdout.contains("2 problems"), "{stdout}");
    });
}

#[test]
fn timeout_without_fallback_is_a_500_json_error() {
    serial(async {
        let settings = "timeout_ms = 500\n";
        let (_dir, server) = bad_server(&guarded("while (true) {}", false), settings, 2);
        let client = client();
        let (reply, took, _) = timed(&client, &server.url("/pivot/bad")).await;
        println!("limit case timeout without fallback: {took:?}");
        let body = assert_error(&reply, 500, "timeout without a fallback");
        assert_eq!(body["error"], "script timeout", "{body}");
        assert!(body["errors"].is_array(), "{body}");
        assert!(
            took <= Duration::from_millis(TIMEOUT_MS + SLACK_MS)
                && took >= Duration::from_millis(450),
            "{took:?}"
        );
        let (reply, _, _) = timed(&client, &server.url("/pivot/bad?mode=ok")).await;
        assert_tree(&reply, &ok_tree(), "after the timeout");
    });
}

#[test]
fn a_script_stuck_in_native_code_does_not_take_its_thread_away() {
    serial(async {
        let (_dir, server) = bad_server(
            &guarded(
                "return { module: 'tts', data: { text: new Array(5e7).join() } };",
                false,
            ),
            SETTINGS,
            1,
        );
        let client = client();
        let (reply, took, _) = timed(&client, &server.url("/pivot/bad")).await;
        assert_tree(
            &reply,
            &common::hold_fallback(),
            "stuck in a native built-in",
        );
        println!("native built-in: fallback after {took:?}");
        let (reply, took, _) = timed(&client, &server.url("/pivot/good?Caller-ID-Number=1")).await;
        assert_tree(
            &reply,
            &json!({"module": "tts", "data": {"text": "good 1"}}),
            "the next script call on the one JS thread",
        );
        assert!(
            took < Duration::from_millis(400),
            "the next script call took {took:?}"
        );
    });
}
