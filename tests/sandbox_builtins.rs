//! The sandbox's built-ins behave as the standard says (issue 10, §4 and §5), over real HTTP:
//! ordinary code that shadows an inherited property works in strict mode (no frozen built-ins),
//! the clock-following `Date` is the standard `Date` apart from its clock, a flow's change to a
//! built-in stays in that flow, the host's own objects and hooks can't be replaced, and `/run` of
//! a function that gives nothing answers `null`.

use crate::common;

use common::{at, config, flows_dir, post_form, post_json, serve, serve_with, TestServer};
use serde_json::{json, Value};

const NOW: &str = "2026-11-17T15:00:00Z";

fn server_for(files: &[(&str, &str)]) -> (tempfile::TempDir, TestServer) {
    let dir = flows_dir(files);
    let server = serve(dir.path(), at(NOW));
    (dir, server)
}

/// `/run/{path}` with `arg`; asserts a 200 and gives `result`.
async fn run(server: &TestServer, path: &str, arg: &Value) -> Value {
    let reply = post_json(&server.url(&format!("/run/{path}")), arg).await;
    assert_eq!(reply.status, 200, "/run/{path}: {}", reply.text());
    reply.json()["result"].clone()
}

// ---- the override mistake: shadowing an inherited property ----------------------------------

/// What real scripts do: give an object its own `toString`, a class its own `valueOf`, an error
/// type its own `toString`. With frozen built-ins each of these threw in strict mode.
const SHADOWING: &str = r#"
  const o = {};
  o.toString = () => 'mine';
  function Money(cents) { this.cents = cents; }
  Money.prototype.valueOf = function () { return this.cents; };
  function Err(message) { this.message = message; }
  Err.prototype = Object.create(Error.prototype);
  Err.prototype.constructor = Err;
  Err.prototype.toString = function () { return 'Err! ' + this.message; };
  const arr = [1, 2];
  arr.join = () => 'joined';
  Number.prototype.twice = function () { return this * 2; };
  const lengthOfMax = Object.getOwnPropertyDescriptor(Math.max, 'length');
  return [String(o), new Money(250) + 1, String(new Err('x')), arr.join(), (21).twice(),
    Object.isFrozen(Object.prototype), Object.isExtensible(Math), lengthOfMax.configurable];
"#;

#[tokio::test]
async fn shadowing_inherited_properties_works_in_strict_and_sloppy_code() {
    let expected = json!(["mine", 251, "Err! x", "joined", 42, false, true, true]);
    let module = format!("export function check() {{{SHADOWING}}}");
    let strict = format!("'use strict';\nfunction check() {{{SHADOWING}}}");
    let sloppy = format!("function check() {{{SHADOWING}}}");
    let (_dir, server) = server_for(&[
        ("esm.js", &module),
        ("strict.js", &strict),
        ("sloppy.js", &sloppy),
    ]);
    for flow in ["esm", "strict", "sloppy"] {
        assert_eq!(
            run(&server, &format!("{flow}/check"), &json!({})).await,
            expected,
            "{flow}"
        );
    }
}

// ---- Date: the standard one, on the service's clock ------------------------------------------

#[tokio::test]
async fn date_called_without_new_gives_the_string_of_the_service_clock() {
    let script = r#"
export function check() {
  const s = Date();
  const fromArgs = Date(2001, 1, 1);
  return [typeof s, s === new Date(Date.parse(s)).toString(), new Date(Date.parse(s)).toISOString().slice(0, 16),
    fromArgs === s || Math.abs(Date.parse(fromArgs) - Date.parse(s)) < 2000, 'at ' + Date() === 'at ' + s];
}
"#;
    let (_dir, server) = server_for(&[("flow.js", script)]);
    assert_eq!(
        run(&server, "flow/check", &json!({})).await,
        json!(["string", true, "2026-11-17T15:00", true, true])
    );
}

#[tokio::test]
async fn date_looks_like_the_standard_date() {
    let script = r#"
export function check() {
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const d = Object.getOwnPropertyDescriptor(Date, 'prototype');
  const g = Object.getOwnPropertyDescriptor(globalThis, 'Date');
  return {
    length: Date.length, name: Date.name,
    statics: ['now', 'parse', 'UTC'].every((k) => own(Date, k)),
    methods: ['getTime', 'toISOString', 'getFullYear', Symbol.toPrimitive].every((k) => own(Date.prototype, k)),
    constructor: Date.prototype.constructor === Date,
    prototype: [d.writable, d.enumerable, d.configurable],
    global: [g.writable, g.enumerable, g.configurable],
    nowName: [Date.now.name, Date.now.length, own(Date.now, 'prototype')],
    fields: new Date(2020, 0, 1).getFullYear() + '-' + new Date(2020, 0, 1).getMonth(),
    utc: new Date(Date.UTC(2020, 0, 2)).toISOString(),
    toPrimitive: [typeof new Date(0)[Symbol.toPrimitive]('number'), new Date(0)[Symbol.toPrimitive]('number')],
    tag: Object.prototype.toString.call(new Date(0)),
  };
}
"#;
    let (_dir, server) = server_for(&[("flow.js", script)]);
    assert_eq!(
        run(&server, "flow/check", &json!({})).await,
        json!({
            "length": 7, "name": "Date", "statics": true, "methods": true, "constructor": true,
            "prototype": [false, false, false], "global": [true, false, true],
            "nowName": ["now", 0, false], "fields": "2020-0",
            "utc": "2020-01-02T00:00:00.000Z", "toPrimitive": ["number", 0],
            "tag": "[object Date]",
        })
    );
}

