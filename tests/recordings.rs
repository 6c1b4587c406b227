//! Recording uploads over real HTTP: every URL form Kazoo produces, retries that replace, content
//! types, the header check, listing and its filters, downloads with Range, delete, and
//! authentication on and off.

use crate::common;
use crate::recordings_support;

use common::{assert_error, get, request, Reply};
use pivotforge::config::{RecordingsConfig, Secret};
use recordings_support::{
    audio, files_under, list, mp3, put, server, server_with, sha256, wav, Server, ACCOUNT,
};
use reqwest::Method;
use serde_json::Value;

/// The query `record_call` appends (Kazoo master), values `%XX`-encoded.
fn kazoo_query(call_id: &str) -> String {
    format!(
        "from=1000%40acme.sip.example.com&to=2030%40acme.sip.example.com\
         &caller_id_name=Alice%20Smith&caller_id_number=%2B14155550100&call_id={}\
         &cdr_id=cdr-1&interaction_id=63f1a2b3-9&account_id={ACCOUNT}",
        common::kazoo_escape(call_id)
    )
}

/// Uploads and asserts 201; returns the recording the reply describes.
async fn created(server: &Server, path: &str, content_type: Option<&str>, body: &[u8]) -> Value {
    let reply = put(server, path, content_type, body).await;
    assert_eq!(reply.status, 201, "PUT {path}: {}", reply.text());
    let rec = reply.json();
    assert_eq!(rec["size"], body.len(), "{path}");
    assert_eq!(rec["sha256"], sha256(body), "{path}");
    rec
}

#[tokio::test]
async fn record_call_form_stores_the_file_and_every_detail() {
    let server = server();
    let call_id = "abc123@10.0.0.1:5060";
    let body = mp3(40_000, 1);
    let path = format!(
        "/recordings/call_recording_{}.mp3?{}",
        common::kazoo_escape(call_id),
        kazoo_query(call_id)
    );
    let rec = created(&server, &path, Some("audio/mpeg"), &body).await;
    assert_eq!(rec["call_id"], call_id);
    assert_eq!(rec["account_id"], ACCOUNT);
    assert_eq!(rec["from"], "1000@acme.sip.example.com");
    assert_eq!(rec["to"], "2030@acme.sip.example.com");
    assert_eq!(rec["caller_id_name"], "Alice Smith");
    assert_eq!(rec["caller_id_number"], "+14155550100");
    assert_eq!(rec["cdr_id"], "cdr-1");
    assert_eq!(rec["interaction_id"], "63f1a2b3-9");
    assert_eq!(rec["format"], "mp3");
    assert_eq!(rec["format_ok"], true);
    // 128 kbit/s from the frame header: 40,000 bytes are 2.5 s.
    assert_eq!(rec["duration_ms"], 2500);
    assert_eq!(rec["received_at"], "2026-03-01T12:00:00.000Z");
    let id = rec["id"].as_str().unwrap();
    assert_eq!(rec["url"], format!("/recordings/{id}/audio"));
    assert_eq!(id.len(), 32);

    // Grouped by account and day, under an encoded name.
    let stored = server
        .root()
        .join(ACCOUNT)
        .join("2026-03-01")
        .join("call_recording_abc123@10%2E0%2E0%2E1%3A5060.mp3");
    assert_eq!(std::fs::read(&stored).unwrap(), body);
    assert_eq!(files_under(&server.root()), [stored]);

    assert_eq!(list(&server, "").await, std::slice::from_ref(&rec));
    assert_eq!(audio(&server, &rec).await, body);
    let one = get(&server.url(&format!("/recordings/{id}"))).await;
    assert_eq!(one.json(), rec);
}

#[tokio::test]
async fn kazoo_4_3_parameters_are_kept() {
    let server = server();
    let path = format!(
        "/recordings/call_recording_c43.wav?{}&owner_id=own-1&start=63912345678\
         &duration_ms=61000&recording_id=rec-77",
        kazoo_query("c43")
    );
    let rec = created(&server, &path, Some("audio/x-wav"), &wav(16_000)).await;
    assert_eq!(rec["owner_id"], "own-1");
    assert_eq!(rec["start"], "63912345678");
    assert_eq!(rec["recording_id"], "rec-77");
    // Kazoo's duration wins over the header's (which says 1000).
    assert_eq!(rec["duration_ms"], 61000);
    assert_eq!(rec["format"], "wav");
    assert_eq!(rec["format_ok"], true);
}

