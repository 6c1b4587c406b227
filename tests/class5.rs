//! Class 5 flows over real HTTP, driven as Kazoo drives them: a GET for the first step, then
//! the method each pivot node names (POST form by default) to its `voice_url`, with the
//! digits of the step's `collect_dtmf` collection.

use crate::common;

use common::*;
use serde_json::{json, Value};

/// Settings that give prompt file names a home (`a.wav` plays from there).
pub(crate) const MEDIA: &str = "media_base_url = \"https://media.example/p\"\n";

const NOW: &str = "2026-12-01T10:00:00Z";

pub(crate) const IVR: &str = r#"
const { incr } = require('cxKV');
async function main(data = {}, ctx) {
  await ctx.answer();
  const n = await incr('callers');
  const lucky = Math.random();
  await ctx.tts(`Caller ${n}, ${lucky}`);
  const { status, value } = await ctx.ivr('user/welcome.wav', 15, 1, 1, '#');
  if (status === 'success') {
    await ctx.tts(`You pressed ${value}. Caller ${n}, ${lucky}`);
    await ctx.hangup();
  } else {
    await ctx.tts(`Status ${status}.`);
  }
}
"#;

/// The pivot node a reply ends with, walking `_` children as Kazoo does.
pub(crate) fn pivot_of(tree: &Value) -> Option<&Value> {
    let mut node = tree;
    loop {
        if node["module"] == "pivot" {
            return Some(node);
        }
        node = node.get("children")?.get("_")?;
    }
}

/// The modules of a reply, in the order Kazoo runs them.
fn modules(tree: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut node = Some(tree);
    while let Some(n) = node {
        out.push(n["module"].as_str().unwrap_or("?").to_owned());
        node = n.get("children").and_then(|c| c.get("_"));
    }
    out
}

/// The node of module `module` in a reply.
pub(crate) fn node<'a>(tree: &'a Value, module: &str) -> &'a Value {
    let mut n = tree;
    loop {
        if n["module"] == module {
            return n;
        }
        n = n
            .get("children")
            .and_then(|c| c.get("_"))
            .unwrap_or_else(|| panic!("no {module} node in {tree}"));
    }
}

/// The first step of a call: a GET to `/pivot/{flow}` with Kazoo's parameters.
pub(crate) async fn first(server: &TestServer, flow: &str, call_id: &str) -> Reply {
    let params = with(&kazoo_params(), &json!({"Call-ID": call_id}));
    get(&server.url(&format!("/pivot/{flow}?{}", kazoo_form(&params)))).await
}

/// Follows the pivot of `reply` as Kazoo does, sending `digits` (collection → digits).
pub(crate) async fn follow(
    server: &TestServer,
    reply: &Reply,
    call_id: &str,
    digits: &Value,
) -> Reply {
    let tree = reply.json();
    let pivot = pivot_of(&tree).unwrap_or_else(|| panic!("no pivot in {tree}"));
    let url = pivot["data"]["voice_url"].as_str().unwrap();
    let path = url
        .strip_prefix(PUBLIC_URL)
        .expect("a pivot back to this service");
    let params = with(
        &kazoo_params(),
        &json!({"Call-ID": call_id, "Digits": digits}),
    );
    assert_eq!(pivot["data"]["method"], "post", "{pivot}");
    post_form(&server.url(path), &kazoo_form(&params)).await
}

/// Sends the request Kazoo sends for pivot node `pivot` (a bridge's failure child).
async fn take(server: &TestServer, pivot: &Value, call_id: &str) -> Reply {
    let url = pivot["data"]["voice_url"].as_str().unwrap();
    let path = url
        .strip_prefix(PUBLIC_URL)
        .expect("a pivot back to this service");
    let params = with(&kazoo_params(), &json!({"Call-ID": call_id}));
    post_form(&server.url(path), &kazoo_form(&params)).await
}

