//! One script's sandbox: a QuickJS runtime with a memory limit, a stack limit and an interrupt
//! handler bound to the current call's deadline, holding one warm context in which the script's
//! top level has run once. A sandbox that hit any limit is thrown away by its owner.

use std::cell::RefCell;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rquickjs::context::EvalOptions;
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::promise::PromiseState;
use rquickjs::{Context, Ctx, Function, Module, Object, Promise, Runtime, Value};

use super::bytecode::HostScript;
use super::class5::{Effects, Replayed, CTX_JS};
use super::fetch::Completion;
use super::host::{self, CallState, HostServices, LogLine};
use super::{ScriptErrorKind, ScriptFailure, ScriptFlow};
use crate::callflow::registry;

/// The prelude every sandbox runs before the flow's script.
static PRELUDE: HostScript = HostScript::new("pivotforge:prelude", include_str!("prelude.js"));
/// The `ctx` of a Class 5 step.
static CLASS5_CTX: HostScript = HostScript::new("pivotforge:class5", CTX_JS);

/// Whether a call's argument gets the flow's `vars` (one frozen object per sandbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vars {
    /// The argument is passed as it is.
    Leave = 0,
    /// `vars` is set, whatever the argument holds: a call step, which must give a tree.
    Set = 1,
    /// `vars` is set unless the argument has its own: `/run` and `postCall`, where a function
    /// that gives nothing gives `null`.
    IfAbsent = 2,
}
/// JS stack limit; the worker threads have a much larger native stack.
const JS_STACK: usize = 1024 * 1024;
/// Modules a script can import or require by name.
const BUILTIN_MODULES: [&str; 3] = ["cxKV", "cxUserspace", "pivotforge"];

/// What a sandbox is built for.
enum Start {
    /// A plain flow: its top level runs once, its functions are called many times.
    Plain,
    /// One Class 5 step, in a context of its own.
    Step(Box<Effects>),
    /// The steps of a classic Class 5 flow, one after another.
    Realm,
}

/// What one call gave.
pub struct CallOutcome {
    /// The returned JSON value, or why there is none.
    pub result: Result<serde_json::Value, ScriptFailure>,
    /// Console lines of the call.
    pub logs: Vec<LogLine>,
    /// True when the sandbox hit a limit and must not be used again.
    pub discard: bool,
}

/// A warm script context and the runtime that owns it.
pub struct Sandbox {
    context: Context,
    runtime: Runtime,
    deadline: Arc<AtomicU64>,
    state: Rc<RefCell<CallState>>,
    completions: Receiver<Completion>,
    memory_limit: usize,
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn ticks(at: Instant) -> u64 {
    at.saturating_duration_since(base()).as_nanos() as u64
}

impl Sandbox {
    /// Builds the runtime, installs the host API, runs the script's top level (within `deadline`).
    pub fn new(
        flow: &ScriptFlow,
        services: &Arc<HostServices>,
        deadline: Instant,
    ) -> Result<Sandbox, ScriptFailure> {
        Sandbox::with_effects(flow, services, deadline, None)
    }

    /// A sandbox for one Class 5 step when `class5` is given: its top level and its call run
    /// through that effects boundary, and `main` gets `ctx`.
    pub fn with_effects(
        flow: &ScriptFlow,
        services: &Arc<HostServices>,
        deadline: Instant,
        class5: Option<Effects>,
    ) -> Result<Sandbox, ScriptFailure> {
        let start = match class5 {
            Some(effects) => Start::Step(Box::new(effects)),
            None => Start::Plain,
        };
        Sandbox::build(flow, services, deadline, start)
    }

    /// A Class 5 realm for the steps of a classic (non-module) Class 5 flow: the prelude and
    /// `ctx` set up once, the script compiled once as a function of its top level, which every
    /// step runs anew ([`Sandbox::set_effects`], then [`Sandbox::call`]), and the realm's
    /// built-ins frozen, so that no step leaves anything behind for the next; [`Sandbox::clean`]
    /// tells whether one did anyway.
    pub fn class5_realm(
        flow: &ScriptFlow,
        services: &Arc<HostServices>,
        deadline: Instant,
    ) -> Result<Sandbox, ScriptFailure> {
        debug_assert!(
            !flow.module,
            "a module's imports are instantiated once per context"
        );
        Sandbox::build(flow, services, deadline, Start::Realm)
    }

