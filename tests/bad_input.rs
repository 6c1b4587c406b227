//! Every bad input gets the right status and a JSON body with string `error` and `detail`, never
//! a panic: bad encodings (400), oversized bodies (413), wrong content types (415), unknown flows
//! and routes (404), wrong methods (405); replies that fail the schemas at run time (fallback 200
//! or 500 with the errors); a broken flow file that does not stop the others; health and schemas.

use crate::common;

use common::{
    assert_error, assert_tree, at, flows_dir, get, post, post_form, post_json, raw_get, raw_http,
    request, serve, serve_shipped,
};
use reqwest::Method;
use serde_json::{json, Value};

const SOME_TIME: &str = "2026-11-17T15:00:00Z";

fn not_got() -> Value {
    json!({"module": "tts", "data": {"text": "We didn't get that."}})
}

#[tokio::test]
async fn bad_percent_encoding_in_the_query_is_400() {
    let server = serve_shipped(SOME_TIME);
    for query in [
        "Digits=%zz",
        "Digits=12%4",
        "Digits=%",
        "%zz=1",
        "a=1&b=%G0",
    ] {
        let reply = get(&server.url(&format!("/pivot/collected?{query}"))).await;
        let body = assert_error(&reply, 400, query);
        assert_eq!(body["error"], "bad request", "{query}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("percent-encoding"),
            "{query}: {body}"
        );
    }
    // The same request with a correct escape is fine.
    let fine = get(&server.url("/pivot/collected?Digits=%31%32")).await;
    assert_tree(
        &fine,
        &json!({"module": "tts", "data": {"text": "You entered 1 2."}}),
        "good escape",
    );
}

#[tokio::test]
async fn bad_percent_encoding_in_a_form_body_is_400() {
    let server = serve_shipped(SOME_TIME);
    let url = server.url("/pivot/collected");
    for body in ["Digits=%zz", "Call-ID=a&Digits=1%", "%x1=2"] {
        let reply = post_form(&url, body).await;
        let json = assert_error(&reply, 400, body);
        assert!(
            json["detail"]
                .as_str()
                .unwrap()
                .contains("percent-encoding"),
            "{body}: {json}"
        );
    }
}

#[tokio::test]
async fn invalid_utf8_is_400() {
    let server = serve_shipped(SOME_TIME);
    let url = server.url("/pivot/collected");
    // Escapes that decode to bytes that are not UTF-8, in the query and in a form body.
    for query in ["Digits=%FF%FE", "Caller-ID-Name=%C3%28", "%FF=1"] {
        let reply = get(&format!("{url}?{query}")).await;
        let body = assert_error(&reply, 400, query);
        assert!(
            body["detail"].as_str().unwrap().contains("UTF-8"),
            "{query}: {body}"
        );
    }
    let raw_form = b"Caller-ID-Name=\xff\xfe&Digits=1".to_vec();
    let reply = request(
        Method::POST,
        &url,
        Some("application/x-www-form-urlencoded"),
        raw_form,
    )
    .await;
    assert_error(&reply, 400, "raw bytes in a form body");
    let raw_json = b"{\"Caller-ID-Name\": \"\xff\"}".to_vec();
    let reply = request(Method::POST, &url, Some("application/json"), raw_json).await;
    assert_error(&reply, 400, "raw bytes in a JSON body");
}

#[test]
fn raw_non_ascii_bytes_in_the_request_line_are_refused() {
    // Kazoo always escapes; a raw byte in the request target is refused by the HTTP parser
    // itself, before the service sees the request (so its body is actix's, not ours).
    let server = serve_shipped(SOME_TIME);
    let reply = raw_http(server.addr, raw_get(b"/pivot/collected?Digits=\xff"));
    assert_eq!(reply.status, 400, "{}", reply.headers);
}

#[tokio::test]
async fn json_bodies_that_are_not_objects_or_not_json_are_400() {
    let server = serve_shipped(SOME_TIME);
    let url = server.url("/pivot/collected");
    let cases: &[&str] = &[
        "[1, 2]",
        "\"Digits\"",
        "null",
        "42",
        "true",
        "{",
        "Digits=1234",
        "{\"Digits\": \"1\"} trailing",
        "   ",
    ];
    for body in cases {
        let reply = post(&url, "application/json", body.as_bytes().to_vec()).await;
        let json = assert_error(&reply, 400, body);
        assert!(
            json["detail"]
                .as_str()
                .unwrap()
                .starts_with("malformed JSON body"),
            "{body}: {json}"
        );
    }
    // Nesting far beyond anything Kazoo sends is refused, not recursed into.
    let deep = format!("{{\"X\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert_error(
        &post(&url, "application/json", deep.into_bytes()).await,
        400,
        "deep JSON",
    );
}

