//! Every shipped flow in `callflows/`, over HTTP, with the same Kazoo parameters sent three ways
//! (GET query, POST form, POST JSON): each answers 200 `application/json` with exactly the
//! expected callflow tree.

use crate::common;

use common::{assert_three_ways, kazoo_params, serve_shipped, with};
use serde_json::{json, Value};

const DEVICE: &str = "3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b";
const MAILBOX: &str = "9a8b7c6d5e4f30211a2b3c4d5e6f7a8b";
const USER: &str = "7e6d5c4b3a2918070f1e2d3c4b5a6978";

/// Any weekday afternoon: the instant does not matter to flows without time rules.
const SOME_TIME: &str = "2026-11-17T15:00:00Z";

async fn check(flow: &str, expected: Value) {
    let server = serve_shipped(SOME_TIME);
    assert_three_ways(&server, flow, &kazoo_params(), &expected).await;
}

#[tokio::test]
async fn bridge_device_rings_the_device_then_voicemail() {
    check(
        "bridge_device",
        json!({
            "module": "device",
            "data": {"id": DEVICE, "timeout": 20},
            "children": {"_": {"module": "voicemail", "data": {"id": MAILBOX}}}
        }),
    )
    .await;
}

#[tokio::test]
async fn bridge_user_rings_the_user() {
    check(
        "bridge_user",
        json!({
            "module": "user",
            "data": {"id": USER, "timeout": 20, "strategy": "simultaneous"}
        }),
    )
    .await;
}

#[tokio::test]
async fn collect_dtmf_pivots_to_collected_through_the_public_url() {
    check(
        "collect_dtmf",
        json!({
            "module": "tts",
            "data": {"text": "Please enter up to four digits."},
            "children": {"_": {
                "module": "collect_dtmf",
                "data": {"max_digits": 4, "collection_name": "custom_name", "timeout": 5000, "terminator": "#"},
                "children": {"_": {
                    "module": "pivot",
                    "data": {
                        "voice_url": "http://pivot.test/pivot/collected",
                        "method": "post",
                        "req_body_format": "form",
                        "req_format": "kazoo"
                    }
                }}
            }}
        }),
    )
    .await;
}

#[tokio::test]
async fn conference_adhoc_joins_a_named_room() {
    check(
        "conference_adhoc",
        json!({
            "module": "conference",
            "data": {"config": {"name": "Team huddle"}, "play_entry_tone": true, "play_exit_tone": true}
        }),
    )
    .await;
}

#[tokio::test]
async fn conference_prebuilt_joins_by_id() {
    check(
        "conference_prebuilt",
        json!({"module": "conference", "data": {"id": "c0ffee00c0ffee00c0ffee00c0ffee00"}}),
    )
    .await;
}

#[tokio::test]
async fn hangup_busy_is_a_486_response_node_with_a_numeric_code() {
    check(
        "hangup_busy",
        json!({
            "module": "response",
            "data": {"code": 486, "message": "User Busy", "media": "/system_media/en-us/busy"}
        }),
    )
    .await;
}

#[tokio::test]
async fn play_files_plays_a_url_then_a_system_file() {
    check(
        "play_files",
        json!({
            "module": "play",
            "data": {"id": "https://media.example.com/prompts/welcome.mp3"},
            "children": {"_": {"module": "play", "data": {"id": "/system_media/en-us/goodbye"}}}
        }),
    )
    .await;
}

#[tokio::test]
async fn presence_sets_the_lamp_then_rings() {
    check(
        "presence",
        json!({
            "module": "manual_presence",
            "data": {"presence_id": "1000@acme.sip.example.com", "status": "busy"},
            "children": {"_": {"module": "device", "data": {"id": DEVICE}}}
        }),
    )
    .await;
}

#[tokio::test]
async fn record_call_user_uploads_to_the_recordings_url() {
    check(
        "record_call_user",
        json!({
            "module": "record_call",
            "data": {
                "action": "start",
                "format": "mp3",
                "url": "http://pivot.test/recordings",
                "method": "put",
                "time_limit": 3600
            },
            "children": {"_": {
                "module": "user",
                "data": {"id": USER, "timeout": 20},
                "children": {"_": {
                    "module": "record_call",
                    "data": {"action": "stop"},
                    "children": {"_": {"module": "voicemail", "data": {"id": MAILBOX}}}
                }}
            }}
        }),
    )
    .await;
}

