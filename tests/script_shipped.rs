//! The shipped script flows (`callflows/*.js`) over HTTP: business hours on the injected clock
//! (office hours, evening, weekend, Thanksgiving, Christmas, daylight-saving time), the DNC gate
//! with its shipped list and numbers added over `/userspace`, random caller IDs, the rate-limit
//! honeypot, the digits menu, and the CRM lookup against a local CRM, with its `postCall`.

use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{
    assert_tree, at, config, flows_dir, poll_until, post_form, post_json, request, serve,
    serve_in_with_clock, serve_shipped, shipped_flows, MockHttp, MockRequest, MockResponse,
    TestServer,
};
use pivotforge::clock::RunningClock;
use pivotforge::server::RunningServer;
use serde_json::{json, Value};

const DEVICE: &str = "3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b";
const MAILBOX: &str = "9a8b7c6d5e4f30211a2b3c4d5e6f7a8b";
const SUPPORT: &str = "7e6d5c4b3a2918070f1e2d3c4b5a6978";
const QUEUE_2: &str = "6d5c4b3a29180706f5e4d3c2b1a09876";

async fn call(server: &TestServer, flow: &str, form: &str) -> common::Reply {
    post_form(&server.url(&format!("/pivot/{flow}")), form).await
}

// ---- business_hours -----------------------------------------------------------------------------

async fn business_hours_at(now: &str) -> Value {
    let server = serve_shipped(now);
    let reply = call(&server, "business_hours", "Caller-ID-Number=%2B14155550100").await;
    assert_eq!(reply.status, 200, "{now}: {}", reply.text());
    reply.json()
}

fn voicemail() -> Value {
    json!({"module": "voicemail", "data": {"id": MAILBOX}})
}

fn front_desk() -> Value {
    json!({"module": "device", "data": {"id": DEVICE, "timeout": 20}, "children": {"_": voicemail()}})
}

fn closed_for(name: &str) -> Value {
    json!({
        "module": "tts",
        "data": {"text": format!("Our office is closed for {name}. Please leave a message.")},
        "children": {"_": voicemail()}
    })
}

#[tokio::test]
async fn business_hours_office_hours_ring_the_front_desk() {
    assert_eq!(
        business_hours_at("2026-11-17T10:00:00-05:00").await,
        front_desk(),
        "Tuesday 10:00"
    );
    assert_eq!(
        business_hours_at("2026-11-20T16:59:00-05:00").await,
        front_desk(),
        "Friday 16:59"
    );
}

#[tokio::test]
async fn business_hours_evening_weekend_and_early_morning_go_to_voicemail() {
    assert_eq!(
        business_hours_at("2026-11-17T19:00:00-05:00").await,
        voicemail(),
        "evening"
    );
    assert_eq!(
        business_hours_at("2026-11-17T17:00:00-05:00").await,
        voicemail(),
        "17:00 sharp"
    );
    assert_eq!(
        business_hours_at("2026-11-21T11:00:00-05:00").await,
        voicemail(),
        "Saturday"
    );
    assert_eq!(
        business_hours_at("2026-11-18T08:59:00-05:00").await,
        voicemail(),
        "08:59"
    );
}

#[tokio::test]
async fn business_hours_holidays() {
    assert_eq!(
        business_hours_at("2026-11-26T10:00:00-05:00").await,
        closed_for("Thanksgiving"),
        "Thanksgiving 2026 (a dated holiday)"
    );
    assert_eq!(
        business_hours_at("2026-12-25T10:00:00-05:00").await,
        closed_for("Christmas Day"),
        "Christmas 2026"
    );
    assert_eq!(
        business_hours_at("2027-12-25T23:30:00-05:00").await,
        closed_for("Christmas Day"),
        "Christmas every year, late in the evening"
    );
    assert_eq!(
        business_hours_at("2027-11-26T10:00:00-05:00").await,
        front_desk(),
        "Thanksgiving's date is for 2026 only: 2027-11-26 is a Friday at work"
    );
}

