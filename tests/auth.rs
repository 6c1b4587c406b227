//! Authentication over real HTTP: `/pivot` and `/events` with HTTP basic, a bearer token or the
//! `auth_token` query parameter (which never reaches the flow); the admin endpoints with their
//! own credentials; open operational endpoints; pivot nodes whose `voice_url` carries the
//! credentials and works when followed; and refusing to start open on a network address.

use crate::common;

use std::sync::Arc;

use common::{at, config, flows_dir, serve_with, Reply, TestServer, PUBLIC_URL};
use pivotforge::auth::AuthConfig;
use pivotforge::clock::FixedClock;
use pivotforge::config::{Config, Overrides, Secret};
use reqwest::Method;
use serde_json::{json, Value};

const PIVOT_USER: &str = "kazoo";
const PIVOT_PASSWORD: &str = "pivot-pw-1";
const PIVOT_TOKEN: &str = "pivot-tok-1";
const ADMIN_USER: &str = "ops";
const ADMIN_PASSWORD: &str = "admin-pw-1";
const ADMIN_TOKEN: &str = "admin-tok-1";
/// `kazoo:pivot-pw-1`, `ops:admin-pw-1` and a wrong pair, in base64.
const PIVOT_BASIC: &str = "Basic a2F6b286cGl2b3QtcHctMQ==";
const ADMIN_BASIC: &str = "Basic b3BzOmFkbWluLXB3LTE=";
const WRONG_BASIC: &str = "Basic a2F6b286cGl2b3QtcHctMg==";

const MENU: &str = r#"
[default]
module = "pivot"
data = { flow = "next" }
"#;

const NEXT: &str = r#"
[default]
module = "tts"
data = { text = "next step" }
"#;

/// Answers with the names of the parameters the flow received.
const ECHO: &str = "function main(data) { return { module: 'tts', data: { text: Object.keys(data).sort().join(',') } }; }";

const SCRIPT_PIVOT: &str =
    "const pf = require('pivotforge'); function main() { return pf.pivot('next'); }";

fn full_auth() -> AuthConfig {
    AuthConfig {
        pivot_basic: Some((PIVOT_USER.into(), Secret::new(PIVOT_PASSWORD))),
        pivot_token: Some(Secret::new(PIVOT_TOKEN)),
        pivot_url_token: None,
        admin_basic: Some((ADMIN_USER.into(), Secret::new(ADMIN_PASSWORD))),
        admin_token: Some(Secret::new(ADMIN_TOKEN)),
        allow_open: false,
    }
}

fn server(auth: AuthConfig) -> (tempfile::TempDir, TestServer) {
    let dir = flows_dir(&[
        ("menu.toml", MENU),
        ("next.toml", NEXT),
        ("echo.js", ECHO),
        ("script_pivot.js", SCRIPT_PIVOT),
    ]);
    let mut config = config(dir.path());
    config.js_threads = 1;
    config.auth = auth;
    let server = serve_with(config, at("2026-11-17T15:00:00Z"));
    (dir, server)
}

/// `method url` with an optional `Authorization` header; the challenge, if any, is returned too.
async fn send(method: Method, url: &str, auth: Option<&str>) -> (Reply, Option<String>) {
    let mut builder = common::client().request(method, url);
    if let Some(auth) = auth {
        builder = builder.header(reqwest::header::AUTHORIZATION, auth);
    }
    let response = builder
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.bytes().await.unwrap().to_vec();
    let reply = Reply {
        status,
        content_type,
        body,
    };
    (reply, challenge)
}

async fn get(url: &str, auth: Option<&str>) -> Reply {
    send(Method::GET, url, auth).await.0
}

/// Asserts a 401 with a JSON error and a challenge, and that no secret is echoed.
fn assert_refused(reply: &Reply, challenge: Option<String>, what: &str) -> Value {
    let body = common::assert_error(reply, 401, what);
    let challenge = challenge.unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
    assert!(
        challenge.starts_with("Basic realm=\"pivotforge\"")
            || challenge.starts_with("Bearer realm=\"pivotforge\""),
        "{what}: {challenge}"
    );
    let text = reply.text();
    for secret in [PIVOT_PASSWORD, PIVOT_TOKEN, ADMIN_PASSWORD, ADMIN_TOKEN] {
        assert!(!text.contains(secret), "{what}: {text}");
    }
    body
}

