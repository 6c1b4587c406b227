//! Script flows over HTTP: every entry style ScriptForge users write (plain, async, Promise,
//! `module.exports`, `module.export` (sic), ES modules, imports of built-in modules and of
//! `./lib` files, the legacy `vars()`/`exit()`/`err()`), the result forms (trees, rejections,
//! invalid trees, nothing), the shape of `data`, the sandbox (no host access, no shared globals,
//! `process.env`; its built-ins are in tests/sandbox_builtins.rs), and console lines through
//! `/run` and `pivotforge run`.

use crate::common;

use common::{
    assert_error, assert_tree, at, config, flows_dir, get, kazoo_form, kazoo_params, post_form,
    post_json, serve, serve_with, with, TestServer,
};
use serde_json::{json, Value};

const FALLBACK: &str = r#"
[fallback]
module = "tts"
data = { text = "fallback" }
"#;

fn tts(text: &str) -> Value {
    json!({"module": "tts", "data": {"text": text}})
}

fn fallback() -> Value {
    tts("fallback")
}

fn server_for(files: &[(&str, &str)]) -> (tempfile::TempDir, TestServer) {
    let dir = flows_dir(files);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    (dir, server)
}

/// `/pivot/{flow}` with `Caller-ID-Number=+14155550100` as a form POST.
async fn call(server: &TestServer, flow: &str) -> common::Reply {
    post_form(
        &server.url(&format!("/pivot/{flow}")),
        "Caller-ID-Number=%2B14155550100&Call-ID=abc",
    )
    .await
}

// ---- entry styles -------------------------------------------------------------------------------

async fn entry_style(script: &str, expected_text: &str) {
    let (_dir, server) = server_for(&[("flow.js", script)]);
    let reply = call(&server, "flow").await;
    assert_tree(&reply, &tts(expected_text), script);
}

#[tokio::test]
async fn plain_function_main() {
    entry_style(
        "function main(data) { return { module: 'tts', data: { text: 'plain ' + data['Caller-ID-Number'] } }; }",
        "plain +14155550100",
    )
    .await;
}

#[tokio::test]
async fn async_function_main() {
    entry_style(
        "async function main(data) { await null; const n = await Promise.resolve(data['Caller-ID-Number']); return { module: 'tts', data: { text: 'async ' + n } }; }",
        "async +14155550100",
    )
    .await;
}

#[tokio::test]
async fn main_returning_a_promise() {
    entry_style(
        "function main(data) { return new Promise((resolve) => setTimeout(() => resolve({ module: 'tts', data: { text: 'promise ' + data['Call-ID'] } }), 20)); }",
        "promise abc",
    )
    .await;
}

#[tokio::test]
async fn module_exports_main() {
    entry_style(
        "module.exports = { main: (data) => ({ module: 'tts', data: { text: 'exports ' + data['Caller-ID-Number'] } }) };",
        "exports +14155550100",
    )
    .await;
}

#[tokio::test]
async fn module_export_main_as_the_docs_spell_it() {
    entry_style(
        "function handler(data) { return { module: 'tts', data: { text: 'export (sic) ' + data['Call-ID'] } }; }\nmodule.export = { main: handler };",
        "export (sic) abc",
    )
    .await;
}

#[tokio::test]
async fn es_module_export_function_main() {
    entry_style(
        "export function main(data = {}) { return { module: 'tts', data: { text: 'esm ' + data['Caller-ID-Number'] } }; }",
        "esm +14155550100",
    )
    .await;
}

#[tokio::test]
async fn es_module_awaiting_a_timer_at_its_top_level() {
    entry_style(
        "const greeting = await new Promise((resolve) => setTimeout(() => resolve('awaited'), 20));\nexport function main(data) { return { module: 'tts', data: { text: greeting + ' ' + data['Call-ID'] } }; }",
        "awaited abc",
    )
    .await;
}