#[tokio::test]
async fn every_url_form_is_accepted() {
    let server = server();
    let q = kazoo_query;
    // (path and query, expected call id, expected account id)
    let forms: Vec<(String, &str, &str)> = vec![
        (
            format!("/recordings/call_recording_dd1..mp3?{}", q("dd1")),
            "dd1",
            ACCOUNT,
        ),
        (
            format!(
                "/recordings?a=b&recording=call_recording_q1.mp3&{}",
                q("q1")
            ),
            "q1",
            ACCOUNT,
        ),
        (
            format!("/recordings?a&file=call_recording_f1.mp3&{}", q("f1")),
            "f1",
            ACCOUNT,
        ),
        // A base path before the file name (a url configured as …/recordings/tenant).
        (
            format!("/recordings/tenant/call_recording_t1.mp3?{}", q("t1")),
            "t1",
            ACCOUNT,
        ),
        // record_caller: no query at all, the account (when any) in the path.
        ("/recordings/rc1%40host.mp3".into(), "rc1@host", ""),
        (format!("/recordings/{ACCOUNT}/rc2.mp3"), "rc2", ACCOUNT),
        // Call ids holding `%`, `:` and `/`, encoded or not.
        (
            "/recordings/call_recording_p%2520x%3Ay.mp3".into(),
            "p%20x:y",
            "",
        ),
        (
            "/recordings/call_recording_s%2Fl.mp3?call_id=s%2Fl".into(),
            "s/l",
            "",
        ),
        (
            "/recordings/call_recording_raw/slash.mp3".into(),
            "raw/slash",
            "",
        ),
        ("/recordings/dot.ted.id.mp3".into(), "dot.ted.id", ""),
    ];
    for (i, (path, call_id, account)) in forms.iter().enumerate() {
        let body = mp3(1000 + i, i as u64);
        let rec = created(&server, path, Some("audio/mpeg"), &body).await;
        assert_eq!(rec["call_id"], *call_id, "{path}");
        assert_eq!(rec["account_id"], *account, "{path}");
        assert_eq!(audio(&server, &rec).await, body, "{path}");
    }
    assert_eq!(list(&server, "").await.len(), forms.len());
    // Files without an account go under `~none`; nothing is outside ACCOUNT/DAY/.
    for file in files_under(&server.root()) {
        let relative = file.strip_prefix(server.root()).unwrap();
        let parts: Vec<_> = relative.components().collect();
        assert_eq!(parts.len(), 3, "{}", relative.display());
        let account = relative.components().next().unwrap().as_os_str();
        assert!(
            account == ACCOUNT || account == "~none",
            "{}",
            relative.display()
        );
    }
}

