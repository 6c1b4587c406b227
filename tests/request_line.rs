//! Request lines the HTTP library (actix-web 4 / actix-http 3) refuses before any handler runs
//! (issue 9 §6), over a raw TCP socket. actix-http answers these itself with a fixed, empty
//! response and closes the connection, and offers no hook to give them a body; the README's HTTP
//! section says so. These tests pin that behaviour, so a change of the library shows up here,
//! and show that the same mistakes the service can see are answered with its JSON errors.

use crate::common;

use common::{raw_get, raw_http, serve_shipped};

const SOME_TIME: &str = "2026-11-17T15:00:00Z";

/// Asserts actix-http's own refusal: `status`, no body, the connection closed (`raw_http` reads
/// until the server closes).
fn assert_library_refusal(target: &[u8], status: u16, what: &str) {
    let server = serve_shipped(SOME_TIME);
    let reply = raw_http(server.addr, raw_get(target));
    assert_eq!(reply.status, status, "{what}: {}", reply.headers);
    assert!(reply.body.is_empty(), "{what}: {:?}", reply.body);
    assert!(
        reply.headers.contains("content-length: 0"),
        "{what}: {}",
        reply.headers
    );
}

#[test]
fn a_raw_non_ascii_byte_in_the_target_is_refused_by_the_library_with_an_empty_400() {
    assert_library_refusal(b"/pivot/collected?Digits=\xff", 400, "raw 0xFF");
    // An unencoded `…` is three raw bytes (E2 80 A6): the same.
    assert_library_refusal("/pivot/collected?x=…".as_bytes(), 400, "raw …");
}

#[test]
fn a_target_over_the_library_limits_is_refused_with_an_empty_400_or_431() {
    // Over 65,534 bytes the URI parser (the `http` crate) refuses it: 400.
    let long = format!("/pivot/collected?x={}", "a".repeat(70_000));
    assert_library_refusal(long.as_bytes(), 400, "70,000-byte target");
    // Over 128 KiB the request head does not fit actix-http's buffer: 431.
    let longer = format!("/pivot/collected?x={}", "a".repeat(140_000));
    assert_library_refusal(longer.as_bytes(), 431, "140,000-byte target");
    // More than 96 headers: 431 too.
    let server = serve_shipped(SOME_TIME);
    let mut request =
        b"GET /healthz HTTP/1.1\r\nHost: pivot.test\r\nConnection: close\r\n".to_vec();
    for i in 0..100 {
        request.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let reply = raw_http(server.addr, request);
    assert_eq!(reply.status, 431, "{}", reply.headers);
    assert!(reply.body.is_empty(), "{:?}", reply.body);
}

#[test]
fn the_same_mistakes_escaped_reach_the_service_and_get_its_json_errors() {
    let server = serve_shipped(SOME_TIME);
    let reply = raw_http(server.addr, raw_get(b"/pivot/collected?Digits=%FF"));
    let body = reply.assert_error(400, "escaped 0xFF");
    assert!(body["detail"].as_str().unwrap().contains("UTF-8"), "{body}");
    // A long target under the library's limit is the service's to judge: here, a flow answers.
    let long = format!("/pivot/collected?x={}", "a".repeat(60_000));
    let reply = raw_http(server.addr, raw_get(long.as_bytes()));
    assert_eq!(reply.status, 200, "{}", reply.headers);
}
