//! Kazoo's encoding quirks over HTTP (reference §1): bracket keys, `&&` empty segments, `%2B`,
//! `+` for space, `User-ID` string or list, `Digits` map or legacy string, parameters in both the
//! voice_url query and the body. An echo flow renders what was parsed into its tts text.

use crate::common;

use common::{assert_tree, at, flows_dir, get, kazoo_form, post, post_form, post_json, serve};
use pivotforge::request::{BodyFormat, PivotRequest};
use serde_json::{json, Value};

/// The parameters the echo flow shows, in order, separated by `|`.
const FIELDS: &[&str] = &[
    "Call-ID",
    "Caller-ID-Name",
    "Caller-ID-Number",
    "Digits.custom_name",
    "Digits",
    "User-ID",
    "Custom-Application-Vars.k",
    "Account-ID",
    "To-Realm",
    "To",
    "Request",
    "Language",
    "From",
    "Direction",
    "Api-Version",
    "X-Unknown",
    "Foo.bar",
];

fn echo_flow() -> String {
    let text: Vec<String> = FIELDS.iter().map(|f| format!("{{{{{f}}}}}")).collect();
    format!(
        "description = \"Echo what was parsed\"\n\n[default]\nmodule = \"tts\"\ndata = {{ text = \"[{}]\" }}\n",
        text.join("|")
    )
}

/// The echo flow's tree when the fields in `values` have those values (others empty).
fn echo(values: &[(&str, &str)]) -> Value {
    for (name, _) in values {
        assert!(FIELDS.contains(name), "{name} is not echoed");
    }
    let parts: Vec<&str> = FIELDS
        .iter()
        .map(|f| values.iter().find(|(n, _)| n == f).map_or("", |(_, v)| *v))
        .collect();
    json!({"module": "tts", "data": {"text": format!("[{}]", parts.join("|"))}})
}

struct Echo {
    _dir: tempfile::TempDir,
    server: common::TestServer,
}

impl Echo {
    fn start() -> Echo {
        let sub = "[default]\nmodule = \"tts\"\ndata = { text = \"sub x for {{Caller-ID-Name | default: \\\"nobody\\\"}}\" }\n";
        let deep = r#"{"default": {"module": "tts", "data": {"text": "deep json flow"}}}"#;
        let dir = flows_dir(&[
            ("echo.toml", &echo_flow()),
            ("sub/x.toml", sub),
            ("a/b/c.json", deep),
        ]);
        let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
        Echo { _dir: dir, server }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }
}

/// The query string of reference §1, byte for byte (the ids are shortened with `…` there).
const REFERENCE_QUERY: &str = "User-ID=8f0c…&To-Realm=acme.sip.example.com&To=2030&Request=2030&Language=en-us&From=1000&Direction=inbound&Digits[custom_name]=1234&&&Caller-ID-Number=%2B14155550100&Caller-ID-Name=Alice+Smith&Call-ID=abc123%4010.0.0.1&Api-Version=4.x&Account-ID=3a1d…";

fn reference_echo() -> Value {
    echo(&[
        ("Call-ID", "abc123@10.0.0.1"),
        ("Caller-ID-Name", "Alice Smith"),
        ("Caller-ID-Number", "+14155550100"),
        ("Digits.custom_name", "1234"),
        ("User-ID", "8f0c…"),
        ("Account-ID", "3a1d…"),
        ("To-Realm", "acme.sip.example.com"),
        ("To", "2030"),
        ("Request", "2030"),
        ("Language", "en-us"),
        ("From", "1000"),
        ("Direction", "inbound"),
        ("Api-Version", "4.x"),
    ])
}

