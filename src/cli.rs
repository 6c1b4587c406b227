//! The offline commands behind `pivotforge run` and `pivotforge check`: the same engine the server
//! uses, with output for a terminal. Exit codes: 0 fine, 1 the flow or files have a problem.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use std::sync::Arc;

use crate::config::Config;
use crate::engine::{AnswerError, Engine, EngineOptions};
use crate::outcome::Outcome;
use crate::request::{form, PivotRequest};
pub use crate::scratch::ScratchDir;
use crate::script::class5::offline;
use crate::store::{self, Store};

/// Inputs of `pivotforge run`.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// The flow to run.
    pub flow: String,
    /// `K=V` request parameters (Kazoo names).
    pub params: Vec<(String, String)>,
    /// `NAME=DIGITS` collections.
    pub digits: Vec<(String, String)>,
    /// A raw Kazoo query string, e.g. pasted from a log.
    pub query: Option<String>,
    /// The instant to evaluate at; now when absent.
    pub at: Option<DateTime<Utc>>,
    /// A Class 5 call's journal to start from and write back (`--journal FILE`).
    pub journal: Option<PathBuf>,
}

/// Splits `K=V` at the first `=`.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

/// Runs one flow once and prints the reply tree (stdout) and any problem (stderr).
pub fn run_flow(engine: &Engine, args: &RunArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut req = match build_request(args) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "pivotforge run: {e}");
            return 2;
        }
    };
    // `--at` is this command's injected clock; without it the step runs at the machine's now.
    let now = args.at.unwrap_or_else(Utc::now);
    if let Some(file) = &args.journal {
        if let Err(e) = load_journal(engine, args, file, &mut req, now) {
            let _ = writeln!(err, "pivotforge run: --journal {e}");
            return 2;
        }
    }
    let code = run_request(engine, args, &req, now, out, err);
    if let (Some(file), Some(pool)) = (&args.journal, engine.pool()) {
        let call_id = req.call_id.as_deref().unwrap_or_default();
        let store = pool.services().store.as_ref();
        let saved = offline::save(store, file, &args.flow, call_id, now.timestamp_millis());
        if let Err(e) = saved {
            let _ = writeln!(err, "pivotforge run: --journal {e}");
            return 1;
        }
    }
    code
}

/// Puts `file`'s journal in the store for the request's call (Call-ID `pivotforge-run` unless
/// given) and points the request at the journal's next step unless `step` was given.
fn load_journal(
    engine: &Engine,
    args: &RunArgs,
    file: &Path,
    req: &mut PivotRequest,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let pool = engine.pool().ok_or("no JS pool was started")?;
    let call_id = req
        .call_id
        .get_or_insert_with(|| offline::CALL_ID.to_owned())
        .clone();
    let ttl = engine.options().class5.ttl_ms();
    let store = pool.services().store.as_ref();
    let next = offline::load(
        store,
        file,
        &args.flow,
        &call_id,
        now.timestamp_millis(),
        ttl,
    )?;
    req.extra
        .entry("step")
        .or_insert_with(|| Value::String(next.to_string()));
    Ok(())
}

fn run_request(
    engine: &Engine,
    args: &RunArgs,
    req: &PivotRequest,
    now: DateTime<Utc>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "pivotforge run: {e}");
            return 1;
        }
    };
    let answer = match runtime.block_on(engine.answer(&args.flow, req, now)) {
        Ok(answer) => answer,
        Err(AnswerError::Overloaded(overloaded)) => {
            let _ = writeln!(err, "pivotforge run: {overloaded}");
            return 1;
        }
        // A name that can't be a flow's is not loaded either: the same advice, the loaded names.
        Err(AnswerError::NotFound(_) | AnswerError::NotAFlowName(_)) => {
            let registry = engine.registry();
            let names: Vec<&str> = registry.entries().map(|e| e.name.as_str()).collect();
            let _ = writeln!(
                err,
                "pivotforge run: no flow named `{}`; loaded flows: {}",
                args.flow,
                names.join(", ")
            );
            return 1;
        }
    };
    if let Some(rule) = &answer.rule {
        let _ = writeln!(err, "matched rule: {rule}");
    }
    for line in &answer.logs {
        let _ = writeln!(err, "console.{}: {}", line.level, line.message);
    }
    let print = |out: &mut dyn Write, tree: Value| {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&tree).unwrap_or_default()
        );
    };
    match answer.outcome {
        Outcome::Tree(tree) => {
            print(out, tree);
            0
        }
        Outcome::Rejected {
            code,
            message,
            tree,
        } => {
            let _ = writeln!(err, "rejection: {code} {message}");
            print(out, tree);
            0
        }
        Outcome::Fallback { failure, tree } => {
            let _ = writeln!(err, "{}: {}", failure.kind.as_str(), failure.detail);
            let _ = writeln!(err, "the flow's fallback tree is sent instead:");
            print(out, tree);
            1
        }
        Outcome::Failed(failure) => {
            let _ = writeln!(err, "{}: {}", failure.kind.as_str(), failure.detail);
            let _ = writeln!(
                err,
                "no fallback: the server answers 500 and the PBX runs the pivot node's `_` branch"
            );
            1
        }
    }
}

