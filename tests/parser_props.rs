//! Property tests of the request parsers: no input makes them panic, Kazoo-style encodings of
//! generated parameters parse back to what was encoded, and random query strings sent over HTTP
//! never get a 5xx.

use crate::common;

use std::collections::BTreeMap;

use common::kazoo_form;
use pivotforge::request::{form, BodyFormat, PivotRequest, UserIds};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failures are reported in the test output; no regression files next to the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes biased toward what matters to the form parser.
fn form_bytes() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop::sample::select(b"a=&[]%+2Fz0\xff\xc3\xa9 .-_".to_vec());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(interesting, 0..256),
    ]
}

/// True when a parsed form holds only strings, lists and objects (what form encoding can say).
fn only_form_values(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(only_form_values),
        Value::Object(map) => map.values().all(only_form_values),
        _ => false,
    }
}

/// Any JSON document, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("Call-ID".to_owned()),
                    Just("Digits".to_owned()),
                    Just("User-ID".to_owned()),
                    Just("Custom-Application-Vars".to_owned()),
                    Just("Caller-ID-Number".to_owned()),
                    "[A-Za-z-]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn form_parse_never_panics(bytes in form_bytes()) {
        if let Ok(map) = form::parse(&bytes) {
            prop_assert!(map.keys().all(|k| !k.is_empty()), "{map:?}");
            prop_assert!(map.values().all(only_form_values), "{map:?}");
        }
    }

    #[test]
    fn pivot_request_parse_never_panics_on_bytes(
        query in "\\PC{0,64}",
        body in form_bytes(),
        json in any::<bool>(),
    ) {
        let format = if json { BodyFormat::Json } else { BodyFormat::Form };
        if let Ok(req) = PivotRequest::parse(&query, &body, format) {
            prop_assert!(req.to_value().is_object());
        }
    }

    #[test]
    fn pivot_request_parse_never_panics_on_json(doc in json_value(), query in "[A-Za-z=&\\[\\]%0-9-]{0,40}") {
        let body = doc.to_string();
        let parsed = PivotRequest::parse(&query, body.as_bytes(), BodyFormat::Json);
        if !doc.is_object() {
            prop_assert!(parsed.is_err(), "a non-object body must be refused: {body}");
        }
        if let Ok(req) = parsed {
            prop_assert!(req.to_value().is_object());
        }
    }
}

// ---- round trips ----

fn simple_key() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_-]{0,10}"
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,16}"
}

/// A parameter value form encoding can carry: text, a non-empty object of text, or a
/// non-empty list of text.
fn param_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => text().prop_map(Value::String),
        1 => prop::collection::btree_map(simple_key(), text().prop_map(Value::String), 1..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => prop::collection::vec(text().prop_map(Value::String), 1..4).prop_map(Value::Array),
    ]
}

fn string_map(keys: impl Strategy<Value = String>) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(keys, text().prop_map(Value::String), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

prop_compose! {
    fn pivot_request()(
        scalars in prop::collection::vec(prop::option::of(text()), 13),
        user_ids in prop::collection::vec("[0-9a-f]{1,32}", 0..4),
        digits in prop::collection::btree_map("[a-z_]{1,10}", "[0-9*#]{0,6}", 0..3),
        custom_application_vars in string_map(simple_key()),
        custom_sip_headers in string_map("X-[A-Za-z]{1,8}"),
        extra in prop::collection::btree_map("Z-[A-Za-z0-9]{1,8}", param_value(), 0..4),
    ) -> PivotRequest {
        let s = |i: usize| scalars[i].clone();
        PivotRequest {
            call_id: s(0),
            account_id: s(1),
            from: s(2),
            from_realm: s(3),
            to: s(4),
            to_realm: s(5),
            request: s(6),
            request_realm: s(7),
            caller_id_name: s(8),
            caller_id_number: s(9),
            direction: s(10),
            api_version: s(11),
            language: s(12),
            user_ids: UserIds(user_ids),
            digits: digits.into_iter().collect::<BTreeMap<_, _>>(),
            custom_application_vars,
            custom_sip_headers,
            extra: extra.into_iter().collect(),
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn form_parse_of_kazoo_encoding_round_trips(
        params in prop::collection::btree_map(simple_key(), param_value(), 0..8)
    ) {
        let params = Value::Object(params.into_iter().collect());
        let encoded = kazoo_form(&params);
        let parsed = form::parse(encoded.as_bytes());
        prop_assert_eq!(parsed.map(Value::Object), Ok(params), "{}", encoded);
    }

    #[test]
    fn pivot_request_round_trips_through_form_and_json(req in pivot_request()) {
        let value = req.to_value();
        let encoded = kazoo_form(&value);
        let from_query = PivotRequest::parse(&encoded, b"", BodyFormat::Form);
        prop_assert!(from_query.is_ok(), "{:?}: {}", from_query, encoded);
        prop_assert_eq!(from_query.unwrap(), req.clone(), "query {}", encoded);
        let from_form = PivotRequest::parse("", encoded.as_bytes(), BodyFormat::Form).unwrap();
        prop_assert_eq!(from_form, req.clone(), "form {}", encoded);
        let json = value.to_string();
        let from_json = PivotRequest::parse("", json.as_bytes(), BodyFormat::Json).unwrap();
        prop_assert_eq!(from_json, req, "json {}", json);
    }
}

// ---- over HTTP ----

/// Pieces random query strings are made of: Kazoo names, brackets, escapes good and bad.
fn query_piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "Digits",
        "Call-ID",
        "User-ID",
        "Caller-ID-Number",
        "Custom-Application-Vars",
        "Language",
        "[",
        "]",
        "[]",
        "[x]",
        "=",
        "&",
        "&&",
        "%",
        "%2B",
        "%FF",
        "%C3%A9",
        "%zz",
        "%4",
        "+",
        "a",
        "1",
        "415",
        "5550100",
        ".",
        "~",
        "-",
        "%40",
        "%5B",
        "%00",
    ])
}

#[test]
fn random_query_strings_never_get_a_5xx() {
    let server = common::serve_shipped("2026-11-17T15:00:00Z");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = common::client();
    let mut runner = proptest::test_runner::TestRunner::new(config(64));
    let strategy = (prop::collection::vec(query_piece(), 0..24), any::<bool>())
        .prop_map(|(pieces, post)| (pieces.concat(), post));
    runner
        .run(&strategy, |(query, post)| {
            let url = server.url("/pivot/conference_areacode");
            let (status, content_type) = runtime.block_on(async {
                let request = if post {
                    client
                        .post(&url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(query.clone())
                } else {
                    client.get(format!("{url}?{query}"))
                };
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap_or("").to_owned());
                let _ = response.bytes().await;
                (status, content_type)
            });
            prop_assert!(
                status < 500,
                "{} {query:?} gave {status}",
                if post { "POST" } else { "GET" }
            );
            prop_assert!(status == 200 || status == 400, "{query:?} gave {status}");
            prop_assert_eq!(content_type.as_deref(), Some("application/json"));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