#[tokio::test]
async fn es_module_whose_top_level_never_settles_fails_clearly() {
    let script = "await new Promise(() => {});\nexport function main() { return { module: 'tts', data: { text: 'never' } }; }";
    let (_dir, server) = server_for(&[("flow.js", script), ("flow.settings.toml", FALLBACK)]);
    assert_tree(&call(&server, "flow").await, &fallback(), "fallback");
    let run = post_json(&server.url("/run/flow"), &json!({})).await;
    assert_eq!(run.status, 500, "{}", run.text());
    assert!(
        run.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains("promise nothing can settle")),
        "{}",
        run.text()
    );
}

#[tokio::test]
async fn es_module_export_default_object() {
    entry_style(
        "function main(data) { return { module: 'tts', data: { text: 'default ' + data['Call-ID'] } }; }\nexport default { main };",
        "default abc",
    )
    .await;
}

#[tokio::test]
async fn import_from_cx_kv() {
    entry_style(
        "import { kv } from 'cxKV';\nexport async function main(data) { await kv.set('last', data['Caller-ID-Number']); return { module: 'tts', data: { text: 'kv ' + (await kv.get('last')) } }; }",
        "kv +14155550100",
    )
    .await;
}

#[tokio::test]
async fn import_from_a_lib_file_which_is_not_a_flow() {
    let helper = "export default function greet(name) { return `hello ${name}`; }\nexport const punct = '!';";
    let flow = "import greet, { punct } from './lib/helper';\nexport function main(data) { return { module: 'tts', data: { text: greet(data['Caller-ID-Number']) + punct } }; }";
    let (_dir, server) = server_for(&[("flow.js", flow), ("lib/helper.js", helper)]);
    assert_tree(
        &call(&server, "flow").await,
        &tts("hello +14155550100!"),
        "import from ./lib/helper",
    );
    let not_a_flow = get(&server.url("/pivot/lib/helper")).await;
    assert_error(&not_a_flow, 404, "a lib/ file is not served as a flow");
}

#[tokio::test]
async fn legacy_vars_and_exit() {
    entry_style(
        "function main() { var d = vars(); exit({ module: 'tts', data: { text: 'legacy ' + d['Caller-ID-Number'] } }); return { module: 'tts', data: { text: 'not this' } }; }",
        "legacy +14155550100",
    )
    .await;
}

#[tokio::test]
async fn legacy_err_is_a_rejection() {
    let (_dir, server) = server_for(&[("flow.js", "function main() { err([404, 'Not Found']); }")]);
    assert_tree(
        &call(&server, "flow").await,
        &json!({"module": "response", "data": {"code": 404, "message": "Not Found"}}),
        "err([404, 'Not Found'])",
    );
}

#[tokio::test]
async fn a_script_without_main_fails_clearly() {
    let (_dir, server) = server_for(&[("flow.js", "function mian(data) { return data; }")]);
    let body = assert_error(&call(&server, "flow").await, 500, "no main");
    assert_eq!(body["error"], "script error", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("no function `main`"),
        "{body}"
    );
}

// ---- results ------------------------------------------------------------------------------------

async fn rejection(script: &str, code: u16, message: &str) {
    let (_dir, server) = server_for(&[("flow.js", script), ("flow.settings.toml", FALLBACK)]);
    assert_tree(
        &call(&server, "flow").await,
        &json!({"module": "response", "data": {"code": code, "message": message}}),
        script,
    );
    // /run gives the same rejection as 422.
    let run = post_json(&server.url("/run/flow"), &json!({})).await;
    assert_eq!(run.status, 422, "{script}: {}", run.text());
    let body = run.json();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], message, "{body}");
    assert!(body["logs"].is_array(), "{body}");
}

#[tokio::test]
async fn promise_reject_with_code_and_reason() {
    rejection(
        "async function main() { return Promise.reject([603, 'Denied (DNC)']); }",
        603,
        "Denied (DNC)",
    )
    .await;
}

#[tokio::test]
async fn thrown_error_with_code_in_its_message() {
    rejection(
        "function main() { throw new Error('480 Disallowed by Date/Time Restriction'); }",
        480,
        "Disallowed by Date/Time Restriction",
    )
    .await;
}