#[tokio::test]
async fn business_hours_follow_new_york_time_across_daylight_saving() {
    // 13:30 UTC on Friday 30 October 2026 is 09:30 EDT: open (08:30 if EST were assumed).
    assert_eq!(
        business_hours_at("2026-10-30T13:30:00Z").await,
        front_desk(),
        "EDT"
    );
    // 13:30 UTC on Monday 2 November 2026 is 08:30 EST: closed (09:30 if EDT were kept).
    assert_eq!(
        business_hours_at("2026-11-02T13:30:00Z").await,
        voicemail(),
        "EST"
    );
    // Christmas starts at midnight New York time, not UTC: 04:30 UTC on the 25th is the 24th.
    assert_eq!(
        business_hours_at("2026-12-25T04:30:00Z").await,
        voicemail(),
        "Christmas Eve night"
    );
}

// ---- dnc_gate -----------------------------------------------------------------------------------

#[tokio::test]
async fn dnc_gate_refuses_listed_numbers() {
    let server = serve_shipped("2026-11-17T15:00:00Z");
    let declined = json!({"module": "response", "data": {"code": 603, "message": "Denied (DNC)"}});
    let desk = json!({"module": "device", "data": {"id": DEVICE, "timeout": 20}});
    for listed in ["%2B14155550199", "%2B12125550123"] {
        assert_tree(
            &call(&server, "dnc_gate", &format!("Caller-ID-Number={listed}")).await,
            &declined,
            &format!("{listed} from lists/dnc.csv"),
        );
    }
    assert_tree(
        &call(&server, "dnc_gate", "Caller-ID-Number=%2B14155550100").await,
        &desk,
        "an unlisted number",
    );
    assert_tree(&call(&server, "dnc_gate", "").await, &desk, "no caller ID");

    let added = server.url("/userspace/dnc/+14155550155");
    let reply = request(
        reqwest::Method::PUT,
        &added,
        Some("application/json"),
        br#"{"reason":"asked today"}"#.to_vec(),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_tree(
        &call(&server, "dnc_gate", "Caller-ID-Number=%2B14155550155").await,
        &declined,
        "a number added over /userspace",
    );
    let reply = request(reqwest::Method::DELETE, &added, None, Vec::new()).await;
    assert_eq!(reply.status, 204);
    assert_tree(
        &call(&server, "dnc_gate", "Caller-ID-Number=%2B14155550155").await,
        &desk,
        "removed again",
    );
}

/// The shipped gate fails closed: with its shipped settings but a script that can't run (throws,
/// or does not compile), a caller is refused with 480, never put through the `_` branch.
#[tokio::test]
async fn dnc_gate_fails_closed_when_its_script_cannot_run() {
    let settings = std::fs::read_to_string(shipped_flows().join("dnc_gate.settings.toml"))
        .expect("shipped dnc_gate settings");
    let refused =
        json!({"module": "response", "data": {"code": 480, "message": "Temporarily Unavailable"}});
    for (what, script) in [
        (
            "a script that throws",
            "async function main() { throw new TypeError('store down'); }",
        ),
        ("a script that does not compile", "async function main( {"),
    ] {
        let dir = flows_dir(&[
            ("dnc_gate.js", script),
            ("dnc_gate.settings.toml", &settings),
        ]);
        let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
        assert_tree(
            &call(&server, "dnc_gate", "Caller-ID-Number=%2B14155550199").await,
            &refused,
            what,
        );
    }
}

// ---- random_cid ---------------------------------------------------------------------------------