#[tokio::test]
async fn date_subclasses_and_reflect_construct_follow_the_service_clock() {
    let script = r#"
export function check() {
  class Stamp extends Date {
    label() { return 'stamp ' + this.toISOString().slice(0, 16); }
  }
  const s = new Stamp();
  const fixed = new Stamp(0);
  function Other() {}
  const viaReflect = Reflect.construct(Date, [], Other);
  // A new target without an object `prototype` falls back to the realm's Date.prototype.
  function Bare() {}
  Bare.prototype = null;
  const bare = Reflect.construct(Date, [64], Bare);
  return [s.label(), s instanceof Stamp, s instanceof Date, Object.getPrototypeOf(Stamp) === Date,
    fixed.getTime(), Object.getPrototypeOf(viaReflect) === Other.prototype,
    Math.abs(Date.prototype.getTime.call(viaReflect) - Date.now()) < 2000,
    new Date().toISOString().slice(0, 16), new Date(Date.now()).toISOString().slice(0, 16),
    Object.getPrototypeOf(bare) === Date.prototype, bare.getTime()];
}
"#;
    let (_dir, server) = server_for(&[("flow.js", script)]);
    assert_eq!(
        run(&server, "flow/check", &json!({})).await,
        json!([
            "stamp 2026-11-17T15:00",
            true,
            true,
            true,
            0,
            true,
            true,
            "2026-11-17T15:00",
            "2026-11-17T15:00",
            true,
            64
        ])
    );
}

// ---- a flow's changes stay in that flow; the host's objects stay the host's ------------------

const PROBE: &str = "function probe() { return JSON.stringify({ map: [1, 2].map((x) => x * 2), x: ({}).x === undefined ? 'none' : ({}).x, parse: JSON.parse('[3]'), keys: Object.keys({ a: 1 }) }); }";
const CLEAN: &str = r#"{"map":[2,4],"x":"none","parse":[3],"keys":["a"]}"#;
const CHANGED: &str = r#"{"map":["changed"],"x":1,"parse":"changed","keys":["changed"]}"#;

fn tts(text: &str) -> Value {
    json!({"module": "tts", "data": {"text": text}})
}

#[tokio::test]
async fn a_flows_change_to_a_built_in_stays_in_that_flow() {
    let changer = format!(
        "'use strict';\n{PROBE}\nfunction main(data) {{\n  if (data.mode === 'change') {{\n    Array.prototype.map = function () {{ return ['changed']; }};\n    Object.prototype.x = 1;\n    JSON.parse = () => 'changed';\n    Object.keys = () => ['changed'];\n  }}\n  return {{ module: 'tts', data: {{ text: probe() }} }};\n}}"
    );
    let other = format!(
        "{PROBE}\nfunction main() {{ return {{ module: 'tts', data: {{ text: probe() }} }}; }}"
    );
    let dir = flows_dir(&[("changer.js", &changer), ("other.js", &other)]);
    // One JS thread: every call meets the same warm contexts.
    let mut cfg = config(dir.path());
    cfg.js_threads = 1;
    let server = serve_with(cfg, at(NOW));
    let url = server.url("/pivot/changer");
    let reply = post_form(&url, "mode=change").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), tts(CHANGED), "the changing call itself");
    let reply = post_form(&url, "mode=check").await;
    assert_eq!(
        reply.json(),
        tts(CHANGED),
        "the flow's next call, in its warm context"
    );
    let reply = post_form(&server.url("/pivot/other"), "mode=check").await;
    assert_eq!(reply.json(), tts(CLEAN), "another flow never sees it");
}

