//! Micro-benchmarks of the request path's pure parts: parsing a Kazoo request, evaluating a rule
//! flow, validating a tree, and the whole `Engine::answer` for a shipped flow.
//!
//! Run: `cargo bench --bench core`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use pivotforge::engine::{Engine, EngineOptions};
use pivotforge::request::{BodyFormat, PivotRequest};
use serde_json::json;

/// The example GET query of the reference (§1), as Kazoo sends it.
const KAZOO_QUERY: &str =
    "User-ID=8f0c3a1d9e2b4c5d6e7f8a9b0c1d2e3f&To-Realm=acme.sip.example.com&To=2030\
&Request=2030&Language=en-us&From=1000&Direction=inbound&Digits[custom_name]=1234&&&\
Caller-ID-Number=%2B14155550100&Caller-ID-Name=Alice+Smith&Call-ID=abc123%4010.0.0.1\
&Api-Version=4.x&Account-ID=3a1d9e2b4c5d6e7f8a9b0c1d2e3f4a5b";

fn engine() -> Engine {
    let flows = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("callflows");
    Engine::load(EngineOptions::new(flows, "http://127.0.0.1:8080")).expect("shipped flows load")
}

fn office_hours() -> DateTime<Utc> {
    "2026-11-23T15:00:00Z".parse().expect("valid instant")
}

fn parse(c: &mut Criterion) {
    c.bench_function("parse GET query (Kazoo example)", |b| {
        b.iter(|| PivotRequest::parse(std::hint::black_box(KAZOO_QUERY), b"", BodyFormat::Form))
    });
    let body = json!({"Call-ID": "abc123@10.0.0.1", "Caller-ID-Number": "+14155550100",
        "Digits": {"custom_name": "1234"}, "User-ID": ["a", "b"], "Account-ID": "3a1d"})
    .to_string();
    c.bench_function("parse POST json", |b| {
        b.iter(|| PivotRequest::parse("", std::hint::black_box(body.as_bytes()), BodyFormat::Json))
    });
}

fn rules(c: &mut Criterion) {
    let engine = engine();
    let req = PivotRequest::parse(KAZOO_QUERY, b"", BodyFormat::Form).expect("parses");
    let now = office_hours();
    // Rule flows never await: the future is ready at its first poll.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    c.bench_function("answer main_number_tod (evaluate + validate)", |b| {
        b.iter(|| rt.block_on(engine.answer("main_number_tod", std::hint::black_box(&req), now)))
    });
    c.bench_function("answer conference_areacode (regex + templates)", |b| {
        b.iter(|| {
            rt.block_on(engine.answer("conference_areacode", std::hint::black_box(&req), now))
        })
    });
}

fn validate(c: &mut Criterion) {
    let engine = engine();
    let tree = json!({"module": "device", "data": {"id": "3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b", "timeout": 20},
        "children": {"_": {"module": "voicemail", "data": {"id": "9a8b7c6d5e4f30211a2b3c4d5e6f7a8b"}}}});
    c.bench_function("validate device+voicemail tree", |b| {
        b.iter(|| engine.schemas().validate(std::hint::black_box(&tree)))
    });
}

criterion_group!(benches, parse, rules, validate);
criterion_main!(benches);