#[tokio::test]
async fn random_cid_picks_numbers_from_the_list() {
    let server = serve_shipped("2026-11-17T15:00:00Z");
    let pool = [
        "+14155550101",
        "+14155550102",
        "+14155550103",
        "+14155550104",
    ];
    let client = common::client();
    let mut used = BTreeSet::new();
    for _ in 0..40 {
        let reply = common::get_with(
            &client,
            &server.url("/pivot/random_cid?Request=%2B12125559876&Caller-ID-Number=1001"),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let tree = reply.json();
        let number = tree["data"]["caller_id_number"]
            .as_str()
            .expect("a caller ID number")
            .to_owned();
        assert!(
            pool.contains(&number.as_str()),
            "{number} is not from the list"
        );
        assert_eq!(
            tree,
            json!({
                "module": "set_cid",
                "data": {"caller_id_number": number, "caller_id_name": "Acme Sales"},
                "children": {"_": {"module": "resources", "data": {"to_did": "+12125559876", "use_local_resources": false}}}
            })
        );
        used.insert(number);
    }
    assert!(used.len() >= 2, "40 calls used only {used:?}: not random");
}

// ---- honeypot -----------------------------------------------------------------------------------

#[tokio::test]
async fn honeypot_blocks_the_third_call_from_one_number() {
    let server = serve_shipped("2026-11-17T15:00:00Z");
    let welcome = json!({
        "module": "tts",
        "data": {"text": "Thank you for calling."},
        "children": {"_": voicemail()}
    });
    let blocked =
        json!({"module": "response", "data": {"code": 603, "message": "Decline (rate limited)"}});
    let from = |n: &str| format!("Caller-ID-Number={}", n.replace('+', "%2B"));
    let a = from("+14155550142");
    assert_tree(&call(&server, "honeypot", &a).await, &welcome, "1st call");
    assert_tree(&call(&server, "honeypot", &a).await, &welcome, "2nd call");
    assert_tree(&call(&server, "honeypot", &a).await, &blocked, "3rd call");
    assert_tree(&call(&server, "honeypot", &a).await, &blocked, "4th call");
    let b = from("+14155550143");
    assert_tree(
        &call(&server, "honeypot", &b).await,
        &welcome,
        "another number",
    );
    assert_tree(
        &call(&server, "honeypot", &b).await,
        &welcome,
        "another number, 2nd call",
    );
}

// ---- digits_menu --------------------------------------------------------------------------------

fn menu_prompt(text: &str) -> Value {
    json!({
        "module": "tts",
        "data": {"text": text},
        "children": {"_": {
            "module": "collect_dtmf",
            "data": {"collection_name": "menu", "max_digits": 1, "timeout": 5000},
            "children": {"_": {
                "module": "pivot",
                "data": {"req_format": "kazoo", "method": "post", "req_body_format": "form", "voice_url": "http://pivot.test/pivot/digits_menu"}
            }}
        }}
    })
}

#[tokio::test]
async fn digits_menu_asks_then_routes() {
    let server = serve_shipped("2026-11-17T15:00:00Z");
    let ask = "For sales press 1. For support press 2.";
    assert_tree(
        &call(&server, "digits_menu", "Call-ID=c1").await,
        &menu_prompt(ask),
        "no digits",
    );
    assert_tree(
        &call(&server, "digits_menu", "Call-ID=c1&Digits[menu]=1").await,
        &json!({"module": "device", "data": {"id": DEVICE, "timeout": 20}}),
        "1: sales",
    );
    assert_tree(
        &call(&server, "digits_menu", "Call-ID=c1&Digits[menu]=2").await,
        &json!({"module": "user", "data": {"id": SUPPORT, "timeout": 20}}),
        "2: support",
    );
    assert_tree(
        &call(&server, "digits_menu", "Call-ID=c1&Digits[menu]=9").await,
        &menu_prompt(&format!("9 is not an option. {ask}")),
        "9: asked again",
    );
    let reply = post_json(
        &server.url("/pivot/digits_menu"),
        &json!({"Call-ID": "c1", "Digits": {"menu": "2"}}),
    )
    .await;
    assert_tree(
        &reply,
        &json!({"module": "user", "data": {"id": SUPPORT, "timeout": 20}}),
        "JSON body",
    );
}

// ---- crm_lookup ---------------------------------------------------------------------------------

const ANN: &str = "+14155550100";
const BOB: &str = "+14155550101";
const MANAGER: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// A CRM: Ann is a VIP with a manager, Bob a known customer, everyone else unknown. `POST /calls`
/// answers 500 while `failing` is above zero (counting down), then 201.
fn crm(failing: Arc<AtomicUsize>) -> MockHttp {
    MockHttp::start(move |req: &MockRequest| {
        let path = req.target.split('?').next().unwrap_or("");
        let query = req.target.split_once('?').map_or("", |(_, q)| q);
        match (req.method.as_str(), path) {
            ("GET", "/contacts") if query == "phone=%2B14155550100" => MockResponse::json(
                200,
                &json!({"name": "Ann", "tier": "vip", "manager_device": MANAGER}),
            ),
            ("GET", "/contacts") if query == "phone=%2B14155550101" => {
                MockResponse::json(200, &json!({"name": "Bob", "tier": "regular"}))
            }
            ("GET", "/contacts") if query == "phone=%2B14155550666" => {
                MockResponse::json(500, &json!({"error": "db down"}))
            }
            ("POST", "/calls") => {
                let fail = failing
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    MockResponse::json(500, &json!({"error": "try later"}))
                } else {
                    MockResponse::json(201, &json!({"ok": true}))
                }
            }
            _ => MockResponse::json(404, &json!({"error": "not found"})),
        }
    })
}