#[tokio::test]
async fn code_with_an_error_object() {
    rejection(
        "async function main() { try { JSON.parse('{'); } catch (e) { throw [500, new Error('x')]; } }",
        500,
        "x",
    )
    .await;
}

#[tokio::test]
async fn an_ordinary_error_is_a_failure_not_a_rejection() {
    let script = "function main() { throw new Error('database unreachable'); }";
    let (_dir, server) = server_for(&[
        ("flow.js", script),
        ("flow.settings.toml", FALLBACK),
        ("bare.js", script),
    ]);
    assert_tree(
        &call(&server, "flow").await,
        &fallback(),
        "an Error without a code",
    );
    let body = assert_error(&call(&server, "bare").await, 500, "an Error, no fallback");
    assert_eq!(body["error"], "script error", "{body}");
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(detail.contains("Error: database unreachable"), "{detail}");
}

#[tokio::test]
async fn an_invalid_tree_is_never_sent() {
    let script = "function main() { return { module: 'say', data: {} }; }";
    let missing = "function main() { return { module: 'tts', data: {} }; }";
    let (_dir, server) = server_for(&[
        ("flow.js", script),
        ("flow.settings.toml", FALLBACK),
        ("bare.js", script),
        ("missing.js", missing),
    ]);
    assert_tree(
        &call(&server, "flow").await,
        &fallback(),
        "an unknown module",
    );
    let body = assert_error(
        &call(&server, "bare").await,
        500,
        "an unknown module, no fallback",
    );
    assert_eq!(body["error"], "invalid callflow tree", "{body}");
    let errors = body["errors"].as_array().expect("errors is a list");
    assert!(!errors.is_empty(), "{body}");
    assert!(
        errors
            .iter()
            .all(|e| e["pointer"].is_string() && e["message"].is_string()),
        "{body}"
    );

    let body = assert_error(&call(&server, "missing").await, 500, "tts without text");
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors is a list")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(
        pointers.iter().any(|p| p.starts_with("/data")),
        "the error points into the node's data: {body}"
    );
}

#[tokio::test]
async fn returning_nothing_is_a_failure() {
    let script = "function main(data) { console.log('forgot to return'); }";
    let (_dir, server) = server_for(&[
        ("flow.js", script),
        ("flow.settings.toml", FALLBACK),
        ("bare.js", script),
    ]);
    assert_tree(
        &call(&server, "flow").await,
        &fallback(),
        "nothing returned",
    );
    let body = assert_error(
        &call(&server, "bare").await,
        500,
        "nothing returned, no fallback",
    );
    assert_eq!(body["error"], "script error", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("returned nothing"),
        "{body}"
    );
}

#[tokio::test]
async fn a_returned_response_node_is_sent_as_is() {
    let (_dir, server) = server_for(&[(
        "flow.js",
        "const pf = require('pivotforge'); function main() { return pf.response(486, 'Busy Here'); }",
    )]);
    assert_tree(
        &call(&server, "flow").await,
        &json!({"module": "response", "data": {"code": 486, "message": "Busy Here"}}),
        "pf.response",
    );
}

// ---- data ---------------------------------------------------------------------------------------