    /// Gives the next step's effects boundary to a Class 5 realm.
    pub fn set_effects(&mut self, effects: Effects) {
        self.state.borrow_mut().class5 = Some(effects);
    }

    /// True when the last step of a Class 5 realm left the realm as it found it.
    pub fn clean(&self) -> bool {
        self.context.with(|ctx| {
            ctx.globals()
                .get::<_, Function>("__pf_clean")
                .and_then(|clean| clean.call::<_, bool>(()))
                .unwrap_or(false)
        })
    }

    fn build(
        flow: &ScriptFlow,
        services: &Arc<HostServices>,
        deadline: Instant,
        start: Start,
    ) -> Result<Sandbox, ScriptFailure> {
        let (class5, realm) = match start {
            Start::Plain => (None, false),
            Start::Step(effects) => (Some(*effects), false),
            Start::Realm => (None, true),
        };
        let internal = |e: rquickjs::Error| {
            ScriptFailure::error(
                ScriptErrorKind::Internal,
                format!("could not start the JavaScript runtime: {e}"),
            )
        };
        let runtime = Runtime::new().map_err(internal)?;
        let memory_limit = (flow.settings.memory_mb as usize).saturating_mul(1024 * 1024);
        runtime.set_memory_limit(memory_limit);
        runtime.set_max_stack_size(JS_STACK);
        let limit = Arc::new(AtomicU64::new(u64::MAX));
        let watched = limit.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            ticks(Instant::now()) > watched.load(Ordering::Relaxed)
        })));
        runtime.set_loader(
            FlowResolver {
                root: flow.root.clone(),
                known: Some(flow.imports.clone()),
            },
            FlowLoader {
                root: flow.root.clone(),
                known: Some(flow.imports.clone()),
                seen: None,
            },
        );
        let context = Context::full(&runtime).map_err(internal)?;
        let (tx, completions) = channel();
        let state = Rc::new(RefCell::new(CallState::default()));
        state.borrow_mut().reset(deadline, None);
        let class_five = class5.is_some() || realm;
        state.borrow_mut().class5 = class5;
        let settings = Arc::new(flow.settings.clone());
        limit.store(ticks(deadline), Ordering::Relaxed);

        let started: Result<(), ScriptFailure> = context.with(|ctx| {
            let fail = |ctx: &Ctx<'_>, e: rquickjs::Error| {
                exception(ctx, e, deadline, ScriptErrorKind::Compile)
            };
            let host = host::install(&ctx, &flow.name, services, &settings, &state, &tx)
                .map_err(|e| fail(&ctx, e))?;
            let env = Object::new(ctx.clone()).map_err(|e| fail(&ctx, e))?;
            for (k, v) in &settings.env {
                env.set(k.as_str(), v.as_str()).map_err(|e| fail(&ctx, e))?;
            }
            let vars_json = serde_json::Value::Object(settings.vars.clone()).to_string();
            let prelude = PRELUDE.load(&ctx).map_err(|e| fail(&ctx, e))?;
            let make_ctx = match class_five {
                true => Some(CLASS5_CTX.load(&ctx).map_err(|e| fail(&ctx, e))?),
                false => None,
            };
            prelude
                .call::<_, ()>((
                    host,
                    env,
                    services.pivot.recordings_url(),
                    vars_json.as_str(),
                    registry::builders_json(),
                    make_ctx,
                ))
                .map_err(|e| fail(&ctx, e))?;
            if realm {
                // The top level as a function: every step calls it for bindings of its own.
                // Prefixed on the first line, so the script's line numbers stay its own.
                let mut options = EvalOptions::default();
                options.strict = false;
                options.filename = Some(flow.module_name.clone());
                let wrapped = format!(
                    "(function () {{{}\n;return typeof main === 'function' ? main : undefined;\n}})",
                    flow.source
                );
                let top_level: Function = ctx
                    .eval_with_options(wrapped.into_bytes(), options)
                    .map_err(|e| fail(&ctx, e))?;
                ctx.globals()
                    .get::<_, Function>("__pf_class5")
                    .and_then(|setup| setup.call::<_, ()>((top_level,)))
                    .map_err(|e| fail(&ctx, e))?;
            } else if flow.module {
                let module = Module::declare(
                    ctx.clone(),
                    flow.module_name.as_str(),
                    flow.source.as_bytes(),
                )
                .map_err(|e| fail(&ctx, e))?;
                let (module, promise) = module.eval().map_err(|e| fail(&ctx, e))?;
                // A top-level `await` on a timer or a fetch is driven like a call's.
                let seq = state.borrow().seq;
                wait_for(&ctx, &promise, &state, &completions, deadline, seq)?;
                if promise.state() == PromiseState::Rejected {
                    let reason = promise.result::<Value>().and_then(Result::err);
                    return Err(match reason {
                        Some(e) => fail(&ctx, e),
                        None => ScriptFailure::error(
                            ScriptErrorKind::Compile,
                            "the module's top level failed".into(),
                        ),
                    });
                }
                let namespace = module.namespace().map_err(|e| fail(&ctx, e))?;
                ctx.globals()
                    .set("__pf_namespace", namespace)
                    .map_err(|e| fail(&ctx, e))?;
            } else {
                let mut options = EvalOptions::default();
                options.strict = false;
                options.filename = Some(flow.module_name.clone());
                ctx.eval_with_options::<(), _>(flow.source.as_bytes(), options)
                    .map_err(|e| fail(&ctx, e))?;
                drain_jobs(&ctx, deadline)?;
            }
            Ok(())
        });
        limit.store(u64::MAX, Ordering::Relaxed);
        started?;
        Ok(Sandbox {
            context,
            runtime,
            deadline: limit,
            state,
            completions,
            memory_limit,
        })
    }

    /// Takes the Class 5 step's effects out once its call is done.
    pub fn take_effects(&mut self) -> Option<Effects> {
        self.state.borrow_mut().class5.take()
    }

    /// Calls `function` with the JSON text `arg`, running promise jobs, timers and fetches until
    /// its result settles or `deadline` passes.
    pub fn call(
        &mut self,
        function: &str,
        arg: &str,
        vars: Vars,
        deadline: Instant,
        now_ms: Option<i64>,
    ) -> CallOutcome {
        self.state.borrow_mut().reset(deadline, now_ms);
        let seq = self.state.borrow().seq;
        self.deadline.store(ticks(deadline), Ordering::Relaxed);
        let result = self
            .context
            .with(|ctx| self.drive(&ctx, function, (arg, vars), deadline, seq, now_ms));
        self.deadline.store(u64::MAX, Ordering::Relaxed);
        let logs = self.state.borrow_mut().take_logs();
        // A script that caught its own out-of-memory error leaves a heap near the limit behind.
        // Measuring walks the whole heap (every 32nd call was 2.7% of a fast script's thread), so
        // it is done after a failure and every 128th call: a heap left near the limit fails
        // its next call that needs memory, and that failure is measured.
        let near_limit = (result.is_err() || seq % 128 == 0) && {
            let used = self.runtime.memory_usage().malloc_size.max(0) as usize;
            used > self.memory_limit / 10 * 9
        };
        let result = result.map_err(|f| limit_hit(f, near_limit));
        let discard = near_limit
            || matches!(
                &result,
                Err(ScriptFailure::Error {
                    kind: ScriptErrorKind::Timeout
                        | ScriptErrorKind::MemoryLimit
                        | ScriptErrorKind::StackOverflow
                        | ScriptErrorKind::Internal,
                    ..
                })
            );
        CallOutcome {
            result,
            logs,
            discard,
        }
    }

    fn drive<'js>(
        &self,
        ctx: &Ctx<'js>,
        function: &str,
        (arg, vars): (&str, Vars),
        deadline: Instant,
        seq: u64,
        now_ms: Option<i64>,
    ) -> Result<serde_json::Value, ScriptFailure> {
        let fail = |e: rquickjs::Error| exception(ctx, e, deadline, ScriptErrorKind::Exception);
        let globals = ctx.globals();
        let run: Function = globals.get("__pf_run").map_err(fail)?;
        let now = now_ms.map(|ms| ms as f64);
        let ran: Value = run.call((function, arg, now, vars as u8)).map_err(fail)?;
        if let Some(text) = ran.as_string() {
            // Settled synchronously; jobs the script left queued still run, within the limit.
            let text = text.to_string().map_err(fail)?;
            drain_jobs(ctx, deadline)?;
            return settled(&text);
        }
        let promise: Promise = ran.into_promise().ok_or_else(|| {
            ScriptFailure::error(
                ScriptErrorKind::Internal,
                "the dispatcher gave no promise".into(),
            )
        })?;
        wait_for(ctx, &promise, &self.state, &self.completions, deadline, seq)?;
        match promise.state() {
            PromiseState::Resolved => {
                let text: String = promise
                    .result()
                    .unwrap_or(Err(rquickjs::Error::Unknown))
                    .map_err(fail)?;
                settled(&text)
            }
            _ => {
                let e = promise
                    .result::<Value>()
                    .and_then(Result::err)
                    .unwrap_or(rquickjs::Error::Unknown);
                Err(fail(e))
            }
        }
    }
}