/// The shipped script in a temporary flows folder, its settings pointing CRM_URL at `url`.
fn crm_flows(url: &str) -> tempfile::TempDir {
    let script = std::fs::read_to_string(shipped_flows().join("crm_lookup.js")).expect("script");
    let settings = std::fs::read_to_string(shipped_flows().join("crm_lookup.settings.toml"))
        .expect("settings");
    let shipped_url = "CRM_URL = \"https://crm.example.com/api\"";
    assert!(
        settings.contains(shipped_url),
        "the shipped settings changed: {settings}"
    );
    assert!(
        settings.contains("\"127.0.0.1:*\""),
        "127.0.0.1 is allowed: {settings}"
    );
    let ours = settings.replace(shipped_url, &format!("CRM_URL = \"{url}\""));
    flows_dir(&[
        ("crm_lookup.js", &script),
        ("crm_lookup.settings.toml", &ours),
    ])
}

fn queue() -> Value {
    json!({"module": "ring_group", "data": {"endpoints": [
        {"endpoint_type": "user", "id": SUPPORT},
        {"endpoint_type": "user", "id": QUEUE_2}
    ], "timeout": 30}})
}

fn crm_fallback() -> Value {
    json!({"module": "ring_group", "data": {"endpoints": [{"endpoint_type": "user", "id": SUPPORT}], "timeout": 30}})
}

fn caller(number: &str) -> String {
    format!(
        "Call-ID=c-{}&Caller-ID-Number={}",
        &number[number.len() - 3..],
        number.replace('+', "%2B")
    )
}