#[tokio::test]
async fn the_reference_example_query_over_get_form_and_json() {
    let echo_server = Echo::start();
    let url = echo_server.url("/pivot/echo");
    let expected = reference_echo();
    assert_tree(
        &get(&format!("{url}?{REFERENCE_QUERY}")).await,
        &expected,
        "GET",
    );
    assert_tree(
        &post_form(&url, REFERENCE_QUERY).await,
        &expected,
        "POST form",
    );
    let as_json = json!({
        "User-ID": "8f0c…", "To-Realm": "acme.sip.example.com", "To": "2030", "Request": "2030",
        "Language": "en-us", "From": "1000", "Direction": "inbound",
        "Digits": {"custom_name": "1234"}, "Custom-Application-Vars": {}, "Custom-SIP-Headers": {},
        "Caller-ID-Number": "+14155550100", "Caller-ID-Name": "Alice Smith",
        "Call-ID": "abc123@10.0.0.1", "Api-Version": "4.x", "Account-ID": "3a1d…"
    });
    assert_tree(&post_json(&url, &as_json).await, &expected, "POST json");
}

#[test]
fn the_reference_example_query_parses_to_kazoo_names() {
    let req = PivotRequest::parse(REFERENCE_QUERY, b"", BodyFormat::Form).expect("parses");
    assert_eq!(req.call_id.as_deref(), Some("abc123@10.0.0.1"));
    assert_eq!(req.caller_id_name.as_deref(), Some("Alice Smith"));
    assert_eq!(req.caller_id_number.as_deref(), Some("+14155550100"));
    assert_eq!(req.user_ids.0, vec!["8f0c…".to_owned()]);
    assert_eq!(
        req.digits.get("custom_name").map(String::as_str),
        Some("1234")
    );
    assert!(req.extra.is_empty(), "nothing unknown: {:?}", req.extra);
    // The same string as a form body gives the same request.
    let from_body =
        PivotRequest::parse("", REFERENCE_QUERY.as_bytes(), BodyFormat::Form).expect("parses");
    assert_eq!(req, from_body);
}

#[tokio::test]
async fn user_id_as_a_string_and_as_a_list() {
    let echo_server = Echo::start();
    let url = echo_server.url("/pivot/echo");
    let one = echo(&[("User-ID", "u1")]);
    assert_tree(&get(&format!("{url}?User-ID=u1")).await, &one, "string");
    assert_tree(
        &get(&format!("{url}?User-ID[]=u1&User-ID[]=u2")).await,
        &one,
        "list: first id",
    );
    assert_tree(
        &post_form(&url, "User-ID[]=u1&User-ID[]=u2").await,
        &one,
        "form list",
    );
    assert_tree(
        &post_json(&url, &json!({"User-ID": ["u1", "u2"]})).await,
        &one,
        "json list",
    );
    assert_tree(
        &post_json(&url, &json!({"User-ID": "u1"})).await,
        &one,
        "json string",
    );

    // The whole list is kept, and goes back out in Kazoo's own shape.
    let list = PivotRequest::parse("User-ID[]=u1&User-ID[]=u2", b"", BodyFormat::Form).unwrap();
    assert_eq!(list.user_ids.0, ["u1", "u2"]);
    assert_eq!(list.to_value()["User-ID"], json!(["u1", "u2"]));
    let single = PivotRequest::parse("User-ID=u1", b"", BodyFormat::Form).unwrap();
    assert_eq!(single.to_value()["User-ID"], json!("u1"));
}

#[tokio::test]
async fn digits_as_a_map_and_as_the_legacy_string() {
    let echo_server = Echo::start();
    let url = echo_server.url("/pivot/echo");
    let named = echo(&[("Digits.custom_name", "1234")]);
    let legacy = echo(&[("Digits", "1234")]);
    assert_tree(
        &get(&format!("{url}?Digits[custom_name]=1234")).await,
        &named,
        "map",
    );
    assert_tree(&get(&format!("{url}?Digits=1234")).await, &legacy, "legacy");
    assert_tree(
        &post_json(&url, &json!({"Digits": {"custom_name": "1234"}})).await,
        &named,
        "json map",
    );
    assert_tree(
        &post_json(&url, &json!({"Digits": "1234"})).await,
        &legacy,
        "json legacy",
    );
    // Collections persist for the rest of the call: several can arrive together.
    let both = echo(&[("Digits.custom_name", "42"), ("Digits", "7")]);
    assert_tree(
        &post_form(&url, "Digits[custom_name]=42&Digits[default]=7").await,
        &both,
        "two collections",
    );
    assert_tree(
        &post_json(
            &url,
            &json!({"Digits": {"custom_name": "42", "default": "7"}}),
        )
        .await,
        &both,
        "two collections json",
    );
    // Digits that arrive as JSON numbers are still digits.
    assert_tree(
        &post_json(&url, &json!({"Digits": {"custom_name": 1234}})).await,
        &named,
        "json number",
    );
}

