//! Cost of one warm script call: a 20-line flow, in its sandbox on the calling thread (the JS
//! work alone), and through the JS pool (plus the queue and the thread hop a request pays).
//!
//! Run: `cargo bench --bench script`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pivotforge::script::fetch::Fetcher;
use pivotforge::script::sandbox::{Sandbox, Vars};
use pivotforge::script::{self, FlowSettings, HostServices, Isolation, JsPool};
use pivotforge::store::{Store, StoreConfig};

fn services(data: &std::path::Path) -> Arc<HostServices> {
    let store: Arc<dyn Store> =
        pivotforge::store::open(&StoreConfig::default(), data).expect("store opens");
    Arc::new(HostServices {
        store,
        fetcher: Fetcher::new().expect("fetch runtime"),
        pivot: pivotforge::auth::PivotLink::plain("http://127.0.0.1:8080"),
    })
}

fn flow() -> Arc<script::ScriptFlow> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/flows");
    let schemas = pivotforge::callflow::Schemas::new();
    let flow = script::load(
        "twenty_lines",
        &root.join("twenty_lines.js"),
        &root,
        &FlowSettings::default(),
        &schemas,
    )
    .map_err(|e| e.0.to_string())
    .expect("the bench script loads");
    Arc::new(flow)
}

const ARG: &str =
    r#"{"Caller-ID-Number":"+14155550100","Call-ID":"abc@10.0.0.1","Request":"2030"}"#;

fn warm_call(c: &mut Criterion) {
    let data = tempfile::tempdir().expect("temp dir");
    let services = services(data.path());
    let flow = flow();
    let far = || Instant::now() + Duration::from_secs(5);
    let mut sandbox = Sandbox::new(&flow, &services, far())
        .map_err(|e| format!("{e:?}"))
        .expect("sandbox");
    let now = Some(1_795_000_000_000);
    let first = sandbox.call("main", ARG, Vars::Set, far(), now);
    assert!(
        first.result.is_ok(),
        "the bench script answers: {:?}",
        first.result
    );
    c.bench_function("20-line script, warm sandbox call", |b| {
        b.iter(|| sandbox.call("main", std::hint::black_box(ARG), Vars::Set, far(), now))
    });

    let pool = JsPool::new(1, 64, Isolation::for_threads(1), services.clone()).expect("pool");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let arg = ARG.to_owned();
    c.bench_function("20-line script, through the JS pool", |b| {
        b.iter(|| rt.block_on(pool.run(flow.clone(), "main", (arg.clone(), Vars::Set), now)))
    });
}

criterion_group!(benches, warm_call);
criterion_main!(benches);