#[tokio::test]
async fn data_has_kazoo_names_digits_and_vars() {
    let script = r#"
function main(data) {
  const picked = {
    number: data['Caller-ID-Number'],
    name: data['Caller-ID-Name'],
    call: data['Call-ID'],
    request: data.Request,
    digits: data.Digits,
    custom: data.Digits.custom_name,
    vars: data.vars,
    cav: data['Custom-Application-Vars'],
    extra: data.Extra,
    types: [typeof data.Digits, typeof data.vars],
  };
  return { module: 'tts', data: { text: JSON.stringify(picked) } };
}
"#;
    let settings = "[vars]\nqueue = \"sales\"\nlimit = 3\n";
    let (_dir, server) = server_for(&[("flow.js", script), ("flow.settings.toml", settings)]);
    let params = with(
        &kazoo_params(),
        &json!({
            "Digits": {"custom_name": "1234", "default": "9"},
            "Custom-Application-Vars": {"campaign": "fall"},
            "Extra": "x y",
        }),
    );
    let expected = json!({
        "number": "+14155550100",
        "name": "Alice Smith",
        "call": "abc123@10.0.0.1",
        "request": "2030",
        "digits": {"custom_name": "1234", "default": "9"},
        "custom": "1234",
        "vars": {"queue": "sales", "limit": 3},
        "cav": {"campaign": "fall"},
        "extra": "x y",
        "types": ["object", "object"],
    });
    for reply in [
        post_form(&server.url("/pivot/flow"), &kazoo_form(&params)).await,
        post_json(&server.url("/pivot/flow"), &params).await,
        get(&server.url(&format!("/pivot/flow?{}", kazoo_form(&params)))).await,
    ] {
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.json()["data"]["text"]
            .as_str()
            .expect("tts text")
            .to_owned();
        let seen: Value = serde_json::from_str(&text).expect("the script's JSON");
        assert_eq!(seen, expected);
    }
}

#[tokio::test]
async fn vars_are_read_only_so_a_call_cannot_change_the_next_ones() {
    // Sloppy-mode script: writes to frozen vars are ignored, not thrown; a strict one throws.
    let script = r#"
function main(data) {
  data.vars.limit = data.vars.limit + 1;
  data.vars.list.push('x');
  data.vars.nested.deep = 'changed';
  return { module: 'tts', data: { text: JSON.stringify(data.vars) } };
}
"#;
    let strict = r#"'use strict';
function main(data) {
  try { data.vars.limit = 99; return { module: 'tts', data: { text: 'wrote' } }; }
  catch (e) { return { module: 'tts', data: { text: e.name } }; }
}
"#;
    let settings = "[vars]\nlimit = 3\nlist = [\"a\"]\nnested = { deep = \"v\" }\n";
    let (_dir, server) = server_for(&[
        ("flow.js", script),
        ("flow.settings.toml", settings),
        ("strict.js", strict),
        ("strict.settings.toml", settings),
    ]);
    let unchanged = r#"{"limit":3,"list":["a"],"nested":{"deep":"v"}}"#;
    for _ in 0..3 {
        let reply = call(&server, "flow").await;
        // `push` on a frozen array throws: the call fails and answers the 500 of a script error.
        assert_eq!(reply.status, 500, "{}", reply.text());
    }
    let script_no_push = script.replace("data.vars.list.push('x');", "");
    let (_dir2, server2) = server_for(&[
        ("flow.js", &script_no_push),
        ("flow.settings.toml", settings),
    ]);
    for _ in 0..3 {
        assert_tree(
            &call(&server2, "flow").await,
            &tts(unchanged),
            "vars unchanged",
        );
    }
    assert_tree(
        &call(&server, "strict").await,
        &tts("TypeError"),
        "strict write",
    );
}

// ---- sandbox ------------------------------------------------------------------------------------

async fn run_fails_with(server: &TestServer, flow: &str, needle: &str) -> Value {
    let run = post_json(&server.url(&format!("/run/{flow}")), &json!({})).await;
    assert_eq!(run.status, 500, "{flow}: {}", run.text());
    let body = run.json();
    assert_eq!(body["error"], "exception", "{flow}: {body}");
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains(needle),
        "{flow}: `{needle}` not in {detail}"
    );
    body
}