fn with_userinfo(url: &str, user: &str, password: &str) -> String {
    url.replacen("http://", &format!("http://{user}:{password}@"), 1)
}

#[tokio::test]
async fn pivot_takes_basic_bearer_or_the_query_token() {
    let (_dir, server) = server(full_auth());
    let url = server.url("/pivot/next?Call-ID=a1");
    let (reply, challenge) = send(Method::GET, &url, None).await;
    let body = assert_refused(&reply, challenge.clone(), "no credentials");
    assert!(
        challenge.unwrap().starts_with("Basic "),
        "Kazoo sends basic when asked"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("voice_url"),
        "{body}"
    );
    for wrong in [
        WRONG_BASIC,
        "Bearer pivot-tok-2",
        "Digest x",
        "Basic !!!",
        ADMIN_BASIC.trim_end_matches('='),
    ] {
        let (reply, challenge) = send(Method::GET, &url, Some(wrong)).await;
        assert_refused(&reply, challenge, wrong);
    }
    let wrong_token = server.url("/pivot/next?auth_token=pivot-tok-2&Call-ID=a1");
    let (reply, challenge) = send(Method::GET, &wrong_token, None).await;
    let body = assert_refused(&reply, challenge, "wrong query token");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("not the ones configured"),
        "{body}"
    );

    let next = json!({"module": "tts", "data": {"text": "next step"}});
    for (how, url, auth) in [
        ("basic header", url.clone(), Some(PIVOT_BASIC)),
        (
            "basic in the URL",
            with_userinfo(&url, PIVOT_USER, PIVOT_PASSWORD),
            None,
        ),
        ("bearer", url.clone(), Some("Bearer pivot-tok-1")),
        (
            "query token",
            server.url("/pivot/next?Call-ID=a1&auth_token=pivot-tok-1"),
            None,
        ),
        (
            "query token first",
            server.url("/pivot/next?auth_token=pivot-tok-1&Call-ID=a1"),
            None,
        ),
        ("admin bearer", url.clone(), Some("Bearer admin-tok-1")),
        ("admin basic", url.clone(), Some(ADMIN_BASIC)),
    ] {
        common::assert_tree(&get(&url, auth).await, &next, how);
    }
    // A POST with a body, refused: the answer still arrives whole.
    let (reply, challenge) = send(Method::POST, &server.url("/pivot/next"), None).await;
    assert_refused(&reply, challenge, "POST without credentials");

    // /events is the PBX's too.
    let events = server.url("/events/echo");
    let (reply, challenge) = send(Method::POST, &events, None).await;
    assert_refused(&reply, challenge, "/events without credentials");
    let stored = common::post_json(
        &format!("{events}?auth_token={PIVOT_TOKEN}"),
        &json!({"Call-ID": "a1"}),
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.text());
}

