//! The web console end to end in a real headless Chromium (Debian's `chromium`), driven over the
//! DevTools protocol: the page loads, the playground runs a script flow and steps the simulated
//! call on to a rule flow with digits, the Calls tab shows that call's steps with outcome and
//! script logs and saves it as a scenario, the playground plays a whole call and saves it, and the
//! Recordings tab plays an uploaded recording and links its download.
//! Also, without a browser: the console's files and headers.
//!
//! Chromium is required: without it the browser test fails and says how to install it.

use crate::common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{at, flows_dir, get, request, serve, TestServer};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::{json, Value};

/// Where Debian installs Chromium; `PIVOTFORGE_CHROMIUM` points elsewhere.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long an asynchronous change of the page may take before the test fails.
const UI_DEADLINE: Duration = Duration::from_secs(20);

/// Asks for digits into `choice`, then pivots to `answer` by POST.
const ASK: &str = r#"
const pf = require('pivotforge');
function main(data) {
  console.info(`greeting ${data['Caller-ID-Number']}`);
  return pf.tts(`Hello ${data['Caller-ID-Name']} at ${data['Caller-ID-Number']}`, {},
    pf.collectDtmf('choice', 1, { timeout: 5000 }, pf.pivot('answer', { method: 'post' })));
}
"#;

/// Routes the digit the caller pressed.
const ANSWER: &str = r#"
[[rule]]
name = "pressed 2"
match = { "Digits.choice" = "2" }
reply = { module = "ring_group", data = { timeout = 25, endpoints = [
  { endpoint_type = "device", id = "dev-front" },
  { endpoint_type = "user", id = "user-back" },
] }, children = { "_" = { module = "voicemail", data = { id = "9a8b7c6d5e4f30211a2b3c4d5e6f7a8b" } } } }

[default]
module = "tts"
data = { text = "No choice." }
"#;

// ---- the browser ----------------------------------------------------------------------------

fn chromium() -> PathBuf {
    let path = std::env::var_os("PIVOTFORGE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    assert!(
        path.is_file(),
        "Chromium is not installed ({} is missing), and the web console's browser test needs \
         it: run `apt-get install chromium` (or `bash scripts/test.sh`, which \
         installs it), or point PIVOTFORGE_CHROMIUM at a Chromium binary",
        path.display()
    );
    path
}

/// A headless Chromium with a fresh profile; closed (and its profile removed) when dropped.
struct Console {
    tab: std::sync::Arc<Tab>,
    _browser: Browser,
    _profile: tempfile::TempDir,
}

impl Console {
    fn launch() -> Console {
        let profile = tempfile::tempdir().expect("temp browser profile");
        // The network here is closed: without these, Chromium waits on connections to Google.
        let args: Vec<&OsStr> = [
            "--disable-quic",
            "--disable-component-update",
            "--disable-background-networking",
            "--disable-sync",
            "--no-first-run",
            "--no-proxy-server",
            // Lets the test call `audio.play()` without a click on the audio element.
            "--autoplay-policy=no-user-gesture-required",
            "--mute-audio",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        let options = LaunchOptions::default_builder()
            .path(Some(chromium()))
            .headless(true)
            .sandbox(false)
            .enable_gpu(false)
            .user_data_dir(Some(profile.path().to_path_buf()))
            .window_size(Some((1280, 1800)))
            .idle_browser_timeout(Duration::from_secs(120))
            .args(args)
            .build()
            .expect("browser launch options");
        let browser = Browser::new(options)
            .unwrap_or_else(|e| panic!("Chromium ({}) did not start: {e}", chromium().display()));
        let tab = browser.new_tab().expect("a browser tab");
        tab.set_default_timeout(UI_DEADLINE);
        Console {
            tab,
            _browser: browser,
            _profile: profile,
        }
    }

    fn open(&self, url: &str) {
        self.tab
            .navigate_to(url)
            .and_then(|t| t.wait_until_navigated())
            .unwrap_or_else(|e| panic!("loading {url} failed: {e}"));
    }

    /// Evaluates `expr` (awaited when it is a promise) and returns it as JSON.
    fn eval(&self, expr: &str) -> Value {
        let wrapped = format!(
            "(async () => {{ try {{ const v = await ({expr}); return JSON.stringify(v === undefined ? null : v); }} \
             catch (e) {{ return JSON.stringify({{thrown: String(e)}}); }} }})()"
        );
        let result = self
            .tab
            .evaluate(&wrapped, true)
            .unwrap_or_else(|e| panic!("evaluating `{expr}` failed: {e}"));
        match result.value {
            Some(Value::String(text)) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("`{expr}` gave no JSON ({e}): {text}")),
            other => panic!("`{expr}` gave {other:?}"),
        }
    }

