//! `pivotforge call`, the binary run as a process: whole calls of the shipped flows in-process
//! (a holiday instant, a digits menu, a Class 5 IVR with a failed bridge, `--json`), bad
//! arguments (exit 2 naming the flag), and `--url` against a test server over real HTTP, where
//! a failing pivot runs its node's `_` child.

use crate::common;

use std::process::{Command, Output};

use common::{at, flows_dir, shipped_flows};
use pivotforge::config::{Config, Overrides};
use serde_json::Value;

const DEVICE: &str = "3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b";
const MAILBOX: &str = "9a8b7c6d5e4f30211a2b3c4d5e6f7a8b";
const SALES: &str = "8f0c2b4d6e8a0c2e4f6a8b0d2c4e6f8a";

/// `pivotforge call ARGS…` with its own data folder: (exit code, stdout, stderr).
fn call(args: &[&str]) -> (Option<i32>, String, String) {
    let data = tempfile::tempdir().expect("temp data dir");
    let out: Output = Command::new(env!("CARGO_BIN_EXE_pivotforge"))
        .arg("call")
        .args(args)
        .env_remove("PIVOTFORGE_CONFIG")
        .env_remove("PIVOTFORGE_FLOWS")
        .env_remove("PIVOTFORGE_PUBLIC_URL")
        .env("PIVOTFORGE_DATA_DIR", data.path())
        .output()
        .expect("run pivotforge call");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `pivotforge call FLOW --flows callflows EXTRA…`.
fn call_shipped(flow: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let flows = shipped_flows();
    let mut args = vec![flow, "--flows", flows.to_str().unwrap()];
    args.extend_from_slice(extra);
    call(&args)
}

/// The transcript's node lines (`▸ …`), in order.
fn node_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("▸ "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn christmas_eve_afternoon_goes_to_voicemail() {
    let (code, stdout, stderr) =
        call_shipped("main_number_tod", &["--at", "2026-12-24T15:00:00-05:00"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("call main_number_tod · Kazoo 4.3 · at 2026-12-24T20:00:00Z"),
        "{stdout}"
    );
    assert!(stdout.contains("step 1 · GET http://127.0.0.1:8080/pivot/main_number_tod"));
    assert!(stdout.contains("Caller-ID-Number=+14155550100"), "{stdout}");
    assert!(
        stdout.contains("  rule: closed for a holiday\n"),
        "{stdout}"
    );
    assert_eq!(node_lines(&stdout), [format!("voicemail {MAILBOX}")]);
    assert!(
        stdout.ends_with("end: at voicemail — call OK\n"),
        "{stdout}"
    );
    // The same morning the front desk rings; a failed ring falls to voicemail.
    let (code, stdout, _) = call_shipped(
        "main_number_tod",
        &["--at", "2026-12-24T10:00:00-05:00", "--bridge", "NO_ANSWER"],
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(
        node_lines(&stdout),
        [
            format!("bridge device {DEVICE} → NO_ANSWER"),
            format!("voicemail {MAILBOX}")
        ]
    );
}

#[test]
fn a_digits_menu_pressing_1_reaches_sales() {
    let (code, stdout, stderr) = call_shipped("digits_menu", &["--digits", "1"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        node_lines(&stdout),
        [
            "tts \"For sales press 1. For support press 2.\"".to_owned(),
            "collect menu (max 1) ← \"1\"".to_owned(),
            "pivot → /pivot/digits_menu".to_owned(),
            format!("bridge device {DEVICE} → answered"),
        ]
    );
    let second = stdout
        .split("step 2 · ")
        .nth(1)
        .unwrap_or_else(|| panic!("no second step: {stdout}"));
    assert!(
        second.starts_with("POST http://127.0.0.1:8080/pivot/digits_menu"),
        "{second}"
    );
    let changed = second.lines().nth(1).unwrap_or_default();
    assert_eq!(changed.trim(), "Digits[menu]=1", "only the digits changed");
    assert!(stdout.ends_with("end: at device — call OK\n"), "{stdout}");
}

#[test]
fn a_class5_ivr_call_with_a_failed_bridge() {
    let (code, stdout, stderr) = call_shipped(
        "c5_ivr",
        &["--digits", "1", "--bridge", "USER_BUSY/sip:486"],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        node_lines(&stdout),
        [
            "tts \"Press 1 for sales, or stay on the line for the front desk\"".to_owned(),
            "collect pf_step0 (max 1) ← \"1\"".to_owned(),
            "pivot → /pivot/c5_ivr?step=1".to_owned(),
            format!("bridge user {SALES} → USER_BUSY/sip:486"),
            "pivot → /pivot/c5_ivr?step=2&cause=USER_BUSY".to_owned(),
            "hangup".to_owned(),
        ]
    );
    assert!(stdout.contains("step 3 · POST"), "{stdout}");
    // Nothing pressed: the IVR times out to the front desk (1001, a device).
    let (code, stdout, _) = call_shipped("c5_ivr", &[]);
    assert_eq!(code, Some(0), "{stdout}");
    let lines = node_lines(&stdout);
    assert_eq!(lines[1], "collect pf_step0 (max 1) ← \"\"");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("bridge device 3a1d5c7e9b2f4a6c8e0d1f3b5a7c9e2d → answered")
    );
}

#[test]
fn json_prints_one_object_per_step_then_the_end() {
    let (code, stdout, stderr) = call_shipped("c5_ivr", &["--digits", "1", "--json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "two steps and the end: {stdout}");
    assert_eq!(lines[0]["number"], 1);
    assert_eq!(lines[0]["method"], "GET");
    assert_eq!(lines[0]["outcome"]["kind"], "tree");
    assert_eq!(lines[0]["nodes"][1]["module"], "collect_dtmf");
    assert_eq!(lines[0]["nodes"][1]["result"], "1");
    assert_eq!(
        lines[1]["changed"],
        serde_json::json!([["Digits[pf_step0]", "1"]])
    );
    assert_eq!(lines[1]["nodes"][0]["main"], SALES);
    assert_eq!(
        lines[2],
        serde_json::json!({"flow": "c5_ivr", "steps": 2,
            "end": {"kind": "terminal", "module": "user"}, "ok": true})
    );
}

#[test]
fn bad_arguments_exit_2_naming_the_flag_and_unknown_flows_1() {
    for (args, flag) in [
        (vec!["--bridge", "no answer"], "--bridge"),
        (vec!["--bridge", "USER_BUSY/sip:99"], "--bridge"),
        (vec!["--kazoo", "5.0"], "--kazoo"),
        (vec!["--method", "put"], "--method"),
        (vec!["--at", "Christmas"], "--at"),
        (vec!["--param", "novalue"], "--param"),
    ] {
        let (code, stdout, stderr) = call_shipped("digits_menu", &args);
        assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
    let (code, _, stderr) = call(&["digits_menu", "--url", "not a url"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--url not a url: not a URL"), "{stderr}");
    let (code, _, stderr) = call_shipped("no_such_flow", &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no flow named `no_such_flow`; loaded flows: ")
            && stderr.contains("main_number_tod"),
        "{stderr}"
    );
}

/// A server for `flows` whose public URL is its own address, so that the pivot nodes its flows
/// build come back to it, as they would for the PBX.
fn serve_reachable(flows: &std::path::Path) -> common::TestServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut config = Config::resolve(
        None,
        Overrides {
            listen: Some(format!("127.0.0.1:{port}")),
            flows: Some(flows.to_path_buf()),
            public_url: Some(format!("http://127.0.0.1:{port}")),
            ..Default::default()
        },
    )
    .expect("test configuration resolves");
    config.workers = Some(1);
    common::serve_with(config, at("2026-11-17T15:00:00Z"))
}

#[test]
fn url_plays_a_call_against_a_running_service() {
    let server = serve_reachable(&shipped_flows());
    let base = server.url("");
    let (code, stdout, stderr) = call(&[
        "collect_dtmf",
        "--url",
        &base,
        "--digits",
        "42#9",
        "--method",
        "post",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("step 1 · POST {base}/pivot/collect_dtmf")),
        "{stdout}"
    );
    assert_eq!(
        node_lines(&stdout),
        [
            "tts \"Please enter up to four digits.\"",
            "collect custom_name (max 4) ← \"42\"",
            "pivot → /pivot/collected",
            "tts \"You entered 4 2.\"",
        ]
    );
    assert!(stdout.contains("Digits[custom_name]=42"), "{stdout}");
    assert!(stdout.ends_with(" — call OK\n"), "{stdout}");
    // A Class 5 call over HTTP: its journal lives in the service's store, the failed bridge
    // comes back to the script.
    let (code, stdout, stderr) =
        call(&["c5_ivr", "--url", &base, "-d", "1", "--bridge", "NO_ANSWER"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let lines = node_lines(&stdout);
    assert_eq!(
        lines[3],
        format!("bridge user {SALES} → NO_ANSWER"),
        "{stdout}"
    );
    assert_eq!(lines[4], "pivot → /pivot/c5_ivr?step=2&cause=NO_ANSWER");
    assert_eq!(lines.last().map(String::as_str), Some("hangup"));
}

#[test]
fn over_url_a_failing_pivot_runs_its_nodes_default_child() {
    let front = r#"
[default]
module = "tts"
data = { text = "Connecting." }
[default.children._]
module = "pivot"
data = { flow = "broken" }
[default.children._.children._]
module = "tts"
data = { text = "Sorry, try later." }
"#;
    let broken = "function main() { throw new Error('the backend is down'); }\n";
    let flows = flows_dir(&[("front.toml", front), ("broken.js", broken)]);
    let server = serve_reachable(flows.path());
    let (code, stdout, stderr) = call(&["front", "--url", &server.url("")]);
    assert_eq!(
        code,
        Some(1),
        "a failed reply is not a clean call: {stdout}{stderr}"
    );
    assert!(
        stdout.contains("  reply: FAILED (HTTP 500): ") && stdout.contains("the backend is down"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the calling pivot node's `_` child runs:"),
        "{stdout}"
    );
    assert_eq!(
        node_lines(&stdout),
        [
            "tts \"Connecting.\"",
            "pivot → /pivot/broken",
            "tts \"Sorry, try later.\""
        ]
    );
    // In-process, the same call goes the same way.
    let flows_arg = flows.path().to_str().unwrap();
    let (code, offline, _) = call(&["front", "--flows", flows_arg]);
    assert_eq!(code, Some(1), "{offline}");
    assert_eq!(node_lines(&offline), node_lines(&stdout));
}
