//! `fetch` from scripts against a local HTTP server the test starts: status, headers, `text()`,
//! `json()`, a POST body; a host outside `allow_hosts` is refused with an error naming
//! allow_hosts; a server slower than the deadline gives the fallback within the limit; redirects
//! are not followed.

use crate::common;

use std::time::{Duration, Instant};

use common::{
    assert_tree, at, client, flows_dir, get_with, post_json, serve, MockHttp, MockRequest,
    MockResponse, TestServer,
};
use serde_json::{json, Value};

const SCRIPT: &str = r#"
const base = process.env.BASE;
module.exports = {
  async json() {
    const r = await fetch(`${base}/json?q=1`);
    return { status: r.status, ok: r.ok, statusText: r.statusText, custom: r.headers.get('X-Custom'),
             type: r.headers['content-type'], absent: r.headers.get('x-absent'), body: await r.json() };
  },
  async text() {
    const r = await fetch(`${base}/text`);
    return { status: r.status, text: await r.text() };
  },
  async post() {
    const r = await fetch(`${base}/echo`, {
      method: 'post',
      headers: { 'content-type': 'application/json', 'x-token': 't1' },
      body: { call: 'abc', n: 2 },
    });
    return { status: r.status, echoed: await r.json() };
  },
  async postText() {
    const r = await fetch(`${base}/echo`, { method: 'PUT', body: 'raw text' });
    return (await r.json()).body;
  },
  async missing() {
    const r = await fetch(`${base}/missing`);
    return { status: r.status, ok: r.ok, text: await r.text() };
  },
  async redirect() {
    const r = await fetch(`${base}/redirect`);
    return { status: r.status, location: r.headers.get('location') };
  },
  async elsewhere() {
    await fetch('http://example.com/steal');
    return 'fetched';
  },
  async byName() {
    await fetch(base.replace('127.0.0.1', 'localhost') + '/json');
    return 'fetched';
  },
  async caught() {
    try { await fetch('http://example.com/'); return 'fetched'; } catch (e) { return `${e.name}: ${e.message}`; }
  },
  async badJson() {
    const r = await fetch(`${base}/text`);
    try { await r.json(); return 'parsed'; } catch (e) { return e.name; }
  },
  async main() {
    const r = await fetch(`${base}/slow`);
    return { module: 'tts', data: { text: await r.text() } };
  },
};
"#;

fn mock() -> MockHttp {
    MockHttp::start(|req: &MockRequest| {
        let path = req.target.split('?').next().unwrap_or("");
        match (req.method.as_str(), path) {
            ("GET", "/json") => {
                let mut r = MockResponse::json(200, &json!({"hello": "world", "list": [1, 2]}));
                r.headers.push(("x-custom".into(), "abc".into()));
                r
            }
            ("GET", "/text") => MockResponse::text(200, "plain body"),
            (_, "/echo") => MockResponse::json(
                201,
                &json!({
                    "method": req.method,
                    "type": req.header("content-type"),
                    "token": req.header("x-token"),
                    "body": req.body,
                }),
            ),
            ("GET", "/slow") => {
                let mut r = MockResponse::text(200, "too late");
                r.delay = Duration::from_secs(2);
                r
            }
            ("GET", "/redirect") => {
                let mut r = MockResponse::text(302, "");
                r.headers
                    .push(("location".into(), "/json?followed=1".into()));
                r
            }
            _ => MockResponse::text(404, "no such thing"),
        }
    })
}

