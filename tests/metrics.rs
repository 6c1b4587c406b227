//! `/metrics` and `/readyz` over real HTTP: request counters by flow and outcome for a rule flow,
//! a script flow and fallbacks, histograms with their buckets, the JS pool's gauges and limit
//! counters, recording uploads, unknown flow names collapsed into one label, and readiness
//! turning 503 when the flows folder goes away.

use crate::common;

use std::time::Duration;

use common::{at, config, flows_dir, get, request, serve_with, Reply, TestServer};

const RULE: &str = r#"
[default]
module = "tts"
data = { text = "rule" }
"#;

const SCRIPT: &str = "function main() { return { module: 'tts', data: { text: 'script' } }; }";

/// A tree the schemas refuse (`tts` needs `text`): the flow's fallback goes out instead.
const INVALID: &str = "function main() { return { module: 'tts', data: {} }; }";

const SLOW: &str = "function main() { while (true) {} }";

const HUNGRY: &str =
    "function main() { const kept = []; for (;;) kept.push('x'.repeat(4 * 1024 * 1024)); }";

const FALLBACK: &str = r#"
[fallback]
module = "tts"
data = { text = "fallback" }
"#;

/// Limits roomy enough for a debug build, where a fresh sandbox takes tens of milliseconds.
const SLOW_LIMITS: &str = "timeout_ms = 300\n";
const HUNGRY_LIMITS: &str = "timeout_ms = 3000\nmemory_mb = 32\n";

/// Every upper bound of the latency histograms, as the text format writes them.
const BUCKETS: [&str; 16] = [
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "2.5", "5", "+Inf",
];

fn server(files: &[(&str, &str)]) -> (tempfile::TempDir, TestServer) {
    let dir = flows_dir(files);
    let mut config = config(dir.path());
    config.js_threads = 1;
    let server = serve_with(config, at("2026-11-17T15:00:00Z"));
    (dir, server)
}

async fn scrape(server: &TestServer) -> String {
    let reply = get(&server.url("/metrics")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    reply.text()
}

/// The value of one series (`name{labels}` exactly as written), or `None` when absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.parse().expect("a sample value is a number"))
    })
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no `{series}` in\n{text}"))
}

fn requests(flow: &str, outcome: &str) -> String {
    format!("pivotforge_pivot_requests_total{{flow=\"{flow}\",outcome=\"{outcome}\"}}")
}

async fn pivot(server: &TestServer, flow: &str) -> Reply {
    get(&server.url(&format!("/pivot/{flow}?Call-ID=m1"))).await
}

#[tokio::test]
async fn request_counters_histograms_and_pool_metrics() {
    let (_dir, server) = server(&[
        ("rule.toml", RULE),
        ("script.js", SCRIPT),
        ("invalid.js", INVALID),
        ("invalid.settings.toml", FALLBACK),
        ("slow.js", SLOW),
        ("slow.settings.toml", &format!("{SLOW_LIMITS}{FALLBACK}")),
        ("hungry.js", HUNGRY),
        (
            "hungry.settings.toml",
            &format!("{HUNGRY_LIMITS}{FALLBACK}"),
        ),
    ]);
    let before = scrape(&server).await;
    assert_eq!(sample(&before, &requests("rule", "tree")), None);
    assert_eq!(value(&before, "pivotforge_flows_loaded"), 5.0);
    assert_eq!(value(&before, "pivotforge_flow_load_errors"), 0.0);
    assert_eq!(value(&before, "pivotforge_js_pool_threads"), 1.0);
    for name in [
        "pivotforge_js_pool_queue_depth",
        "pivotforge_js_pool_busy_threads",
        "pivotforge_script_timeouts_total",
        "pivotforge_script_memory_limits_total",
        "pivotforge_js_pool_rejected_total",
    ] {
        assert_eq!(value(&before, name), 0.0, "{name}");
    }

    for _ in 0..3 {
        assert_eq!(pivot(&server, "rule").await.status, 200);
    }
    assert_eq!(
        pivot(&server, "script").await.json()["data"]["text"],
        "script"
    );
    for flow in ["invalid", "slow", "hungry"] {
        let reply = pivot(&server, flow).await;
        assert_eq!(reply.json()["data"]["text"], "fallback", "{flow}");
    }
    // A refused request of a loaded flow counts under its name.
    assert_eq!(get(&server.url("/pivot/rule?x=%zz")).await.status, 400);

    // A JS thread counts a limit as it hands the reply back: wait for both counts.
    let after = common::poll_until(Duration::from_secs(10), "the limit counters", || async {
        let text = scrape(&server).await;
        let hit = |name| sample(&text, name) == Some(1.0);
        (hit("pivotforge_script_timeouts_total") && hit("pivotforge_script_memory_limits_total"))
            .then_some(text)
    })
    .await;
    for (flow, outcome, n) in [
        ("rule", "tree", 3.0),
        ("rule", "refused", 1.0),
        ("rule", "fallback", 0.0),
        ("script", "tree", 1.0),
        ("invalid", "fallback", 1.0),
        ("slow", "fallback", 1.0),
        ("hungry", "fallback", 1.0),
    ] {
        assert_eq!(
            value(&after, &requests(flow, outcome)),
            n,
            "{flow} {outcome}"
        );
    }
    let duration = "pivotforge_pivot_request_duration_seconds";
    assert_eq!(
        value(&after, &format!("{duration}_count{{flow=\"rule\"}}")),
        4.0
    );
    for le in BUCKETS {
        let bucket = format!("{duration}_bucket{{flow=\"rule\",le=\"{le}\"}}");
        assert!(value(&after, &bucket) <= 4.0, "{bucket}");
    }
    assert_eq!(
        value(
            &after,
            &format!("{duration}_bucket{{flow=\"rule\",le=\"+Inf\"}}")
        ),
        4.0
    );
    // Script run time: for script flows only, one observation per run.
    let script = "pivotforge_script_run_duration_seconds";
    assert_eq!(
        value(&after, &format!("{script}_count{{flow=\"script\"}}")),
        1.0
    );
    assert_eq!(
        value(&after, &format!("{script}_count{{flow=\"slow\"}}")),
        1.0
    );
    let slow_sum = value(&after, &format!("{script}_sum{{flow=\"slow\"}}"));
    assert!(
        slow_sum >= 0.29,
        "the slow script ran to its 300 ms limit: {slow_sum}"
    );
    for le in BUCKETS {
        assert!(
            sample(
                &after,
                &format!("{script}_bucket{{flow=\"script\",le=\"{le}\"}}")
            )
            .is_some(),
            "bucket {le}"
        );
    }
    assert_eq!(
        sample(&after, &format!("{script}_count{{flow=\"rule\"}}")),
        None
    );
    assert!(after.contains("# TYPE pivotforge_pivot_request_duration_seconds histogram"));
    assert!(after.contains("# TYPE pivotforge_script_timeouts_total counter"));
    assert!(after.contains("# TYPE pivotforge_js_pool_busy_threads gauge"));
}