fn build_request(args: &RunArgs) -> Result<PivotRequest, String> {
    let mut params: Map<String, Value> = match &args.query {
        Some(q) => form::parse(q.as_bytes()).map_err(|e| format!("--query: {e}"))?,
        None => Map::new(),
    };
    for (k, v) in &args.params {
        params.insert(k.clone(), Value::String(v.clone()));
    }
    if !args.digits.is_empty() {
        let digits = params
            .entry("Digits")
            .or_insert_with(|| Value::Object(Map::new()));
        if !digits.is_object() {
            *digits = Value::Object(Map::new());
        }
        if let Value::Object(map) = digits {
            for (name, value) in &args.digits {
                map.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    PivotRequest::from_params(params).map_err(|e| e.to_string())
}

/// What `run` works with: the engine, its store, and the scratch folder when the service's own
/// store was taken (keep it alive as long as the store).
pub struct RunEngine {
    /// The loaded flows and a one-thread JS pool.
    pub engine: Engine,
    /// The service's store, or a scratch one.
    pub store: Arc<dyn Store>,
    /// Removed when this is dropped, after the store.
    pub scratch: Option<ScratchDir>,
}

/// Loads the flows of `config` with a one-thread JS pool, for running flows from the terminal.
/// The store is the service's own when it is free; when a running server holds it, a throw-away
/// store is used instead (with a warning), so `run` never blocks on the server. That store lives
/// in a scratch folder removed when the returned value is dropped.
pub fn open_engine(config: &Config, err: &mut dyn Write) -> Result<RunEngine, String> {
    let (store, scratch): (Arc<dyn Store>, _) = match store::open(&config.store, &config.data_dir) {
        Ok(store) => (store, None),
        Err(e) => {
            let scratch = ScratchDir::create("pivotforge-run")
                .map_err(|e| format!("can't create a scratch folder for the store: {e}"))?;
            let _ = writeln!(
                err,
                "warning: {e}; using a scratch store in {} (removed on exit)",
                scratch.path().display()
            );
            let store = store::open(&config.store, scratch.path()).map_err(|e| e.to_string())?;
            (store, Some(scratch))
        }
    };
    let _ = crate::store::load_lists(store.as_ref(), &config.flows_dir.join("lists"));
    // Pivot nodes the flow builds carry the same token URLs as the server's.
    let mut config = config.clone();
    config
        .derive_url_tokens()
        .map_err(|e| format!("can't derive the URL tokens: {e}"))?;
    let engine = Engine::start(config.engine_options(), &config.pool, store.clone(), 1, 4)
        .map_err(|e| e.to_string())?;
    Ok(RunEngine {
        engine,
        store,
        scratch,
    })
}

/// Loads and validates every flow under `dir` and every scenario file under `tests_dir` (it
/// parses and names a loaded flow); prints each problem as `file:line: message`, and a warning
/// for each of `webhook_flows` that can't take end-of-call events.
pub fn check(
    dir: &Path,
    tests_dir: &Path,
    public_url: &str,
    webhook_flows: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut options = EngineOptions::new(dir, public_url);
    options.tests_dir = tests_dir.to_owned();
    let engine = match Engine::load(options) {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 1;
        }
    };
    let registry = engine.registry();
    let errors = registry.errors();
    for e in &errors {
        let _ = writeln!(err, "{e}");
    }
    // A warning, not a problem: the flows themselves are fine, the webhook is pointed wrong.
    for warning in crate::webhook::unfit_flows(&registry, webhook_flows) {
        let _ = writeln!(err, "warning: {warning}");
    }
    let ok = registry.entries().filter(|e| e.state.is_ok()).count();
    let _ = writeln!(
        out,
        "{}, {} in {}",
        counted(ok, "flow OK", "flows OK"),
        counted(errors.len(), "problem", "problems"),
        dir.display()
    );
    let scenarios = crate::scenario::check_folder(tests_dir, &registry, dir);
    let scenario_problems = scenarios.as_ref().map_or(0, |(_, p)| p.len());
    if let Some((ok, problems)) = &scenarios {
        for e in problems {
            let _ = writeln!(err, "{e}");
        }
        let _ = writeln!(
            out,
            "{}, {} in {}",
            counted(*ok, "scenario OK", "scenarios OK"),
            counted(problems.len(), "problem", "problems"),
            tests_dir.display()
        );
    }
    i32::from(!errors.is_empty() || scenario_problems > 0)
}

/// `1 problem`, `2 problems`, `0 problems`.
/// `pivotforge token`: the URLs the PBX is given, with the tokens of the routes that need one
/// (configured or derived from the basic credentials under the data folder's key).
pub fn token(mut config: Config, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if let Err(e) = config.derive_url_tokens() {
        let _ = writeln!(err, "pivotforge: can't derive the URL tokens: {e}");
        return 2;
    }
    let link = config.pivot_link();
    let pivot = link.flow_url("NAME");
    let events = link.events_url("NAME");
    let lines = [
        ("pivot voice_url", pivot.as_str()),
        ("webhook (/events)", events.as_str()),
        ("recordings url", link.recordings_url()),
    ];
    for (what, url) in lines {
        let _ = writeln!(out, "{what:<18} {url}");
    }
    let uploads_protected =
        config.recordings.upload_basic.is_some() || config.recordings.upload_token.is_some();
    if !config.auth.pivot_protected() && !uploads_protected {
        let _ = writeln!(err, "no route is protected: these URLs carry no token");
    }
    0
}

fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Inputs of `pivotforge call`.
#[derive(Debug, Clone, Default)]
pub struct CallArgs {
    /// The call to play.
    pub spec: crate::sim::CallSpec,
    /// A running service to play against (`--url`); in-process when absent.
    pub url: Option<String>,
    /// One JSON object per step instead of text.
    pub json: bool,
}

/// Plays one whole call and prints its transcript: exit 0 when it ran to its end with every
/// reply valid, 1 otherwise, 2 when it could not start against `--url`.
pub fn call(
    config: Option<&Config>,
    args: &CallArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    use crate::sim::{play_offline, play_url, render, Setup};
    let spec = &args.spec;
    if args.url.is_some() && spec.at.is_some() {
        let _ = writeln!(
            err,
            "warning: --at has no effect with --url: the running service's clock decides"
        );
    }
    let played = match (&args.url, config) {
        (Some(url), _) => play_url(url, spec).map_err(|e| (2, e)),
        (None, Some(config)) => play_offline(config, spec, &Setup::default()).map_err(|e| (1, e)),
        (None, None) => Err((2, "give --url or a flows folder".to_owned())),
    };
    let transcript = match played {
        Ok(transcript) => transcript,
        Err((code, e)) => {
            let _ = writeln!(err, "pivotforge call: {e}");
            return code;
        }
    };
    if args.json {
        let _ = write!(out, "{}", render::json_lines(&transcript));
    } else {
        let place = args.url.as_deref().unwrap_or("in-process");
        let at = spec.at.map_or_else(
            || "now".to_owned(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        let _ = writeln!(
            out,
            "call {} · {} · at {at} · {place}",
            spec.flow,
            spec.kazoo.name()
        );
        let _ = write!(out, "{}", render::text(&transcript));
    }
    i32::from(!transcript.ok)
}
