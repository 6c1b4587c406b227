//! Issue 9 §4, tenants never mix, over real HTTP: cxKV is one namespace per flow unless flows
//! name a shared one; userspace lists are readable by every flow but changed only by flows whose
//! settings allow the area; `/run` calls only a script's own functions; a blank secret stops
//! start-up naming its key.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_error, at, flows_dir, get, post_json, serve, TestServer};
use serde_json::{json, Value};

/// A flow that keeps its callers in cxKV, as a real tenant's would.
const VICTIM: &str = r#"
const { kv, ko, incr, keys } = require('cxKV');
module.exports = {
  async remember(a) {
    await kv.set('caller', a.number);
    await ko.set('profile', { number: a.number, vip: true });
    await incr('calls', 1);
    return { keys: await keys() };
  },
  async recall() {
    return { caller: await kv.get('caller'), profile: await ko.get('profile'),
             blocked: await kv.get('blocked:+14155550100'), keys: await keys() };
  },
};
"#;

/// A flow that tries every way cxKV offers to see or change another flow's keys.
const SPY: &str = r#"
const { kv, ko, incr, keys, usage } = require('cxKV');
module.exports = {
  async look() {
    return { keys: await keys(), usage: await usage(), caller: await kv.get('caller'),
             profile: await ko.get('profile') };
  },
  async tamper() {
    await kv.set('caller', 'spied');
    await kv.set('blocked:+14155550100', 'yes', 600);
    await incr('calls', 1000);
    await kv.delete('profile');
    return { keys: await keys() };
  },
};
"#;

/// Reads and writes one key; used by flows in a shared namespace and by one outside it.
const SHARER: &str = r#"
const { kv, keys } = require('cxKV');
module.exports = {
  async put(a) { await kv.set(a.key, a.value); return { keys: await keys() }; },
  async read(a) { return { value: await kv.get(a.key), keys: await keys() }; },
};
"#;

async fn run(server: &TestServer, path: &str, arg: &Value) -> Value {
    let reply = post_json(&server.url(&format!("/run/{path}")), arg).await;
    assert_eq!(reply.status, 200, "/run/{path}: {}", reply.text());
    reply.json()["result"].clone()
}