/// Tells a limit apart from an ordinary exception when the error reached the script first
/// (it travels through the script's promise as a value): QuickJS throws `null` or an
/// `InternalError` when memory runs out, and a `RangeError` when the stack does.
fn limit_hit(failure: ScriptFailure, near_limit: bool) -> ScriptFailure {
    match failure {
        ScriptFailure::Error {
            kind: ScriptErrorKind::Exception,
            detail,
        } => classify(ScriptErrorKind::Exception, detail, near_limit),
        other => other,
    }
}

/// The one place an error's text is read for a limit: memory (QuickJS throws `null` or an
/// `InternalError`), stack (a `RangeError`), else `kind`.
fn classify(kind: ScriptErrorKind, detail: String, near_limit: bool) -> ScriptFailure {
    let lower = detail.to_ascii_lowercase();
    if near_limit
        || lower.contains("out of memory")
        || lower.contains("string too long")
        || lower.contains("non-error value: null")
    {
        ScriptFailure::error(
            ScriptErrorKind::MemoryLimit,
            format!("the script ran out of memory (memory_mb): {detail}"),
        )
    } else if lower.contains("maximum call stack") || lower.contains("stack overflow") {
        ScriptFailure::error(
            ScriptErrorKind::StackOverflow,
            format!("the script overflowed its stack: {detail}"),
        )
    } else {
        ScriptFailure::error(kind, detail)
    }
}

