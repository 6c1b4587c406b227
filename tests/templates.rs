//! Reply templates over HTTP: request values and filters, `[vars]` (typed when a string is one
//! whole `{{vars.x}}`), `{{public_url}}` and `{{recordings_url}}`.

use crate::common;

use std::process::Command;

use common::{assert_tree, at, flows_dir, get, post_json, serve};
use serde_json::json;

const DEVICE: &str = "3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b";

const FLOW: &str = r#"[vars]
desk = "3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b"
timeout = 25
self_call = true
greeting = "Hello"

[default]
module = "tts"
data = { text = "{{vars.greeting}} {{ Caller-ID-Name | default: \"friend\" | upper }}, from {{Caller-ID-Number | area_code | spell | default: \"nowhere\"}}; digits {{Caller-ID-Number | digits}}; {{Language | lower}}; {{public_url}} {{recordings_url}}", voice = "{{vars.greeting | lower}}" }
[default.children._]
module = "device"
data = { id = "{{vars.desk}}", timeout = "{{vars.timeout}}", can_call_self = "{{vars.self_call}}", custom_sip_headers = { "X-Caller" = "{{Caller-ID-Name}}" } }
"#;

fn expected(text: &str, caller: &str) -> serde_json::Value {
    json!({
        "module": "tts",
        "data": {"text": text, "voice": "hello"},
        "children": {"_": {
            "module": "device",
            "data": {
                "id": DEVICE,
                "timeout": 25,
                "can_call_self": true,
                "custom_sip_headers": {"X-Caller": caller}
            }
        }}
    })
}

#[tokio::test]
async fn filters_vars_and_urls() {
    let dir = flows_dir(&[("greet.toml", FLOW)]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let url = server.url("/pivot/greet");
    let params = json!({
        "Caller-ID-Name": "ann",
        "Caller-ID-Number": "+1 (415) 555-0100",
        "Language": "EN-US"
    });
    let full = expected(
        "Hello ANN, from 4 1 5; digits 14155550100; en-us; http://pivot.test http://pivot.test/recordings",
        "ann",
    );
    common::assert_three_ways(&server, "greet", &params, &full).await;
    // Missing values render empty, or as the `default:` filter says.
    let empty = expected(
        "Hello FRIEND, from nowhere; digits ; ; http://pivot.test http://pivot.test/recordings",
        "",
    );
    assert_tree(&get(&url).await, &empty, "no parameters");
    // A number the area_code filter can't read falls to the default.
    let intl = post_json(
        &url,
        &json!({"Caller-ID-Name": "Bo", "Caller-ID-Number": "+442071234567"}),
    )
    .await;
    assert_tree(
        &intl,
        &expected(
            "Hello BO, from nowhere; digits 442071234567; ; http://pivot.test http://pivot.test/recordings",
            "Bo",
        ),
        "international number",
    );
}

/// Text, then a `{{vars.x}}` that is a number.
const ROOM: &str = r#"[vars]
greeting = "Room "
room = 7

[default]
module = "tts"
data = { text = "{{vars.greeting}}{{vars.room}}" }
"#;

/// `duration_ms` takes an integer or a string, so a wrong value here passes the schemas.
const DTMF: &str = r#"[vars]
lead = "1"
ms = 500

[[rule]]
name = "dtmf"
match = { "Request" = "dtmf" }
[rule.reply]
module = "send_dtmf"
data = { digits = "1#", duration_ms = "{{vars.lead}}{{vars.ms}}" }

[[rule]]
name = "dtmf from the request"
match = { "Request" = "dynamic" }
[rule.reply]
module = "send_dtmf"
data = { digits = "1#", duration_ms = "{{Custom-Application-Vars.lead}}{{vars.ms}}" }

[default]
module = "hangup"
data = {}
"#;

#[tokio::test]
async fn a_whole_var_keeps_its_type() {
    let flow = "[vars]\nms = 500\n\n[default]\nmodule = \"send_dtmf\"\ndata = { digits = \"1#\", duration_ms = \"{{vars.ms}}\" }\n";
    let dir = flows_dir(&[("dtmf.toml", flow)]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    assert_tree(
        &get(&server.url("/pivot/dtmf")).await,
        &json!({"module": "send_dtmf", "data": {"digits": "1#", "duration_ms": 500}}),
        "typed var",
    );
}

#[tokio::test]
async fn text_then_a_number_var_is_text() {
    let dir = flows_dir(&[("room.toml", ROOM)]);
    let out = Command::new(env!("CARGO_BIN_EXE_pivotforge"))
        .args(["check", dir.path().to_str().unwrap()])
        .output()
        .expect("run check");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the flow is valid: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    assert_tree(
        &get(&server.url("/pivot/room")).await,
        &json!({"module": "tts", "data": {"text": "Room 7"}}),
        "text then a number var",
    );
}

#[tokio::test]
async fn values_before_a_number_var_are_kept() {
    let dir = flows_dir(&[("dtmf.toml", DTMF)]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let url = server.url("/pivot/dtmf");
    assert_tree(
        &get(&format!("{url}?Request=dtmf")).await,
        &json!({"module": "send_dtmf", "data": {"digits": "1#", "duration_ms": "1500"}}),
        "two vars",
    );
    assert_tree(
        &get(&format!(
            "{url}?Request=dynamic&Custom-Application-Vars[lead]=2"
        ))
        .await,
        &json!({"module": "send_dtmf", "data": {"digits": "1#", "duration_ms": "2500"}}),
        "a request value then a var",
    );
}