#[tokio::test]
async fn custom_application_vars_and_unknown_parameters() {
    let echo_server = Echo::start();
    let url = echo_server.url("/pivot/echo");
    let expected = echo(&[
        ("Custom-Application-Vars.k", "v w"),
        ("X-Unknown", "1"),
        ("Foo.bar", "baz"),
    ]);
    let query = "Custom-Application-Vars[k]=v+w&Custom-SIP-Headers[X-Tag]=a&X-Unknown=1&Foo[bar]=baz&Twiml-Only[]=x&Recording-Url=http%3A%2F%2Fx&Call-Status=in-progress";
    assert_tree(&get(&format!("{url}?{query}")).await, &expected, "GET");
    assert_tree(&post_form(&url, query).await, &expected, "POST form");
    let as_json = json!({
        "Custom-Application-Vars": {"k": "v w"}, "Custom-SIP-Headers": {"X-Tag": "a"},
        "X-Unknown": 1, "Foo": {"bar": "baz"}, "Twiml-Only": ["x"],
        "Recording-Url": "http://x", "Call-Status": "in-progress"
    });
    assert_tree(&post_json(&url, &as_json).await, &expected, "POST json");
}

#[tokio::test]
async fn body_parameters_win_over_the_voice_url_query() {
    let echo_server = Echo::start();
    // The voice_url already had a query; Kazoo's own parameters come in the body.
    let url = echo_server
        .url("/pivot/echo?Caller-ID-Name=From+Query&Call-ID=q1&Custom-Application-Vars[k]=query");
    let expected = echo(&[
        ("Call-ID", "q1"),
        ("Caller-ID-Name", "From Body"),
        ("Custom-Application-Vars.k", "body"),
    ]);
    assert_tree(
        &post_form(
            &url,
            "Caller-ID-Name=From+Body&Custom-Application-Vars[k]=body",
        )
        .await,
        &expected,
        "form body",
    );
    assert_tree(
        &post_json(
            &url,
            &json!({"Caller-ID-Name": "From Body", "Custom-Application-Vars": {"k": "body"}}),
        )
        .await,
        &expected,
        "json body",
    );
    // A GET has no body: the query is all there is.
    let query_only = echo(&[
        ("Call-ID", "q1"),
        ("Caller-ID-Name", "From Query"),
        ("Custom-Application-Vars.k", "query"),
    ]);
    assert_tree(&get(&url).await, &query_only, "GET");
}

#[tokio::test]
async fn values_with_quotes_and_braces_stay_text() {
    let echo_server = Echo::start();
    let url = echo_server.url("/pivot/echo");
    let evil_name = r#""},"module":"hangup","children":{"_":{"module":"pivot"#;
    let evil_id = "{{Caller-ID-Number}}";
    let evil_digits = r#"\u0000]}\";{"#;
    let params = json!({
        "Caller-ID-Name": evil_name,
        "Call-ID": evil_id,
        "Caller-ID-Number": "+14155550100",
        "Digits": {"custom_name": evil_digits},
    });
    // The structure is the echo flow's, unchanged; the values are the text as sent, and a
    // `{{…}}` inside a value is not expanded again.
    let expected = echo(&[
        ("Call-ID", evil_id),
        ("Caller-ID-Name", evil_name),
        ("Caller-ID-Number", "+14155550100"),
        ("Digits.custom_name", evil_digits),
    ]);
    let form = kazoo_form(&params);
    assert_tree(&get(&format!("{url}?{form}")).await, &expected, "GET");
    assert_tree(&post_form(&url, &form).await, &expected, "POST form");
    assert_tree(&post_json(&url, &params).await, &expected, "POST json");
}

