//! Cost of each step of a Class 5 call: step k of a call whose journal already holds k steps
//! (distinct calls, their journals seeded by running the earlier steps), through the engine:
//! the journal read, the replay (in the flow's realm), the reply and the journal's durable write.
//! Target: the 10th step costs < 2× the 1st; any step of a 30-step call < 10 ms.
//!
//! Run: `cargo bench --bench class5`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use pivotforge::engine::{Engine, EngineOptions};
use pivotforge::request::PivotRequest;
use pivotforge::script::fetch::Fetcher;
use pivotforge::script::{HostServices, Isolation, JsPool};
use pivotforge::store::{Store, StoreConfig};
use serde_json::{json, Value};

const FLOW: &str = r#"
const { incr } = require('cxKV');
async function main(data, ctx) {
  await ctx.answer();
  for (let i = 1; ; i += 1) {
    const { value } = await ctx.ivr(`Step ${i}: press a key`, 5, 1, 1);
    await incr('presses');
    await ctx.tts(`You pressed ${value}`);
  }
}
"#;

struct Bench {
    engine: Engine,
    rt: tokio::runtime::Runtime,
    calls: AtomicUsize,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Bench {
    fn new() -> Bench {
        let flows = tempfile::tempdir().expect("flows dir");
        std::fs::write(flows.path().join("steps.js"), FLOW).expect("write the flow");
        let data = tempfile::tempdir().expect("data dir");
        let store: Arc<dyn Store> =
            pivotforge::store::open(&StoreConfig::default(), data.path()).expect("store");
        let services = Arc::new(HostServices {
            store,
            fetcher: Fetcher::new().expect("fetch runtime"),
            pivot: pivotforge::auth::PivotLink::plain("http://127.0.0.1:8080"),
        });
        let pool = JsPool::new(1, 64, Isolation::for_threads(1), services).expect("pool");
        let engine = Engine::load(EngineOptions::new(flows.path(), "http://127.0.0.1:8080"))
            .expect("flows load")
            .with_pool(Arc::new(pool));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        Bench {
            engine,
            rt,
            calls: AtomicUsize::new(0),
            _dirs: (flows, data),
        }
    }

    /// Request `n` of call `call` (its digits for the step before).
    fn request(call: &str, n: usize) -> PivotRequest {
        let mut params = json!({"Call-ID": call, "Caller-ID-Number": "+14155550100"});
        if n > 0 {
            params["step"] = Value::String(n.to_string());
            params["Digits"] = json!({ format!("pf_step{}", n - 1): "1" });
        }
        let map = params.as_object().cloned().unwrap_or_default();
        PivotRequest::from_params(map).expect("a request")
    }

    fn step(&self, call: &str, n: usize) {
        let answer = self
            .rt
            .block_on(
                self.engine
                    .answer("steps", &Self::request(call, n), chrono::Utc::now()),
            )
            .expect("answered");
        assert!(
            answer.outcome.failure().is_none(),
            "step {n}: {:?}",
            answer.outcome
        );
    }

    /// A new call with its first `steps` steps answered: the journal of step `steps`.
    fn seeded(&self, steps: usize) -> String {
        let call = format!("bench-{}", self.calls.fetch_add(1, Ordering::Relaxed));
        for n in 0..steps {
            self.step(&call, n);
        }
        call
    }
}

fn steps(c: &mut Criterion) {
    let bench = Bench::new();
    let mut group = c.benchmark_group("Class 5 step");
    group.sample_size(30);
    for k in [1usize, 5, 10, 30] {
        group.bench_function(format!("step {k}"), |b| {
            b.iter_batched(
                || bench.seeded(k - 1),
                |call| bench.step(&call, k - 1),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