#[tokio::test]
async fn run_main_with_a_body_that_is_not_an_object_is_400() {
    // schemathesis found these answered 500 (the script's `data.vars` read a number): `main`
    // takes the call's data, so anything but an object is the caller's mistake.
    let server = serve_shipped(SOME_TIME);
    for script in ["dnc_gate", "business_hours", "random_cid"] {
        for body in ["5", "null", "\"x\"", "[1]", "true"] {
            for path in [format!("/run/{script}"), format!("/run/{script}/main")] {
                let reply = post(&server.url(&path), "application/json", body).await;
                let what = format!("{path} {body}");
                let json = assert_error(&reply, 400, &what);
                let detail = json["detail"].as_str().unwrap();
                assert!(detail.contains("must be a JSON object"), "{what}: {json}");
            }
        }
        let ok = post_json(&server.url(&format!("/run/{script}")), &json!({})).await;
        assert_eq!(ok.status, 200, "{script} {{}}: {}", ok.text());
    }
}

#[tokio::test]
async fn parameters_of_a_shape_kazoo_never_sends_are_400() {
    let server = serve_shipped(SOME_TIME);
    let url = server.url("/pivot/collected");
    let json_cases = [
        (json!({"Call-ID": {"a": 1}}), "Call-ID"),
        (json!({"Call-ID": ["a"]}), "Call-ID"),
        (json!({"Caller-ID-Number": {"n": "1"}}), "Caller-ID-Number"),
        (json!({"Digits": [1, 2]}), "Digits"),
        (json!({"Digits": {"custom_name": {"x": "1"}}}), "Digits"),
        (json!({"Digits": true}), "Digits"),
        (json!({"User-ID": {"a": "b"}}), "User-ID"),
        (json!({"User-ID": [1]}), "User-ID"),
        (
            json!({"Custom-Application-Vars": "x"}),
            "Custom-Application-Vars",
        ),
        (json!({"Custom-SIP-Headers": [1]}), "Custom-SIP-Headers"),
    ];
    for (body, name) in json_cases {
        let reply = post_json(&url, &body).await;
        let json = assert_error(&reply, 400, &body.to_string());
        assert_eq!(
            json["detail"].as_str().unwrap().split('`').nth(1),
            Some(name),
            "{body}: {json}"
        );
    }
    // The same mistakes in form encoding, by GET and POST.
    for form in ["Call-ID[x]=1", "Call-ID[]=1", "Language[a][b]=en"] {
        assert_error(&get(&format!("{url}?{form}")).await, 400, form);
        assert_error(&post_form(&url, form).await, 400, form);
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_with_content_length() {
    let server = serve_shipped(SOME_TIME);
    let url = server.url("/pivot/collected");
    let pad = |total: usize| {
        let head = "Digits[custom_name]=1&X-Pad=";
        format!("{head}{}", "a".repeat(total - head.len()))
    };
    // Exactly the limit is accepted.
    let at_limit = post_form(&url, &pad(64 * 1024)).await;
    assert_tree(
        &at_limit,
        &json!({"module": "tts", "data": {"text": "You entered 1."}}),
        "64 KiB",
    );
    // One byte more is not, whatever the type.
    let body = assert_error(
        &post_form(&url, &pad(64 * 1024 + 1)).await,
        413,
        "64 KiB + 1",
    );
    assert_eq!(body["error"], "payload too large");
    let big_json = format!("{{\"X-Pad\": \"{}\"}}", "a".repeat(70_000));
    assert_error(
        &post(&url, "application/json", big_json.into_bytes()).await,
        413,
        "JSON",
    );
    assert_error(
        &post(
            &url,
            "application/x-www-form-urlencoded",
            vec![b'a'; 1 << 20],
        )
        .await,
        413,
        "1 MiB",
    );
}

fn chunked(path: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: pivot.test\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(8 * 1024) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    req
}

#[test]
fn bodies_over_64_kib_are_413_when_chunked() {
    let server = serve_shipped(SOME_TIME);
    let mut small = b"Digits[custom_name]=77&X-Pad=".to_vec();
    small.resize(60 * 1024, b'a');
    let ok = raw_http(server.addr, chunked("/pivot/collected", &small));
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        ok.json(),
        json!({"module": "tts", "data": {"text": "You entered 7 7."}})
    );
    let mut big = b"Digits[custom_name]=77&X-Pad=".to_vec();
    big.resize(64 * 1024 + 1, b'a');
    let refused = raw_http(server.addr, chunked("/pivot/collected", &big));
    let body = refused.assert_error(413, "chunked 64 KiB + 1");
    assert_eq!(body["error"], "payload too large");
}

#[tokio::test]
async fn unsupported_content_types_are_415() {
    let server = serve_shipped(SOME_TIME);
    let url = server.url("/pivot/collected");
    for ct in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
        "text/html; charset=utf-8",
    ] {
        let reply = post(&url, ct, b"Digits=1234".to_vec()).await;
        let body = assert_error(&reply, 415, ct);
        assert_eq!(body["error"], "unsupported media type", "{ct}");
        assert!(
            body["detail"].as_str().unwrap().contains(ct),
            "{ct}: {body}"
        );
    }
}