/// Runs promise jobs, due timers and finished fetches until `promise` settles; fails when
/// nothing is left that could settle it, or at the deadline.
fn wait_for<'js>(
    ctx: &Ctx<'js>,
    promise: &Promise<'js>,
    state: &Rc<RefCell<CallState>>,
    completions: &Receiver<Completion>,
    deadline: Instant,
    seq: u64,
) -> Result<(), ScriptFailure> {
    let fail = |e: rquickjs::Error| exception(ctx, e, deadline, ScriptErrorKind::Exception);
    let globals = ctx.globals();
    let fire: Function = globals.get("__pf_fire").map_err(fail)?;
    let complete: Function = globals.get("__pf_complete").map_err(fail)?;
    let idle: Function = globals.get("__pf_idle").map_err(fail)?;
    loop {
        drain_jobs(ctx, deadline)?;
        if promise.state() != PromiseState::Pending {
            return Ok(());
        }
        match replayed(state) {
            Replayed::Timer(id) => {
                state.borrow_mut().timers.remove(&id);
                fire.call::<_, ()>((id,)).map_err(fail)?;
                continue;
            }
            Replayed::Fetch(id, ok, payload) => {
                state.borrow_mut().fetches -= 1;
                complete.call::<_, ()>((id, ok, payload)).map_err(fail)?;
                continue;
            }
            Replayed::Stuck(why) => {
                return Err(ScriptFailure::error(ScriptErrorKind::NeverSettled, why));
            }
            Replayed::No => {}
        }
        let (next_timer, fetches) = {
            let state = state.borrow();
            (state.next_timer(), state.fetches)
        };
        // A function that gave nothing is done once nothing is left that could call exit().
        if next_timer.is_none() && fetches == 0 && idle.call::<_, bool>(()).map_err(fail)? {
            continue;
        }
        if next_timer.is_none() && fetches == 0 {
            return Err(ScriptFailure::error(
                ScriptErrorKind::NeverSettled,
                "the script finished without a result: it awaits a promise nothing can settle (no timer or fetch is left)".into(),
            ));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(timeout(deadline));
        }
        if let Some((id, due)) = next_timer {
            if due <= now {
                let mut st = state.borrow_mut();
                st.timers.remove(&id);
                if let Some(fx) = st.class5.as_mut() {
                    fx.record("timer", &Ok(serde_json::json!({ "id": id })));
                }
                drop(st);
                fire.call::<_, ()>((id,)).map_err(fail)?;
                continue;
            }
        }
        let wake = next_timer.map_or(deadline, |(_, due)| due.min(deadline));
        match completions.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(done) if done.seq == seq => {
                let mut st = state.borrow_mut();
                st.fetches -= 1;
                let (ok, payload) = match done.result {
                    Ok(body) => (true, body),
                    Err(message) => (false, message),
                };
                if let Some(fx) = st.class5.as_mut() {
                    let entry = serde_json::json!({ "id": done.id, "ok": ok, "payload": payload });
                    fx.record("fetch.done", &Ok(entry));
                }
                drop(st);
                complete
                    .call::<_, ()>((done.id, ok, payload))
                    .map_err(fail)?;
            }
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(ScriptFailure::error(
                    ScriptErrorKind::Internal,
                    "the fetch runtime stopped".into(),
                ))
            }
        }
    }
}

