//! What the real Kazoo sends to the URLs this service builds (issue 10, §1 and §2), over real
//! HTTP: token URLs (`/t/TOKEN/pivot/NAME`, `/t/TOKEN/recordings…`) that survive a GET, built
//! pivot nodes that POST a form (OTP 25 refuses a GET query with raw `[`/`]`), a `record_caller`
//! upload to its token URL, the token masked in `/calls` and the log, and Kazoo's mangled basic
//! credentials (`kazoos3cret:`) refused with a log line that names the cause.

use crate::common;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    at, config, kazoo_form, kazoo_params, raw_http, serve_with, shipped_flows, with, TestServer,
    PUBLIC_URL,
};
use pivotforge::config::{PivotMethod, Secret};
use serde_json::{json, Value};

const PIVOT_TOKEN: &str = "pv-tok-1";
const UPLOAD_TOKEN: &str = "up-tok-1";

/// The shipped flows with `/pivot` and uploads protected by tokens.
fn protected(method: PivotMethod) -> TestServer {
    let mut config = config(&shipped_flows());
    config.js_threads = 1;
    config.auth.pivot_token = Some(Secret::new(PIVOT_TOKEN));
    config.recordings.upload_token = Some(Secret::new(UPLOAD_TOKEN));
    config.pivot.method = method;
    serve_with(config, at("2026-11-17T15:00:00Z"))
}

/// The request Kazoo sends for a GET: the target as written, `Host`, nothing of its own.
fn kazoo_get(server: &TestServer, target: &str) -> common::RawReply {
    raw_http(
        server.addr,
        format!("GET {target} HTTP/1.1\r\nHost: pivot.test\r\nConnection: close\r\n\r\n")
            .into_bytes(),
    )
}

/// A request with a body, as Kazoo's HTTP client sends a POST form or a recording PUT.
fn kazoo_send(
    server: &TestServer,
    method: &str,
    target: &str,
    content_type: &str,
    body: &[u8],
) -> common::RawReply {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: pivot.test\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    raw_http(server.addr, request)
}

/// The path and query of a URL this service built for the test public URL.
fn target_of(url: &str) -> &str {
    url.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"))
}