#[tokio::test]
async fn unknown_flow_names_share_one_label() {
    let (_dir, server) = server(&[("rule.toml", RULE)]);
    for path in [
        "/pivot/wp-login",
        "/pivot/nope/deeper",
        "/pivot/..%2Fetc",
        "/pivot/a.b",
        "/pivot/",
    ] {
        let reply = get(&server.url(path)).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text());
    }
    assert_eq!(get(&server.url("/pivot/ghost?x=%zz")).await.status, 400);
    let text = scrape(&server).await;
    assert_eq!(value(&text, &requests("(unknown)", "refused")), 6.0);
    for name in ["wp-login", "nope", "..", "a.b", "ghost", ""] {
        let label = format!("flow=\"{name}");
        assert!(
            !text.contains(&format!("{label}\"")) && (name.is_empty() || !text.contains(&label)),
            "`{name}` became a label:\n{text}"
        );
    }
}

#[tokio::test]
async fn recording_uploads_are_counted() {
    let (_dir, server) = server(&[]);
    let mut body = vec![0xFF, 0xFB, 0x90, 0x64];
    body.extend(std::iter::repeat_n(7u8, 996));
    for (path, body, status) in [
        ("/recordings/call_recording_r1.mp3", body.clone(), 201),
        ("/recordings/call_recording_r1.mp3", body, 200),
        ("/recordings/call_recording_r2.mp3", Vec::new(), 400),
    ] {
        let url = server.url(path);
        let reply = request(reqwest::Method::PUT, &url, Some("audio/mpeg"), body).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text());
    }
    let text = scrape(&server).await;
    let received = |result: &str| {
        value(
            &text,
            &format!("pivotforge_recordings_received_total{{result=\"{result}\"}}"),
        )
    };
    assert_eq!(received("created"), 1.0);
    assert_eq!(received("replaced"), 1.0);
    assert_eq!(received("bad_request"), 1.0);
    assert_eq!(
        value(&text, "pivotforge_recordings_bytes_stored_total"),
        2000.0
    );
}

#[tokio::test]
async fn readiness_follows_the_flows_folder() {
    let dir = flows_dir(&[
        ("rule.toml", RULE),
        ("broken.toml", "[default]\nmodule = 5\n"),
    ]);
    let server = serve_with(config(dir.path()), at("2026-11-17T15:00:00Z"));
    let ready = get(&server.url("/readyz")).await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    // A broken flow does not make the node unready: the others serve.
    assert_eq!(
        ready.json(),
        serde_json::json!({"ready": true, "flows": 1, "store": "ok"})
    );
    assert_eq!(get(&server.url("/healthz")).await.status, 200);

    let path = dir.path().to_path_buf();
    dir.close().expect("remove the flows folder");
    let gone = get(&server.url("/readyz")).await;
    let body = common::assert_error(&gone, 503, "readyz without a flows folder");
    assert_eq!(body["ready"], false);
    assert_eq!(body["store"], "ok");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("flows folder") && detail.contains(&path.display().to_string()),
        "{detail}"
    );
    // Alive all the same.
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
}