#[tokio::test]
async fn crm_lookup_routes_by_what_the_crm_says() {
    let mock = crm(Arc::new(AtomicUsize::new(0)));
    let dir = crm_flows(&mock.base());
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));

    assert_tree(
        &call(&server, "crm_lookup", &caller(ANN)).await,
        &json!({"module": "device", "data": {"id": MANAGER, "timeout": 25}, "children": {"_": queue()}}),
        "a VIP rings the account manager, then the queue",
    );
    assert_tree(
        &call(&server, "crm_lookup", &caller(BOB)).await,
        &json!({"module": "tts", "data": {"text": "Welcome back, Bob."}, "children": {"_": queue()}}),
        "a known customer hears their name",
    );
    assert_tree(
        &call(&server, "crm_lookup", &caller("+14155550999")).await,
        &queue(),
        "unknown: 404",
    );
    assert_tree(
        &call(&server, "crm_lookup", "Call-ID=x").await,
        &queue(),
        "no caller ID",
    );
    assert_tree(
        &call(&server, "crm_lookup", &caller("+14155550666")).await,
        &crm_fallback(),
        "the CRM answers 500",
    );

    let seen = mock.requests();
    let lookups: Vec<&str> = seen.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        lookups,
        [
            "/contacts?phone=%2B14155550100",
            "/contacts?phone=%2B14155550101",
            "/contacts?phone=%2B14155550999",
            "/contacts?phone=%2B14155550666"
        ]
    );
    assert!(
        seen.iter()
            .all(|r| r.header("authorization") == Some("Bearer replace-me")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn crm_lookup_falls_back_when_the_crm_is_down() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let dir = crm_flows(&url);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let client = common::client();
    let started = std::time::Instant::now();
    let reply = client
        .post(server.url("/pivot/crm_lookup"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(caller(ANN))
        .send()
        .await
        .expect("call");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.json::<Value>().await.expect("tree"), crm_fallback());
    assert!(
        started.elapsed() < Duration::from_millis(1600),
        "{:?}",
        started.elapsed()
    );
}

/// One call step of `crm_lookup` for `call_id` from `number`.
async fn ran_crm(server: &RunningServer, call_id: &str, number: &str) {
    let step = post_json(
        &server.url("/pivot/crm_lookup"),
        &json!({"Call-ID": call_id, "Caller-ID-Number": number}),
    )
    .await;
    assert_eq!(step.status, 200, "{}", step.text());
}

fn calls_posted(mock: &MockHttp) -> Vec<Value> {
    mock.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.target == "/calls")
        .map(|r| {
            assert_eq!(r.header("authorization"), Some("Bearer replace-me"));
            assert_eq!(r.header("content-type"), Some("application/json"));
            serde_json::from_str(&r.body).expect("a JSON call record")
        })
        .collect()
}

#[tokio::test]
async fn crm_post_call_records_the_call() {
    let mock = crm(Arc::new(AtomicUsize::new(0)));
    let dir = crm_flows(&mock.base());
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    // The webhook is taken for calls that ran the flow.
    for (call_id, number) in [("call-1", ANN), ("call-2", BOB)] {
        ran_crm(&server, call_id, number).await;
    }

    let reply = post_json(
        &server.url("/events/crm_lookup"),
        &json!({"Call-ID": "call-1", "Caller-ID-Number": ANN, "Duration-Seconds": "42"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert!(body["id"].is_u64(), "{body}");
    assert_eq!(body["flow"], "crm_lookup");

    let records = poll_until(
        Duration::from_secs(5),
        "the CRM gets POST /calls",
        || async {
            let posted = calls_posted(&mock);
            (!posted.is_empty()).then_some(posted)
        },
    )
    .await;
    assert_eq!(
        records,
        [json!({"call_id": "call-1", "from": ANN, "duration": 42})]
    );

    // The cdr_url style: a form body, with URL parameters as part of the event.
    let reply = post_form(
        &server.url("/events/crm_lookup?duration_seconds=7"),
        "call_id=call-2&caller_id_number=%2B14155550101",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let records = poll_until(Duration::from_secs(5), "the second record", || async {
        let posted = calls_posted(&mock);
        (posted.len() >= 2).then_some(posted)
    })
    .await;
    assert_eq!(
        records[1],
        json!({"call_id": "call-2", "from": BOB, "duration": 7})
    );
}

#[tokio::test]
async fn crm_post_call_is_retried_and_not_lost() {
    // The CRM refuses the first record; the retry (after about a second) goes through.
    let mock = crm(Arc::new(AtomicUsize::new(1)));
    let dir = crm_flows(&mock.base());
    let data = tempfile::tempdir().expect("data dir");
    // The retry comes due on the service's clock: one that runs, from the chosen instant.
    let clock = Arc::new(RunningClock::new(at("2026-11-17T15:00:00Z")));
    let server = serve_in_with_clock(config(dir.path()), data.path(), clock);
    ran_crm(&server, "call-9", BOB).await;
    let reply = post_json(
        &server.url("/events/crm_lookup"),
        &json!({"Call-ID": "call-9", "Caller-ID-Number": BOB, "Duration-Seconds": "3"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let records = poll_until(Duration::from_secs(6), "the retried record", || async {
        let posted = calls_posted(&mock);
        (posted.len() >= 2).then_some(posted)
    })
    .await;
    let record = json!({"call_id": "call-9", "from": BOB, "duration": 3});
    assert_eq!(records, [record.clone(), record], "the same record, twice");

    // Once the server stopped: nothing pending, nothing dead.
    drop(server);
    let store = common::open_store(data.path());
    assert_eq!(store.events_pending().expect("pending"), 0);
    assert!(store.events_dead(10).expect("dead").is_empty());
}