/// Replaces every built-in the host's hooks use, then tries the host's own objects and hooks.
const ATTACKER: &str = r#"'use strict';
const { incr } = require('cxKV');
function tries() {
  const out = {};
  const attempt = (what, f) => { try { f(); out[what] = 'done'; } catch (e) { out[what] = e.name; } };
  attempt('incr', () => { require('cxKV').incr = () => 99; });
  attempt('kv.get', () => { require('cxKV').kv.get = () => 'forged'; });
  attempt('incr.call', () => { require('cxKV').incr.call = () => 99; });
  attempt('console.log', () => { console.log = () => {}; });
  attempt('run hook', () => { globalThis.__pf_run = () => '{"type":"value","value":"forged"}'; });
  attempt('define run hook', () => { Object.defineProperty(globalThis, '__pf_run', { value: () => 'forged' }); });
  attempt('idle hook', () => { globalThis.__pf_idle = () => { throw new Error('forged'); }; });
  attempt('modules', () => { globalThis.__pf_modules.cxKV = {}; });
  attempt('env', () => { process.env.X = 'forged'; });
  return out;
}
function main(data) {
  if (data.mode === 'break') {
    JSON.stringify = () => '{"type":"value","value":"forged"}';
    JSON.parse = () => ({ forged: true });
    Array.prototype.find = function () { return eval; };
    Set.prototype.has = () => false;
    Function.prototype.call = function () { return true; };
    Function.prototype.apply = function () { return true; };
    Object.prototype.hasOwnProperty = () => true;
    String.prototype.startsWith = () => false;
    const replaced = [JSON.stringify('x'), [1].find(() => true) === eval, new Set([1]).has(1), 'ab'.startsWith('a')];
    return { tries: tries(), replaced };
  }
  return incr('hits').then((n) => ({ hits: n, log: typeof console.log }));
}
"#;

#[tokio::test]
async fn the_hosts_objects_and_hooks_survive_a_script_that_replaces_built_ins() {
    let dir = flows_dir(&[("flow.js", ATTACKER)]);
    let mut cfg = config(dir.path());
    cfg.js_threads = 1;
    let server = serve_with(cfg, at(NOW));
    assert_eq!(
        run(&server, "flow", &json!({"mode": "count"})).await,
        json!({"hits": 1, "log": "function"})
    );
    let broken = run(&server, "flow", &json!({"mode": "break"})).await;
    assert_eq!(
        broken,
        json!({"tries": {
            "incr": "TypeError", "kv.get": "TypeError", "incr.call": "TypeError",
            "console.log": "TypeError",
            "run hook": "TypeError", "define run hook": "TypeError", "idle hook": "TypeError",
            "modules": "TypeError", "env": "TypeError",
        }, "replaced": [r#"{"type":"value","value":"forged"}"#, true, false, false]}),
        "the host's objects refuse; the result is still the script's own, serialised by the host"
    );
    // The same warm context: the host still calls only the script's own functions…
    for name in ["eval", "JSON", "constructor", "__pf_run"] {
        let reply = post_json(&server.url(&format!("/run/flow/{name}")), &json!({})).await;
        assert_eq!(reply.status, 404, "{name}: {}", reply.text());
    }
    // …and its modules still reach the store.
    assert_eq!(
        run(&server, "flow", &json!({"mode": "count"})).await,
        json!({"hits": 2, "log": "function"})
    );
}

// ---- §5: drivers and forms that give nothing ---------------------------------------------------

#[tokio::test]
async fn run_of_a_function_that_gives_nothing_answers_null() {
    let script = r#"
export async function submitted(form) { console.log('form', form.name); }
export async function later() { await new Promise((r) => setTimeout(r, 10)); console.log('waited'); }
export function stub() { console.log('stub'); }
export function main() { return { module: 'tts', data: { text: 'tree' } }; }
"#;
    let (_dir, server) = server_for(&[("drivers/form.js", script)]);
    for (function, line) in [
        ("submitted", "form Ann"),
        ("later", "waited"),
        ("stub", "stub"),
    ] {
        let reply = post_json(
            &server.url(&format!("/run/drivers/form/{function}")),
            &json!({"name": "Ann"}),
        )
        .await;
        assert_eq!(reply.status, 200, "{function}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["result"], Value::Null, "{function}: {body}");
        assert_eq!(body["logs"][0]["message"], line, "{function}: {body}");
    }
}

#[tokio::test]
async fn a_pivot_flow_that_gives_nothing_still_fails_and_exit_from_a_timer_still_answers() {
    let nothing = "async function main() { await null; }";
    let legacy = "function main() { setTimeout(() => exit({ module: 'tts', data: { text: 'late exit' } }), 10); }";
    let (_dir, server) = server_for(&[("nothing.js", nothing), ("legacy.js", legacy)]);
    let reply = post_form(&server.url("/pivot/nothing"), "Call-ID=abc").await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("returned nothing"),
        "{}",
        reply.text()
    );
    let reply = post_form(&server.url("/pivot/legacy"), "Call-ID=abc").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), tts("late exit"));
    let reply = post_json(&server.url("/run/legacy"), &json!({})).await;
    assert_eq!(reply.json()["result"], tts("late exit"), "{}", reply.text());
}