#[tokio::test]
async fn a_flow_can_neither_list_read_nor_write_another_flows_keys() {
    let dir = flows_dir(&[("victim.js", VICTIM), ("spy.js", SPY)]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let stored = run(
        &server,
        "victim/remember",
        &json!({"number": "+14155550100"}),
    )
    .await;
    assert_eq!(stored["keys"], json!(["caller", "calls", "profile"]));

    let seen = run(&server, "spy/look", &json!({})).await;
    assert_eq!(
        seen,
        json!({"keys": [], "usage": {"keys": 0, "bytes": 0}, "caller": null, "profile": null}),
        "the spy sees nothing of the victim's keys"
    );
    let tampered = run(&server, "spy/tamper", &json!({})).await;
    assert_eq!(
        tampered["keys"],
        json!(["blocked:+14155550100", "caller", "calls"]),
        "the spy's writes land in its own namespace"
    );

    let after = run(&server, "victim/recall", &json!({})).await;
    assert_eq!(
        after,
        json!({
            "caller": "+14155550100",
            "profile": {"number": "+14155550100", "vip": true},
            "blocked": null,
            "keys": ["caller", "calls", "profile"],
        }),
        "the victim's keys are untouched and the spy's block did not reach it"
    );
}

#[tokio::test]
async fn flows_naming_a_shared_namespace_share_it_and_no_other_flow_does() {
    let shared = "kv_namespace = \"team\"\n";
    let dir = flows_dir(&[
        ("a.js", SHARER),
        ("a.settings.toml", shared),
        ("b.js", SHARER),
        ("b.settings.toml", shared),
        // A flow named like the shared namespace still has its own private one.
        ("team.js", SHARER),
        ("loner.js", SHARER),
        ("bad.js", SHARER),
        ("bad.settings.toml", "kv_namespace = \"flow:a\"\n"),
    ]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    run(
        &server,
        "a/put",
        &json!({"key": "queue", "value": "from a"}),
    )
    .await;
    assert_eq!(
        run(&server, "b/read", &json!({"key": "queue"})).await,
        json!({"value": "from a", "keys": ["queue"]}),
        "b shares a's namespace"
    );
    run(
        &server,
        "loner/put",
        &json!({"key": "queue", "value": "mine"}),
    )
    .await;
    run(
        &server,
        "team/put",
        &json!({"key": "queue", "value": "team's own"}),
    )
    .await;
    assert_eq!(
        run(&server, "a/read", &json!({"key": "queue"})).await,
        json!({"value": "from a", "keys": ["queue"]}),
        "neither a private flow nor the flow named `team` reaches the shared namespace"
    );
    assert_eq!(
        run(&server, "loner/read", &json!({"key": "queue"})).await["value"],
        "mine"
    );
    assert_eq!(
        run(&server, "team/read", &json!({"key": "queue"})).await["value"],
        "team's own"
    );

    // A namespace that is not a plain name (it could spell a private one) does not load.
    let reply = post_json(&server.url("/run/bad/read"), &json!({"key": "queue"})).await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    let detail = reply.json()["detail"].as_str().unwrap_or("").to_owned();
    assert!(
        detail.contains("bad.settings.toml") && detail.contains("kv_namespace"),
        "{detail}"
    );
}

/// Reads, writes and deletes userspace entries of any area.
const LISTS: &str = r#"
const us = require('cxUserspace');
module.exports = {
  async read(a) { return { found: await us.read(a.area, a.key) }; },
  async write(a) { return { created: await us.create(a.area, a.key, a.value) }; },
  async remove(a) { return { removed: await us.delete(a.area, a.key) }; },
};
"#;

async fn put_entry(server: &TestServer, path: &str, value: &Value) -> u16 {
    common::put_json(&server.url(path), value).await.status
}

#[tokio::test]
async fn userspace_is_read_by_every_flow_and_changed_only_where_settings_allow() {
    let dir = flows_dir(&[
        ("reader.js", LISTS),
        ("curator.js", LISTS),
        ("curator.settings.toml", "userspace_write = [\"dnc\"]\n"),
        ("lists/dnc.csv", "number,reason\n+14155550100,asked\n"),
    ]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    assert_eq!(
        put_entry(
            &server,
            "/userspace/vip/+14155550111",
            &json!({"tier": "gold"})
        )
        .await,
        201
    );
    // Every flow reads every area.
    for flow in ["reader", "curator"] {
        let found = run(
            &server,
            &format!("{flow}/read"),
            &json!({"area": "dnc", "key": "+14155550100"}),
        )
        .await;
        assert_eq!(found, json!({"found": {"reason": "asked"}}), "{flow}");
        let found = run(
            &server,
            &format!("{flow}/read"),
            &json!({"area": "vip", "key": "+14155550111"}),
        )
        .await;
        assert_eq!(found, json!({"found": {"tier": "gold"}}), "{flow}");
    }

    // A flow without the setting can change nothing, and is told which setting to add.
    for (function, arg) in [
        (
            "write",
            json!({"area": "dnc", "key": "+14155550100", "value": {"reason": "overwritten"}}),
        ),
        ("remove", json!({"area": "dnc", "key": "+14155550100"})),
        (
            "write",
            json!({"area": "dnc", "key": "+14155550999", "value": {}}),
        ),
    ] {
        let reply = post_json(&server.url(&format!("/run/reader/{function}")), &arg).await;
        let body = assert_error(&reply, 500, &format!("reader/{function} {arg}"));
        let detail = body["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains("userspace_write")
                && detail.contains("`dnc`")
                && detail.contains("reader.settings.toml"),
            "{detail}"
        );
    }
    // The curator may change `dnc`, and only `dnc`.
    let created = run(
        &server,
        "curator/write",
        &json!({"area": "dnc", "key": "+14155550122", "value": {"reason": "curated"}}),
    )
    .await;
    assert_eq!(created, json!({"created": true}));
    let reply = post_json(
        &server.url("/run/curator/remove"),
        &json!({"area": "vip", "key": "+14155550111"}),
    )
    .await;
    let body = assert_error(&reply, 500, "curator may not touch vip");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("`vip`"),
        "{body}"
    );

    // What is stored is what the operator and the curator wrote: nothing else changed.
    let entry = get(&server.url("/userspace/dnc/+14155550100")).await;
    assert_eq!(
        (entry.status, entry.json()),
        (200, json!({"reason": "asked"}))
    );
    assert_error(
        &get(&server.url("/userspace/dnc/+14155550999")).await,
        404,
        "never created",
    );
    let entry = get(&server.url("/userspace/dnc/+14155550122")).await;
    assert_eq!(entry.json(), json!({"reason": "curated"}));
    let entry = get(&server.url("/userspace/vip/+14155550111")).await;
    assert_eq!(entry.json(), json!({"tier": "gold"}));
}

#[tokio::test]
async fn the_new_settings_load_and_a_bad_area_is_a_load_error_naming_it() {
    let dir = flows_dir(&[
        ("ok.js", LISTS),
        (
            "ok.settings.toml",
            "kv_namespace = \"team\"\nuserspace_write = [\"dnc\", \"vip\"]\n",
        ),
        ("x.js", LISTS),
        (
            "x.settings.toml",
            "timeout_ms = 100\nuserspace_write = [\"dnc\", \"../etc\"]\n",
        ),
    ]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let flows = get(&server.url("/flows")).await.json();
    let errors = flows["errors"].to_string();
    assert!(
        errors.contains("x.settings.toml")
            && errors.contains("userspace_write")
            && errors.contains("../etc")
            && errors.contains("A-Z"),
        "{flows}"
    );
    assert!(!errors.contains("ok.settings.toml"), "{flows}");
    let ok = post_json(
        &server.url("/run/ok/write"),
        &json!({"area": "vip", "key": "k", "value": 1}),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
}

/// The names a `/run` probe tries: members every object or global inherits, and ours.
const PROBES: &[&str] = &[
    "constructor",
    "toString",
    "valueOf",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "__proto__",
    "__defineGetter__",
    "__lookupGetter__",
    "eval",
    "fetch",
    "require",
    "Function",
    "__pf_run",
    "nope",
];

async fn assert_probes_404(server: &TestServer, script: &str, own: &[&str]) {
    for probe in PROBES {
        let reply = post_json(&server.url(&format!("/run/{script}/{probe}")), &json!({})).await;
        let body = assert_error(&reply, 404, &format!("/run/{script}/{probe}"));
        assert_eq!(body["functions"], json!(own), "{script}/{probe}: {body}");
        let detail = body["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains(&format!("no function `{probe}`")),
            "{script}/{probe}: {detail}"
        );
        for name in own {
            assert!(detail.contains(name), "{script}/{probe}: {detail}");
        }
    }
    // The script's own functions still run.
    for name in own {
        let reply = post_json(&server.url(&format!("/run/{script}/{name}")), &json!({})).await;
        assert_eq!(reply.status, 200, "{script}/{name}: {}", reply.text());
        assert_eq!(
            reply.json()["result"],
            json!({"ran": name}),
            "{script}/{name}"
        );
    }
}

#[tokio::test]
async fn run_calls_only_the_scripts_own_functions() {
    let dir = flows_dir(&[
        (
            "cjs.js",
            "function helper() { return { ran: 'helper' }; }\n\
             module.exports = { main: () => ({ ran: 'main' }), search: () => ({ ran: 'search' }) };",
        ),
        (
            "esm.js",
            "export function main() { return { ran: 'main' }; }\n\
             export const lookup = () => ({ ran: 'lookup' });\n\
             export const version = 3;",
        ),
        (
            "legacy.js",
            "function main() { exit({ ran: 'main' }); }\nvar label = 'not a function';",
        ),
    ]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    assert_probes_404(&server, "cjs", &["helper", "main", "search"]).await;
    assert_probes_404(&server, "esm", &["lookup", "main"]).await;
    assert_probes_404(&server, "legacy", &["main"]).await;
    // A script without `main`: `/run/NAME` is a 404 naming what it has, too.
    let dir = flows_dir(&[("nomain.js", "function other() { return { ran: 'other' }; }")]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    let body = assert_error(
        &post_json(&server.url("/run/nomain"), &json!({})).await,
        404,
        "no main",
    );
    assert_eq!(body["functions"], json!(["other"]));
}

/// Starts `pivotforge serve --config FILE` and waits for it to stop (a service that starts is
/// killed after ten seconds, and reported as having started).
fn serve_with_config(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("pivotforge.toml");
    std::fs::write(&file, config).expect("write config");
    std::fs::create_dir(dir.path().join("callflows")).expect("flows folder");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pivotforge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .env_remove("PIVOTFORGE_CONFIG")
        .env_remove("PIVOTFORGE_FLOWS")
        .env_remove("PIVOTFORGE_LISTEN")
        .env("PIVOTFORGE_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pivotforge");
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait for pivotforge") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    (code, stderr)
}

#[test]
fn an_empty_or_blank_secret_stops_start_up_naming_its_key() {
    let cases = [
        ("[auth]\nadmin_token = \"\"\n", "[auth] admin_token"),
        ("[auth]\nadmin_token = \"   \"\n", "[auth] admin_token"),
        ("[auth]\nadmin_token = \"\\t\\n\"\n", "[auth] admin_token"),
        (
            "[auth]\nadmin_user = \"ops\"\nadmin_password = \"  \"\n",
            "[auth] admin_password",
        ),
        (
            "[auth]\npivot_user = \"kazoo\"\npivot_password = \" \"\n",
            "[auth] pivot_password",
        ),
        ("[auth]\npivot_token = \" \"\n", "[auth] pivot_token"),
        (
            "[recordings]\nupload_user = \"kazoo\"\nupload_password = \"\\t\"\n",
            "[recordings] upload_password",
        ),
        (
            "[recordings]\nupload_token = \"  \"\n",
            "[recordings] upload_token",
        ),
        (
            "[recordings]\nadmin_token = \" \"\n",
            "[recordings] admin_token",
        ),
    ];
    for (config, key) in cases {
        let (code, stderr) = serve_with_config(config);
        assert_eq!(code, Some(2), "{config:?} must stop start-up: {stderr}");
        assert!(
            stderr.contains(&format!("{key} is empty or only whitespace")),
            "{config:?}: {stderr}"
        );
    }
}