#[tokio::test]
async fn unknown_flows_are_404() {
    let server = serve_shipped(SOME_TIME);
    for path in ["/pivot/nope", "/pivot/sub/nope", "/pivot/Collected"] {
        let body = assert_error(&get(&server.url(path)).await, 404, path);
        assert_eq!(body["error"], "not found");
        assert!(
            body["detail"].as_str().unwrap().contains("no flow named"),
            "{path}: {body}"
        );
        assert_error(&post_form(&server.url(path), "Digits=1").await, 404, path);
    }
}

#[test]
fn dot_dot_and_weird_flow_names_are_404() {
    let server = serve_shipped(SOME_TIME);
    let targets: &[&[u8]] = &[
        b"/pivot/../collected",
        b"/pivot/%2e%2e/collected",
        b"/pivot/../../etc/passwd",
        b"/pivot/./collected",
        b"/pivot/collected.toml",
        b"/pivot/a%20b",
        b"/pivot/",
        b"/pivot/collected/",
        b"/pivot/sub//x",
        b"/pivot//collected",
        b"/pivot/%FF",
        b"/pivot/collected%00",
        b"/pivot/%7B%7Bvars.x%7D%7D",
    ];
    for target in targets {
        let what = String::from_utf8_lossy(target);
        let reply = raw_http(server.addr, raw_get(target));
        let body = reply.assert_error(404, &what);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("is not a flow name"),
            "{what}: {body}"
        );
    }
}

#[tokio::test]
async fn other_methods_on_pivot_are_405() {
    let server = serve_shipped(SOME_TIME);
    let url = server.url("/pivot/collected");
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let reply = request(
            method.clone(),
            &url,
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
        let body = assert_error(&reply, 405, method.as_str());
        assert_eq!(body["error"], "method not allowed");
    }
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let server = serve_shipped(SOME_TIME);
    for path in ["/", "/nope", "/pivot", "/pivotcollected", "/healthz/x"] {
        let body = assert_error(&get(&server.url(path)).await, 404, path);
        assert_eq!(body["error"], "not found", "{path}");
    }
    assert_error(
        &post_form(&server.url("/pivot"), "Digits=1").await,
        404,
        "POST /pivot",
    );
}

#[tokio::test]
async fn health_and_schemas() {
    let server = serve_shipped(SOME_TIME);
    let health = get(&server.url("/healthz")).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({"status": "ok"}));

    let tts = get(&server.url("/schemas/tts.json")).await;
    assert_eq!(tts.status, 200);
    assert_eq!(tts.content_type.as_deref(), Some("application/schema+json"));
    let on_disk =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/tts.json"))
            .expect("schemas/tts.json");
    assert_eq!(tts.body, on_disk, "the served schema is the shipped file");
    let schema = tts.json();
    assert_eq!(schema["required"], json!(["text"]));
    assert_eq!(schema["properties"]["text"]["minLength"], 1);

    let index = get(&server.url("/schemas")).await;
    assert_eq!(index.status, 200);
    let names = index.json()["schemas"].clone();
    for expected in [
        "/schemas/tts.json",
        "/schemas/node.json",
        "/schemas/pivot.json",
    ] {
        assert!(
            names.as_array().unwrap().iter().any(|n| n == expected),
            "{expected} not in {names}"
        );
    }

    let body = assert_error(
        &get(&server.url("/schemas/nope.json")).await,
        404,
        "nope.json",
    );
    assert_eq!(body["error"], "not found");
    assert_error(&get(&server.url("/schemas/tts")).await, 404, "no .json");
}

// ---- replies that fail the schemas at run time ----

const GREET: &str = r#"# tts text straight from a request parameter: empty when the caller has no name.
[default]
module = "tts"
data = { text = "{{Caller-ID-Name}}" }
"#;

const GREET_WITH_FALLBACK: &str = r#"[default]
module = "tts"
data = { text = "{{Caller-ID-Name}}" }

[fallback]
module = "tts"
data = { text = "Sorry, something went wrong." }
[fallback.children._]
module = "hangup"
data = {}
"#;

const NESTED: &str = r#"[default]
module = "tts"
data = { text = "Your PIN:" }
[default.children._]
module = "tts"
data = { text = "{{Digits.pin}}" }
"#;

const BROKEN: &str = "[default\nmodule = \"hangup\"\n";