/// The journal's next asynchronous completion while a Class 5 step replays.
fn replayed(state: &Rc<RefCell<CallState>>) -> Replayed {
    state
        .borrow_mut()
        .class5
        .as_mut()
        .map_or(Replayed::No, Effects::next_completion)
}

/// Runs pending promise jobs until none is left or the deadline passes.
fn drain_jobs(ctx: &Ctx<'_>, deadline: Instant) -> Result<(), ScriptFailure> {
    loop {
        if Instant::now() >= deadline {
            return Err(timeout(deadline));
        }
        if !ctx.execute_pending_job() {
            return Ok(());
        }
    }
}

fn timeout(_deadline: Instant) -> ScriptFailure {
    ScriptFailure::error(
        ScriptErrorKind::Timeout,
        "the script ran past its time limit (timeout_ms)".into(),
    )
}

/// Reads the dispatcher's settled JSON: a value, a rejection or an error.
fn settled(text: &str) -> Result<serde_json::Value, ScriptFailure> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ScriptFailure::error(
            ScriptErrorKind::Internal,
            format!("unreadable script result: {e}"),
        )
    })?;
    let field = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match v.get("type").and_then(serde_json::Value::as_str) {
        Some("value") => Ok(v.get("value").cloned().unwrap_or(serde_json::Value::Null)),
        Some("missing") => Err(ScriptFailure::NoSuchFunction {
            function: field("name"),
            functions: v
                .get("functions")
                .and_then(serde_json::Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }),
        Some("reject") => Err(ScriptFailure::Rejected {
            code: v
                .get("code")
                .and_then(serde_json::Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500),
            reason: field("reason"),
        }),
        _ => {
            let stack = field("stack");
            let mut detail = format!("{}: {}", field("name"), field("message"));
            if !stack.is_empty() {
                detail.push('\n');
                detail.push_str(stack.trim_end());
            }
            Err(ScriptFailure::error(ScriptErrorKind::Exception, detail))
        }
    }
}

/// Turns a QuickJS error into a failure, telling limits apart from ordinary exceptions.
fn exception(
    ctx: &Ctx<'_>,
    e: rquickjs::Error,
    deadline: Instant,
    kind: ScriptErrorKind,
) -> ScriptFailure {
    if Instant::now() >= deadline {
        return timeout(deadline);
    }
    let detail = match e {
        rquickjs::Error::Exception => describe(&ctx.catch()),
        rquickjs::Error::Allocation => "out of memory".to_owned(),
        other => other.to_string(),
    };
    if detail.to_ascii_lowercase().contains("interrupted") {
        timeout(deadline)
    } else {
        classify(kind, detail, false)
    }
}

/// `Name: message` plus the stack for an Error, the text of anything else.
fn describe(v: &Value<'_>) -> String {
    if let Some(obj) = v.as_object() {
        let get = |k: &str| {
            obj.get::<_, Option<String>>(k)
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        let (name, message, stack) = (get("name"), get("message"), get("stack"));
        if !name.is_empty() || !message.is_empty() {
            let mut out = format!("{name}: {message}");
            if !stack.is_empty() {
                out.push('\n');
                out.push_str(stack.trim_end());
            }
            return out;
        }
    }
    if v.is_null() || v.is_undefined() {
        return "out of memory".to_owned();
    }
    v.as_string()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| format!("a non-Error value ({})", v.type_name()))
}