    /// Polls `expr` until it gives something truthy (not null, false, 0, "" or []); fails
    /// with `what` and the page's status lines after the deadline.
    fn wait(&self, what: &str, expr: &str) -> Value {
        let deadline = Instant::now() + UI_DEADLINE;
        loop {
            let value = self.eval(expr);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.contains_key("thrown"),
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let status = self.eval(
                    "['pg-status', 'calls-status', 'flows-status', 'rec-status'].map((id) => \
                     id + ': ' + document.getElementById(id).textContent)",
                );
                panic!("{what}: not seen within {UI_DEADLINE:?} (last value {value}); page status: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a picture of the page as `NAME.png` in the folder `PIVOTFORGE_UI_SCREENSHOTS`
    /// names, when set: to look at what the test saw.
    fn snapshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("PIVOTFORGE_UI_SCREENSHOTS") else {
            return;
        };
        let png = self
            .tab
            .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
            .expect("screenshot");
        let path = PathBuf::from(dir).join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// A real mouse click on the element `selector` names.
    fn click(&self, selector: &str) {
        self.tab
            .wait_for_element(selector)
            .and_then(|e| e.click().map(|_| ()))
            .unwrap_or_else(|e| panic!("clicking {selector} failed: {e}"));
    }

    /// Clears a text input and types `text` into it, key by key.
    fn type_into(&self, selector: &str, text: &str) {
        self.eval(&format!(
            "document.querySelector({}).value = ''",
            json!(selector)
        ));
        self.tab
            .wait_for_element(selector)
            .and_then(|e| e.type_into(text).map(|_| ()))
            .unwrap_or_else(|e| panic!("typing into {selector} failed: {e}"));
    }

    /// Picks `value` in a `<select>`, as a person choosing an option would.
    fn choose(&self, selector: &str, value: &str) {
        let chosen = self.eval(&format!(
            "(() => {{ const s = document.querySelector({sel}); s.value = {val}; \
             s.dispatchEvent(new Event('change', {{bubbles: true}})); return s.value; }})()",
            sel = json!(selector),
            val = json!(value)
        ));
        assert_eq!(chosen, json!(value), "{selector} has no option {value}");
    }
}

// ---- the story ------------------------------------------------------------------------------

/// One second of a 440 Hz tone: 8 kHz, 16-bit mono PCM, so the browser can decode and play it.
fn tone_wav() -> Vec<u8> {
    let rate = 8000u32;
    let samples: Vec<i16> = (0..rate)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&[1, 0, 1, 0]); // PCM, mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&[2, 0, 16, 0]);
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    wav
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Uploads the tone as Kazoo's `record_call` would; returns the stored recording.
fn upload_recording(server: &TestServer) -> Value {
    let path = "/recordings/call_recording_rec-call%4010.0.0.1.wav?call_id=rec-call%4010.0.0.1\
                &from=1000&to=2030&caller_id_name=Alice%20Smith&caller_id_number=%2B14155550100\
                &account_id=3a1d5c7e9b2f4a6c8e0d1f3b5a7c9e2d";
    let reply = runtime().block_on(request(
        reqwest::Method::PUT,
        &server.url(path),
        Some("audio/x-wav"),
        tone_wav(),
    ));
    assert_eq!(reply.status, 201, "upload: {}", reply.text());
    reply.json()
}

/// The playground runs `ask` with a typed caller number, then steps the call with digit 2.
/// Returns the Call-ID it used.
fn playground_runs_and_steps_a_call(console: &Console) -> String {
    console.click("#tab-link-flows");
    console.wait(
        "the flow list shows `ask` as a loaded script",
        "document.querySelector('#flows-body tr[data-flow=\"ask\"] td:nth-child(2)')?.textContent === 'script'",
    );
    console.wait(
        "the flow list shows the script's circuit breaker, and none for the rule flow",
        "document.querySelector('#flows-body tr[data-flow=\"ask\"] td:nth-child(4) [data-breaker]')?.textContent === 'closed' \
         && document.querySelector('#flows-body tr[data-flow=\"answer\"] td:nth-child(4)')?.textContent === '—'",
    );
    console.wait(
        "the playground offers `ask`",
        "!!document.querySelector('#pg-flow option[value=\"ask\"]')",
    );
    console.choose("#pg-flow", "ask");
    console.choose("#pg-method", "post");
    console.type_into("#pg-caller-number", "+15550001111");
    // Markup in a parameter must come back as text, never as elements of the page.
    console.type_into("#pg-caller-name", "<b id=\"injected\">Eve</b>");
    console.click("#pg-run");

    let modules = console.wait(
        "the first step's tree drawn as blocks",
        "Array.from(document.querySelectorAll('#pg-steps .pg-step[data-step-index=\"1\"] .tree .node'), (n) => n.dataset.module)",
    );
    assert_eq!(
        modules,
        json!(["tts", "collect_dtmf", "pivot"]),
        "blocks in tree order"
    );
    let nesting = console.eval(
        "(() => { const tts = document.querySelector('#pg-steps .pg-step[data-step-index=\"1\"] .tree > .node'); \
         const collect = tts.querySelector(':scope > .children > .branch[data-branch=\"_\"] > .node'); \
         const pivot = collect.querySelector(':scope > .children > .branch[data-branch=\"_\"] > .node'); \
         return [tts.dataset.module, collect.dataset.module, pivot.dataset.module, \
                 tts.querySelector('dd[data-field=\"text\"]').textContent, \
                 collect.querySelector('dd[data-field=\"collection_name\"]').textContent, \
                 pivot.querySelector('dd[data-field=\"voice_url\"]').textContent]; })()",
    );
    assert_eq!(
        nesting,
        json!([
            "tts",
            "collect_dtmf",
            "pivot",
            "Hello <b id=\"injected\">Eve</b> at +15550001111",
            "choice",
            "http://pivot.test/pivot/answer"
        ]),
        "each branch nested inside its parent, with its key data"
    );
    assert_eq!(
        console.eval("document.getElementById('injected')"),
        Value::Null,
        "a parameter's markup became an element"
    );
    let call_id = console.eval("document.getElementById('pg-call-id').value");
    let call_id = call_id.as_str().expect("a Call-ID").to_owned();
    assert!(call_id.starts_with("pg-"), "{call_id}");

    // The tree collects digits and pivots: the console offers the next step.
    console.wait(
        "the next-step form asking for digits",
        "!document.getElementById('pg-next').hidden && !document.getElementById('pg-next-digits-label').hidden",
    );
    let offer = console.eval("document.getElementById('pg-next-what').textContent");
    assert!(
        offer
            .as_str()
            .is_some_and(|t| t.contains("/pivot/answer") && t.contains("choice")),
        "{offer}"
    );
    console.type_into("#pg-next-digits", "2");
    console.click("#pg-next-run");
    let second = console.wait(
        "the second step's tree",
        "Array.from(document.querySelectorAll('#pg-steps .pg-step[data-step-index=\"2\"] .tree .node'), (n) => n.dataset.module)",
    );
    assert_eq!(second, json!(["ring_group", "voicemail"]), "digit 2 routed");
    let endpoints = console.eval(
        "document.querySelector('#pg-steps .pg-step[data-step-index=\"2\"] dd[data-field=\"endpoints\"]').textContent",
    );
    assert!(
        endpoints
            .as_str()
            .is_some_and(|t| t.starts_with("2 endpoints")),
        "ring group summarised by its endpoints: {endpoints}"
    );
    let request_line = console.eval(
        "document.querySelector('#pg-steps .pg-step[data-step-index=\"2\"] .step-head code').textContent",
    );
    assert_eq!(
        request_line,
        json!("POST /pivot/answer"),
        "the pivot node's method and path"
    );
    assert!(
        console.eval("document.getElementById('pg-next').hidden") == json!(true),
        "a tree without a pivot ends the simulated call"
    );
    console.snapshot("playground");
    call_id
}

/// What the playground shows from the exchange log for step 1: outcome, validity, script log.
fn playground_shows_the_exchange(console: &Console) {
    let shown = console.wait(
        "the first step's validation result from the exchange log",
        "(() => { const s = document.querySelector('#pg-steps .pg-step[data-step-index=\"1\"]'); \
         const v = s && s.querySelector('.validation [data-valid]'); \
         const none = s && s.querySelector('.pg-no-log'); \
         return v ? { valid: v.dataset.valid } : none ? { missing: none.textContent } : null; })()",
    );
    assert_eq!(
        shown,
        json!({"valid": "true"}),
        "the playground found no exchange log for its step (is GET /calls served?)"
    );
    let logs = console.eval(
        "Array.from(document.querySelectorAll('#pg-steps .pg-step[data-step-index=\"1\"] .logs .log-message'), (n) => n.textContent)",
    );
    assert_eq!(
        logs,
        json!(["greeting +15550001111"]),
        "the script's console line"
    );
}

/// A call the PBX makes while the Calls tab is open appears without a click (the tab polls),
/// and opens by its Call-ID even when that holds `/`, `@` and `%`.
fn calls_tab_is_live(console: &Console, server: &TestServer) {
    let call_id = "live/1%@10.0.0.1";
    let reply = runtime().block_on(get(
        &server.url("/pivot/answer?Call-ID=live%2F1%25%4010.0.0.1&Digits%5Bchoice%5D=7")
    ));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let row = format!("#calls-body tr[data-call-id={}]", json!(call_id));
    console.wait(
        "a new call listed by the Calls tab's polling",
        &format!("!!document.querySelector({})", json!(row)),
    );
    console.click(&row);
    let step = console.wait(
        "the new call's step",
        &format!(
            "(() => {{ if (document.getElementById('call-detail-id').textContent !== {id}) return null; \
             const s = document.querySelectorAll('#call-steps .step'); \
             return s.length === 1 ? {{ rule: s[0].querySelector('.rule')?.textContent ?? null, \
               modules: Array.from(s[0].querySelectorAll('.tree .node'), (n) => n.dataset.module) }} : null; }})()",
            id = json!(call_id)
        ),
    );
    assert_eq!(
        step,
        json!({"rule": null, "modules": ["tts"]}),
        "the default answered 7"
    );
}

/// A flow whose tree fails the schemas: the playground shows the error reply, the outcome,
/// each schema error with its pointer, and the log line; no next step is offered.
fn playground_shows_validation_errors(console: &Console) {
    console.click("#tab-link-flows");
    console.wait(
        "the playground offers `invalid`",
        "!!document.querySelector('#pg-flow option[value=\"invalid\"]')",
    );
    console.choose("#pg-flow", "invalid");
    console.click("#pg-run");
    let shown = console.wait(
        "the invalid tree's validation result",
        "(() => { const s = document.querySelector('#pg-steps .pg-step[data-step-index=\"1\"]'); \
         const v = s && s.querySelector('.validation [data-valid]'); \
         if (!v) return null; \
         return { valid: v.dataset.valid, status: s.dataset.httpStatus, \
                  outcome: s.querySelector('.validation .badge').dataset.outcome, \
                  errors: Array.from(s.querySelectorAll('.schema-errors li'), (li) => li.textContent), \
                  logs: Array.from(s.querySelectorAll('.logs .log-message'), (n) => n.textContent), \
                  trees: s.querySelectorAll('.tree').length }; })()",
    );
    assert_eq!(shown["valid"], json!("false"), "{shown}");
    assert_eq!(
        shown["status"],
        json!("500"),
        "no fallback: a non-200 {shown}"
    );
    assert_eq!(shown["outcome"], json!("error"), "{shown}");
    assert_eq!(
        shown["trees"],
        json!(0),
        "an error body is not drawn as a tree: {shown}"
    );
    assert_eq!(shown["logs"], json!(["about to fail"]), "{shown}");
    let errors = shown["errors"].as_array().expect("errors listed");
    assert!(
        errors.iter().any(|e| e
            .as_str()
            .is_some_and(|e| e.starts_with("/data") && e.contains("text"))),
        "the missing `text` named with its pointer: {shown}"
    );
    assert_eq!(
        console.eval("document.getElementById('pg-next').hidden"),
        json!(true)
    );
    console.snapshot("invalid");
}

/// The Calls tab lists the playground's call; clicking it shows both steps.
fn calls_tab_shows_the_call(console: &Console, call_id: &str) {
    console.click("#tab-link-calls");
    let row = format!("#calls-body tr[data-call-id={}]", json!(call_id));
    console.wait(
        "the playground's call listed in the Calls tab",
        &format!("!!document.querySelector({})", json!(row)),
    );
    console.click(&row);
    let outcomes = console.wait(
        "the call's steps",
        "(() => { const s = document.querySelectorAll('#call-steps .step'); \
         return s.length === 2 ? Array.from(s, (n) => n.dataset.outcome) : null; })()",
    );
    assert_eq!(outcomes, json!(["tree", "tree"]));
    assert_eq!(
        console.eval("document.getElementById('call-detail-id').textContent"),
        json!(call_id)
    );
    let first = console.eval(
        "(() => { const s = document.querySelector('#call-steps .step[data-step=\"1\"]'); \
         return { modules: Array.from(s.querySelectorAll('.tree .node'), (n) => n.dataset.module), \
                  logs: Array.from(s.querySelectorAll('.logs .log-message'), (n) => n.textContent), \
                  status: s.querySelector('.http-status').textContent }; })()",
    );
    assert_eq!(
        first,
        json!({"modules": ["tts", "collect_dtmf", "pivot"], "logs": ["greeting +15550001111"], "status": "HTTP 200"})
    );
    assert!(
        console
            .eval("location.hash")
            .as_str()
            .is_some_and(|h| h.starts_with("#calls/pg-")),
        "the open call is in the address, to link to"
    );
    let saved = console.eval(
        "(async () => { const a = document.getElementById('call-save'); \
          const r = await fetch(a.href); \
          return { path: new URL(a.href).pathname, disposition: r.headers.get('content-disposition'), \
                   text: await r.text() }; })()",
    );
    assert_eq!(
        saved["path"],
        json!(format!("/calls/{}/scenario", call_id.replace('@', "%40")))
    );
    assert_eq!(
        saved["disposition"],
        json!("attachment; filename=\"ask.toml\"")
    );
    let text = saved["text"].as_str().unwrap_or_default();
    for part in ["flow = \"ask\"", "digits = [\"2\"]", "steps = 2"] {
        assert!(
            text.contains(part),
            "{part} in the call's scenario:\n{text}"
        );
    }
    console.snapshot("calls");
}

/// The playground's whole-call mode plays `ask` at Christmas Eve with digit 2 and a ring group
/// nobody answers, shows the transcript, and saves it as a scenario file.
fn playground_plays_a_whole_call_and_saves_it(console: &Console) {
    console.click("#tab-link-flows");
    console.wait(
        "the playground offers `ask`",
        "!!document.querySelector('#pg-flow option[value=\"ask\"]')",
    );
    console.choose("#pg-flow", "ask");
    console.type_into("#pg-caller-number", "+15550002222");
    console.type_into("#pg-call-digits", "2");
    console.type_into("#pg-call-bridges", "NO_ANSWER");
    console.type_into("#pg-call-at", "2026-12-24T15:00:00-05:00");
    console.click("#pg-call-run");
    let lines = console.wait(
        "the whole call's transcript",
        "Array.from(document.querySelectorAll('#pg-transcript .t-step'), (s) => \
         Array.from(s.querySelectorAll('.node-lines li'), (li) => li.textContent))",
    );
    assert_eq!(
        lines,
        json!([
            [
                "tts \"Hello Alice Smith at +15550002222\"",
                "collect choice (max 1) ← \"2\"",
                "pivot → /pivot/answer"
            ],
            [
                "bridge ring_group dev-front, user-back → NO_ANSWER",
                "voicemail 9a8b7c6d5e4f30211a2b3c4d5e6f7a8b"
            ]
        ]),
        "each collect got its digits, the bridge its outcome"
    );
    let shown = console.eval(
        "({ requests: Array.from(document.querySelectorAll('#pg-transcript .t-request'), (c) => c.textContent), \
            outcomes: Array.from(document.querySelectorAll('#pg-transcript .t-step [data-outcome]'), (b) => b.dataset.outcome), \
            end: document.querySelector('#pg-transcript .t-end').textContent, \
            status: document.getElementById('pg-call-status').textContent })",
    );
    assert_eq!(
        shown["requests"],
        json!([
            "GET http://pivot.test/pivot/ask",
            "POST http://pivot.test/pivot/answer"
        ])
    );
    assert_eq!(shown["outcomes"], json!(["tree", "tree"]));
    assert_eq!(shown["end"], json!("Ended: at a voicemail node"));
    assert!(
        shown["status"]
            .as_str()
            .is_some_and(|s| s.contains("2 requests") && s.contains("2026-12-24T20:00:00Z")),
        "{shown}"
    );
    console.snapshot("whole-call");

    console.click("#pg-call-save");
    console.wait(
        "the saved scenario's link",
        "!document.getElementById('pg-call-saved').hidden",
    );
    let saved = console.eval(
        "(async () => { const a = document.getElementById('pg-call-saved'); \
          return { name: a.download, blob: a.href.startsWith('blob:'), \
                   kept: wholeCall.file.name, text: await wholeCall.file.blob.text() }; })()",
    );
    assert_eq!(saved["name"], json!("ask.toml"), "{saved}");
    assert_eq!(saved["kept"], json!("ask.toml"), "{saved}");
    assert_eq!(
        saved["blob"],
        json!(true),
        "the link downloads the file: {saved}"
    );
    let text = saved["text"].as_str().unwrap_or_default();
    for part in [
        "flow = \"ask\"",
        "at = \"2026-12-24T20:00:00Z\"",
        "\"Caller-ID-Number\" = \"+15550002222\"",
        "digits = [\"2\"]",
        "bridges = [\"NO_ANSWER\"]",
        "{ ring_group = \"dev-front, user-back\" },",
        "{ voicemail = \"9a8b7c6d5e4f30211a2b3c4d5e6f7a8b\" },",
        "ends = \"voicemail\"",
        "steps = 2",
    ] {
        assert!(text.contains(part), "{part} in the saved file:\n{text}");
    }
}

/// The Recordings tab lists the upload; its audio element plays; its link downloads it.
fn recordings_tab_plays_the_recording(console: &Console, server: &TestServer, recording: &Value) {
    let id = recording["id"].as_str().expect("recording id");
    console.click("#tab-link-recordings");
    let item = format!(".recording[data-recording-id={}]", json!(id));
    console.wait(
        "the uploaded recording listed",
        &format!("!!document.querySelector({})", json!(item)),
    );
    let call = console.eval(&format!(
        "document.querySelector({}).querySelector('.rec-call').textContent",
        json!(item)
    ));
    assert_eq!(call, json!("rec-call@10.0.0.1"));
    let played = console.eval(&format!(
        "(async () => {{ const a = document.querySelector({}).querySelector('audio'); \
         await a.play(); \
         return {{ paused: a.paused, readyState: a.readyState, duration: a.duration, src: a.src }}; }})()",
        json!(item)
    ));
    assert!(
        played.get("thrown").is_none(),
        "audio.play() failed: {played}"
    );
    assert_eq!(played["paused"], json!(false), "{played}");
    assert!(played["readyState"].as_u64() >= Some(2), "{played}");
    let duration = played["duration"].as_f64().unwrap_or(0.0);
    assert!(
        (duration - 1.0).abs() < 0.05,
        "one second of audio: {played}"
    );
    let audio_url = server.url(&format!("/recordings/{id}/audio"));
    assert_eq!(played["src"], json!(audio_url), "{played}");
    // Playing moves on: the element really decodes the file.
    console.wait(
        "the recording's playback position moving",
        &format!(
            "document.querySelector({}).querySelector('audio').currentTime > 0",
            json!(item)
        ),
    );
    let link = console.eval(&format!(
        "(() => {{ const a = document.querySelector({}).querySelector('a.download'); \
         return {{ href: a.href, download: a.hasAttribute('download') }}; }})()",
        json!(item)
    ));
    assert_eq!(link, json!({"href": audio_url, "download": true}));
    console.snapshot("recordings");
}

/// Answers a `tts` without its required text: the schemas refuse it.
const INVALID: &str =
    "function main() { console.warn('about to fail'); return { module: 'tts', data: {} }; }";

/// A server for the test flows, and the console open on its `/ui`.
fn open_console() -> (tempfile::TempDir, TestServer, Console) {
    let flows = flows_dir(&[
        ("ask.js", ASK),
        ("answer.toml", ANSWER),
        ("invalid.js", INVALID),
    ]);
    let server = serve(flows.path(), at("2026-11-21T12:00:00Z"));
    let console = Console::launch();
    console.open(&server.url("/ui"));
    console.wait(
        "the console started",
        "document.body.dataset.ready === 'true'",
    );
    assert_eq!(
        console.eval("location.pathname + location.hash"),
        json!("/ui/"),
        "/ui leads to /ui/"
    );
    assert_eq!(console.eval("document.title"), json!("pivotforge console"));
    (flows, server, console)
}

#[test]
fn playground_steps_a_call_and_a_recording_plays() {
    let (_flows, server, console) = open_console();
    let recording = upload_recording(&server);
    playground_runs_and_steps_a_call(&console);
    recordings_tab_plays_the_recording(&console, &server, &recording);
}

#[test]
fn calls_tab_and_playground_show_the_exchange_log() {
    let (_flows, server, console) = open_console();
    let call_id = playground_runs_and_steps_a_call(&console);
    playground_shows_the_exchange(&console);
    calls_tab_shows_the_call(&console, &call_id);
    calls_tab_is_live(&console, &server);
    playground_shows_validation_errors(&console);
}

#[test]
fn playground_plays_a_whole_call() {
    let (_flows, _server, console) = open_console();
    playground_plays_a_whole_call_and_saves_it(&console);
}

// ---- the files, without a browser -----------------------------------------------------------

#[tokio::test]
async fn console_files_are_served_with_their_types() {
    let flows = flows_dir(&[]);
    let server = serve(flows.path(), at("2026-11-21T12:00:00Z"));
    for (path, content_type, marker) in [
        (
            "/ui/",
            "text/html; charset=utf-8",
            "<title>pivotforge console</title>",
        ),
        (
            "/ui/index.html",
            "text/html; charset=utf-8",
            "id=\"pg-form\"",
        ),
        (
            "/ui/app.js",
            "text/javascript; charset=utf-8",
            "'use strict'",
        ),
        (
            "/ui/call.js",
            "text/javascript; charset=utf-8",
            "api/call/scenario",
        ),
        ("/ui/style.css", "text/css; charset=utf-8", ".node"),
    ] {
        let response = common::client()
            .get(server.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        assert!(
            header("content-security-policy").contains("default-src 'none'"),
            "{path}"
        );
        let text = response.text().await.expect("body");
        assert!(text.contains(marker), "{path}: {marker} missing");
    }
}

#[tokio::test]
async fn console_paths_redirect_refuse_and_miss_as_json() {
    let flows = flows_dir(&[]);
    let server = serve(flows.path(), at("2026-11-21T12:00:00Z"));
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirect = no_redirects
        .get(server.url("/ui"))
        .send()
        .await
        .expect("GET /ui");
    assert_eq!(redirect.status(), 308);
    assert_eq!(
        redirect.headers().get("location").map(|v| v.as_bytes()),
        Some(&b"ui/"[..]),
        "relative, so it holds behind a path prefix"
    );

    let missing = get(&server.url("/ui/nothing.js")).await;
    common::assert_error(&missing, 404, "GET /ui/nothing.js");
    let traversal = get(&server.url("/ui/..%2FCargo.toml")).await;
    common::assert_error(&traversal, 404, "GET /ui/..%2FCargo.toml");
    let post = request(
        reqwest::Method::POST,
        &server.url("/ui/app.js"),
        Some("text/plain"),
        b"x".to_vec(),
    )
    .await;
    common::assert_error(&post, 405, "POST /ui/app.js");
    // Only whole segments: `/uix` is not the console.
    common::assert_error(&get(&server.url("/uix")).await, 404, "GET /uix");
}