#[tokio::test]
async fn no_host_access() {
    let (_dir, server) = server_for(&[
        ("fs.js", "function main() { const fs = require('fs'); return fs.readFileSync('/etc/passwd', 'utf8'); }"),
        ("child.js", "function main() { return require('child_process'); }"),
        ("exit.js", "function main() { process.exit(1); return { module: 'hangup', data: {} }; }"),
        (
            "globals.js",
            "function main() { return { module: 'tts', data: { text: [typeof std, typeof os, typeof process.exit, typeof require('cxKV').kv.get, typeof scriptArgs].join(' ') } }; }",
        ),
        ("import_std.js", "import * as std from 'std';\nexport function main() { return std; }"),
        ("escape.js", "import x from '../outside';\nexport function main() { return x; }"),
    ]);
    run_fails_with(&server, "fs", "module 'fs' is not available").await;
    run_fails_with(&server, "child", "module 'child_process' is not available").await;
    run_fails_with(&server, "exit", "not a function").await;
    assert_tree(
        &call(&server, "globals").await,
        &tts("undefined undefined undefined function undefined"),
        "no std, os, process.exit or scriptArgs",
    );
    for flow in ["import_std", "escape"] {
        let body = assert_error(&call(&server, flow).await, 500, flow);
        assert_eq!(body["error"], "flow failed to load", "{flow}: {body}");
        assert!(
            body["detail"].as_str().unwrap_or("").contains(flow),
            "{body}"
        );
    }
    // The server is fine after all that.
    assert_tree(
        &call(&server, "globals").await,
        &tts("undefined undefined undefined function undefined"),
        "still up",
    );
}

#[tokio::test]
async fn flows_never_share_globals() {
    let writer = "var counter = 0;\nfunction main() { counter += 1; globalThis.shared = 'from writer'; return { module: 'tts', data: { text: 'writer ' + counter } }; }";
    let reader = "function main() { return { module: 'tts', data: { text: 'reader ' + typeof shared + ' ' + typeof counter } }; }";
    let dir = flows_dir(&[("writer.js", writer), ("reader.js", reader)]);
    let mut cfg = config(dir.path());
    cfg.js_threads = 1;
    let server = serve_with(cfg, at("2026-11-17T15:00:00Z"));
    assert_tree(&call(&server, "writer").await, &tts("writer 1"), "writer");
    assert_tree(
        &call(&server, "reader").await,
        &tts("reader undefined undefined"),
        "reader",
    );
    // A warm context keeps its own globals between calls on a thread (not a promise of the API,
    // but it shows the reader above really ran beside a live writer context).
    assert_tree(
        &call(&server, "writer").await,
        &tts("writer 2"),
        "writer again",
    );
    assert_tree(
        &call(&server, "reader").await,
        &tts("reader undefined undefined"),
        "reader again",
    );
}

#[tokio::test]
async fn process_env_comes_from_the_settings() {
    let script = "function main() { process.env.GREETING = 'changed'; return { module: 'tts', data: { text: [process.env.GREETING, process.env.TARGET, process.env.HOME, Object.keys(process.env).join('+')].join(' ') } }; }";
    let settings = "[env]\nGREETING = \"hello\"\nTARGET = \"world\"\n";
    let (_dir, server) = server_for(&[
        ("flow.js", script),
        ("flow.settings.toml", settings),
        ("bare.js", script),
    ]);
    assert_tree(
        &call(&server, "flow").await,
        &tts("hello world  GREETING+TARGET"),
        "[env]",
    );
    assert_tree(
        &call(&server, "bare").await,
        &tts("   "),
        "no [env]: nothing of the host's environment",
    );
}

// ---- console and /run ---------------------------------------------------------------------------

const LOGGING: &str = r#"
function main(data) {
  console.log('plain', 1, { a: [1, 2] });
  console.info('info line');
  console.warn('warn line');
  console.debug('debug line');
  console.error('failed', new Error('boom'));
  if (data.fail === 'throw') throw new Error('after logging');
  if (data.fail === 'reject') return Promise.reject([486, 'Busy']);
  return { logged: 5 };
}
"#;