fn tree(reply: &common::RawReply, what: &str) -> Value {
    assert_eq!(
        reply.status,
        200,
        "{what}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

#[test]
fn a_get_then_the_built_pivot_posts_a_form_to_the_token_url() {
    let server = protected(PivotMethod::Post);
    let query = kazoo_form(&kazoo_params());
    // Without the token the route is closed: the token is what lets Kazoo in.
    kazoo_get(&server, &format!("/pivot/collect_dtmf?{query}")).assert_error(401, "no token");
    let first = tree(
        &kazoo_get(
            &server,
            &format!("/t/{PIVOT_TOKEN}/pivot/collect_dtmf?{query}"),
        ),
        "GET with the token",
    );
    let pivot = &first["children"]["_"]["children"]["_"];
    assert_eq!(
        pivot["data"],
        json!({
            "voice_url": format!("{PUBLIC_URL}/t/{PIVOT_TOKEN}/pivot/collected"),
            "req_format": "kazoo",
            "method": "post",
            "req_body_format": "form"
        }),
        "{first}"
    );
    // Kazoo follows the node: a POST form body with the digits' raw brackets.
    let params = with(&kazoo_params(), &json!({"Digits": {"custom_name": "1234"}}));
    let body = kazoo_form(&params);
    assert!(body.contains("Digits[custom_name]=1234"), "{body}");
    let url = pivot["data"]["voice_url"].as_str().unwrap();
    let next = tree(
        &kazoo_send(
            &server,
            "POST",
            target_of(url),
            "application/x-www-form-urlencoded",
            body.as_bytes(),
        ),
        "POST form to the built URL",
    );
    assert_eq!(
        next,
        json!({"module": "tts", "data": {"text": "You entered 1 2 3 4."}})
    );
    // GET stays fully supported on the receiving side, brackets and all.
    let by_get = tree(
        &kazoo_get(&server, &format!("{}?{body}", target_of(url))),
        "GET with Digits[custom_name]",
    );
    assert_eq!(by_get, next);
}

#[test]
fn scripts_build_the_same_pivot_nodes() {
    let server = protected(PivotMethod::Post);
    let query = kazoo_form(&kazoo_params());
    let reply = tree(
        &kazoo_get(
            &server,
            &format!("/t/{PIVOT_TOKEN}/pivot/digits_menu?{query}"),
        ),
        "script flow",
    );
    let pivot = &reply["children"]["_"]["children"]["_"];
    assert_eq!(
        pivot["data"],
        json!({
            "voice_url": format!("{PUBLIC_URL}/t/{PIVOT_TOKEN}/pivot/digits_menu"),
            "req_format": "kazoo",
            "method": "post",
            "req_body_format": "form"
        }),
        "{reply}"
    );
}

#[test]
fn script_urls_come_from_the_host() {
    let dir = common::flows_dir(&[
        ("next.toml", "[default]\nmodule = \"tts\"\ndata = { text = \"next\" }\n"),
        (
            "links.js",
            "const pf = require('pivotforge');\n\
             function main() {\n\
               return pf.recordCall('start', { url: pf.recordingsUrl },\n\
                 pf.pivot('next?step=2', { method: 'get' }, pf.pivot('https://other.example/x')));\n\
             }\n",
        ),
    ]);
    let mut config = config(dir.path());
    config.js_threads = 1;
    config.auth.pivot_token = Some(Secret::new(PIVOT_TOKEN));
    config.recordings.upload_token = Some(Secret::new(UPLOAD_TOKEN));
    let server = serve_with(config, at("2026-11-17T15:00:00Z"));
    let reply = tree(
        &kazoo_get(&server, &format!("/t/{PIVOT_TOKEN}/pivot/links?Call-ID=a1")),
        "script",
    );
    assert_eq!(
        reply["data"]["url"],
        format!("{PUBLIC_URL}/t/{UPLOAD_TOKEN}/recordings")
    );
    let own = &reply["children"]["_"]["data"];
    // The token is in the path, so a query after the flow name stays as written.
    assert_eq!(
        own["voice_url"],
        format!("{PUBLIC_URL}/t/{PIVOT_TOKEN}/pivot/next?step=2")
    );
    assert_eq!(own["method"], "get", "opts win: {reply}");
    assert_eq!(own.get("req_body_format"), None, "{reply}");
    let next = tree(
        &kazoo_get(
            &server,
            &format!(
                "{}&Call-ID=a1",
                target_of(own["voice_url"].as_str().unwrap())
            ),
        ),
        "follow the GET pivot",
    );
    assert_eq!(next["data"]["text"], "next");
    let other = &reply["children"]["_"]["children"]["_"]["data"];
    assert_eq!(other["voice_url"], "https://other.example/x");
    assert_eq!(other["req_format"], "kazoo");
    assert_eq!(other["method"], "post");
}

#[test]
fn method_get_builds_the_old_nodes() {
    let server = protected(PivotMethod::Get);
    let query = kazoo_form(&kazoo_params());
    let first = tree(
        &kazoo_get(
            &server,
            &format!("/t/{PIVOT_TOKEN}/pivot/collect_dtmf?{query}"),
        ),
        "GET",
    );
    let data = &first["children"]["_"]["children"]["_"]["data"];
    assert_eq!(data["method"], "get", "{first}");
    assert_eq!(data.get("req_body_format"), None, "{first}");
    assert_eq!(data["req_format"], "kazoo", "{first}");
}

#[test]
fn record_caller_uploads_to_its_token_url() {
    let server = protected(PivotMethod::Post);
    let query = kazoo_form(&kazoo_params());
    let reply = tree(
        &kazoo_get(
            &server,
            &format!("/t/{PIVOT_TOKEN}/pivot/record_caller?{query}"),
        ),
        "record_caller flow",
    );
    let url = reply["children"]["_"]["data"]["url"].as_str().unwrap();
    assert_eq!(url, format!("{PUBLIC_URL}/t/{UPLOAD_TOKEN}/recordings"));
    // record_caller appends /<CALL_ID>.<ext>; the only header is the content type.
    let audio = b"ID3\x04\x00\x00\x00\x00\x00\x00fake mp3 frames";
    let upload = format!("{}/abc123%4010.0.0.1.mp3", target_of(url));
    let stored = kazoo_send(&server, "PUT", &upload, "audio/mpeg", audio);
    assert_eq!(
        stored.status,
        201,
        "{}",
        String::from_utf8_lossy(&stored.body)
    );
    // Without the token, or with another, uploads are refused.
    kazoo_send(&server, "PUT", "/recordings/abc.mp3", "audio/mpeg", audio)
        .assert_error(401, "no token");
    kazoo_send(
        &server,
        "PUT",
        "/t/nope/recordings/abc.mp3",
        "audio/mpeg",
        audio,
    )
    .assert_error(401, "wrong token");
    // The pivot token opens no upload.
    let pivot_token = format!("/t/{PIVOT_TOKEN}/recordings/abc.mp3");
    kazoo_send(&server, "PUT", &pivot_token, "audio/mpeg", audio).assert_error(401, "pivot token");
    let list = tree(&kazoo_get(&server, "/recordings"), "list");
    assert_eq!(list["recordings"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        list["recordings"][0]["call_id"], "abc123@10.0.0.1",
        "{list}"
    );
}

#[test]
fn the_token_never_shows_in_calls() {
    let server = protected(PivotMethod::Post);
    let query = kazoo_form(&kazoo_params());
    for flow in ["collect_dtmf", "record_caller", "digits_menu"] {
        tree(
            &kazoo_get(&server, &format!("/t/{PIVOT_TOKEN}/pivot/{flow}?{query}")),
            flow,
        );
    }
    let call_id = kazoo_params()["Call-ID"].as_str().unwrap().to_owned();
    let one = format!("/calls/{}", common::kazoo_escape(&call_id));
    // The exchange log's writer batches; the memory ring answers at once.
    for path in ["/calls", one.as_str()] {
        let reply = kazoo_get(&server, path);
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        assert_eq!(reply.status, 200, "{path}: {text}");
        for secret in [PIVOT_TOKEN, UPLOAD_TOKEN] {
            assert!(!text.contains(secret), "{path} shows {secret}: {text}");
        }
        if path != "/calls" {
            assert!(text.contains("/t/***/pivot/collected"), "{text}");
            assert!(text.contains("/t/***/recordings"), "{text}");
        }
    }
}

#[test]
fn webhooks_take_the_token_url_too() {
    let server = protected(PivotMethod::Post);
    let event = "Call-ID=abc123%4010.0.0.1&Hangup-Cause=NORMAL_CLEARING";
    let form = "application/x-www-form-urlencoded";
    kazoo_send(
        &server,
        "POST",
        "/events/crm_lookup",
        form,
        event.as_bytes(),
    )
    .assert_error(401, "no token");
    let target = format!("/t/{PIVOT_TOKEN}/events/crm_lookup");
    let accepted = kazoo_send(&server, "POST", &target, form, event.as_bytes());
    assert!(
        (200..300).contains(&accepted.status),
        "{} {}",
        accepted.status,
        String::from_utf8_lossy(&accepted.body)
    );
}

#[test]
fn token_paths_that_name_nothing_are_refused_cleanly() {
    let server = protected(PivotMethod::Post);
    for (target, status) in [
        ("/t/", 401),
        ("/t//pivot/collected", 401),
        ("/t", 404),
        (&*format!("/t/{PIVOT_TOKEN}"), 404),
        (&*format!("/t/{PIVOT_TOKEN}/"), 404),
        (&*format!("/t/{PIVOT_TOKEN}/calls"), 404),
        (
            &*format!("/t/{PIVOT_TOKEN}/t/{PIVOT_TOKEN}/pivot/collected"),
            404,
        ),
        ("/t/wrong/pivot/collected", 401),
        ("/t/wrong/events/collected", 401),
        (&*format!("/t/{PIVOT_TOKEN}/pivot/no_such_flow"), 404),
        (&*format!("/t/{PIVOT_TOKEN}/pivot/../calls"), 404),
    ] {
        let body = kazoo_get(&server, target).assert_error(status, target);
        assert!(!body.to_string().contains(PIVOT_TOKEN), "{target}: {body}");
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn kazoos_mangled_basic_is_refused_and_the_log_names_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pivotforge.toml");
    std::fs::write(
        &config,
        "[auth]\npivot_user = \"kazoo\"\npivot_password = \"s3cret\"\n",
    )
    .unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://{listen}");
    let common_args = |sub: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pivotforge"));
        cmd.arg(sub)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--flows")
            .arg(shipped_flows())
            .arg("--public-url")
            .arg(&public);
        cmd
    };
    let mut child = common_args("serve")
        .arg("--listen")
        .arg(&listen)
        .env_remove("PIVOTFORGE_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let send = |target: &str, authorization: &str| {
        raw_http(
            addr,
            format!(
                "GET {target} HTTP/1.1\r\nHost: pf\r\n{authorization}Connection: close\r\n\r\n"
            )
            .into_bytes(),
        )
    };
    let query = kazoo_form(&kazoo_params());
    // What Kazoo's GET makes of http://kazoo:s3cret@host/pivot/…: user `kazoos3cret`, no password.
    let mangled = send(
        &format!("/pivot/collected?{query}"),
        "Authorization: Basic a2F6b29zM2NyZXQ6\r\n",
    );
    let body = mangled.assert_error(401, "mangled basic");
    assert!(
        body["detail"].as_str().unwrap().contains("dropped the ':'"),
        "{body}"
    );
    // The right pair still works (a POST keeps the URL as written).
    let right = send(
        &format!("/pivot/collected?{query}"),
        "Authorization: Basic a2F6b286czNjcmV0\r\n",
    );
    assert_eq!(
        right.status,
        200,
        "{}",
        String::from_utf8_lossy(&right.body)
    );
    // The derived token: what `pivotforge token` prints works as the voice_url.
    let printed = common_args("token").output().unwrap();
    let stdout = String::from_utf8_lossy(&printed.stdout).into_owned();
    assert!(printed.status.success(), "{stdout}");
    let voice_url = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pivot voice_url"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no pivot URL in {stdout}"));
    let target = voice_url
        .strip_prefix(&public)
        .unwrap()
        .replace("NAME", "collect_dtmf");
    let token = target.split('/').nth(2).unwrap().to_owned();
    assert_eq!(token.len(), 64, "{target}");
    assert!(!stdout.contains("s3cret"), "{stdout}");
    let by_token = send(&format!("{target}?{query}"), "");
    assert_eq!(
        by_token.status,
        200,
        "{}",
        String::from_utf8_lossy(&by_token.body)
    );
    let built = by_token.json()["children"]["_"]["children"]["_"]["data"]["voice_url"].clone();
    assert_eq!(built, json!(format!("{public}/t/{token}/pivot/collected")));
    // A wrong token's refusal is logged with the token masked.
    send(&format!("/t/not-{token}/pivot/collected?{query}"), "").assert_error(401, "wrong");
    // The log (stdout) is flushed every 100 ms.
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    let mut log = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = child.wait();
    assert!(
        log.contains(
            "credentials look like Kazoo's GET dropped the ':' of user:password@; use a token URL"
        ),
        "{log}"
    );
    assert!(log.contains("/t/***/pivot/collected"), "{log}");
    assert!(!log.contains(&token), "the token is in the log: {log}");
}

/// One target, written as a rule flow's `flow = "…"` and as a script's `pf.pivot('…')`.
const TARGETS: [(&str, &str); 4] = [
    ("next", "/pivot/next"),
    ("/next", "/pivot/next"),
    ("next?step=2&x=a%20b", "/pivot/next?step=2&x=a%20b"),
    ("https://other.example/p?a=1", "https://other.example/p?a=1"),
];

/// A flows folder with, for the i-th target, `rule{i}` (a rule's `flow = "…"`) and `script{i}`
/// (a script's `pf.pivot('…')`), beside `extra` files.
fn pivot_pairs<'a>(
    targets: impl Iterator<Item = &'a str>,
    extra: &[(&str, &str)],
) -> tempfile::TempDir {
    let mut files: Vec<(String, String)> = extra
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    for (i, target) in targets.enumerate() {
        files.push((
            format!("rule{i}.toml"),
            format!("[default]\nmodule = \"pivot\"\ndata = {{ flow = \"{target}\" }}\n"),
        ));
        files.push((
            format!("script{i}.js"),
            format!(
                "const pf = require('pivotforge');\nfunction main() {{ return pf.pivot('{target}'); }}\n"
            ),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    common::flows_dir(&refs)
}

#[test]
fn rule_and_script_pivots_build_one_url_for_one_target() {
    let dir = pivot_pairs(
        TARGETS.iter().map(|(target, _)| *target),
        &[(
            "next.toml",
            "[default]\nmodule = \"tts\"\ndata = { text = \"next\" }\n",
        )],
    );
    let mut config = config(dir.path());
    config.js_threads = 1;
    config.auth.pivot_token = Some(Secret::new(PIVOT_TOKEN));
    let server = serve_with(config, at("2026-11-17T15:00:00Z"));
    let step = |flow: &str| {
        tree(
            &kazoo_get(
                &server,
                &format!("/t/{PIVOT_TOKEN}/pivot/{flow}?Call-ID=a1"),
            ),
            flow,
        )
    };
    for (i, (target, url)) in TARGETS.iter().enumerate() {
        let rule = step(&format!("rule{i}"));
        let script = step(&format!("script{i}"));
        assert_eq!(rule, script, "`{target}`: rule flow and script differ");
        let expected = match url.strip_prefix('/') {
            Some(path) => format!("{PUBLIC_URL}/t/{PIVOT_TOKEN}/{path}"),
            None => (*url).to_owned(),
        };
        assert_eq!(
            rule,
            json!({"module": "pivot", "data": {
                "voice_url": expected, "req_format": "kazoo", "method": "post", "req_body_format": "form"
            }}),
            "`{target}`"
        );
        // Kazoo keeps the query and adds its own parameters after `&`: the flow is reached.
        if let Some(own) = expected.strip_prefix(PUBLIC_URL) {
            let joiner = if own.contains('?') { '&' } else { '?' };
            let next = tree(
                &kazoo_get(&server, &format!("{own}{joiner}Call-ID=a1")),
                &expected,
            );
            assert_eq!(next["data"]["text"], "next", "{expected}");
        }
    }
}

#[test]
fn rule_and_script_pivots_refuse_the_same_targets() {
    let bad = [
        ("next#top", "fragment"),
        ("next?x=a b", "percent-encode"),
        ("../next", "neither a flow name"),
    ];
    let dir = pivot_pairs(bad.iter().map(|(target, _)| *target), &[]);
    let mut config = config(dir.path());
    config.js_threads = 1;
    let server = serve_with(config, at("2026-11-17T15:00:00Z"));
    for (i, (target, why)) in bad.iter().enumerate() {
        for flow in [format!("rule{i}"), format!("script{i}")] {
            let body = kazoo_get(&server, &format!("/pivot/{flow}?Call-ID=a1"))
                .assert_error(500, &format!("{flow}: `{target}`"));
            let detail = body["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains(why) && detail.contains(target),
                "{flow}: `{target}`: {body}"
            );
        }
    }
}

#[test]
fn a_rule_flows_own_pivot_node_gets_req_format_and_nothing_else() {
    let dir = common::flows_dir(&[
        (
            "own.toml",
            "[default]\nmodule = \"pivot\"\ndata = { voice_url = \"https://other.example/x\" }\n",
        ),
        (
            "twiml.toml",
            "[default]\nmodule = \"pivot\"\n\
             data = { voice_url = \"https://other.example/x\", req_format = \"twiml\" }\n",
        ),
    ]);
    let server = serve_with(config(dir.path()), at("2026-11-17T15:00:00Z"));
    let own = tree(&kazoo_get(&server, "/pivot/own?Call-ID=a1"), "own pivot");
    assert_eq!(
        own["data"],
        json!({"voice_url": "https://other.example/x", "req_format": "kazoo"}),
        "{own}"
    );
    let twiml = tree(
        &kazoo_get(&server, "/pivot/twiml?Call-ID=a1"),
        "twiml pivot",
    );
    assert_eq!(twiml["data"]["req_format"], "twiml", "{twiml}");
}

/// A script's own pivot node, at the top and as a child, leaves with `req_format: kazoo`
/// (Kazoo's code reads an absent one as `twiml`); a format the script names is kept.
#[test]
fn a_scripts_own_pivot_nodes_get_req_format() {
    let dir = common::flows_dir(&[
        (
            "own.js",
            "function main(data) {\n\
               return { module: 'tts', data: { text: 'hi' }, children: { _: {\n\
                 module: 'pivot', data: { voice_url: 'https://other.example/x' } } } };\n\
             }\n",
        ),
        (
            "twiml.js",
            "const pf = require('pivotforge');\n\
             function main(data) {\n\
               return pf.node('pivot', { voice_url: 'https://other.example/x', req_format: 'twiml' });\n\
             }\n",
        ),
    ]);
    let server = serve_with(config(dir.path()), at("2026-11-17T15:00:00Z"));
    let own = tree(
        &kazoo_get(&server, "/pivot/own?Call-ID=s1"),
        "script's pivot",
    );
    assert_eq!(
        own["children"]["_"]["data"],
        json!({"voice_url": "https://other.example/x", "req_format": "kazoo"}),
        "{own}"
    );
    let twiml = tree(
        &kazoo_get(&server, "/pivot/twiml?Call-ID=s1"),
        "twiml pivot",
    );
    assert_eq!(twiml["data"]["req_format"], "twiml", "{twiml}");
}