fn server_for(mock: &MockHttp) -> (tempfile::TempDir, TestServer) {
    let settings = format!(
        "timeout_ms = 500\nallow_hosts = [\"127.0.0.1:*\"]\n\n[env]\nBASE = \"{}\"\n\n[fallback]\nmodule = \"tts\"\ndata = {{ text = \"fallback\" }}\n",
        mock.base()
    );
    let dir = flows_dir(&[("f.js", SCRIPT), ("f.settings.toml", &settings)]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    (dir, server)
}

async fn run(server: &TestServer, function: &str) -> Value {
    let reply = post_json(&server.url(&format!("/run/f/{function}")), &json!({})).await;
    assert_eq!(reply.status, 200, "{function}: {}", reply.text());
    reply.json()["result"].clone()
}

#[tokio::test]
async fn status_headers_and_json() {
    let mock = mock();
    let (_dir, server) = server_for(&mock);
    assert_eq!(
        run(&server, "json").await,
        json!({
            "status": 200, "ok": true, "statusText": "OK", "custom": "abc",
            "type": "application/json", "absent": null,
            "body": {"hello": "world", "list": [1, 2]},
        })
    );
    let seen = mock.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("GET", "/json?q=1")
    );
    assert!(
        seen[0]
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("pivotforge/")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn text_and_a_non_2xx_status() {
    let mock = mock();
    let (_dir, server) = server_for(&mock);
    assert_eq!(
        run(&server, "text").await,
        json!({"status": 200, "text": "plain body"})
    );
    assert_eq!(
        run(&server, "missing").await,
        json!({"status": 404, "ok": false, "text": "no such thing"}),
        "a 404 resolves; it is not an exception"
    );
    assert_eq!(run(&server, "badJson").await, json!("SyntaxError"));
}

#[tokio::test]
async fn post_sends_method_headers_and_body() {
    let mock = mock();
    let (_dir, server) = server_for(&mock);
    assert_eq!(
        run(&server, "post").await,
        json!({
            "status": 201,
            "echoed": {"method": "POST", "type": "application/json", "token": "t1", "body": r#"{"call":"abc","n":2}"#},
        })
    );
    assert_eq!(run(&server, "postText").await, json!("raw text"));
    let methods: Vec<String> = mock.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["POST", "PUT"]);
}

#[tokio::test]
async fn hosts_outside_allow_hosts_are_refused() {
    let mock = mock();
    let (_dir, server) = server_for(&mock);
    for function in ["elsewhere", "byName"] {
        let reply = post_json(&server.url(&format!("/run/f/{function}")), &json!({})).await;
        assert_eq!(reply.status, 500, "{function}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["error"], "exception", "{body}");
        let detail = body["detail"].as_str().unwrap_or("");
        assert!(detail.contains("allow_hosts"), "{function}: {detail}");
        assert!(detail.contains("is not allowed"), "{function}: {detail}");
    }
    let caught = run(&server, "caught").await;
    assert!(
        caught
            .as_str()
            .is_some_and(|m| m.starts_with("Error: ") && m.contains("allow_hosts")),
        "the script can catch it as an Error: {caught}"
    );
    assert!(
        mock.requests().is_empty(),
        "nothing reached the mock: {:?}",
        mock.requests()
    );
}

#[tokio::test]
async fn a_slow_server_gives_the_fallback_within_the_limit() {
    let mock = mock();
    let (_dir, server) = server_for(&mock);
    let client = client();
    for attempt in 0..2 {
        let started = Instant::now();
        let reply = get_with(&client, &server.url("/pivot/f")).await;
        let took = started.elapsed();
        assert_tree(
            &reply,
            &json!({"module": "tts", "data": {"text": "fallback"}}),
            "slow server",
        );
        assert!(
            took <= Duration::from_millis(600),
            "attempt {attempt}: {took:?}"
        );
        assert!(
            took >= Duration::from_millis(450),
            "attempt {attempt}: only {took:?}"
        );
        println!("slow fetch, attempt {attempt}: fallback after {took:?}");
    }
    // The flow's other functions still work at once.
    assert_eq!(run(&server, "text").await["text"], "plain body");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let mock = mock();
    let (_dir, server) = server_for(&mock);
    assert_eq!(
        run(&server, "redirect").await,
        json!({"status": 302, "location": "/json?followed=1"})
    );
    let targets: Vec<String> = mock.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets,
        ["/redirect"],
        "the redirect target was never fetched"
    );
}