fn check_logs(body: &Value) {
    let logs = body["logs"].as_array().expect("logs is a list");
    let levels: Vec<&str> = logs.iter().filter_map(|l| l["level"].as_str()).collect();
    assert_eq!(levels, ["log", "info", "warn", "debug", "error"], "{body}");
    for line in logs {
        let ts = line["ts"].as_str().expect("ts is text");
        assert!(
            chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
            "ts is RFC 3339: {ts}"
        );
    }
    assert_eq!(logs[0]["message"], r#"plain 1 {"a":[1,2]}"#);
    assert_eq!(logs[1]["message"], "info line");
    let error = logs[4]["message"].as_str().expect("message");
    assert!(
        error.starts_with("failed Error: boom"),
        "name and message: {error}"
    );
    assert!(error.contains("at main"), "the stack is shown: {error}");
    assert!(
        error.contains("flow.js"),
        "the stack names the file: {error}"
    );
    assert!(!error.contains("{}"), "{error}");
}

#[tokio::test]
async fn run_returns_console_lines_on_success_and_failure() {
    let (_dir, server) = server_for(&[("flow.js", LOGGING)]);
    let url = server.url("/run/flow");

    let ok = post_json(&url, &json!({})).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let body = ok.json();
    assert_eq!(body["result"], json!({"logged": 5}));
    check_logs(&body);

    let failed = post_json(&url, &json!({"fail": "throw"})).await;
    assert_eq!(failed.status, 500, "{}", failed.text());
    let body = failed.json();
    assert_eq!(body["error"], "exception");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("after logging"),
        "{body}"
    );
    check_logs(&body);

    let rejected = post_json(&url, &json!({"fail": "reject"})).await;
    assert_eq!(rejected.status, 422, "{}", rejected.text());
    let body = rejected.json();
    assert_eq!(
        (body["code"].as_u64(), body["reason"].as_str()),
        (Some(486), Some("Busy"))
    );
    check_logs(&body);
}

