//! The exchange log over real HTTP: every pivot step shows in `/calls` and `/calls/{call_id}`
//! right after its reply (request, reply, outcome, errors with pointers, console lines,
//! timings, step numbers), the filters and their 400s, Call-IDs with `@` and `/`, calls kept
//! across a restart, retention by the service clock, the bounded memory ring, and
//! `pivotforge calls` against a running server.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{
    assert_error, at, config, flows_dir, get, kazoo_form, kazoo_params, poll_until, post_json,
    serve, serve_in, serve_with, shipped_flows, with, Reply,
};
use pivotforge::config::Config;
use pivotforge::server::RunningServer;
use serde_json::{json, Value};

const NOW: &str = "2026-11-17T15:00:00Z";

const HELLO: &str = r#"[default]
module = "tts"
data = { text = "Hello" }
"#;

/// tts text straight from a request parameter: invalid (empty text) when the caller has no name.
const GREET: &str = r#"[default]
module = "tts"
data = { text = "{{Caller-ID-Name}}" }
"#;

const GREET_WITH_FALLBACK: &str = r#"[default]
module = "tts"
data = { text = "{{Caller-ID-Name}}" }

[fallback]
module = "hangup"
data = {}
"#;

const LOGGER: &str = r#"
function main(data) {
  console.log('caller', data['Caller-ID-Number']);
  console.warn('careful');
  return { module: 'tts', data: { text: 'hi' } };
}
"#;

fn flows() -> tempfile::TempDir {
    flows_dir(&[
        ("hello.toml", HELLO),
        ("greet.toml", GREET),
        ("greet_fallback.toml", GREET_WITH_FALLBACK),
        ("logger.js", LOGGER),
    ])
}

/// One pivot step by GET with Kazoo's parameters; `changes` as in [`with`].
async fn step(server: &RunningServer, flow: &str, changes: Value) -> Reply {
    let params = with(&kazoo_params(), &changes);
    get(&server.url(&format!("/pivot/{flow}?{}", kazoo_form(&params)))).await
}

/// `GET /calls?query`, asserting 200; the `calls` list.
async fn calls(server: &RunningServer, query: &str) -> Vec<Value> {
    let reply = get(&server.url(&format!("/calls?{query}"))).await;
    assert_eq!(reply.status, 200, "/calls?{query}: {}", reply.text());
    reply.json()["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("`calls` is a list: {}", reply.text()))
        .clone()
}

fn ids(calls: &[Value]) -> Vec<&str> {
    calls
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect()
}

/// `GET /calls/{encoded}`, asserting 200; the call's steps.
async fn steps(server: &RunningServer, encoded: &str) -> Vec<Value> {
    let reply = get(&server.url(&format!("/calls/{encoded}"))).await;
    assert_eq!(reply.status, 200, "/calls/{encoded}: {}", reply.text());
    reply.json()["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("`steps` is a list: {}", reply.text()))
        .clone()
}

fn config_with(flows: &std::path::Path, edit: impl FnOnce(&mut Config)) -> Config {
    let mut config = config(flows);
    edit(&mut config);
    config
}

fn shifted(days: i64) -> DateTime<Utc> {
    at(NOW) + chrono::Duration::days(days)
}

#[tokio::test]
async fn a_rule_flow_step_is_logged_with_every_field() {
    let server = serve(&shipped_flows(), at("2026-12-24T10:00:00-05:00"));
    let first = step(&server, "main_number_tod", json!({})).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second = step(&server, "main_number_tod", json!({"Request": "2031"})).await;
    assert_eq!(second.status, 200);

    let listed = calls(&server, "").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0],
        json!({
            "call_id": "abc123@10.0.0.1", "flow": "main_number_tod",
            "first_at": "2026-12-24T15:00:00.000Z", "last_at": "2026-12-24T15:00:00.000Z",
            "steps": 2, "outcome": "tree", "status": 200
        })
    );

    let steps = steps(&server, "abc123%4010.0.0.1").await;
    assert_eq!(steps.len(), 2);
    let numbers: Vec<&Value> = steps.iter().map(|s| &s["step"]).collect();
    assert_eq!(numbers, [1, 2]);
    let s = &steps[0];
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "step", "at", "flow", "version", "request", "reply", "outcome", "status", "rule",
            "detail", "errors", "logs", "timings"
        ]
    );
    assert_eq!(s["at"], "2026-12-24T15:00:00.000Z");
    assert_eq!(s["flow"], "main_number_tod");
    assert!(s["version"].as_str().is_some_and(|v| !v.is_empty()), "{s}");
    assert_eq!(s["request"], kazoo_params_as_parsed(), "{s}");
    assert_eq!(steps[1]["request"]["Request"], "2031");
    assert_eq!(
        s["reply"],
        first.json(),
        "the reply is the tree that was sent"
    );
    assert_eq!(steps[1]["reply"], second.json());
    assert_eq!(s["outcome"], "tree");
    assert_eq!(s["status"], 200);
    assert_eq!(s["rule"], "office hours");
    assert_eq!(s["detail"], Value::Null);
    assert_eq!(s["errors"], json!([]));
    assert_eq!(s["logs"], json!([]));
    let t = &s["timings"];
    for part in ["parse_us", "run_us", "validate_us", "total_us"] {
        assert!(t[part].as_u64().is_some_and(|us| us > 0), "{part}: {t}");
    }
    assert!(t["total_us"].as_u64() >= t["run_us"].as_u64(), "{t}");
    // The `@` may also come unencoded.
    let again = get(&server.url("/calls/abc123@10.0.0.1")).await;
    assert_eq!(again.json()["steps"].as_array().map(Vec::len), Some(2));
}