#[tokio::test]
async fn record_caller_uploads_to_the_recordings_url() {
    check(
        "record_caller",
        json!({
            "module": "tts",
            "data": {"text": "Please leave your message after the tone."},
            "children": {"_": {
                "module": "record_caller",
                "data": {
                    "url": "http://pivot.test/recordings",
                    "format": "mp3",
                    "method": "put",
                    "time_limit": 300
                }
            }}
        }),
    )
    .await;
}

#[tokio::test]
async fn resources_global_and_local() {
    let server = serve_shipped(SOME_TIME);
    for (flow, local) in [("resources_global", false), ("resources_local", true)] {
        let expected = json!({
            "module": "resources",
            "data": {"to_did": "+14155550123", "use_local_resources": local}
        });
        assert_three_ways(&server, flow, &kazoo_params(), &expected).await;
    }
}

#[tokio::test]
async fn ring_group_has_typed_endpoints() {
    check(
        "ring_group",
        json!({
            "module": "ring_group",
            "data": {
                "strategy": "simultaneous",
                "timeout": 20,
                "endpoints": [
                    {"endpoint_type": "device", "id": DEVICE, "timeout": 20},
                    {"endpoint_type": "user", "id": USER, "delay": 5, "timeout": 15}
                ]
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn send_dtmf_then_device() {
    check(
        "send_dtmf",
        json!({
            "module": "send_dtmf",
            "data": {"digits": "1234#", "duration_ms": 2000},
            "children": {"_": {"module": "device", "data": {"id": DEVICE}}}
        }),
    )
    .await;
}

#[tokio::test]
async fn tts_hangup_speaks_then_hangs_up() {
    check(
        "tts_hangup",
        json!({
            "module": "tts",
            "data": {"text": "Thank you for calling. Goodbye.", "voice": "female", "language": "en-US"},
            "children": {"_": {"module": "hangup", "data": {}}}
        }),
    )
    .await;
}

// ---- main_number_tod: office hours in New York, holidays ----

fn front_desk() -> Value {
    json!({
        "module": "device",
        "data": {"id": DEVICE, "timeout": 20},
        "children": {"_": {"module": "voicemail", "data": {"id": MAILBOX}}}
    })
}

fn voicemail() -> Value {
    json!({"module": "voicemail", "data": {"id": MAILBOX}})
}

async fn tod(instant: &str, expected: Value) {
    let server = serve_shipped(instant);
    assert_three_ways(&server, "main_number_tod", &kazoo_params(), &expected).await;
}

#[tokio::test]
async fn main_number_tod_office_hours_rings_the_front_desk() {
    // Tuesday 10:00 in New York (EST).
    tod("2026-11-17T10:00:00-05:00", front_desk()).await;
}

#[tokio::test]
async fn main_number_tod_evening_goes_to_voicemail() {
    // Tuesday 19:30 in New York: the next day already in UTC.
    tod("2026-11-17T19:30:00-05:00", voicemail()).await;
}

#[tokio::test]
async fn main_number_tod_weekend_goes_to_voicemail() {
    // Saturday 11:00, inside the 09:00-17:00 window but not a weekday.
    tod("2026-11-21T11:00:00-05:00", voicemail()).await;
}

#[tokio::test]
async fn main_number_tod_christmas_eve_afternoon_is_closed() {
    // Thursday 24 Dec 15:00: office hours, but the half-day holiday closes at noon.
    tod("2026-12-24T15:00:00-05:00", voicemail()).await;
}

#[tokio::test]
async fn main_number_tod_christmas_eve_morning_is_open() {
    // Thursday 24 Dec 10:00: before the partial holiday starts.
    tod("2026-12-24T10:00:00-05:00", front_desk()).await;
}

#[tokio::test]
async fn main_number_tod_christmas_day_is_closed() {
    // Friday 25 Dec 10:00: a weekday inside office hours, closed all day.
    tod("2026-12-25T10:00:00-05:00", voicemail()).await;
}

#[tokio::test]
async fn main_number_tod_new_years_day_is_closed() {
    // Friday 1 Jan 2027 10:00.
    tod("2027-01-01T10:00:00-05:00", voicemail()).await;
}

// ---- collected: Digits as a map, as a legacy string, or absent ----

fn you_entered_1234() -> Value {
    json!({"module": "tts", "data": {"text": "You entered 1 2 3 4."}})
}

#[tokio::test]
async fn collected_reads_the_named_collection() {
    let server = serve_shipped(SOME_TIME);
    // Form: Digits[custom_name]=1234; JSON: "Digits": {"custom_name": "1234"}.
    let params = with(&kazoo_params(), &json!({"Digits": {"custom_name": "1234"}}));
    assert_three_ways(&server, "collected", &params, &you_entered_1234()).await;
}

#[tokio::test]
async fn collected_reads_the_legacy_digits_string() {
    let server = serve_shipped(SOME_TIME);
    // Form: Digits=1234; JSON: "Digits": "1234".
    let params = with(&kazoo_params(), &json!({"Digits": "1234"}));
    assert_three_ways(&server, "collected", &params, &you_entered_1234()).await;
}

#[tokio::test]
async fn collected_reads_the_default_collection() {
    let server = serve_shipped(SOME_TIME);
    // collect_dtmf without a collection_name: Kazoo names it `default`.
    let params = with(&kazoo_params(), &json!({"Digits": {"default": "987"}}));
    let expected = json!({"module": "tts", "data": {"text": "You entered 9 8 7."}});
    assert_three_ways(&server, "collected", &params, &expected).await;
}

#[tokio::test]
async fn collected_without_digits_says_so() {
    let server = serve_shipped(SOME_TIME);
    let expected = json!({"module": "tts", "data": {"text": "We didn't get that."}});
    assert_three_ways(&server, "collected", &kazoo_params(), &expected).await;
    // An empty collection is no digits either.
    let empty = with(&kazoo_params(), &json!({"Digits": {"custom_name": ""}}));
    assert_three_ways(&server, "collected", &empty, &expected).await;
}

// ---- conference_areacode: rooms by area code ----

fn area_room(code: &str, spelled: &str) -> Value {
    json!({
        "module": "tts",
        "data": {"text": format!("Welcome to the {spelled} area code conference.")},
        "children": {"_": {"module": "conference", "data": {"config": {"name": format!("areacode_{code}")}}}}
    })
}

fn general_room() -> Value {
    json!({
        "module": "tts",
        "data": {"text": "We could not tell your area code. Joining the general conference."},
        "children": {"_": {"module": "conference", "data": {"config": {"name": "areacode_general"}}}}
    })
}

#[tokio::test]
async fn conference_areacode_north_american_numbers() {
    let server = serve_shipped(SOME_TIME);
    for number in ["+14155550100", "4155550100", "14155550100"] {
        let params = with(&kazoo_params(), &json!({"Caller-ID-Number": number}));
        assert_three_ways(
            &server,
            "conference_areacode",
            &params,
            &area_room("415", "4 1 5"),
        )
        .await;
    }
    let params = with(
        &kazoo_params(),
        &json!({"Caller-ID-Number": "+12125550199"}),
    );
    assert_three_ways(
        &server,
        "conference_areacode",
        &params,
        &area_room("212", "2 1 2"),
    )
    .await;
}

#[tokio::test]
async fn conference_areacode_unknown_numbers_join_the_general_room() {
    let server = serve_shipped(SOME_TIME);
    for number in [
        json!("anonymous"),
        json!(""),
        json!("+442071234567"),
        Value::Null,
    ] {
        // `null` removes the parameter: a missing caller id.
        let params = with(&kazoo_params(), &json!({"Caller-ID-Number": number}));
        assert_three_ways(&server, "conference_areacode", &params, &general_room()).await;
    }
}

/// The flows this file checks; a new file in `callflows/` must get a test here.
const COVERED: &[&str] = &[
    "bridge_device",
    "bridge_user",
    "collect_dtmf",
    "collected",
    "conference_adhoc",
    "conference_areacode",
    "conference_prebuilt",
    "hangup_busy",
    "main_number_tod",
    "play_files",
    "presence",
    "record_call_user",
    "record_caller",
    "resources_global",
    "resources_local",
    "ring_group",
    "send_dtmf",
    "tts_hangup",
];

#[test]
fn every_shipped_flow_is_covered() {
    let mut shipped: Vec<String> = std::fs::read_dir(common::shipped_flows())
        .expect("read callflows/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .filter(|p| !p.to_string_lossy().ends_with(".settings.toml"))
        .map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    shipped.sort();
    assert_eq!(
        shipped, COVERED,
        "callflows/ and the tests of this file differ"
    );
}