fn runtime_flows() -> tempfile::TempDir {
    flows_dir(&[
        ("greet.toml", GREET),
        ("greet_fallback.toml", GREET_WITH_FALLBACK),
        ("nested.toml", NESTED),
        ("broken.toml", BROKEN),
    ])
}

#[tokio::test]
async fn an_invalid_reply_without_fallback_is_500_with_the_schema_errors() {
    let dir = runtime_flows();
    let server = serve(dir.path(), at(SOME_TIME));
    let url = server.url("/pivot/greet");
    // Valid when the parameter is there.
    assert_tree(
        &get(&format!("{url}?Caller-ID-Name=Bob")).await,
        &json!({"module": "tts", "data": {"text": "Bob"}}),
        "with a name",
    );
    // Missing and empty both leave the text empty: minLength.
    for reply in [
        get(&url).await,
        get(&format!("{url}?Caller-ID-Name=")).await,
        post_json(&url, &json!({"Caller-ID-Name": ""})).await,
    ] {
        let body = assert_error(&reply, 500, "empty name");
        assert_eq!(body["error"], "invalid callflow tree");
        assert!(
            body["detail"].as_str().unwrap().contains("/data/text"),
            "{body}"
        );
        let errors = body["errors"].as_array().expect("errors is a list");
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(errors[0]["pointer"], "/data/text");
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap()
                .contains("shorter than 1"),
            "{body}"
        );
    }
    // Too long is refused too: maxLength 1000.
    let long = "x".repeat(1001);
    let body = assert_error(
        &post_json(&url, &json!({"Caller-ID-Name": long})).await,
        500,
        "long name",
    );
    assert_eq!(body["errors"][0]["pointer"], "/data/text");
    assert!(body["errors"][0]["message"].is_string());
}

#[tokio::test]
async fn an_invalid_reply_deep_in_the_tree_names_its_pointer() {
    let dir = runtime_flows();
    let server = serve(dir.path(), at(SOME_TIME));
    let url = server.url("/pivot/nested");
    assert_tree(
        &get(&format!("{url}?Digits[pin]=1234")).await,
        &json!({
            "module": "tts", "data": {"text": "Your PIN:"},
            "children": {"_": {"module": "tts", "data": {"text": "1234"}}}
        }),
        "with a pin",
    );
    let body = assert_error(&get(&url).await, 500, "no pin");
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/children/_/data/text"], "{body}");
}

#[tokio::test]
async fn an_invalid_reply_with_a_fallback_answers_the_fallback() {
    let dir = runtime_flows();
    let server = serve(dir.path(), at(SOME_TIME));
    let url = server.url("/pivot/greet_fallback");
    let fallback = json!({
        "module": "tts",
        "data": {"text": "Sorry, something went wrong."},
        "children": {"_": {"module": "hangup", "data": {}}}
    });
    assert_tree(&get(&url).await, &fallback, "GET without a name");
    assert_tree(
        &post_form(&url, "Caller-ID-Name=").await,
        &fallback,
        "POST form",
    );
    assert_tree(
        &post_json(&url, &json!({"Caller-ID-Name": "y".repeat(1001)})).await,
        &fallback,
        "POST json, too long",
    );
    assert_tree(
        &post_json(&url, &json!({"Caller-ID-Name": "Ann"})).await,
        &json!({"module": "tts", "data": {"text": "Ann"}}),
        "valid",
    );
}

#[tokio::test]
async fn a_broken_flow_file_answers_500_and_the_others_serve() {
    let dir = runtime_flows();
    let server = serve(dir.path(), at(SOME_TIME));
    let reply = get(&server.url("/pivot/broken")).await;
    let body = assert_error(&reply, 500, "broken flow");
    assert_eq!(body["error"], "flow failed to load");
    let file = dir.path().join("broken.toml");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("{}:1: ", file.display())),
        "the detail names the file and line: {detail}"
    );
    assert_eq!(body["errors"], json!([]));
    // The other flows of the folder are served normally.
    assert_tree(
        &get(&server.url("/pivot/greet?Caller-ID-Name=Eve")).await,
        &json!({"module": "tts", "data": {"text": "Eve"}}),
        "greet next to a broken flow",
    );
    // Unknown flows stay 404, not 500.
    assert_error(&get(&server.url("/pivot/brok")).await, 404, "unknown");
}

#[tokio::test]
async fn a_deliberate_rejection_is_200_with_the_response_node() {
    let server = serve_shipped(SOME_TIME);
    let reply = get(&server.url("/pivot/hangup_busy")).await;
    assert_tree(
        &reply,
        &json!({"module": "response", "data": {"code": 486, "message": "User Busy", "media": "/system_media/en-us/busy"}}),
        "hangup_busy",
    );
    // And nothing about a request changes that a flow ignores.
    let reply = post_json(&server.url("/pivot/collected"), &json!({})).await;
    assert_tree(&reply, &not_got(), "empty JSON object");
}