/// The request as a script sees it: Kazoo's parameters, empty objects left out.
fn kazoo_params_as_parsed() -> Value {
    with(
        &kazoo_params(),
        &json!({"Custom-Application-Vars": null, "Custom-SIP-Headers": null}),
    )
}

#[tokio::test]
async fn a_script_step_keeps_its_console_lines() {
    let dir = flows();
    let server = serve(dir.path(), at(NOW));
    let reply = step(&server, "logger", json!({"Call-ID": "js-1@h"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let steps = steps(&server, "js-1@h").await;
    assert_eq!(steps.len(), 1);
    let s = &steps[0];
    assert_eq!(s["outcome"], "tree");
    assert_eq!(s["reply"], json!({"module": "tts", "data": {"text": "hi"}}));
    // The script's `data` text, kept as the step's request: the request as parsed.
    assert_eq!(
        s["request"],
        with(&kazoo_params_as_parsed(), &json!({"Call-ID": "js-1@h"})),
        "{s}"
    );
    assert!(s["version"].as_str().is_some_and(|v| !v.is_empty()), "{s}");
    assert_eq!(s["rule"], Value::Null);
    let logs = s["logs"].as_array().expect("logs is a list");
    let lines: Vec<(&str, &str)> = logs
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [("log", "caller +14155550100"), ("warn", "careful")]);
    for line in logs {
        let ts = line["ts"].as_str().expect("ts is text");
        assert!(DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    }
    assert!(s["timings"]["run_us"].as_u64().is_some_and(|us| us > 0));
}

/// A script that reports the time it sees, through `Date` and through its console stamps.
const CLOCKED: &str = r#"
function main() {
  console.log('now', new Date(Date.now()).toISOString());
  return { module: 'tts', data: { text: new Date().toISOString() } };
}
"#;

/// One clock: under the service's injected (fixed) clock, the script's `Date`, its console
/// lines' stamps and the step's `at` in the exchange log all read that clock, not the machine's.
#[tokio::test]
async fn a_script_step_reads_the_injected_clock() {
    let dir = flows_dir(&[("clocked.js", CLOCKED)]);
    let server = serve(dir.path(), at(NOW));
    let reply = step(&server, "clocked", json!({"Call-ID": "clock-1@h"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The script's clock runs on from the injected instant while the call runs: allow for that.
    let near_now = |text: &str| {
        let t = DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (t.with_timezone(&Utc) - at(NOW)).num_seconds().abs() < 60
    };
    let seen = reply.json()["data"]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(near_now(&seen), "the script's Date: {seen}");
    let steps = steps(&server, "clock-1@h").await;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["at"], "2026-11-17T15:00:00.000Z");
    let logs = steps[0]["logs"].as_array().expect("logs is a list");
    assert_eq!(logs.len(), 1, "{logs:?}");
    let message = logs[0]["message"].as_str().unwrap_or("");
    assert!(near_now(message.trim_start_matches("now ")), "{message}");
    let ts = logs[0]["ts"].as_str().expect("ts is text");
    assert!(near_now(ts), "the console line's stamp: {ts}");
}

#[tokio::test]
async fn invalid_trees_and_refusals_are_logged_with_what_went_wrong() {
    let dir = flows();
    let server = serve(dir.path(), at(NOW));
    let no_name = json!({"Caller-ID-Name": null});

    let reply = step(
        &server,
        "greet_fallback",
        with(&no_name, &json!({"Call-ID": "bad-1@h"})),
    )
    .await;
    assert_eq!(reply.status, 200);
    let s = &steps(&server, "bad-1%40h").await[0];
    assert_eq!(s["outcome"], "fallback");
    assert_eq!(s["status"], 200);
    assert_eq!(s["reply"], json!({"module": "hangup", "data": {}}));
    assert_eq!(s["detail"], reply_detail_of_invalid_text(s));
    let errors = s["errors"].as_array().expect("errors is a list");
    assert_eq!(errors.len(), 1, "{s}");
    assert_eq!(errors[0]["pointer"], "/data/text");
    assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()));

    let reply = step(
        &server,
        "greet",
        with(&no_name, &json!({"Call-ID": "bad-2@h"})),
    )
    .await;
    assert_eq!(reply.status, 500);
    let s = &steps(&server, "bad-2@h").await[0];
    assert_eq!(s["outcome"], "error");
    assert_eq!(s["status"], 500);
    assert_eq!(s["reply"], Value::Null);
    assert_eq!(s["errors"][0]["pointer"], "/data/text");

    let reply = step(&server, "no_such_flow", json!({"Call-ID": "bad-3@h"})).await;
    assert_eq!(reply.status, 404);
    let s = &steps(&server, "bad-3@h").await[0];
    assert_eq!(s["outcome"], "refused");
    assert_eq!(s["status"], 404);
    assert_eq!(s["reply"], Value::Null);
    assert_eq!(s["version"], "");
    assert!(
        s["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no_such_flow")),
        "{s}"
    );

    let listed = calls(&server, "").await;
    assert_eq!(ids(&listed), ["bad-3@h", "bad-2@h", "bad-1@h"]);
    let outcomes: Vec<&Value> = listed.iter().map(|c| &c["outcome"]).collect();
    assert_eq!(outcomes, ["refused", "error", "fallback"]);
}

/// The detail of an invalid tree names the pointer; returns it so the caller can compare.
fn reply_detail_of_invalid_text(step: &Value) -> Value {
    let detail = step["detail"].as_str().expect("detail is text");
    assert!(detail.contains("/data/text"), "{detail}");
    Value::String(detail.to_owned())
}

#[tokio::test]
async fn filters_select_calls_and_bad_values_are_400() {
    let dir = flows();
    let server = serve(dir.path(), at(NOW));
    let no_name = json!({"Caller-ID-Name": null});
    step(&server, "hello", json!({"Call-ID": "c1"})).await;
    step(
        &server,
        "greet_fallback",
        with(&no_name, &json!({"Call-ID": "c2"})),
    )
    .await;
    step(&server, "hello", json!({"Call-ID": "c3"})).await;
    step(
        &server,
        "greet_fallback",
        with(&no_name, &json!({"Call-ID": "c3"})),
    )
    .await;

    let all = calls(&server, "").await;
    assert_eq!(ids(&all), ["c3", "c2", "c1"]);
    // A call shows its last step's flow and outcome, and all its steps.
    assert_eq!(all[0]["flow"], "greet_fallback");
    assert_eq!(all[0]["outcome"], "fallback");
    assert_eq!(all[0]["steps"], 2);

    for (query, expected) in [
        ("flow=hello", vec!["c3", "c1"]),
        ("flow=greet_fallback", vec!["c3", "c2"]),
        ("flow=greet", vec![]),
        ("outcome=tree", vec!["c3", "c1"]),
        ("outcome=fallback", vec!["c3", "c2"]),
        ("outcome=error", vec![]),
        ("flow=hello&outcome=fallback", vec!["c3"]),
        ("limit=1", vec!["c3"]),
        ("limit=2", vec!["c3", "c2"]),
        ("since=15m", vec!["c3", "c2", "c1"]),
        ("since=2026-11-17T14:59:59Z", vec!["c3", "c2", "c1"]),
        ("since=2026-11-17T15:00:01Z", vec![]),
        ("since=2026-11-18", vec![]),
        ("flow=&outcome=&since=&limit=", vec!["c3", "c2", "c1"]),
    ] {
        assert_eq!(ids(&calls(&server, query).await), expected, "{query}");
    }

    for (query, name) in [
        ("outcome=weird", "`outcome`"),
        ("since=yesterday", "`since`"),
        ("since=5y", "`since`"),
        ("limit=0", "`limit`"),
        ("limit=1001", "`limit`"),
        ("limit=many", "`limit`"),
        ("call=c1", "`call`"),
        ("flow=%zz", "malformed"),
    ] {
        let reply = get(&server.url(&format!("/calls?{query}"))).await;
        let body = assert_error(&reply, 400, query);
        assert!(
            body["detail"].as_str().unwrap().contains(name),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn call_ids_with_at_slash_and_percent_are_found_by_their_encoded_segment() {
    let dir = flows();
    let server = serve(dir.path(), at(NOW));
    let url = server.url("/pivot/hello");
    for call_id in ["a/b@10.0.0.1", "50%off@h"] {
        let reply = post_json(&url, &json!({"Call-ID": call_id})).await;
        assert_eq!(reply.status, 200);
    }
    for encoded in ["a%2Fb%4010.0.0.1", "a%2Fb@10.0.0.1", "a%2fb@10.0.0.1"] {
        let reply = get(&server.url(&format!("/calls/{encoded}"))).await;
        assert_eq!(reply.status, 200, "{encoded}: {}", reply.text());
        assert_eq!(reply.json()["call_id"], "a/b@10.0.0.1", "{encoded}");
        assert_eq!(
            reply.json()["steps"][0]["request"]["Call-ID"],
            "a/b@10.0.0.1"
        );
    }
    let reply = get(&server.url("/calls/50%25off@h")).await;
    assert_eq!(reply.json()["call_id"], "50%off@h", "{}", reply.text());

    // A raw `/` is two segments, not this call.
    assert_error(&get(&server.url("/calls/a/b@10.0.0.1")).await, 404, "raw /");
    let body = assert_error(&get(&server.url("/calls/nobody@h")).await, 404, "unknown");
    assert!(
        body["detail"].as_str().unwrap().contains("nobody@h"),
        "{body}"
    );

    // A step without a Call-ID is listed under a generated id, which can be looked up.
    let reply = post_json(&url, &json!({"Caller-ID-Number": "100"})).await;
    assert_eq!(reply.status, 200);
    let listed = calls(&server, "limit=1").await;
    let generated = listed[0]["call_id"].as_str().unwrap().to_owned();
    assert!(generated.starts_with("no-call-id-"), "{generated}");
    let steps = steps(&server, &generated).await;
    assert_eq!(steps[0]["request"], json!({"Caller-ID-Number": "100"}));
}

#[tokio::test]
async fn calls_survive_a_restart_and_numbering_continues() {
    let dir = flows();
    let data = tempfile::tempdir().expect("data dir");
    let first = serve_in(config(dir.path()), data.path(), at(NOW));
    let hello = step(&first, "hello", json!({"Call-ID": "kept@h"})).await;
    assert_eq!(hello.status, 200);
    step(&first, "hello", json!({"Call-ID": "other@h"})).await;
    drop(first);

    let second = serve_in(config(dir.path()), data.path(), at(NOW));
    let listed = calls(&second, "").await;
    assert_eq!(ids(&listed), ["other@h", "kept@h"]);
    let kept = steps(&second, "kept@h").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["reply"], hello.json());
    assert_eq!(kept[0]["request"]["Call-ID"], "kept@h");
    assert!(kept[0]["timings"]["total_us"]
        .as_u64()
        .is_some_and(|us| us > 0));

    // The call goes on after the restart: its new step is step 2, and it is the newest call.
    step(&second, "greet", json!({"Call-ID": "kept@h"})).await;
    let kept = steps(&second, "kept@h").await;
    let flows: Vec<(&Value, &Value)> = kept.iter().map(|s| (&s["step"], &s["flow"])).collect();
    assert_eq!(
        flows,
        [(&json!(1), &json!("hello")), (&json!(2), &json!("greet"))]
    );
    let listed = calls(&second, "").await;
    assert_eq!(ids(&listed), ["kept@h", "other@h"]);
    assert_eq!(listed[0]["steps"], 2);
    assert_eq!(listed[0]["flow"], "greet");
}

#[tokio::test]
async fn retention_removes_calls_older_than_the_setting() {
    let dir = flows();
    let data = tempfile::tempdir().expect("data dir");
    let server = serve_in(config(dir.path()), data.path(), at(NOW));
    step(&server, "hello", json!({"Call-ID": "old@h"})).await;
    drop(server);
    let server = serve_in(config(dir.path()), data.path(), shifted(3));
    step(&server, "hello", json!({"Call-ID": "recent@h"})).await;
    drop(server);

    // Eight days after the first call, with the default 7 days: the first one goes at start-up.
    let server = serve_in(config(dir.path()), data.path(), shifted(8));
    poll_until(Duration::from_secs(10), "old@h removed", || async {
        let listed = calls(&server, "").await;
        (ids(&listed) == ["recent@h"]).then_some(())
    })
    .await;
    assert_error(&get(&server.url("/calls/old@h")).await, 404, "removed call");
    assert_eq!(steps(&server, "recent@h").await.len(), 1);
    drop(server);

    // 0 days keeps nothing on disk: what was there goes, and new steps are in memory only.
    let zero = |c: &mut Config| c.calls.retention_days = 0;
    let server = serve_in(config_with(dir.path(), zero), data.path(), shifted(3));
    poll_until(Duration::from_secs(10), "everything removed", || async {
        calls(&server, "").await.is_empty().then_some(())
    })
    .await;
    step(&server, "hello", json!({"Call-ID": "fleeting@h"})).await;
    assert_eq!(ids(&calls(&server, "").await), ["fleeting@h"]);
    drop(server);
    let server = serve_in(config_with(dir.path(), zero), data.path(), shifted(3));
    assert!(calls(&server, "").await.is_empty());
}

#[tokio::test]
async fn the_memory_ring_is_bounded() {
    let dir = flows();
    let small = config_with(dir.path(), |c| {
        c.calls.memory_steps = 3;
        // Nothing on disk, so what is listed is exactly what memory holds.
        c.calls.retention_days = 0;
    });
    let server = serve_with(small, at(NOW));
    for n in 1..=5 {
        step(&server, "hello", json!({"Call-ID": format!("ring-{n}")})).await;
    }
    assert_eq!(
        ids(&calls(&server, "").await),
        ["ring-5", "ring-4", "ring-3"]
    );
    assert_error(&get(&server.url("/calls/ring-1")).await, 404, "forgotten");
    assert_eq!(steps(&server, "ring-3").await.len(), 1);
}

/// `pivotforge ARGS…` without any configuration from the environment.
fn pivotforge() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pivotforge"));
    command
        .env_remove("PIVOTFORGE_CONFIG")
        .env_remove("PIVOTFORGE_PUBLIC_URL")
        .env_remove("PIVOTFORGE_URL")
        .env_remove("PIVOTFORGE_LISTEN");
    command
}

fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = pivotforge().args(args).output().expect("run pivotforge");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn pivotforge_calls_prints_the_log_of_a_running_server() {
    let dir = flows();
    let server = serve(dir.path(), at(NOW));
    let base = server.url("");
    step(&server, "hello", json!({"Call-ID": "cli/1@h"})).await;
    step(
        &server,
        "greet_fallback",
        json!({"Call-ID": "cli/1@h", "Caller-ID-Name": null}),
    )
    .await;
    step(&server, "hello", json!({"Call-ID": "cli-2@h"})).await;

    let (code, stdout, stderr) = cli(&["calls", "--url", &base]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].contains("CALL-ID"), "a header: {stdout}");
    assert!(
        lines[1].starts_with("2026-11-17 15:00:00") && lines[1].contains("cli-2@h"),
        "{stdout}"
    );
    for part in ["cli/1@h", "greet_fallback  ", "      2  fallback 200"] {
        assert!(lines[2].contains(part), "{part:?} in {:?}", lines[2]);
    }

    let (code, stdout, stderr) = cli(&["calls", "--url", &base, "--outcome", "fallback"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("cli/1@h") && !stdout.contains("cli-2@h"),
        "{stdout}"
    );

    let (code, stdout, stderr) = cli(&["calls", "cli/1@h", "--url", &base]);
    assert_eq!(code, Some(0), "{stderr}");
    for part in [
        "call cli/1@h",
        "step 1  2026-11-17 15:00:00.000  hello (",
        ")  tree 200",
        r#"reply    {"module":"tts","data":{"text":"Hello"}}"#,
        "step 2",
        "fallback 200",
        "error    /data/text: ",
        "timings  parse ",
    ] {
        assert!(stdout.contains(part), "{part:?} in {stdout}");
    }

    let (code, _, stderr) = cli(&["calls", "nobody@h", "--url", &base]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("404") && stderr.contains("nobody@h"),
        "{stderr}"
    );

    let (code, _, stderr) = cli(&["calls", "--url", &base, "--limit", "0"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("`limit`"), "{stderr}");

    // Nothing listens on port 1.
    let (code, _, stderr) = cli(&["calls", "--url", "http://127.0.0.1:1"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("can't reach the service at http://127.0.0.1:1"),
        "{stderr}"
    );
}

#[tokio::test]
async fn pivotforge_calls_follow_prints_calls_as_they_arrive() {
    let dir = flows();
    let server = serve(dir.path(), at(NOW));
    step(&server, "hello", json!({"Call-ID": "before@h"})).await;
    let mut child = pivotforge()
        .args(["calls", "--follow", "--url", &server.url("")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pivotforge calls --follow");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("`{needle}` not printed within 15 s"),
            }
        }
    };
    wait_for("before@h");
    step(&server, "hello", json!({"Call-ID": "after@h"})).await;
    assert!(wait_for("after@h").contains("tree 200"));
    // A new step of a known call prints the call again, with its new count.
    step(&server, "hello", json!({"Call-ID": "before@h"})).await;
    let again = wait_for("before@h");
    assert!(
        again.contains("hello                         2  tree 200"),
        "{again}"
    );
    child.kill().expect("stop the follower");
    let _ = child.wait();
}
