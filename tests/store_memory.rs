//! The store's memory does not grow with its file (found by `benches/soak.sh`): the exchange
//! log writes every step to `DATA_DIR/pivotforge.redb`, and with redb's default page cache
//! (1 GiB) the service's RSS followed the file, 88 → 306 MiB over 20 s of one rule flow. Here
//! the real binary stores about 100 MB of steps (replies of 60 KiB, kept whole in the log) and
//! its RSS must grow by far less than that.

use crate::common;
use crate::hardening_support;

use std::time::{Duration, Instant};

use common::{flows_dir, post_json};
use hardening_support::{mb, ServerProcess};
use serde_json::json;

/// Bytes of the reply's one variable: under the log's 64 KiB cut, so each step keeps it whole.
const BLOB: usize = 60 * 1024;
/// Calls made: about 100 MB of steps for the store.
const CALLS: usize = 1600;
/// What the store file must reach, to show the steps were written.
const MIN_FILE: u64 = 64 * 1024 * 1024;
/// RSS growth allowed: the store's cache and the 1 MiB ring of steps in memory, with room;
/// far below the file's growth, which RSS followed before.
const MAX_GROWTH: u64 = 40 * 1024 * 1024;

fn flow() -> String {
    format!(
        "[default]\nmodule = \"set_variables\"\ndata = {{ custom_application_vars = {{ blob = \"{}\" }} }}\n",
        "x".repeat(BLOB)
    )
}

fn file_size(data: &std::path::Path) -> u64 {
    std::fs::metadata(data.join("pivotforge.redb")).map_or(0, |m| m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storing_many_steps_does_not_grow_the_process_with_the_store_file() {
    let _heavy = common::heavy().await;
    let flows = flows_dir(&[("blob.toml", &flow())]);
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        flows.path(),
        data.path(),
        "[calls]\nmemory_bytes = 1048576\n",
    );
    let call = |n: usize| {
        let url = server.url("/pivot/blob");
        async move { post_json(&url, &json!({"Call-ID": format!("store-memory-{n}")})).await }
    };
    let first = call(0).await;
    assert_eq!(
        first.status,
        200,
        "{}",
        &first.text()[..200.min(first.text().len())]
    );
    // The first steps fill the ring in memory and warm the store; growth counts from here.
    for n in 1..=40 {
        call(n).await;
    }
    let before = server.rss();
    for n in 41..=CALLS {
        let reply = call(n).await;
        assert_eq!(reply.status, 200, "call {n}");
    }
    // The log's writer stores steps every 200 ms: wait until the file stops growing.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut size, mut since) = (file_size(data.path()), Instant::now());
    while since.elapsed() < Duration::from_secs(1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = file_size(data.path());
        if now != size {
            (size, since) = (now, Instant::now());
        }
    }
    let after = server.rss();
    let file = file_size(data.path());
    eprintln!(
        "{CALLS} steps of {} KiB: store file {:.1} MB, RSS {:.1} MB -> {:.1} MB",
        BLOB / 1024,
        mb(file),
        mb(before),
        mb(after)
    );
    assert!(
        file >= MIN_FILE,
        "the steps reached the store: {:.1} MB",
        mb(file)
    );
    let growth = after.saturating_sub(before);
    assert!(
        growth < MAX_GROWTH,
        "RSS grew {:.1} MB while the store file reached {:.1} MB",
        mb(growth),
        mb(file)
    );
}
