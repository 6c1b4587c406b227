//! The console's whole-call API over real HTTP: `POST /api/call` plays a shipped flow's whole
//! call with digits and bridge outcomes, at the chosen instant (which `/pivot` never takes), on
//! a scratch store (a cxKV counter of the real store stays as it was), admin only, bad input a
//! 400 naming the field; the scenarios it saves (from the playground and from the exchange
//! log) pass when `pivotforge test` runs them.

use crate::common;

use common::{
    at, client, finish, get, kazoo_form, kazoo_params, pivotforge_cli, post_json, serve_shipped,
    serve_with, shipped_flows, with,
};
use pivotforge::auth::AuthConfig;
use pivotforge::secret::Secret;
use serde_json::{json, Value};

/// A Wednesday in office hours, New York time: the servers' own clock.
const WEEKDAY: &str = "2026-12-02T10:00:00-05:00";
const CHRISTMAS_EVE: &str = "2026-12-24T15:00:00-05:00";

/// The node lines of a transcript, step by step.
fn lines(transcript: &Value) -> Vec<Vec<String>> {
    transcript["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {transcript}"))
        .iter()
        .map(|s| {
            s["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| n["line"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}

async fn play(server: &common::TestServer, body: &Value) -> Value {
    let reply = post_json(&server.url("/api/call"), body).await;
    assert_eq!(reply.status, 200, "{body}: {}", reply.text());
    reply.json()
}

#[tokio::test]
async fn a_whole_call_of_a_shipped_flow_follows_the_digits() {
    let server = serve_shipped(WEEKDAY);
    let t = play(
        &server,
        &json!({"flow": "digits_menu", "digits": ["3", "1"], "params": {"Caller-ID-Number": "+14155550123"}}),
    )
    .await;
    let ask = "tts \"For sales press 1. For support press 2.\"";
    let lines = lines(&t);
    assert_eq!(lines.len(), 3, "{t}");
    assert_eq!(lines[0][0], ask);
    assert_eq!(lines[0][1], "collect menu (max 1) ← \"3\"");
    assert!(lines[0][2].starts_with("pivot → "), "{lines:?}");
    assert_eq!(
        lines[1][0],
        "tts \"3 is not an option. For sales press 1. For support press 2.\""
    );
    assert_eq!(lines[1][1], "collect menu (max 1) ← \"1\"");
    assert!(lines[2][0].starts_with("bridge device "), "{lines:?}");
    assert!(lines[2][0].ends_with("→ answered"), "{lines:?}");
    assert_eq!(t["end"], json!({"kind": "terminal", "module": "device"}));
    assert_eq!(t["ok"], json!(true));
    assert_eq!(t["at"], json!("2026-12-02T15:00:00Z"), "the server's clock");
    assert_eq!(t["steps"][0]["method"], "GET");
    assert_eq!(t["steps"][1]["changed"], json!([["Digits[menu]", "3"]]));
    let first: Vec<&Value> = t["steps"][0]["changed"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    assert!(
        first.contains(&&json!(["Caller-ID-Number", "+14155550123"])),
        "{first:?}"
    );
}

#[tokio::test]
async fn the_chosen_instant_changes_the_answer_on_the_api_only() {
    let server = serve_shipped(WEEKDAY);
    let eve = play(
        &server,
        &json!({"flow": "main_number_tod", "at": CHRISTMAS_EVE}),
    )
    .await;
    assert_eq!(
        lines(&eve),
        [["voicemail 9a8b7c6d5e4f30211a2b3c4d5e6f7a8b"]],
        "{eve}"
    );
    assert_eq!(eve["steps"][0]["rule"], "closed for a holiday");
    assert_eq!(eve["at"], "2026-12-24T20:00:00Z");
    let weekday = play(
        &server,
        &json!({"flow": "main_number_tod", "at": WEEKDAY, "bridges": ["NO_ANSWER"]}),
    )
    .await;
    assert_eq!(
        lines(&weekday),
        [[
            "bridge device 3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b → NO_ANSWER",
            "voicemail 9a8b7c6d5e4f30211a2b3c4d5e6f7a8b"
        ]],
        "{weekday}"
    );
    assert_eq!(weekday["steps"][0]["rule"], "office hours");
    // /pivot runs on the service's clock whatever the request says.
    let url = server.url(&format!(
        "/pivot/main_number_tod?{}&at=2026-12-24T15%3A00%3A00-05%3A00",
        kazoo_form(&kazoo_params())
    ));
    let reply = get(&url).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["module"], "device", "{}", reply.text());
}

#[tokio::test]
async fn a_simulated_call_leaves_the_real_counters_alone() {
    let server = serve_shipped(WEEKDAY);
    let caller = json!({"Caller-ID-Number": "+15555550177"});
    let real = || async {
        let params = with(&kazoo_params(), &caller);
        let url = server.url(&format!("/pivot/honeypot?{}", kazoo_form(&params)));
        get(&url).await
    };
    let first = real().await;
    assert_eq!(first.json()["data"]["text"], "Thank you for calling.");
    // Three calls within two minutes block the number: were these counted in the service's
    // store, its next real call would be the third or later.
    for _ in 0..3 {
        let t = play(&server, &json!({"flow": "honeypot", "params": caller})).await;
        assert_eq!(lines(&t)[0][0], "tts \"Thank you for calling.\"", "{t}");
    }
    let second = real().await;
    assert_eq!(
        second.json()["data"]["text"],
        "Thank you for calling.",
        "the real count is 2: {}",
        second.text()
    );
    let third = real().await;
    assert_eq!(
        third.json()["data"]["code"],
        603,
        "the third real call is blocked: {}",
        third.text()
    );
}

#[tokio::test]
async fn the_api_needs_the_admin_credentials() {
    let mut config = common::config(&shipped_flows());
    config.auth = AuthConfig {
        pivot_token: Some(Secret::new("pivot-tok-9")),
        admin_token: Some(Secret::new("admin-tok-9")),
        ..AuthConfig::default()
    };
    let server = serve_with(config, at(WEEKDAY));
    let body = json!({"flow": "main_number_tod"}).to_string();
    let send = |path: &'static str, auth: Option<&'static str>| {
        let (url, body) = (server.url(path), body.clone());
        async move {
            let mut request = client()
                .post(url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            finish(request.send().await.expect("request sent")).await
        }
    };
    for path in ["/api/call", "/api/call/scenario"] {
        for auth in [None, Some("Bearer pivot-tok-9"), Some("Bearer admin-tok-0")] {
            let reply = send(path, auth).await;
            assert_eq!(reply.status, 401, "{path} with {auth:?}: {}", reply.text());
        }
        let reply = send(path, Some("Bearer admin-tok-9")).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    }
    let request = client()
        .get(server.url("/calls/x/scenario"))
        .header("authorization", "Bearer pivot-tok-9");
    let reply = finish(request.send().await.expect("request sent")).await;
    assert_eq!(reply.status, 401, "{}", reply.text());
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let server = serve_shipped(WEEKDAY);
    for (body, says) in [
        (json!({"flow": "nope"}), "flow: no flow named `nope`"),
        (json!({}), "flow: missing"),
        (
            json!({"flow": "digits_menu", "digits": ["1", "x"]}),
            "digits[1]: \"x\" is not DTMF",
        ),
        (
            json!({"flow": "digits_menu", "bridges": ["no answer"]}),
            "bridges[0]: `no answer` is not a bridge outcome",
        ),
        (
            json!({"flow": "digits_menu", "at": "tomorrow"}),
            "at: \"tomorrow\" is not an RFC 3339",
        ),
        (json!({"flow": "digits_menu", "kazoo": "6"}), "kazoo: "),
        (
            json!({"flow": "digits_menu", "when": "now"}),
            "unknown field `when`",
        ),
    ] {
        for path in ["/api/call", "/api/call/scenario"] {
            let reply = post_json(&server.url(path), &body).await;
            let error = common::assert_error(&reply, 400, &format!("{path} {body}"));
            let detail = error["detail"].as_str().unwrap_or_default();
            assert!(detail.contains(says), "{path} {body}: {detail}");
        }
    }
    let reply = common::post(&server.url("/api/call"), "application/json", "{flow").await;
    common::assert_error(&reply, 400, "not JSON");
    let reply = get(&server.url("/api/call")).await;
    common::assert_error(&reply, 405, "GET");
    let huge = json!({"flow": "digits_menu", "params": {"X": "1".repeat(2 << 20)}});
    let reply = post_json(&server.url("/api/call"), &huge).await;
    common::assert_error(&reply, 413, "a body over the limit");
    let reply = get(&server.url("/calls/never-seen/scenario")).await;
    common::assert_error(&reply, 404, "an unknown call");
}

/// Runs `pivotforge test` on `dir` with the shipped flows.
fn pivotforge_test(dir: &std::path::Path) -> (Option<i32>, String, String) {
    let flows = shipped_flows();
    let dir = dir.to_string_lossy().into_owned();
    pivotforge_cli(&["test", &dir], &[("PIVOTFORGE_FLOWS", flows.as_path())])
}

/// Sends `request` and reads the scenario file it downloads, named `file`.
async fn saved(request: reqwest::RequestBuilder, file: &str) -> String {
    let response = request.send().await.expect("request sent");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    let reply = finish(response).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        content_type.as_deref(),
        Some("application/toml; charset=utf-8")
    );
    assert_eq!(
        disposition,
        Some(format!("attachment; filename=\"{file}\""))
    );
    reply.text()
}

#[tokio::test]
async fn saved_scenarios_from_the_playground_and_the_log_pass_in_pivotforge_test() {
    let server = serve_shipped(WEEKDAY);
    let body = json!({"flow": "digits_menu", "digits": ["2"], "at": CHRISTMAS_EVE,
        "params": {"Caller-ID-Number": "+14155550100"}});
    let playground = saved(
        client().post(server.url("/api/call/scenario")).json(&body),
        "digits_menu.toml",
    )
    .await;
    for part in [
        "flow = \"digits_menu\"",
        "at = \"2026-12-24T20:00:00Z\"",
        "params = { \"Caller-ID-Number\" = \"+14155550100\" }",
        "digits = [\"2\"]",
        "{ tts = \"For sales press 1. For support press 2.\" },",
        "{ collect_dtmf = \"menu\" },",
        "{ pivot = { contains = \"/pivot/digits_menu\" } },",
        "ends = \"bridge\"",
        "steps = 2",
    ] {
        assert!(playground.contains(part), "{part} in:\n{playground}");
    }

    // A call as the PBX makes it: the menu, then the digit pressed on the next request.
    let call_id = "console-save-1@pbx";
    let first = with(
        &kazoo_params(),
        &json!({"Call-ID": call_id, "Caller-ID-Number": "+14155550142"}),
    );
    let url = |p: &Value| server.url(&format!("/pivot/digits_menu?{}", kazoo_form(p)));
    assert_eq!(get(&url(&first)).await.status, 200);
    let second = with(&first, &json!({"Digits": {"menu": "1"}}));
    assert_eq!(get(&url(&second)).await.status, 200);
    let path = format!("/calls/{}/scenario", common::kazoo_escape(call_id));
    let logged = saved(client().get(server.url(&path)), "digits_menu.toml").await;
    for part in [
        "name = \"call console-save-1@pbx (saved from the exchange log)\"",
        "digits = [\"1\"]",
        "\"Caller-ID-Number\" = \"+14155550142\"",
        "at = \"2026-12-02T15:00:00Z\"",
        "ends = \"bridge\"",
        "steps = 2",
    ] {
        assert!(logged.contains(part), "{part} in:\n{logged}");
    }
    assert!(!logged.contains("Call-ID\" ="), "{logged}");

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("playground.toml"), &playground).expect("write");
    std::fs::write(dir.path().join("logged.toml"), &logged).expect("write");
    let (code, out, err) = pivotforge_test(dir.path());
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.ends_with("2 passed, 0 failed\n"), "{out}{err}");

    // And they do check: the same call pressing another digit fails the logged one.
    let other = logged.replace("digits = [\"1\"]", "digits = [\"2\"]");
    std::fs::write(dir.path().join("logged.toml"), other).expect("write");
    let (code, out, _) = pivotforge_test(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
}