#[tokio::test]
async fn post_works_like_put() {
    let server = server();
    let body = mp3(500, 3);
    let reply = request(
        Method::POST,
        &server.url(&format!(
            "/recordings/call_recording_post1.mp3?{}",
            kazoo_query("post1")
        )),
        Some("audio/mpeg"),
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(audio(&server, &reply.json()).await, body);
}

#[tokio::test]
async fn a_retry_replaces_the_recording_in_place() {
    let server = server();
    let path = format!(
        "/recordings/call_recording_retry1.mp3?{}",
        kazoo_query("retry1")
    );
    let first = created(&server, &path, Some("audio/mpeg"), &mp3(30_000, 10)).await;
    let again = mp3(20_000, 11);
    let reply = put(&server, &path, Some("audio/mpeg"), &again).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let second = reply.json();
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["sha256"], sha256(&again));
    let listed = list(&server, "").await;
    assert_eq!(listed, std::slice::from_ref(&second));
    assert_eq!(audio(&server, &second).await, again);
    assert_eq!(files_under(&server.root()).len(), 1);
    // The double-dot spelling of the same name is the same recording.
    let double = path.replace("retry1.mp3", "retry1..mp3");
    let reply = put(&server, &double, Some("audio/mpeg"), &mp3(100, 12)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(list(&server, "").await.len(), 1);
    // Another format, or another Kazoo recording id, is another recording.
    let wav_path = path.replace("retry1.mp3", "retry1.wav");
    created(&server, &wav_path, Some("audio/wav"), &wav(100)).await;
    let second_take = format!("{path}&recording_id=take-2");
    created(&server, &second_take, Some("audio/mpeg"), &mp3(100, 13)).await;
    assert_eq!(list(&server, "").await.len(), 3);
}

#[tokio::test]
async fn content_types_follow_the_extension() {
    let server = server();
    let cases: [(&str, Option<&str>, u16); 10] = [
        ("ct1.mp3", Some("audio/mpeg"), 201),
        ("ct2.mp3", Some("application/octet-stream"), 201),
        ("ct3.mp3", None, 201),
        ("ct4.wav", Some("audio/x-wav"), 201),
        ("ct5.wav", Some("audio/wav"), 201),
        ("ct6.wav", None, 201),
        ("ct7.mp3", Some("text/plain"), 415),
        ("ct8.wav", Some("audio/mpeg"), 415),
        ("ct9.mp3", Some("multipart/form-data; boundary=x"), 415),
        ("ct10.mp3", Some("application/x-www-form-urlencoded"), 415),
    ];
    for (name, content_type, status) in cases {
        let body = if name.ends_with(".wav") {
            wav(50)
        } else {
            mp3(50, 1)
        };
        let reply = put(&server, &format!("/recordings/{name}"), content_type, &body).await;
        if status == 201 {
            assert_eq!(
                reply.status,
                201,
                "{name} {content_type:?}: {}",
                reply.text()
            );
        } else {
            assert_error(&reply, status, name);
        }
    }
    // Served with the right type.
    for rec in list(&server, "").await {
        let reply = get(&server.url(rec["url"].as_str().unwrap())).await;
        let expected = if rec["format"] == "wav" {
            "audio/wav"
        } else {
            "audio/mpeg"
        };
        assert_eq!(reply.content_type.as_deref(), Some(expected), "{rec}");
    }
    assert_eq!(list(&server, "").await.len(), 6);
}

#[tokio::test]
async fn a_failed_header_check_is_recorded_not_refused() {
    let server = server();
    let text = b"this is not audio at all".to_vec();
    let rec = created(&server, "/recordings/fake.mp3", Some("audio/mpeg"), &text).await;
    assert_eq!(rec["format_ok"], false);
    assert_eq!(rec["duration_ms"], Value::Null);
    let rec = created(&server, "/recordings/fake.wav", None, &mp3(100, 1)).await;
    assert_eq!(rec["format_ok"], false);
    let id3 = [b"ID3\x04\0\0\0\0\0\0".as_slice(), &mp3(16_000, 2)].concat();
    let rec = created(&server, "/recordings/tagged.mp3", None, &id3).await;
    assert_eq!(
        (rec["format_ok"].clone(), rec["duration_ms"].clone()),
        (true.into(), 1000.into())
    );
}

#[tokio::test]
async fn what_cannot_be_a_recording_is_400_and_stores_nothing() {
    let server = server();
    for (path, says) in [
        ("/recordings/no-extension", "no extension"),
        ("/recordings/x.ogg", ".mp3 or .wav"),
        ("/recordings", "names no file"),
        ("/recordings/", "names no file"),
        ("/recordings/x%00y.mp3", "NUL"),
        ("/recordings/x.mp3?call_id=a%00b", "NUL"),
        ("/recordings/x%zz.mp3", "percent-encoding"),
        ("/recordings/.mp3", "no name"),
    ] {
        let reply = put(&server, path, Some("audio/mpeg"), &mp3(100, 1)).await;
        let body = assert_error(&reply, 400, path);
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
    }
    let empty = put(&server, "/recordings/empty.mp3", Some("audio/mpeg"), b"").await;
    assert!(assert_error(&empty, 400, "empty")["detail"]
        .as_str()
        .unwrap()
        .contains("empty"));
    assert!(list(&server, "").await.is_empty());
    assert!(files_under(&server.root()).is_empty());
}

#[tokio::test]
async fn listings_filter_by_call_account_and_time() {
    let server = server();
    let other = "ffffffffffffffffffffffffffffffff";
    for (call, account) in [("l1", ACCOUNT), ("l2", ACCOUNT), ("l1", other)] {
        let path =
            format!("/recordings/call_recording_{call}.mp3?call_id={call}&account_id={account}");
        created(&server, &path, None, &mp3(100, 1)).await;
    }
    let calls = |recs: Vec<Value>| -> Vec<String> {
        let mut v: Vec<String> = recs
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r["call_id"].as_str().unwrap(),
                    &r["account_id"].as_str().unwrap()[..2]
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(calls(list(&server, "call_id=l1").await), ["l1/3a", "l1/ff"]);
    assert_eq!(
        calls(list(&server, &format!("account_id={ACCOUNT}")).await),
        ["l1/3a", "l2/3a"]
    );
    assert_eq!(
        calls(list(&server, &format!("call_id=l1&account_id={other}")).await),
        ["l1/ff"]
    );
    assert_eq!(list(&server, "since=2026-03-01").await.len(), 3);
    assert_eq!(
        list(&server, "since=2026-03-01T12:00:00.001Z").await.len(),
        0
    );
    assert_eq!(list(&server, "until=2026-03-01T12:00:00Z").await.len(), 0);
    assert_eq!(list(&server, "until=2026-03-02&limit=2").await.len(), 2);
    for bad in [
        "since=yesterday",
        "limit=0",
        "limit=5000",
        "callid=l1",
        "call_id[]=x",
    ] {
        let reply = get(&server.url(&format!("/recordings?{bad}"))).await;
        assert_error(&reply, 400, bad);
    }
}

/// `GET url` with a `Range` header.
async fn ranged(
    server: &Server,
    url: &str,
    range: &str,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = common::client()
        .get(server.url(url))
        .header(reqwest::header::RANGE, range)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn downloads_answer_range_requests() {
    let server = server();
    let body = mp3(100_000, 5);
    let rec = created(&server, "/recordings/range1.mp3", None, &body).await;
    let url = rec["url"].as_str().unwrap();
    let header = |h: &reqwest::header::HeaderMap, name| {
        h.get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
    };

    let (status, headers, bytes) = ranged(&server, url, "bytes=10-19").await;
    assert_eq!(status, 206);
    assert_eq!(bytes, body[10..20]);
    assert_eq!(
        header(&headers, "content-range").as_deref(),
        Some("bytes 10-19/100000")
    );
    assert_eq!(
        header(&headers, "content-type").as_deref(),
        Some("audio/mpeg")
    );

    let (status, headers, bytes) = ranged(&server, url, "bytes=-5").await;
    assert_eq!(status, 206);
    assert_eq!(bytes, body[99_995..]);
    assert_eq!(
        header(&headers, "content-range").as_deref(),
        Some("bytes 99995-99999/100000")
    );

    let (status, _, bytes) = ranged(&server, url, "bytes=50000-").await;
    assert_eq!(status, 206);
    assert_eq!(bytes, body[50_000..]);

    let (status, headers, _) = ranged(&server, url, "bytes=200000-300000").await;
    assert_eq!(status, 416);
    assert_eq!(
        header(&headers, "content-range").as_deref(),
        Some("bytes */100000")
    );

    let whole = get(&server.url(url)).await;
    assert_eq!((whole.status, whole.body.len()), (200, body.len()));
}

#[tokio::test]
async fn delete_removes_file_and_metadata() {
    let server = server();
    let rec = created(&server, "/recordings/del1.mp3", None, &mp3(100, 1)).await;
    let id = rec["id"].as_str().unwrap();
    let path = format!("/recordings/{id}");
    let gone = request(Method::DELETE, &server.url(&path), None, Vec::new()).await;
    assert_eq!(gone.status, 204, "{}", gone.text());
    assert!(files_under(&server.root()).is_empty());
    assert!(list(&server, "").await.is_empty());
    for url in [path.clone(), format!("{path}/audio")] {
        assert_error(&get(&server.url(&url)).await, 404, &url);
    }
    let again = request(Method::DELETE, &server.url(&path), None, Vec::new()).await;
    assert_error(&again, 404, "second delete");
    for bad in [
        "/recordings/not-an-id",
        "/recordings/..%2F..%2Fetc/audio",
        "/recordings/a/b/c",
    ] {
        assert_error(&get(&server.url(bad)).await, 404, bad);
    }
    let patch = request(
        Method::PATCH,
        &server.url("/recordings/x.mp3"),
        None,
        Vec::new(),
    )
    .await;
    assert_error(&patch, 405, "PATCH");
    let all = request(Method::DELETE, &server.url("/recordings"), None, Vec::new()).await;
    assert_error(&all, 405, "DELETE /recordings");
}

/// `method url` with an `Authorization` header (or none) and a body.
async fn with_auth(method: Method, url: &str, auth: Option<&str>, body: Vec<u8>) -> Reply {
    let mut builder = common::client().request(method, url);
    if let Some(auth) = auth {
        builder = builder.header(reqwest::header::AUTHORIZATION, auth);
    }
    let response = builder.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body = response.bytes().await.unwrap().to_vec();
    if let Some(challenge) = challenge {
        // Carry the challenge in the body's text for the assertions below.
        body.extend_from_slice(format!("\nchallenge: {challenge}").as_bytes());
    }
    Reply {
        status,
        content_type,
        body,
    }
}

#[tokio::test]
async fn authentication_when_configured() {
    let server = server_with(RecordingsConfig {
        upload_basic: Some(("kazoo".into(), Secret::new("pa:ss w0rd"))),
        upload_token: Some(Secret::new("upload-token-1")),
        admin_token: Some(Secret::new("admin-token-1")),
        ..RecordingsConfig::default()
    });
    let upload = server.url("/recordings/auth1.mp3");
    let body = mp3(100, 1);
    // "kazoo:pa:ss w0rd" in base64.
    let basic = "Basic a2F6b286cGE6c3MgdzByZA==";
    for (auth, status) in [
        (None, 401),
        (Some("Basic a2F6b286d3Jvbmc="), 401),
        (Some("Bearer admin-token-1"), 401),
        (Some("Digest abc"), 401),
        (Some(basic), 201),
        (Some("Bearer upload-token-1"), 200),
    ] {
        let reply = with_auth(Method::PUT, &upload, auth, body.clone()).await;
        assert_eq!(reply.status, status, "{auth:?}: {}", reply.text());
        if status == 401 {
            let text = reply.text();
            assert!(text.contains("challenge: Basic realm="), "{text}");
            assert!(
                !text.contains("w0rd") && !text.contains("token-1"),
                "{text}"
            );
        }
    }
    // The url form Kazoo uses: credentials in the URL become basic auth.
    let in_url = upload.replace("http://", "http://kazoo:pa%3Ass%20w0rd@");
    let reply = with_auth(Method::PUT, &in_url, None, body.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let listing = server.url("/recordings");
    for (auth, status) in [
        (None, 401),
        (Some(basic), 401),
        (Some("Bearer upload-token-1"), 401),
        (Some("Bearer admin-token-1"), 200),
    ] {
        let reply = with_auth(Method::GET, &listing, auth, Vec::new()).await;
        assert_eq!(reply.status, status, "list {auth:?}: {}", reply.text());
    }
    let admin = Some("Bearer admin-token-1");
    let listed = with_auth(Method::GET, &listing, admin, Vec::new())
        .await
        .json();
    let url = server.url(listed["recordings"][0]["url"].as_str().unwrap());
    assert_eq!(
        with_auth(Method::GET, &url, None, Vec::new()).await.status,
        401
    );
    assert_eq!(
        with_auth(Method::GET, &url, admin, Vec::new()).await.body,
        body
    );
    let one = url.trim_end_matches("/audio").to_owned();
    assert_eq!(
        with_auth(Method::DELETE, &one, None, Vec::new())
            .await
            .status,
        401
    );
    assert_eq!(
        with_auth(Method::DELETE, &one, admin, Vec::new())
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn authentication_is_off_by_default() {
    let server = server();
    let reply = with_auth(
        Method::PUT,
        &server.url("/recordings/open1.mp3"),
        Some("Basic anything"),
        mp3(10, 1),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(list(&server, "").await.len(), 1);
}
