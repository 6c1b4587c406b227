//! Issue 9 §6, small contradictions between the README and the service: `data.Digits` is always
//! an object in a script; `pivotforge run` beside a running service leaves no scratch folder
//! behind; `pivotforge check` counts in the singular and the plural.

use crate::common;

use common::{assert_tree, at, config, flows_dir, get, post_json, serve, serve_in};
use serde_json::json;

/// Describes what the script got as `data.Digits`, without ever throwing on it.
const DIGITS: &str = "function main(data) {\n\
  const d = data.Digits;\n\
  const text = [typeof d, Array.isArray(d), JSON.stringify(d), String(d.custom_name)].join(' ');\n\
  return { module: 'tts', data: { text } };\n\
}";

fn tts(text: &str) -> serde_json::Value {
    json!({"module": "tts", "data": {"text": text}})
}

#[tokio::test]
async fn data_digits_is_always_an_object() {
    let dir = flows_dir(&[("digits.js", DIGITS)]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    assert_tree(
        &get(&server.url("/pivot/digits?Call-ID=d1")).await,
        &tts("object false {} undefined"),
        "a GET without digits",
    );
    assert_tree(
        &post_json(&server.url("/pivot/digits"), &json!({"Call-ID": "d2"})).await,
        &tts("object false {} undefined"),
        "a JSON POST without digits",
    );
    assert_tree(
        &get(&server.url("/pivot/digits?Call-ID=d3&Digits[custom_name]=42")).await,
        &tts(r#"object false {"custom_name":"42"} 42"#),
        "a collection",
    );
    assert_tree(
        &get(&server.url("/pivot/digits?Call-ID=d4&Digits=7")).await,
        &tts(r#"object false {"default":"7"} undefined"#),
        "the legacy string",
    );
}

/// Counts its calls in cxKV, so `run` needs a store.
const COUNTER: &str = "import { incr } from 'cxKV';\n\
export async function main() { return { module: 'tts', data: { text: 'call ' + (await incr('n')) } }; }";

#[tokio::test]
async fn run_beside_a_running_service_leaves_no_scratch_folder() {
    let flows = flows_dir(&[("counter.js", COUNTER)]);
    let data = tempfile::tempdir().expect("data dir");
    // The service holds the store (redb is exclusive), so `run` falls back to a scratch one.
    let server = serve_in(
        config(flows.path()),
        data.path(),
        at("2026-11-17T15:00:00Z"),
    );
    let tmp = tempfile::tempdir().expect("TMPDIR for the command");
    let flows_arg = flows.path().to_str().expect("utf-8 path");
    for _ in 0..3 {
        let (code, stdout, stderr) = common::pivotforge_cli(
            &["run", "counter", "--flows", flows_arg],
            &[("PIVOTFORGE_DATA_DIR", data.path()), ("TMPDIR", tmp.path())],
        );
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("call 1"), "{stdout}");
        assert!(stderr.contains("scratch store"), "{stderr}");
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("read TMPDIR")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
    }
    drop(server);
}

fn check(files: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = flows_dir(files);
    let (code, stdout, _) =
        common::pivotforge_cli(&["check", dir.path().to_str().expect("utf-8 path")], &[]);
    (code, stdout)
}

#[test]
fn check_counts_in_the_singular_and_the_plural() {
    const GOOD: &str = "[default]\nmodule = \"hangup\"\ndata = {}\n";
    const BROKEN: &str = "[default]\nmodule = \"say\"\ndata = {}\n";
    let (code, stdout) = check(&[("a.toml", GOOD), ("b.toml", BROKEN)]);
    assert_eq!(code, Some(1));
    assert!(stdout.starts_with("1 flow OK, 1 problem in "), "{stdout}");
    let (code, stdout) = check(&[
        ("a.toml", GOOD),
        ("c.toml", GOOD),
        ("b.toml", BROKEN),
        ("d.toml", BROKEN),
    ]);
    assert_eq!(code, Some(1));
    assert!(stdout.starts_with("2 flows OK, 2 problems in "), "{stdout}");
    let (code, stdout) = check(&[("a.toml", GOOD)]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("1 flow OK, 0 problems in "), "{stdout}");
}