#[tokio::test]
async fn run_calls_a_named_function_with_the_json_body() {
    let script = "module.exports = { search: (q) => ({ found: [q.prefix + '1', q.prefix + '2'] }), main: () => ({ main: true }) };";
    let (_dir, server) = server_for(&[("drivers/carrier.js", script)]);
    let reply = post_json(
        &server.url("/run/drivers/carrier/search"),
        &json!({"prefix": "+1415"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({"result": {"found": ["+14151", "+14152"]}, "logs": []})
    );
    let reply = post_json(&server.url("/run/drivers/carrier"), &json!({})).await;
    assert_eq!(reply.json()["result"], json!({"main": true}));
    let reply = post_json(&server.url("/run/drivers/carrier/nope"), &json!({})).await;
    // A function the script does not have is not found (issue 9), not a failure.
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert!(reply.json()["detail"]
        .as_str()
        .unwrap_or("")
        .contains("no function `nope`"));
    let reply = post_json(&server.url("/run/absent"), &json!({})).await;
    assert_error(&reply, 404, "no such script");
}

#[test]
fn pivotforge_run_prints_console_lines() {
    let dir = flows_dir(&[("flow.js", LOGGING)]);
    let flows = dir.path().to_str().expect("utf-8 path");
    let (code, stdout, stderr) = common::pivotforge_cli(
        &[
            "run",
            "flow",
            "--flows",
            flows,
            "-p",
            "Caller-ID-Number=+14155550100",
        ],
        &[],
    );
    // `{logged: 5}` is not a callflow tree: exit 1, with the console lines all the same.
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("console.log: plain 1 {\"a\":[1,2]}"),
        "{stderr}"
    );
    assert!(stderr.contains("console.info: info line"), "{stderr}");
    assert!(stderr.contains("console.warn: warn line"), "{stderr}");
    assert!(
        stderr.contains("console.error: failed Error: boom"),
        "{stderr}"
    );
    assert!(stderr.contains("invalid callflow tree"), "{stderr}");

    let good = flows_dir(&[(
        "hello.js",
        "function main(data) { console.info('caller', data['Caller-ID-Number']); return { module: 'tts', data: { text: 'hi' } }; }",
    )]);
    let (code, stdout, stderr) = common::pivotforge_cli(
        &[
            "run",
            "hello",
            "--flows",
            good.path().to_str().expect("utf-8 path"),
            "-p",
            "Caller-ID-Number=+14155550100",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(stderr.trim(), "console.info: caller +14155550100");
    let tree: Value = serde_json::from_str(&stdout).expect("stdout is the tree");
    assert_eq!(tree, tts("hi"));
}

#[tokio::test]
async fn console_output_is_capped_with_a_note() {
    let script = "function main() { for (let i = 0; i < 250; i++) console.log('line ' + i); console.log('x'.repeat(20000)); return 'done'; }";
    let (_dir, server) = server_for(&[("flow.js", script)]);
    let reply = post_json(&server.url("/run/flow"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    let logs = body["logs"].as_array().expect("logs");
    assert_eq!(logs.len(), 201, "200 lines and a note");
    assert_eq!(logs[0]["message"], "line 0");
    assert_eq!(logs[199]["message"], "line 199");
    let note = logs[200]["message"].as_str().unwrap_or("");
    assert_eq!(logs[200]["level"], "warn");
    assert!(
        note.contains("51 more console lines were dropped"),
        "{note}"
    );
}

#[tokio::test]
async fn date_follows_the_server_clock() {
    let script = r#"
function main() {
  const now = new Date();
  const fields = [
    now.toISOString().slice(0, 16),
    String(Math.abs(Date.now() - now.getTime()) < 1000),
    String(now instanceof Date),
    new Date(Date.UTC(2020, 0, 2)).toISOString(),
    new Date('2021-03-04T05:06:07Z').getTime(),
    require('pivotforge').time('America/New_York').date,
  ];
  return { module: 'tts', data: { text: fields.join(' ') } };
}
"#;
    let dir = flows_dir(&[("flow.js", script)]);
    for (now, expected) in [
        (
            "2026-11-26T15:00:00Z",
            "2026-11-26T15:00 true true 2020-01-02T00:00:00.000Z 1614834367000 2026-11-26",
        ),
        (
            "2031-01-01T02:30:00Z",
            "2031-01-01T02:30 true true 2020-01-02T00:00:00.000Z 1614834367000 2030-12-31",
        ),
    ] {
        let server = serve(dir.path(), at(now));
        assert_tree(&call(&server, "flow").await, &tts(expected), now);
    }
}

#[tokio::test]
async fn time_gives_every_field_of_the_local_time() {
    let script = r#"
function main() {
  const t = require('pivotforge').time('America/New_York');
  return { module: 'tts', data: { text: JSON.stringify(t) } };
}
"#;
    let dir = flows_dir(&[("flow.js", script)]);
    let now = "2026-03-08T07:30:05Z";
    let server = serve(dir.path(), at(now));
    let expected = r#"{"zone":"America/New_York","year":2026,"month":3,"day":8,"hour":3,"minute":30,"second":5,"weekday":"sun","dayOfWeek":7,"date":"2026-03-08","time":"03:30"}"#;
    assert_tree(&call(&server, "flow").await, &tts(expected), now);
}

// ---- the callflow builders of require('pivotforge') ---------------------------------------------

#[tokio::test]
async fn every_builder_makes_its_node_and_checks_its_arguments() {
    let script = r#"
const pf = require('pivotforge');
const fails = (f) => { try { f(); return null; } catch (e) { return e.message; } };
module.exports = { main: () => ({
  nodes: [
    pf.tts('Hello', { voice: 'male' }, pf.hangup()),
    pf.play('m1'), pf.device('d1', { timeout: 5 }), pf.user('u1'), pf.voicemail('v1'),
    pf.ringGroup(['d1', { endpoint_type: 'user', id: 'u1' }], { strategy: 'single' }),
    pf.resources('+14155550100'), pf.resources(),
    pf.collectDtmf('pin', 4, { timeout: 3000 }, { 1: pf.hangup() }), pf.collectDtmf(),
    pf.sendDtmf(123), pf.conference({ id: 'c' }), pf.response(486, 'Busy'), pf.response(404),
    pf.setCid('n', 5), pf.recordCall('stop'), pf.node('sleep', { duration: 1 }),
  ],
  errors: [
    fails(() => pf.tts('')), fails(() => pf.tts('x'.repeat(1001))), fails(() => pf.play(5)),
    fails(() => pf.ringGroup([])), fails(() => pf.ringGroup([{ endpoint_type: 'phone', id: 'x' }])),
    fails(() => pf.collectDtmf('x', 0)), fails(() => pf.response(99)),
    fails(() => pf.recordCall('pause')), fails(() => pf.sendDtmf('')), fails(() => pf.pivot('')),
    fails(() => pf.tts('x'.repeat(1000))),
  ],
  pivot: pf.pivot('next').module,
  keys: Object.keys(pf).sort(),
}) };
"#;
    let (_dir, server) = server_for(&[("builders.js", script)]);
    let reply = post_json(&server.url("/run/builders"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let result = &reply.json()["result"];
    let hangup = json!({"module": "hangup", "data": {}});
    let node = |module: &str, data: Value| json!({"module": module, "data": data});
    assert_eq!(
        result["nodes"],
        json!([
            {"module": "tts", "data": {"voice": "male", "text": "Hello"}, "children": {"_": hangup}},
            node("play", json!({"id": "m1"})),
            node("device", json!({"timeout": 5, "id": "d1"})),
            node("user", json!({"id": "u1"})),
            node("voicemail", json!({"id": "v1"})),
            node("ring_group", json!({"strategy": "single", "endpoints": [
                {"endpoint_type": "device", "id": "d1"}, {"endpoint_type": "user", "id": "u1"}]})),
            node("resources", json!({"to_did": "+14155550100"})),
            node("resources", json!({})),
            {"module": "collect_dtmf", "data": {"timeout": 3000, "collection_name": "pin", "max_digits": 4},
             "children": {"1": hangup}},
            node("collect_dtmf", json!({"collection_name": "default", "max_digits": 1})),
            node("send_dtmf", json!({"digits": "123"})),
            node("conference", json!({"id": "c"})),
            node("response", json!({"code": 486, "message": "Busy"})),
            node("response", json!({"code": 404, "message": ""})),
            node("set_cid", json!({"caller_id_name": "n", "caller_id_number": "5"})),
            node("record_call", json!({"action": "stop"})),
            node("sleep", json!({"duration": 1})),
        ])
    );
    assert_eq!(
        result["errors"],
        json!([
            "tts text must be a non-empty string",
            "tts text must be at most 1000 characters",
            "play id must be a non-empty string",
            "ringGroup needs a non-empty list of endpoints",
            "endpoint_type must be device, user or group",
            "maxDigits must be an integer >= 1",
            "response code must be an integer from 100 to 699",
            "recordCall action must be 'start' or 'stop'",
            "digits must be a non-empty string",
            "pivot target must be a non-empty string",
            null,
        ])
    );
    assert_eq!(result["pivot"], "pivot");
    let mut keys = builder_names();
    keys.extend(["node", "recordingsUrl", "time"]);
    keys.sort_unstable();
    assert_eq!(result["keys"], json!(keys));
}

/// The builders the module registry lists; today's are all there.
fn builder_names() -> Vec<&'static str> {
    let names: Vec<&str> = pivotforge::callflow::registry::builders()
        .map(|(_, builder)| builder.js())
        .collect();
    for today in [
        "collectDtmf",
        "conference",
        "device",
        "hangup",
        "pivot",
        "play",
        "recordCall",
        "resources",
        "response",
        "ringGroup",
        "sendDtmf",
        "setCid",
        "tts",
        "user",
        "voicemail",
    ] {
        assert!(names.contains(&today), "{today} is gone from {names:?}");
    }
    names
}

#[tokio::test]
async fn the_builders_can_be_imported_by_name() {
    let script = "import * as pf from 'pivotforge';\nimport { tts, recordCall } from 'pivotforge';\n\
        export function main() { return { names: Object.keys(pf), same: tts === pf.tts && recordCall === pf.default.recordCall }; }";
    let (_dir, server) = server_for(&[("imports.js", script)]);
    let reply = post_json(&server.url("/run/imports"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // A module namespace lists its exports sorted: every builder, `time`, `node` and `default`.
    let mut names = builder_names();
    names.extend(["default", "node", "time"]);
    names.sort_unstable();
    assert_eq!(
        reply.json()["result"],
        json!({"names": names, "same": true})
    );
}