/// Resolves `import` names: the built-in modules by name, `./file` relative to the importer
/// inside the flows folder (`.js` added when missing). Nothing outside the folder resolves, and
/// only JavaScript files: a settings file must never load as code.
pub(crate) struct FlowResolver {
    pub(crate) root: PathBuf,
    /// At run time, the files captured when the flow loaded: only those resolve.
    pub(crate) known: Option<Arc<Imports>>,
}

/// Module files a flow imports, by resolved name, as they were when the flow loaded.
pub type Imports = std::collections::HashMap<String, Vec<u8>>;

impl Resolver for FlowResolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _a: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        if BUILTIN_MODULES.contains(&name) {
            return Ok(name.to_owned());
        }
        let refuse = |why: &str| rquickjs::Error::new_resolving_message(base, name, why);
        if !(name.starts_with("./") || name.starts_with("../")) {
            return Err(refuse(
                "only cxKV, cxUserspace, pivotforge and ./relative files can be imported",
            ));
        }
        let dir = Path::new(base).parent().unwrap_or(Path::new(""));
        let mut path =
            lexical_join(dir, name).ok_or_else(|| refuse("the path leaves the flows folder"))?;
        if path.extension().is_none() {
            path.set_extension("js");
        }
        if !path.extension().is_some_and(|e| e == "js" || e == "mjs") {
            return Err(refuse("only .js and .mjs files can be imported"));
        }
        let resolved = path.to_string_lossy().replace('\\', "/");
        if let Some(known) = &self.known {
            return if known.contains_key(&resolved) {
                Ok(resolved)
            } else {
                Err(refuse("the file was not there when the flow loaded"))
            };
        }
        let full = self.root.join(&path);
        let inside = full
            .canonicalize()
            .ok()
            .zip(self.root.canonicalize().ok())
            .is_some_and(|(f, r)| f.starts_with(r));
        if !inside {
            return Err(refuse("no such file in the flows folder"));
        }
        Ok(resolved)
    }
}

/// `dir` + `rel`, resolving `.` and `..` without touching the file system; `None` if it escapes.
fn lexical_join(dir: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in dir.join(rel).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Loads resolved modules: built-ins from the prelude's objects; files from the flows folder
/// when a flow loads (recording their text), and from that record at run time, so every thread
/// runs the version the flow was loaded with.
pub(crate) struct FlowLoader {
    pub(crate) root: PathBuf,
    /// At run time: the captured files.
    pub(crate) known: Option<Arc<Imports>>,
    /// At load time: where to record the files read.
    pub(crate) seen: Option<Rc<RefCell<Imports>>>,
}

impl Loader for FlowLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _a: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        if let Some(source) = builtin_source(name) {
            return Module::declare(ctx.clone(), name, source);
        }
        if let Some(known) = &self.known {
            let source = known.get(name).ok_or_else(|| {
                rquickjs::Error::new_loading_message(name, "not captured when the flow loaded")
            })?;
            return Module::declare(ctx.clone(), name, source.clone());
        }
        let source = std::fs::read(self.root.join(name))
            .map_err(|e| rquickjs::Error::new_loading_message(name, e.to_string()))?;
        if let Some(seen) = &self.seen {
            seen.borrow_mut().insert(name.to_owned(), source.clone());
        }
        Module::declare(ctx.clone(), name, source)
    }
}

fn builtin_source(name: &str) -> Option<String> {
    let exports: Vec<&str> = match name {
        "cxKV" => vec!["kv", "ko", "incr", "keys", "usage"],
        "cxUserspace" => vec!["create", "read", "update"],
        // The callflow builders are the module registry's.
        "pivotforge" => ["time", "node"]
            .into_iter()
            .chain(registry::builders().map(|(_, builder)| builder.js()))
            .collect(),
        _ => return None,
    };
    let mut src = format!("const m = globalThis.__pf_modules[{name:?}];\nexport default m;\n");
    for e in exports {
        src.push_str(&format!("export const {e} = m.{e};\n"));
    }
    if name == "cxUserspace" {
        src.push_str("const del = m.delete;\nexport { del as delete };\n");
    }
    Some(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_stay_inside() {
        assert_eq!(
            lexical_join(Path::new("a"), "./b.js"),
            Some(PathBuf::from("a/b.js"))
        );
        assert_eq!(
            lexical_join(Path::new("a"), "../b"),
            Some(PathBuf::from("b"))
        );
        assert_eq!(lexical_join(Path::new("a"), "../../b"), None);
        assert_eq!(lexical_join(Path::new(""), "/etc/passwd"), None);
    }
}
