//! `GET /flows` over HTTP: loaded rule and script flows with their versions, a broken flow with
//! its load error beside it, and files that serve no flow listed apart.

use crate::common;

use common::{at, flows_dir, get, serve, write_flow};
use serde_json::Value;

const RULES: &str = r#"
[default]
module = "tts"
data = { text = "hello" }
"#;

const SCRIPT: &str = "function main() { return { module: 'hangup', data: {} }; }";

fn by_name<'a>(flows: &'a [Value], name: &str) -> &'a Value {
    flows
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("flow `{name}` not listed: {flows:?}"))
}

#[tokio::test]
async fn lists_flows_with_kind_version_file_and_errors() {
    let dir = flows_dir(&[
        ("greet.toml", RULES),
        ("sales/main.toml", RULES),
        ("hang.js", SCRIPT),
        // A rule that never closes its table: the file does not load.
        ("broken.toml", "[default\nmodule = \"tts\"\n"),
        ("broken_script.js", "function main( {"),
    ]);
    // A name a URL can't carry: not a flow, but a problem to show.
    write_flow(dir.path(), "bad name.toml", RULES);
    let server = serve(dir.path(), at("2026-11-21T12:00:00Z"));

    let reply = get(&server.url("/flows")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    let body = reply.json();
    let flows = body["flows"].as_array().expect("`flows` is a list");
    let names: Vec<&str> = flows.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(
        names,
        ["broken", "broken_script", "greet", "hang", "sales/main"],
        "every flow name, sorted: {body}"
    );

    let greet = by_name(flows, "greet");
    assert_eq!(greet["kind"], "rules");
    assert_eq!(greet["file"], "greet.toml", "relative to the flows folder");
    assert!(greet["error"].is_null(), "{greet}");
    let version = greet["version"]
        .as_str()
        .expect("a loaded flow has a version");
    assert_eq!(version.len(), 12, "{greet}");
    // Same text, same version: the version names what was loaded, not where.
    assert_eq!(by_name(flows, "sales/main")["version"], greet["version"]);
    assert_eq!(by_name(flows, "sales/main")["file"], "sales/main.toml");

    let hang = by_name(flows, "hang");
    assert_eq!(hang["kind"], "script");
    assert!(
        hang["version"].is_string() && hang["error"].is_null(),
        "{hang}"
    );

    let broken = by_name(flows, "broken");
    assert_eq!(broken["kind"], "rules");
    assert!(broken["version"].is_null(), "{broken}");
    let error = broken["error"]
        .as_str()
        .expect("a broken flow has its error");
    assert!(error.starts_with("broken.toml:"), "file first: {error}");
    assert!(
        !error.contains(&dir.path().display().to_string()),
        "no server paths: {error}"
    );
    let broken_script = by_name(flows, "broken_script");
    assert_eq!(broken_script["kind"], "script");
    assert!(broken_script["error"].is_string(), "{broken_script}");

    let others = body["errors"].as_array().expect("`errors` is a list");
    assert_eq!(others.len(), 1, "only the badly named file: {others:?}");
    assert_eq!(others[0]["file"], "bad name.toml");
    assert!(others[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("letters, digits")));
}

#[tokio::test]
async fn an_empty_folder_lists_nothing() {
    let dir = flows_dir(&[]);
    let server = serve(dir.path(), at("2026-11-21T12:00:00Z"));
    let reply = get(&server.url("/flows")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        serde_json::json!({"flows": [], "errors": []}),
        "{}",
        reply.text()
    );
}