#[tokio::test]
async fn the_query_token_never_reaches_the_flow() {
    let (_dir, server) = server(full_auth());
    let reply = get(
        &server.url("/pivot/echo?Call-ID=a1&auth_token=pivot-tok-1&Caller-ID-Number=100"),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.json()["data"]["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("Call-ID") && text.contains("Caller-ID-Number"),
        "{text}"
    );
    assert!(
        !text.contains("auth_token") && !text.contains(PIVOT_TOKEN),
        "{text}"
    );
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_credentials() {
    let (_dir, server) = server(full_auth());
    let paths = [
        "/metrics",
        "/userspace/dnc",
        "/userspace/dnc/14155550100",
        "/run/echo",
        "/calls",
        "/calls/abc",
        "/ui",
        "/ui/app.js",
        "/flows",
        "/recordings",
        "/recordings/abc/audio",
        "/anything-else",
    ];
    for path in paths {
        let url = server.url(path);
        for auth in [
            None,
            Some(PIVOT_BASIC),
            Some("Bearer pivot-tok-1"),
            Some("Bearer admin-tok-2"),
        ] {
            let (reply, challenge) = send(Method::GET, &url, auth).await;
            assert_refused(&reply, challenge, &format!("{path} with {auth:?}"));
        }
        let query = format!("{url}?auth_token={ADMIN_TOKEN}");
        let (reply, challenge) = send(Method::GET, &query, None).await;
        assert_refused(&reply, challenge, &format!("{path} with a query token"));
        for auth in [ADMIN_BASIC, "Bearer admin-tok-1"] {
            let reply = get(&url, Some(auth)).await;
            assert_ne!(reply.status, 401, "{path} with {auth}: {}", reply.text());
        }
    }
    for path in ["/metrics", "/userspace/dnc", "/recordings"] {
        let reply = get(&server.url(path), Some("Bearer admin-tok-1")).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    }
    let (reply, _) = send(Method::DELETE, &server.url("/recordings/abc"), None).await;
    assert_eq!(reply.status, 401);
    // Operations and schemas stay open.
    for path in ["/healthz", "/readyz", "/schemas", "/schemas/tts.json"] {
        let reply = get(&server.url(path), None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    }
    // Uploads keep their own credentials (none here).
    let upload = common::request(
        Method::PUT,
        &server.url("/recordings/call_recording_a1.mp3"),
        Some("audio/mpeg"),
        vec![0xFF, 0xFB, 0x90, 0x64, 1, 2, 3, 4],
    )
    .await;
    assert_eq!(upload.status, 201, "{}", upload.text());
    // Refusals are counted.
    let metrics = get(&server.url("/metrics"), Some(ADMIN_BASIC)).await.text();
    assert!(
        metrics.contains("pivotforge_auth_denied_total{area=\"admin\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_recordings_admin_token_still_manages_recordings() {
    let mut auth = full_auth();
    auth.admin_basic = None;
    let dir = flows_dir(&[]);
    let mut config = config(dir.path());
    config.auth = auth;
    config.recordings.admin_token = Some(Secret::new("rec-admin-1"));
    let server = serve_with(config, at("2026-11-17T15:00:00Z"));
    for auth in ["Bearer rec-admin-1", "Bearer admin-tok-1"] {
        let reply = get(&server.url("/recordings"), Some(auth)).await;
        assert_eq!(reply.status, 200, "{auth}: {}", reply.text());
    }
    let (reply, challenge) = send(Method::GET, &server.url("/recordings"), None).await;
    assert_refused(&reply, challenge, "listing without credentials");
    // It opens recordings only.
    let (reply, challenge) = send(
        Method::GET,
        &server.url("/metrics"),
        Some("Bearer rec-admin-1"),
    )
    .await;
    assert_refused(&reply, challenge, "/metrics with the recordings token");
}

#[tokio::test]
async fn without_auth_everything_is_open() {
    let (_dir, server) = server(AuthConfig::default());
    for path in ["/pivot/next", "/metrics", "/userspace/dnc", "/recordings"] {
        let reply = get(&server.url(path), None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    }
    // A stray auth_token is still taken out before the flow runs.
    let reply = get(&server.url("/pivot/echo?auth_token=x&Call-ID=a"), None).await;
    // (`Digits` is always there for a script, empty when none were sent.)
    assert_eq!(reply.json()["data"]["text"], "Call-ID,Digits");
}

/// Swaps the test public URL's host for the server's address, keeping everything else.
fn follow(server: &TestServer, voice_url: &str) -> String {
    voice_url.replacen("pivot.test", &server.addr.to_string(), 1)
}

#[tokio::test]
async fn pivot_nodes_carry_the_token_in_their_path() {
    // Basic and a token configured: the path carries the token, never `user:password@`, which
    // Kazoo's GET would mangle.
    let (_dir, server) = server(full_auth());
    for flow in ["menu", "script_pivot"] {
        let reply = get(
            &server.url(&format!("/pivot/{flow}?Call-ID=a1")),
            Some(PIVOT_BASIC),
        )
        .await;
        assert_eq!(reply.status, 200, "{flow}: {}", reply.text());
        let tree = reply.json();
        let voice_url = tree["data"]["voice_url"].as_str().unwrap().to_owned();
        assert_eq!(
            voice_url,
            format!("{PUBLIC_URL}/t/{PIVOT_TOKEN}/pivot/next"),
            "{flow}"
        );
        assert!(!voice_url.contains('@'), "{voice_url}");
        assert_eq!(tree["data"]["req_format"], "kazoo");
        assert_eq!(tree["data"]["method"], "post", "{flow}");
        assert_eq!(tree["data"]["req_body_format"], "form", "{flow}");
        // Kazoo posts the call's parameters as a form to the URL as written.
        let followed =
            common::post_form(&follow(&server, &voice_url), "Call-ID=a1&Digits[x]=1").await;
        common::assert_tree(
            &followed,
            &json!({"module": "tts", "data": {"text": "next step"}}),
            flow,
        );
    }
}

#[tokio::test]
async fn pivot_nodes_carry_the_token_when_there_is_no_basic() {
    let auth = AuthConfig {
        pivot_basic: None,
        ..full_auth()
    };
    let (_dir, server) = server(auth);
    for flow in ["menu", "script_pivot"] {
        let reply = get(
            &server.url(&format!("/pivot/{flow}")),
            Some("Bearer pivot-tok-1"),
        )
        .await;
        let voice_url = reply.json()["data"]["voice_url"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            voice_url,
            format!("{PUBLIC_URL}/t/pivot-tok-1/pivot/next"),
            "{flow}"
        );
        // A GET (`[pivot] method = "get"`, or an operator's own node) appends a query.
        let followed = get(&format!("{}?Call-ID=a1", follow(&server, &voice_url)), None).await;
        assert_eq!(followed.status, 200, "{flow}: {}", followed.text());
    }
}

fn open_config(flows: &std::path::Path, over: Overrides) -> Config {
    let mut config = Config::resolve(
        None,
        Overrides {
            listen: Some("0.0.0.0:0".into()),
            flows: Some(flows.to_path_buf()),
            public_url: Some(PUBLIC_URL.into()),
            ..over
        },
    )
    .expect("config resolves");
    config.workers = Some(1);
    config.js_threads = 1;
    config
}

#[tokio::test]
async fn refuses_to_start_open_on_a_network_address() {
    let flows = flows_dir(&[("next.toml", NEXT)]);
    let data = tempfile::tempdir().unwrap();
    let start = |mut config: Config| {
        config.data_dir = data.path().to_path_buf();
        pivotforge::server::spawn(config, Arc::new(FixedClock(at("2026-11-17T15:00:00Z"))))
    };
    let refused = start(open_config(flows.path(), Overrides::default()))
        .err()
        .expect("an open service on 0.0.0.0 does not start");
    let message = refused.to_string();
    for says in [
        "0.0.0.0",
        "admin_token",
        "allow_open = true",
        "--allow-open",
        "PIVOTFORGE_ALLOW_OPEN=1",
    ] {
        assert!(message.contains(says), "{says} not in: {message}");
    }

    // Told so explicitly, it starts.
    let allowed = open_config(
        flows.path(),
        Overrides {
            allow_open: Some(true),
            ..Overrides::default()
        },
    );
    let server = start(allowed).expect("allow_open starts");
    let healthz = format!("http://127.0.0.1:{}/healthz", server.addr.port());
    assert_eq!(get(&healthz, None).await.status, 200);
    drop(server);

    // With admin credentials, it starts too, and /metrics needs them.
    let mut protected = open_config(flows.path(), Overrides::default());
    protected.auth.admin_token = Some(Secret::new(ADMIN_TOKEN));
    let server = common::serve_in(protected, data.path(), at("2026-11-17T15:00:00Z"));
    let metrics = format!("http://127.0.0.1:{}/metrics", server.addr.port());
    assert_eq!(get(&metrics, None).await.status, 401);
    assert_eq!(get(&metrics, Some("Bearer admin-tok-1")).await.status, 200);
}

#[test]
fn the_command_line_refuses_too() {
    let flows = flows_dir(&[("next.toml", NEXT)]);
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pivotforge"))
        .args(["serve", "--listen", "0.0.0.0:0", "--flows"])
        .arg(flows.path())
        .env_remove("PIVOTFORGE_CONFIG")
        .env_remove("PIVOTFORGE_ALLOW_OPEN")
        .env_remove("PIVOTFORGE_LISTEN")
        .env("PIVOTFORGE_DATA_DIR", data.path())
        .output()
        .expect("run pivotforge");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0") && stderr.contains("--allow-open"),
        "{stderr}"
    );
}