pub(crate) fn collection(tree: &Value) -> String {
    node(tree, "collect_dtmf")["data"]["collection_name"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_ivr_call_runs_over_pivot_steps() {
    let flows = flows_dir(&[("ivr.js", IVR), ("ivr.settings.toml", MEDIA)]);
    let server = serve(flows.path(), at(NOW));
    let step0 = first(&server, "ivr", "call-1@pbx").await;
    assert_eq!(step0.status, 200, "{}", step0.text());
    let tree = step0.json();
    assert_eq!(
        modules(&tree),
        ["tts", "play", "collect_dtmf", "pivot"],
        "answer emits no node; the prompt, the collect and a pivot back: {tree}"
    );
    let spoken = node(&tree, "tts")["data"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(spoken.starts_with("Caller 1, 0."), "{spoken}");
    assert_eq!(
        node(&tree, "play")["data"]["id"],
        "https://media.example/p/user/welcome.wav",
        "a file name is appended to media_base_url"
    );
    let collect = &node(&tree, "collect_dtmf")["data"];
    assert_eq!(collect["max_digits"], 1);
    assert_eq!(collect["timeout"], 15000);
    assert_eq!(collect["terminators"], json!(["#"]));
    let url = pivot_of(&tree).unwrap()["data"]["voice_url"]
        .as_str()
        .unwrap();
    assert_eq!(url, format!("{PUBLIC_URL}/pivot/ivr?step=1"));

    let name = collection(&tree);
    let step1 = follow(&server, &step0, "call-1@pbx", &json!({ name.clone(): "1" })).await;
    assert_eq!(step1.status, 200, "{}", step1.text());
    assert_eq!(step1.content_type.as_deref(), Some("application/json"));
    let end = step1.json();
    assert_eq!(modules(&end), ["tts", "hangup"], "{end}");
    // The same caller number and random value: the replay gave back the journal's results,
    // and made no second `incr`.
    let said = node(&end, "tts")["data"]["text"].as_str().unwrap();
    assert_eq!(said, format!("You pressed 1. {spoken}"));

    // Kazoo (or a proxy) retries the step: the same reply, nothing changes.
    let again = follow(&server, &step0, "call-1@pbx", &json!({ name.clone(): "1" })).await;
    assert_eq!(again.json(), end, "a retried step gets the same reply");
    let retried_first = first(&server, "ivr", "call-1@pbx").await;
    assert_eq!(retried_first.json(), tree, "a retried first step too");

    // The exchange log shows each step's journal position and what it resolved.
    let calls = get(&server.url("/calls/call-1@pbx")).await.json();
    let notes: Vec<String> = calls["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{calls}"))
        .iter()
        .map(|s| {
            let logs = s["logs"].as_array().cloned().unwrap_or_default();
            let last = logs
                .last()
                .map(|l| l["message"].clone())
                .unwrap_or_default();
            last.as_str().unwrap_or("").to_owned()
        })
        .collect();
    assert_eq!(notes.len(), 4, "{notes:?}");
    // A step's reply is written once, when its journal is: the exchange log shows that text.
    assert_eq!(calls["steps"][1]["reply"], end, "{calls}");
    assert_eq!(calls["steps"][0]["reply"], tree, "{calls}");
    assert_eq!(
        notes[0],
        "class5 step 0: journal position 0 -> 4; recorded: ctx.answer, kv.incr, random, ctx.tts"
    );
    assert!(
        notes[1].starts_with("class5 step 1: journal position 5 -> "),
        "{notes:?}"
    );
    assert!(
        notes[1].contains("resolved ctx.ivr") && notes[1].ends_with("the script ended"),
        "{notes:?}"
    );
    assert!(notes[2].contains("step 1 repeated"), "{notes:?}");

    // Another call counts on from the first one: incr ran once per call.
    let other = first(&server, "ivr", "call-2@pbx").await.json();
    let spoken = node(&other, "tts")["data"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(spoken.starts_with("Caller 2, "), "{spoken}");
}

#[tokio::test]
async fn no_digits_is_a_timeout_and_bad_ones_reprompt() {
    let flow = r#"
async function main(data, ctx) {
  const r = await ctx.ivr('Enter your PIN', 5, 4, 4, '#', { tries: 2, invalid_file: 'bad.wav' });
  await ctx.tts(`${r.status} ${r.value || 'none'}`);
}
"#;
    let flows = flows_dir(&[("pin.js", flow), ("pin.settings.toml", MEDIA)]);
    let server = serve(flows.path(), at(NOW));

    let step0 = first(&server, "pin", "c-timeout").await;
    let tree = step0.json();
    assert_eq!(
        modules(&tree),
        ["tts", "collect_dtmf", "pivot"],
        "text is spoken: {tree}"
    );
    let name = collection(&tree);
    let step1 = follow(&server, &step0, "c-timeout", &json!({ name: "" })).await;
    let tree1 = step1.json();
    assert_eq!(modules(&tree1), ["tts", "collect_dtmf", "pivot"], "{tree1}");
    let name1 = collection(&tree1);
    assert_ne!(name1, collection(&tree), "a fresh collection per step");
    let step2 = follow(&server, &step1, "c-timeout", &json!({ name1: "" })).await;
    assert_eq!(
        step2.json(),
        json!({"module": "tts", "data": {"text": "timeout none"}}),
        "after the last try the ivr resolves with the last failure"
    );

    let step0 = first(&server, "pin", "c-invalid").await;
    let name = collection(&step0.json());
    let step1 = follow(&server, &step0, "c-invalid", &json!({ name: "12" })).await;
    let tree1 = step1.json();
    assert_eq!(
        modules(&tree1),
        ["play", "tts", "collect_dtmf", "pivot"],
        "invalid digits: invalid_file, then the prompt again: {tree1}"
    );
    assert_eq!(
        node(&tree1, "play")["data"]["id"],
        "https://media.example/p/bad.wav"
    );
    let name1 = collection(&tree1);
    let step2 = follow(&server, &step1, "c-invalid", &json!({ name1: "1234#" })).await;
    assert_eq!(
        step2.json(),
        json!({"module": "tts", "data": {"text": "success 1234"}})
    );
}

#[tokio::test]
async fn one_parameter_flows_are_unchanged_and_ctx_needs_a_second() {
    let flows = flows_dir(&[
        (
            "plain.js",
            "function main(data) { return { module: 'tts', data: { text: typeof ctx } } }",
        ),
        (
            "dflt.js",
            "async function main(data = {}, ctx) { await ctx.tts('hello there'); }",
        ),
    ]);
    let server = serve(flows.path(), at(NOW));
    let plain = first(&server, "plain", "c1").await;
    assert_tree(
        &plain,
        &json!({"module": "tts", "data": {"text": "undefined"}}),
        "a one-parameter main gets no ctx",
    );
    let dflt = first(&server, "dflt", "c1").await;
    assert_tree(
        &dflt,
        &json!({"module": "tts", "data": {"text": "hello there"}}),
        "main(data = {}, ctx) is Class 5 though its length is 0",
    );
}

#[tokio::test]
async fn script_errors_name_the_method_or_the_line() {
    let flows = flows_dir(&[
        (
            "noawait.js",
            "async function main(data, ctx) {\n  ctx.tts('one');\n  await ctx.tts('two');\n}\n",
        ),
        (
            "echo.js",
            "async function main(data, ctx) { await ctx.echo(100); }",
        ),
        (
            "busy.js",
            "async function main(data, ctx) { await ctx.tts('sorry'); throw [486, 'Busy']; }",
        ),
        (
            "vars.js",
            "async function main(data, ctx) { await ctx.set('tier', 'gold'); \
             await ctx.tts(`${ctx.get('caller_id_number')} ${ctx.get('tier')}`); }",
        ),
    ]);
    let server = serve(flows.path(), at(NOW));
    let body = assert_error(&first(&server, "noawait", "c1").await, 500, "missing await");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("noawait.js:3") && detail.contains("noawait.js:2"),
        "names both lines: {detail}"
    );
    assert!(detail.contains("await every ctx call"), "{detail}");

    let body = assert_error(&first(&server, "echo", "c1").await, 500, "echo");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("ctx.echo is not available on a Kazoo PBX"),
        "{body}"
    );

    let busy = first(&server, "busy", "c1").await.json();
    assert_eq!(
        busy,
        json!({"module": "tts", "data": {"text": "sorry"}, "children": {"_":
            {"module": "response", "data": {"code": 486, "message": "Busy"}}}})
    );

    let vars = first(&server, "vars", "c1").await.json();
    assert_eq!(
        vars,
        json!({"module": "set_variables", "data": {"custom_application_vars": {"tier": "gold"}},
            "children": {"_": {"module": "tts", "data": {"text": "+14155550100 gold"}}}})
    );
}

#[tokio::test]
async fn unplaceable_requests_fail_deterministically() {
    let flows = flows_dir(&[("ivr.js", IVR), ("ivr.settings.toml", MEDIA)]);
    let server = serve(flows.path(), at(NOW));
    let params = with(&kazoo_params(), &json!({"Call-ID": "never-started"}));
    let reply = post_form(&server.url("/pivot/ivr?step=3"), &kazoo_form(&params)).await;
    let body = assert_error(&reply, 500, "a step of a call with no journal");
    assert!(
        body["detail"].as_str().unwrap().contains("no journal"),
        "{body}"
    );

    let step0 = first(&server, "ivr", "c-skip").await;
    assert_eq!(step0.status, 200);
    let params = with(&kazoo_params(), &json!({"Call-ID": "c-skip"}));
    let reply = post_form(&server.url("/pivot/ivr?step=5"), &kazoo_form(&params)).await;
    let body = assert_error(&reply, 500, "a token past the journal");
    assert!(
        body["detail"].as_str().unwrap().contains("does not follow"),
        "{body}"
    );
}

/// Waits until a new call of `flow` starts with a reply whose modules are `expected`.
async fn until_served(server: &TestServer, flow: &str, expected: &[&str]) {
    let probes = std::sync::atomic::AtomicUsize::new(0);
    poll_until(
        std::time::Duration::from_secs(5),
        "the edit is served",
        || async {
            // A new call each time: a retried first step would get its stored reply.
            let n = probes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tree = first(server, flow, &format!("c-probe-{n}")).await.json();
            (modules(&tree) == expected).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_call_keeps_the_script_version_it_started_with() {
    let flows = flows_dir(&[("ivr.js", IVR), ("ivr.settings.toml", MEDIA)]);
    let server = serve(flows.path(), at(NOW));
    let step0 = first(&server, "ivr", "c-edit").await;
    let spoken = node(&step0.json(), "tts")["data"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let name = collection(&step0.json());
    write_flow(
        flows.path(),
        "ivr.js",
        "async function main(data, ctx) { await ctx.ivr('a.wav', 5, 1, 1); await ctx.tts('new'); }",
    );
    until_served(&server, "ivr", &["play", "collect_dtmf", "pivot"]).await;
    let step1 = follow(&server, &step0, "c-edit", &json!({ name: "1" })).await;
    assert_eq!(step1.status, 200, "{}", step1.text());
    let said = node(&step1.json(), "tts")["data"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        said,
        format!("You pressed 1. {spoken}"),
        "the old script ran on"
    );
    let calls = get(&server.url("/calls/c-edit")).await.json();
    let versions: Vec<&Value> = calls["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{calls}"))
        .iter()
        .map(|s| &s["version"])
        .collect();
    assert_eq!(versions.len(), 2, "{calls}");
    assert!(versions[0].is_string(), "{calls}");
    assert_eq!(
        versions[0], versions[1],
        "the exchange log names the version that ran"
    );
    let fresh = first(&server, "ivr", "c-new").await;
    assert_eq!(fresh.status, 200);
    let probe = get(&server.url("/calls/c-new")).await.json();
    assert_ne!(
        &probe["steps"][0]["version"], versions[0],
        "a new call: the new version"
    );
}

#[tokio::test]
async fn a_replay_that_diverges_from_its_journal_is_refused() {
    let flow = r#"
const { incr } = require('cxKV');
async function main(data, ctx) {
  if (process.env.MODE === 'count') await incr('n');
  await ctx.ivr('a.wav', 5, 1, 1);
  await ctx.tts(`done ${process.env.MODE}`);
}
"#;
    let flows = flows_dir(&[
        ("drift.js", flow),
        (
            "drift.settings.toml",
            &format!("{MEDIA}[env]\nMODE = \"count\"\n"),
        ),
    ]);
    let server = serve(flows.path(), at(NOW));
    let step0 = first(&server, "drift", "c-drift").await;
    let name = collection(&step0.json());
    // The settings change mid-call: the replay asks for the ivr where the call had the incr.
    write_flow(
        flows.path(),
        "drift.settings.toml",
        &format!("{MEDIA}[env]\nMODE = \"quiet\"\n"),
    );
    let probes = std::sync::atomic::AtomicUsize::new(0);
    poll_until(
        std::time::Duration::from_secs(5),
        "the new settings",
        || async {
            let n = probes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reply = first(&server, "drift", &format!("p-{n}")).await;
            let probe = follow(
                &server,
                &reply,
                &format!("p-{n}"),
                &json!({ collection(&reply.json()): "1" }),
            )
            .await;
            (probe.json() == json!({"module": "tts", "data": {"text": "done quiet"}})).then_some(())
        },
    )
    .await;
    let step1 = follow(&server, &step0, "c-drift", &json!({ name: "1" })).await;
    let body = assert_error(&step1, 500, "a replay that diverges");
    assert!(
        body["detail"].as_str().unwrap().contains("diverged"),
        "{body}"
    );
}

#[tokio::test]
async fn fetch_timers_and_the_clock_are_made_once_and_replayed() {
    let mock = MockHttp::start(|_| MockResponse::json(200, &json!({"balance": "12.50"})));
    let flow = r#"
async function main(data, ctx) {
  const t0 = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const r = await fetch(process.env.BASE + '/balance', { method: 'POST', body: { who: data['Caller-ID-Number'] } });
  const { balance } = await r.json();
  const d = new Date().toISOString();
  await ctx.ivr(`Your balance is ${balance} dollars`, 5, 1, 1);
  await ctx.tts(`${balance} ${t0} ${d} ${Date.now() - t0 >= 3600000}`);
}
"#;
    let settings = format!(
        "{MEDIA}allow_hosts = [\"127.0.0.1:*\"]\n\n[env]\nBASE = \"{}\"\n",
        mock.base()
    );
    let flows = flows_dir(&[("bal.js", flow), ("bal.settings.toml", &settings)]);
    let clock = std::sync::Arc::new(pivotforge::clock::RunningClock::new(at(NOW)));
    let server = serve_with_clock(config(flows.path()), clock.clone());
    let step0 = first(&server, "bal", "c-fetch").await;
    assert_eq!(step0.status, 200, "{}", step0.text());
    let tree = step0.json();
    assert_eq!(
        node(&tree, "tts")["data"]["text"],
        "Your balance is 12.50 dollars"
    );
    let name = collection(&tree);
    // An hour later: Date.now() and new Date() of the replayed part give what they gave.
    clock.advance(std::time::Duration::from_secs(3600));
    let step1 = follow(&server, &step0, "c-fetch", &json!({ name: "1" })).await;
    let said = step1.json()["data"]["text"].as_str().unwrap().to_owned();
    let start = at(NOW).timestamp_millis();
    let parts: Vec<&str> = said.split(' ').collect();
    assert_eq!(parts[0], "12.50", "{said}");
    let t0: i64 = parts[1].parse().unwrap();
    // The clock runs from NOW: step 0 took seconds at most, even on a loaded machine, so a
    // minute tells step 0's time from the hour later.
    assert!(
        (t0 - start).abs() < 60_000,
        "Date.now() from step 0, not an hour later: {said}"
    );
    let d = chrono::DateTime::parse_from_rfc3339(parts[2])
        .unwrap()
        .timestamp_millis();
    assert!(
        d >= t0 + 20 && d - start < 60_000,
        "new Date() after the timer, from step 0: {said}"
    );
    assert_eq!(
        parts[3], "true",
        "the new part reads the clock live: {said}"
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 1, "the replay did not send the POST again");
    let key = requests[0]
        .header("idempotency-key")
        .expect("an Idempotency-Key");
    assert!(key.starts_with("pf-") && key.len() > 20, "{key}");
    // A retried first step: its stored reply, no second request.
    assert_eq!(first(&server, "bal", "c-fetch").await.json(), tree);
    assert_eq!(mock.requests().len(), 1);

    // A fetch left in flight when a ctx call ends the step is a script error.
    let flows = flows_dir(&[
        (
            "early.js",
            "async function main(data, ctx) { fetch(process.env.BASE + '/x'); \
             await ctx.ivr('a.wav', 5, 1, 1); }",
        ),
        ("early.settings.toml", &settings),
    ]);
    let server = serve(flows.path(), at(NOW));
    let body = assert_error(&first(&server, "early", "c1").await, 500, "fetch in flight");
    assert!(
        body["detail"].as_str().unwrap().contains("still in flight"),
        "{body}"
    );
}

#[tokio::test]
async fn past_max_steps_the_call_gets_its_fallback() {
    let flow = r#"
async function main(data, ctx) {
  for (;;) await ctx.ivr('Press a key', 5, 1, 1);
}
"#;
    let settings = "[fallback]\nmodule = \"tts\"\ndata = { text = \"fallback\" }\n";
    let flows = flows_dir(&[("loop.js", flow), ("loop.settings.toml", settings)]);
    let mut config = config(flows.path());
    config.class5.max_steps = 3;
    let server = serve_with(config, at(NOW));
    let mut reply = first(&server, "loop", "c-loop").await;
    for step in 1..3 {
        let name = collection(&reply.json());
        reply = follow(&server, &reply, "c-loop", &json!({ name: "5" })).await;
        assert_eq!(
            modules(&reply.json()),
            ["tts", "collect_dtmf", "pivot"],
            "step {step}"
        );
    }
    let name = collection(&reply.json());
    let last = follow(&server, &reply, "c-loop", &json!({ name: "5" })).await;
    assert_tree(
        &last,
        &json!({"module": "tts", "data": {"text": "fallback"}}),
        "step 3 of 3",
    );
}

#[tokio::test]
async fn a_failed_bridge_comes_back_to_the_script() {
    let flow = r#"
async function main(data, ctx) {
  const { value } = await ctx.ivr('menu.wav', 5, 1, 1, '#');
  const r = await ctx.bridge(value === '1' ? '1002' : '1001');
  await ctx.tts(`Bridge ${r.status} ${r.cause} ${r.code}`);
  await ctx.bridge('+14155550199', false);
}
"#;
    let settings = "[extensions]\n1001 = \"user:u1\"\n1002 = \"user:u2\"\n\n[media]\n\"menu.wav\" = \"https://media.example/menu.mp3\"\n";
    let flows = flows_dir(&[("desk.js", flow), ("desk.settings.toml", settings)]);
    let server = serve(flows.path(), at(NOW));
    let step0 = first(&server, "desk", "c-bridge").await;
    let tree = step0.json();
    assert_eq!(
        node(&tree, "play")["data"]["id"],
        "https://media.example/menu.mp3",
        "a prompt maps through [media]"
    );
    let name = collection(&tree);
    let step1 = follow(&server, &step0, "c-bridge", &json!({ name: "1" })).await;
    assert_eq!(step1.status, 200, "{}", step1.text());
    let bridge = step1.json();
    assert_eq!(bridge["module"], "user");
    assert_eq!(bridge["data"]["id"], "u2", "1 → extension 1002");
    let children = bridge["children"].as_object().unwrap();
    for key in ["NO_ANSWER", "USER_BUSY", "sip:486", "_"] {
        assert_eq!(children[key]["module"], "pivot", "{key}: {bridge}");
    }
    let busy = take(&server, &children["USER_BUSY"], "c-bridge").await;
    assert_eq!(busy.status, 200, "{}", busy.text());
    let after = busy.json();
    assert_eq!(modules(&after), ["tts", "resources"], "{after}");
    assert_eq!(
        node(&after, "tts")["data"]["text"],
        "Bridge failed USER_BUSY 486"
    );
    let out = node(&after, "resources");
    assert_eq!(out["data"]["to_did"], "+14155550199");
    assert!(
        out.get("children").is_none(),
        "continue_on false: no way back: {out}"
    );
    // A second failure child of the same step (a retry through another branch): the same
    // reply, not a second resolution.
    let again = take(&server, &children["_"], "c-bridge").await;
    assert_eq!(again.json(), after);
}

#[tokio::test]
async fn headers_recordings_and_waiting_for_the_hangup() {
    let flow = r#"
async function main(data, ctx) {
  await ctx.record('greeting');
  await ctx.tts(`Hello ${ctx.header('x-account')}`);
  await ctx.waitForHangup();
}
"#;
    let flows = flows_dir(&[
        ("hold.js", flow),
        (
            "set_header.js",
            "async function main(data, ctx) { ctx.header('X-A', '1'); }",
        ),
        (
            "extension.js",
            "async function main(data, ctx) { await ctx.bridge('1003'); }",
        ),
    ]);
    let server = serve(flows.path(), at(NOW));
    let params = with(
        &kazoo_params(),
        &json!({"Call-ID": "c-hold", "Custom-SIP-Headers": {"X-Account": "acme"}}),
    );
    let reply = get(&server.url(&format!("/pivot/hold?{}", kazoo_form(&params)))).await;
    let tree = reply.json();
    assert_eq!(modules(&tree), ["record_call", "tts", "sleep"], "{tree}");
    let record = &node(&tree, "record_call")["data"];
    assert_eq!(record["action"], "start");
    assert_eq!(record["media_name"], "greeting");
    assert_eq!(record["url"], format!("{PUBLIC_URL}/recordings"));
    assert_eq!(node(&tree, "tts")["data"]["text"], "Hello acme");

    let body = assert_error(
        &first(&server, "set_header", "c1").await,
        500,
        "set a header",
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("SIP headers can't be set"),
        "{body}"
    );
    let body = assert_error(
        &first(&server, "extension", "c1").await,
        500,
        "unknown extension",
    );
    assert!(
        body["detail"].as_str().unwrap().contains("[extensions]"),
        "{body}"
    );
}

#[tokio::test]
async fn a_call_of_thirty_steps() {
    let flow = r#"
const { incr } = require('cxKV');
async function main(data, ctx) {
  let sum = 0;
  for (let i = 0; i < 29; i += 1) {
    const r = await ctx.ivr(`Digit ${i + 1}`, 5, 1, 1);
    sum += Number(r.value);
    await incr('presses');
  }
  await ctx.tts(`Sum ${sum}, presses ${await incr('presses', 0)}`);
}
"#;
    let flows = flows_dir(&[("long.js", flow)]);
    let server = serve(flows.path(), at(NOW));
    let started = std::time::Instant::now();
    let mut reply = first(&server, "long", "c-30").await;
    let mut times = vec![started.elapsed()];
    for step in 1..30 {
        let tree = reply.json();
        assert_eq!(
            node(&tree, "tts")["data"]["text"],
            format!("Digit {step}"),
            "step {step}: {tree}"
        );
        let name = collection(&tree);
        let digit = (step % 10).to_string();
        let began = std::time::Instant::now();
        reply = follow(&server, &reply, "c-30", &json!({ name: digit })).await;
        times.push(began.elapsed());
        assert_eq!(reply.status, 200, "step {step}: {}", reply.text());
    }
    let sum: usize = (1..30).map(|s| s % 10).sum();
    assert_eq!(
        reply.json(),
        json!({"module": "tts", "data": {"text": format!("Sum {sum}, presses 29")}}),
        "each incr made once over the whole call"
    );
    println!(
        "30-step call over HTTP (debug build): step 1 {:?}, step 30 {:?}",
        times[0], times[29]
    );
}

/// The digits of the next step of a shipped call: `digits` into the reply's collection.
async fn press(server: &TestServer, reply: &Reply, call_id: &str, digits: &str) -> Reply {
    let name = collection(&reply.json());
    let next = follow(server, reply, call_id, &json!({ name: digits })).await;
    assert_eq!(next.status, 200, "{}", next.text());
    next
}

#[tokio::test]
async fn shipped_ivr_routes_by_digit_and_by_timeout() {
    let server = serve_shipped(NOW);
    let step0 = first(&server, "c5_ivr", "ivr-1").await;
    assert_eq!(modules(&step0.json()), ["tts", "collect_dtmf", "pivot"]);
    let sales = press(&server, &step0, "ivr-1", "1").await.json();
    assert_eq!(sales["module"], "user");
    assert_eq!(
        sales["data"]["id"], "8f0c2b4d6e8a0c2e4f6a8b0d2c4e6f8a",
        "1 → 1002"
    );

    let step0 = first(&server, "c5_ivr", "ivr-2").await;
    let desk = press(&server, &step0, "ivr-2", "").await.json();
    assert_eq!(desk["module"], "device", "no input → 1001: {desk}");

    let step0 = first(&server, "c5_ivr", "ivr-3").await;
    let wrong = press(&server, &step0, "ivr-3", "7").await.json();
    assert_eq!(modules(&wrong), ["tts", "hangup"]);
    assert_eq!(
        node(&wrong, "tts")["data"]["text"],
        "7 is not an option. Goodbye."
    );
}

#[tokio::test]
async fn shipped_calling_card_retries_a_failed_bridge_once() {
    let server = serve_shipped(NOW);
    let step0 = first(&server, "c5_calling_card", "card-1").await;
    let short = press(&server, &step0, "card-1", "12345#").await;
    let tree = short.json();
    assert_eq!(
        node(&tree, "tts")["data"]["text"],
        "That number is not valid.",
        "too few digits: {tree}"
    );
    let out = press(&server, &short, "card-1", "14155550123#")
        .await
        .json();
    assert_eq!(out["module"], "resources");
    assert_eq!(out["data"]["to_did"], "14155550123");
    let children = out["children"].as_object().unwrap();
    assert!(!children.contains_key("_"), "resources never uses _: {out}");
    let failed = take(&server, &children["NO_ANSWER"], "card-1").await;
    let again = failed.json();
    assert_eq!(
        node(&again, "tts")["data"]["text"],
        "The call could not be completed. Please try again."
    );
    let out = press(&server, &failed, "card-1", "14155550124")
        .await
        .json();
    assert_eq!(out["data"]["to_did"], "14155550124");
    let last = take(&server, &out["children"]["USER_BUSY"], "card-1")
        .await
        .json();
    assert_eq!(
        last,
        json!({"module": "tts", "data": {"text": "The call could not be completed. Goodbye."}})
    );
}

#[tokio::test]
async fn shipped_pin_check_counts_wrong_pins_across_calls() {
    let server = serve_shipped(NOW);
    let step0 = first(&server, "c5_pin", "pin-1").await;
    let right = press(&server, &step0, "pin-1", "1234#").await.json();
    assert_eq!(
        modules(&right),
        ["tts", "user", "pivot"],
        "the user, and a way back: {right}"
    );

    let mut reply = first(&server, "c5_pin", "pin-2").await;
    for _ in 0..2 {
        reply = press(&server, &reply, "pin-2", "9999").await;
        assert_eq!(
            node(&reply.json(), "tts")["data"]["text"],
            "That PIN is not correct."
        );
    }
    let out = press(&server, &reply, "pin-2", "0000").await.json();
    assert_eq!(
        out,
        json!({"module": "tts", "data": {"text": "Too many wrong PINs. Goodbye."}})
    );
    // The next call from that number is refused at once: the count is in cxKV.
    let refused = first(&server, "c5_pin", "pin-3").await.json();
    assert_eq!(
        refused,
        json!({"module": "response", "data": {"code": 403, "message": "Too many wrong PINs"}})
    );
}

#[tokio::test]
async fn shipped_announcer_speaks_a_fetched_value() {
    let mock = MockHttp::start(|_| MockResponse::json(200, &json!({"status": "all systems go"})));
    let source = std::fs::read_to_string(shipped_flows().join("c5_announcer.js")).unwrap();
    let settings = format!(
        "allow_hosts = [\"127.0.0.1:*\"]\n\n[env]\nSTATUS_URL = \"{}/api/status\"\n",
        mock.base()
    );
    let flows = flows_dir(&[
        ("c5_announcer.js", &source),
        ("c5_announcer.settings.toml", &settings),
    ]);
    let server = serve(flows.path(), at(NOW));
    let reply = first(&server, "c5_announcer", "ann-1").await;
    assert_eq!(
        reply.json(),
        json!({"module": "tts", "data": {"text": "The current status is: all systems go."},
            "children": {"_": {"module": "hangup", "data": {}}}})
    );
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn run_plays_a_call_step_by_step_from_a_journal_file() {
    let flow = r#"
async function main(data, ctx) {
  const { status, value } = await ctx.ivr('menu.wav', 5, 1, 1);
  await ctx.tts(`${status} ${value} ${Math.random() < 2}`);
}
"#;
    let flows = flows_dir(&[("menu.js", flow), ("menu.settings.toml", MEDIA)]);
    let saved_calls = tempfile::tempdir().unwrap();
    let journal = saved_calls.path().join("call.json");
    let run = |extra: &[&str]| {
        let dir = flows.path().to_str().unwrap();
        let file = journal.to_str().unwrap();
        let mut args = vec!["run", "menu", "--flows", dir, "--journal", file];
        args.extend_from_slice(extra);
        pivotforge_cli(&args, &[])
    };
    let (code, out, err) = run(&["--at", NOW]);
    assert_eq!(code, Some(0), "{err}");
    let tree: Value = serde_json::from_str(&out).expect("a tree on stdout");
    assert_eq!(modules(&tree), ["play", "collect_dtmf", "pivot"]);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&journal).unwrap()).unwrap();
    assert_eq!(saved["steps"].as_array().map(Vec::len), Some(1), "{saved}");

    // A new process, a new store: the file carries the call on.
    let (code, out, err) = run(&["--digits", "pf_step0=1"]);
    assert_eq!(code, Some(0), "{err}");
    let tree: Value = serde_json::from_str(&out).expect("a tree on stdout");
    assert_eq!(
        tree,
        json!({"module": "tts", "data": {"text": "success 1 true"}})
    );
    assert!(
        err.contains("class5 step 1: journal position 1 -> 3"),
        "{err}"
    );
}

#[tokio::test]
async fn a_journal_expires_journal_hours_after_the_last_step() {
    let flows = flows_dir(&[("ivr.js", IVR), ("ivr.settings.toml", MEDIA)]);
    let clock = std::sync::Arc::new(pivotforge::clock::RunningClock::new(at(NOW)));
    let mut config = config(flows.path());
    config.class5.journal_hours = 1;
    let server = serve_with_clock(config, clock.clone());
    let step0 = first(&server, "ivr", "c-late").await;
    let name = collection(&step0.json());
    clock.advance(std::time::Duration::from_secs(3601));
    let late = follow(&server, &step0, "c-late", &json!({ name: "1" })).await;
    let body = assert_error(&late, 500, "a step after the journal expired");
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn get_pivots_append_kazoos_parameters_to_the_step_token() {
    let flows = flows_dir(&[("ivr.js", IVR), ("ivr.settings.toml", MEDIA)]);
    let mut config = config(flows.path());
    config.pivot.method = pivotforge::config::PivotMethod::Get;
    let server = serve_with(config, at(NOW));
    let step0 = first(&server, "ivr", "c-get").await;
    let tree = step0.json();
    let pivot = pivot_of(&tree).unwrap();
    assert_eq!(pivot["data"]["method"], "get", "{pivot}");
    let url = pivot["data"]["voice_url"].as_str().unwrap();
    let path = url.strip_prefix(PUBLIC_URL).unwrap();
    assert!(path.ends_with("?step=1"), "{path}");
    // Kazoo keeps the query the voice_url has and appends its own parameters with `&`.
    let name = collection(&tree);
    let params = with(
        &kazoo_params(),
        &json!({"Call-ID": "c-get", "Digits": { name: "2" }}),
    );
    let step1 = get(&server.url(&format!("{path}&{}", kazoo_form(&params)))).await;
    assert_eq!(step1.status, 200, "{}", step1.text());
    let said = node(&step1.json(), "tts")["data"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(said.starts_with("You pressed 2. Caller 1, "), "{said}");
}

#[tokio::test]
async fn late_digits_and_collections_kept_from_earlier_steps() {
    // Kazoo keeps every collection for the whole call, and digits pressed during a prompt
    // prefix the next collection: each ivr reads only its own step's collection, whole.
    let flow = r#"
async function main(data, ctx) {
  const a = await ctx.ivr('Enter your account', 5, 4, 4, '#');
  const b = await ctx.ivr('Press a key', 5, 1, 1, '#');
  await ctx.tts(`${a.status} ${a.value} then ${b.status} ${b.value || 'none'}`);
}
"#;
    let flows = flows_dir(&[("acct.js", flow)]);
    let server = serve(flows.path(), at(NOW));
    let step0 = first(&server, "acct", "c-late").await;
    let first_name = collection(&step0.json());
    // "12" pressed during the prompt, "34#" at the collect: one collection, terminator last.
    let step1 = follow(&server, &step0, "c-late", &json!({ &first_name: "1234#" })).await;
    assert_eq!(step1.status, 200, "{}", step1.text());
    let second_name = collection(&step1.json());
    assert_ne!(second_name, first_name, "a fresh collection per step");
    // The next request still carries the first collection; the second one is empty (nothing
    // pressed), and `default` holds what was pressed after the first collect ended.
    let digits = json!({ &first_name: "1234", &second_name: "", "default": "9" });
    let step2 = follow(&server, &step1, "c-late", &digits).await;
    assert_tree(
        &step2,
        &json!({"module": "tts", "data": {"text": "success 1234 then timeout none"}}),
        "each ivr reads its own collection",
    );
}

#[tokio::test]
async fn a_call_whose_pivots_send_json_bodies() {
    // A PBX whose pivot nodes say `req_body_format: json` (or a proxy that re-encodes) sends
    // the same parameters as a JSON body; the step token stays in the URL.
    let flows = flows_dir(&[("ivr.js", IVR), ("ivr.settings.toml", MEDIA)]);
    let server = serve(flows.path(), at(NOW));
    let step0 = first(&server, "ivr", "c-json").await;
    let tree = step0.json();
    let name = collection(&tree);
    let url = pivot_of(&tree).unwrap()["data"]["voice_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = url.strip_prefix(PUBLIC_URL).unwrap().to_owned();
    let body = with(
        &kazoo_params(),
        &json!({"Call-ID": "c-json", "Digits": { &name: "2" }}),
    );
    let step1 = post_json(&server.url(&path), &body).await;
    assert_eq!(step1.status, 200, "{}", step1.text());
    let reply = step1.json();
    let spoken = node(&reply, "tts")["data"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(spoken.starts_with("You pressed 2."), "{reply}");
    assert_eq!(
        post_json(&server.url(&path), &body).await.json(),
        reply,
        "a retried JSON step gets the same reply"
    );
}

/// A server whose JS pool has one thread, so that every step of every call runs in the same
/// realm unless it is dropped.
fn serve_one_thread(flows: &std::path::Path) -> TestServer {
    let mut config = config(flows);
    config.js_threads = 1;
    serve_with(config, at(NOW))
}

/// The second reply of a call of `flow` whose first step asks for digits: it gets `digits`.
async fn reply_to(server: &TestServer, flow: &str, call: &str, digits: &str) -> Value {
    let step0 = first(server, flow, call).await;
    assert_eq!(step0.status, 200, "{call}: {}", step0.text());
    let name = collection(&step0.json());
    follow(server, &step0, call, &json!({ name: digits }))
        .await
        .json()
}

/// A reply that only speaks `text`.
fn tts(text: &str) -> Value {
    json!({"module": "tts", "data": {"text": text}})
}

#[tokio::test]
async fn calls_on_one_thread_never_see_what_another_step_left() {
    // A top-level binding, an undeclared global and a built-in changed by a sloppy script:
    // none of them may carry from one step (or call) to the next.
    let flow = r#"
let visits = 0;
async function main(data, ctx) {
  visits += 1;
  leaked = (typeof leaked === 'number' ? leaked : 0) + 1;
  await ctx.ivr('a.wav', 5, 1, 1);
  await ctx.tts(`visits ${visits}, leaked ${leaked}`);
}
"#;
    let flows = flows_dir(&[("state.js", flow), ("state.settings.toml", MEDIA)]);
    let server = serve_one_thread(flows.path());
    for call in ["s-1", "s-2", "s-3", "s-4", "s-5"] {
        let reply = reply_to(&server, "state", call, "1").await;
        assert_eq!(reply, tts("visits 1, leaked 1"), "{call}");
    }
}

#[tokio::test]
async fn a_script_that_changes_a_built_in_still_runs() {
    // The realm's built-ins are frozen, so this top level throws there; the step runs again in
    // a context of its own, as every later one does.
    let flow = r#"
'use strict';
Array.prototype.last = function () { return this[this.length - 1]; };
async function main(data, ctx) {
  const { value } = await ctx.ivr('a.wav', 5, 1, 3);
  await ctx.tts(`last ${value.split('').last()}`);
}
"#;
    // The same once the call is under way: the step that throws replays its journal again
    // in the fresh context.
    let later = r#"
'use strict';
async function main(data, ctx) {
  const { value } = await ctx.ivr('a.wav', 5, 1, 3);
  String.prototype.shout = function () { return `${this}!`; };
  await ctx.tts(`last ${value.shout()}`);
}
"#;
    let flows = flows_dir(&[
        ("polyfill.js", flow),
        ("polyfill.settings.toml", MEDIA),
        ("later.js", later),
        ("later.settings.toml", MEDIA),
    ]);
    let server = serve_one_thread(flows.path());
    let reply = reply_to(&server, "later", "l-1", "123").await;
    assert_eq!(reply, tts("last 123!"));
    for call in ["p-1", "p-2"] {
        let reply = reply_to(&server, "polyfill", call, "123").await;
        assert_eq!(reply, tts("last 3"), "{call}");
    }
}