#[tokio::test]
async fn non_ascii_values_and_lenient_escapes() {
    let echo_server = Echo::start();
    let url = echo_server.url("/pivot/echo");
    let expected = echo(&[
        ("Caller-ID-Name", "Jürgen Müller"),
        ("Caller-ID-Number", "+4930123"),
    ]);
    // Upper- and lower-case hex escapes both decode.
    let query = "Caller-ID-Name=J%C3%BCrgen+M%c3%bcller&Caller-ID-Number=%2b4930123";
    assert_tree(&get(&format!("{url}?{query}")).await, &expected, "GET");
    assert_tree(&post_form(&url, query).await, &expected, "POST form");
}

#[tokio::test]
async fn empty_segments_and_empty_objects_are_skipped() {
    let echo_server = Echo::start();
    let url = echo_server.url("/pivot/echo");
    // Empty objects (Custom-Application-Vars, Custom-SIP-Headers) leave empty segments.
    let query = "&&Call-ID=c1&&&=&Caller-ID-Name=Bob&&";
    let expected = echo(&[("Call-ID", "c1"), ("Caller-ID-Name", "Bob")]);
    assert_tree(&get(&format!("{url}?{query}")).await, &expected, "GET");
    assert_tree(&post_form(&url, query).await, &expected, "POST form");
}

#[tokio::test]
async fn content_types_as_sent_in_the_wild() {
    let echo_server = Echo::start();
    let url = echo_server.url("/pivot/echo");
    let expected = echo(&[("Call-ID", "c1")]);
    for ct in [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
    ] {
        assert_tree(&post(&url, ct, "Call-ID=c1").await, &expected, ct);
    }
    for ct in [
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/vnd.kazoo+json",
    ] {
        assert_tree(&post(&url, ct, r#"{"Call-ID":"c1"}"#).await, &expected, ct);
    }
    // No Content-Type at all: a form body.
    let no_type = common::request(reqwest::Method::POST, &url, None, b"Call-ID=c1".to_vec()).await;
    assert_tree(&no_type, &expected, "no content type");
    // A POST with no body reads the query alone.
    let empty = post(&format!("{url}?Call-ID=c1"), "application/json", Vec::new()).await;
    assert_tree(&empty, &expected, "empty JSON body");
}

#[tokio::test]
async fn flows_in_sub_folders() {
    let echo_server = Echo::start();
    assert_tree(
        &get(&echo_server.url("/pivot/sub/x?Caller-ID-Name=Ann")).await,
        &json!({"module": "tts", "data": {"text": "sub x for Ann"}}),
        "sub/x.toml",
    );
    assert_tree(
        &post_form(&echo_server.url("/pivot/sub/x"), "").await,
        &json!({"module": "tts", "data": {"text": "sub x for nobody"}}),
        "sub/x.toml without a name",
    );
    assert_tree(
        &get(&echo_server.url("/pivot/a/b/c")).await,
        &json!({"module": "tts", "data": {"text": "deep json flow"}}),
        "a/b/c.json",
    );
    for missing in ["/pivot/x", "/pivot/sub", "/pivot/b/c", "/pivot/a/b"] {
        common::assert_error(&get(&echo_server.url(missing)).await, 404, missing);
    }
}

#[tokio::test]
async fn an_empty_object_as_an_empty_value_is_accepted_too() {
    // Reference §1 infers an empty segment for an empty object; a `key=` reading is accepted too.
    let echo_server = Echo::start();
    let url = echo_server.url("/pivot/echo");
    let query = "Call-ID=c1&Custom-Application-Vars=&Custom-SIP-Headers=&Digits=&User-ID=";
    let expected = echo(&[("Call-ID", "c1")]);
    assert_tree(&get(&format!("{url}?{query}")).await, &expected, "GET");
    assert_tree(&post_form(&url, query).await, &expected, "POST form");
    let as_json = json!({"Call-ID": "c1", "Custom-Application-Vars": {}, "Custom-SIP-Headers": {},
        "Digits": {}, "User-ID": []});
    assert_tree(&post_json(&url, &as_json).await, &expected, "POST json");
}
