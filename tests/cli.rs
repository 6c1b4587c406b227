//! The `pivotforge` command offline: `run` prints the reply tree (exit 0), an invalid reply prints
//! its errors (exit 1), an unknown flow exits 1; `check` exits 0 on good flows.

use crate::common;

use std::process::{Command, Output};

use common::{flows_dir, shipped_flows};
use serde_json::{json, Value};

const DEVICE: &str = "3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b";
const MAILBOX: &str = "9a8b7c6d5e4f30211a2b3c4d5e6f7a8b";

fn pivotforge(args: &[&str]) -> Output {
    // Each run gets its own data folder: runs in parallel must not share one store.
    let data = tempfile::tempdir().expect("temp data dir");
    Command::new(env!("CARGO_BIN_EXE_pivotforge"))
        .args(args)
        .env_remove("PIVOTFORGE_CONFIG")
        .env_remove("PIVOTFORGE_FLOWS")
        .env_remove("PIVOTFORGE_PUBLIC_URL")
        .env("PIVOTFORGE_DATA_DIR", data.path())
        .output()
        .expect("run pivotforge")
}

/// `pivotforge run FLOW --flows callflows EXTRA…`, returning (exit code, stdout, stderr).
fn run_shipped(flow: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let flows = shipped_flows();
    let mut args = vec!["run", flow, "--flows", flows.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = pivotforge(&args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn parse_tree(stdout: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON tree ({e}): {stdout}"))
}

fn front_desk() -> Value {
    json!({
        "module": "device",
        "data": {"id": DEVICE, "timeout": 20},
        "children": {"_": {"module": "voicemail", "data": {"id": MAILBOX}}}
    })
}

#[test]
fn run_main_number_tod_at_office_hours() {
    let (code, stdout, stderr) =
        run_shipped("main_number_tod", &["--at", "2026-12-24T10:00:00-05:00"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(parse_tree(&stdout), front_desk());
    assert_eq!(stderr.trim(), "matched rule: office hours");
}

#[test]
fn run_main_number_tod_on_the_half_day_holiday_and_at_night() {
    let (code, stdout, stderr) =
        run_shipped("main_number_tod", &["--at", "2026-12-24T15:00:00-05:00"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        parse_tree(&stdout),
        json!({"module": "voicemail", "data": {"id": MAILBOX}})
    );
    assert_eq!(stderr.trim(), "matched rule: closed for a holiday");

    // UTC instants work too; 02:00 UTC on a Wednesday is Tuesday evening in New York.
    let (code, stdout, stderr) = run_shipped("main_number_tod", &["--at", "2026-11-18T02:00:00Z"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        parse_tree(&stdout),
        json!({"module": "voicemail", "data": {"id": MAILBOX}})
    );
    assert_eq!(stderr.trim(), "", "the default matched: no rule named");
}

#[test]
fn run_with_params_digits_and_a_query() {
    let (code, stdout, stderr) = run_shipped(
        "conference_areacode",
        &[
            "-p",
            "Caller-ID-Number=+14155550100",
            "--param",
            "Caller-ID-Name=Alice",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        parse_tree(&stdout),
        json!({
            "module": "tts",
            "data": {"text": "Welcome to the 4 1 5 area code conference."},
            "children": {"_": {"module": "conference", "data": {"config": {"name": "areacode_415"}}}}
        })
    );

    let (code, stdout, stderr) = run_shipped("collected", &["-d", "custom_name=1234"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        parse_tree(&stdout),
        json!({"module": "tts", "data": {"text": "You entered 1 2 3 4."}})
    );
    assert_eq!(stderr.trim(), "matched rule: digits in custom_name");

    let (code, stdout, stderr) = run_shipped("collected", &["--query", "Digits=56&&Call-ID=a%40b"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        parse_tree(&stdout),
        json!({"module": "tts", "data": {"text": "You entered 5 6."}})
    );
    assert_eq!(stderr.trim(), "matched rule: legacy Digits string");

    let (code, stdout, _) = run_shipped("collected", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        parse_tree(&stdout),
        json!({"module": "tts", "data": {"text": "We didn't get that."}})
    );
}

#[test]
fn run_builds_pivots_from_the_public_url() {
    let (code, stdout, stderr) = run_shipped(
        "collect_dtmf",
        &["--public-url", "https://pf.example.com/base/"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let tree = parse_tree(&stdout);
    assert_eq!(
        tree["children"]["_"]["children"]["_"],
        json!({
            "module": "pivot",
            "data": {"voice_url": "https://pf.example.com/base/pivot/collected", "method": "post", "req_body_format": "form", "req_format": "kazoo"}
        })
    );
    let (code, stdout, stderr) =
        run_shipped("record_caller", &["--public-url", "http://pivot.test"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        parse_tree(&stdout)["children"]["_"]["data"]["url"],
        "http://pivot.test/recordings"
    );
}

#[test]
fn run_a_deliberate_rejection_exits_0() {
    let (code, stdout, stderr) = run_shipped("hangup_busy", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        parse_tree(&stdout),
        json!({"module": "response", "data": {"code": 486, "message": "User Busy", "media": "/system_media/en-us/busy"}})
    );
    assert_eq!(stderr.trim(), "rejection: 486 User Busy");
}

#[test]
fn run_an_invalid_reply_prints_the_errors_and_exits_1() {
    let dir = flows_dir(&[
        ("greet.toml", "[default]\nmodule = \"tts\"\ndata = { text = \"{{Caller-ID-Name}}\" }\n"),
        (
            "greet_fallback.toml",
            "[default]\nmodule = \"tts\"\ndata = { text = \"{{Caller-ID-Name}}\" }\n\n[fallback]\nmodule = \"hangup\"\ndata = {}\n",
        ),
    ]);
    let flows = dir.path().to_str().unwrap();

    let out = pivotforge(&["run", "greet", "--flows", flows]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "no tree is printed"
    );
    assert!(
        stderr.starts_with(
            "invalid callflow tree: the reply failed the callflow schemas: /data/text: "
        ),
        "{stderr}"
    );
    assert!(stderr.contains("shorter than 1"), "{stderr}");
    assert!(
        stderr.contains("no fallback: the server answers 500"),
        "{stderr}"
    );

    // With a value the same flow is fine.
    let out = pivotforge(&["run", "greet", "--flows", flows, "-p", "Caller-ID-Name=Zoe"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        parse_tree(&String::from_utf8_lossy(&out.stdout)),
        json!({"module": "tts", "data": {"text": "Zoe"}})
    );

    // With a fallback, the fallback is printed, but it is still a problem: exit 1.
    let out = pivotforge(&["run", "greet_fallback", "--flows", flows]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        parse_tree(&String::from_utf8_lossy(&out.stdout)),
        json!({"module": "hangup", "data": {}})
    );
    assert!(stderr.contains("/data/text"), "{stderr}");
    assert!(
        stderr.contains("the flow's fallback tree is sent instead"),
        "{stderr}"
    );
}

#[test]
fn run_an_unknown_flow_exits_1() {
    let (code, stdout, stderr) = run_shipped("nope", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with("pivotforge run: no flow named `nope`; loaded flows: bridge_device, "),
        "{stderr}"
    );
    assert!(stderr.contains("main_number_tod"), "{stderr}");
}

#[test]
fn run_a_broken_flow_exits_1_with_its_load_error() {
    let dir = flows_dir(&[
        ("typo.toml", "[[rule]]\nweekday = \"mon\"\nreply = { module = \"hangup\", data = {} }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n"),
        ("fine.toml", "[default]\nmodule = \"hangup\"\ndata = {}\n"),
    ]);
    let flows = dir.path().to_str().unwrap();
    let typo = dir.path().join("typo.toml");

    let out = pivotforge(&["run", "typo", "--flows", flows]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        stderr.contains(&format!(
            "flow failed to load: {}:2: unknown field `weekday`",
            typo.display()
        )),
        "{stderr}"
    );

    // Another flow of the same folder runs, with a warning about the broken one.
    let out = pivotforge(&["run", "fine", "--flows", flows]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        parse_tree(&String::from_utf8_lossy(&out.stdout)),
        json!({"module": "hangup", "data": {}})
    );
    assert!(
        stderr.starts_with(&format!("warning: {}:2: ", typo.display())),
        "{stderr}"
    );
}

#[test]
fn check_the_shipped_flows_exits_0() {
    let flows = shipped_flows();
    let out = pivotforge(&["check", flows.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("28 flows OK, 0 problems"));
    // `--flows` is used when no folder is given.
    let out = pivotforge(&["check", "--flows", flows.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_warns_about_webhook_flows_that_cannot_take_events() {
    let flows = flows_dir(&[
        (
            "ev.js",
            "export function postCall(e) { return {}; }\nexport function main() { return { module: 'hangup', data: {} }; }",
        ),
        ("plain.js", "function main() { return { module: 'hangup', data: {} }; }"),
        ("rule.toml", "[default]\nmodule = \"hangup\"\ndata = {}\n"),
    ]);
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("pivotforge.toml");
    std::fs::write(
        &conf,
        "[events]\nwebhook_flows = [\"ev\", \"plain\", \"rule\", \"renamed\"]\n",
    )
    .unwrap();
    let out = pivotforge(&[
        "check",
        "--config",
        conf.to_str().unwrap(),
        flows.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning, not a problem: {stderr}"
    );
    for (flow, why) in [
        ("plain", "defines no postCall"),
        ("rule", "rule flow"),
        ("renamed", "no such flow"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("warning: [events] webhook_flows names")
                    && l.contains(&format!("`{flow}`"))
                    && l.contains(why)),
            "{flow}: {stderr}"
        );
    }
    assert!(!stderr.contains("`ev`"), "ev has postCall: {stderr}");
}

#[test]
fn an_unknown_store_backend_is_refused_naming_the_key_and_the_line() {
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("pivotforge.toml");
    std::fs::write(&conf, "workers = 1\n\n[store]\nbackend = \"redis\"\n").unwrap();
    let flows = shipped_flows();
    let out = pivotforge(&[
        "run",
        "main_number_tod",
        "--config",
        conf.to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("pivotforge.toml:4") && stderr.contains("[store] backend = \"redis\""),
        "{stderr}"
    );
    // The default, named or not, runs.
    std::fs::write(&conf, "[store]\nbackend = \"embedded\"\n").unwrap();
    let out = pivotforge(&[
        "run",
        "main_number_tod",
        "--config",
        conf.to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
        "--at",
        "2026-12-24T10:00:00-05:00",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
