//! Answers one call step: finds the flow, runs it (rules here, scripts on the JS pool), validates
//! the tree and, when there is no valid tree, picks the flow's fallback. Used alike by the
//! server and by `pivotforge run`.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::auth::PivotLink;
use crate::callflow::{Node, Response, Schemas};
use crate::flows::{Flow, FlowEntry, LoadContext, LoadError, Registry};
use crate::outcome::{Failure, FailureKind, Outcome};
use crate::request::PivotRequest;
use crate::script::class5::{step as class5_step, Class5Config};
use crate::script::sandbox::Vars;
use crate::script::{
    FlowSettings, Isolation, JsPool, LogLine, Overloaded, RunResult, ScriptErrorKind, ScriptFailure,
};

/// Where flows come from and what they start with.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The flows folder.
    pub flows_dir: PathBuf,
    /// The scenario folder (`pivotforge test`): when it is inside the flows folder, its files
    /// are never flows.
    pub tests_dir: PathBuf,
    /// Base URL of this service as the PBX sees it.
    pub public_url: String,
    /// How pivot nodes point back to this service, with the credentials `/pivot` needs.
    pub pivot_link: PivotLink,
    /// Settings every script flow starts from.
    pub script_defaults: FlowSettings,
    /// The largest reply tree, in bytes of JSON (`[limits] max_reply_bytes`).
    pub max_reply_bytes: usize,
    /// The bounds of Class 5 journals (`[class5]`).
    pub class5: Class5Config,
}

impl EngineOptions {
    /// Options with default script settings.
    pub fn new(flows_dir: impl Into<PathBuf>, public_url: &str) -> EngineOptions {
        let flows_dir = flows_dir.into();
        EngineOptions {
            tests_dir: flows_dir.join("tests"),
            flows_dir,
            public_url: public_url.to_owned(),
            pivot_link: PivotLink::plain(public_url),
            script_defaults: FlowSettings::default(),
            max_reply_bytes: crate::limits::LimitsConfig::default().max_reply_bytes,
            class5: Class5Config::default(),
        }
    }
}

/// The loaded flows, the schemas their replies are checked against, and the JS pool.
pub struct Engine {
    schemas: Schemas,
    registry: RwLock<Arc<Registry>>,
    options: EngineOptions,
    pool: Option<Arc<JsPool>>,
}

/// One answered call step.
#[derive(Debug)]
pub struct Answer {
    /// The rule that matched, for rule flows (`None` for the default or a script).
    pub rule: Option<String>,
    /// What goes back to the PBX.
    pub outcome: Outcome,
    /// The script's console lines.
    pub logs: Vec<LogLine>,
    /// The version of the flow that answered (shared with the registry: no copy per call).
    pub version: Arc<str>,
    /// Time spent running the flow (for scripts: queue, hand-off and run).
    pub run: Duration,
    /// Time spent validating the tree against the schemas.
    pub validate: Duration,
    /// For scripts: time the script ran on its JS thread.
    pub script: Option<Duration>,
    /// Bytes of JSON of the tree sent (0 when none), measured once for the limit and the log.
    pub reply_bytes: usize,
    /// The tree's JSON text, when the flow already wrote it (a Class 5 step stores it): the
    /// response and the exchange log use it instead of writing the tree again.
    pub body: Option<Box<serde_json::value::RawValue>>,
    /// The request's JSON text, when the flow wrote it (a script's `data`): the exchange log
    /// keeps it instead of writing the request again.
    pub request_text: Option<Box<serde_json::value::RawValue>>,
}

impl Answer {
    fn new(outcome: Outcome) -> Answer {
        Answer {
            rule: None,
            outcome,
            logs: Vec::new(),
            version: Arc::from(""),
            run: Duration::ZERO,
            validate: Duration::ZERO,
            script: None,
            reply_bytes: 0,
            body: None,
            request_text: None,
        }
    }

    /// An answer whose reply size is measured now (a fallback or a rejection: off the usual
    /// path, where `check` has measured the tree already).
    fn measured(outcome: Outcome) -> Answer {
        let (outcome, reply_bytes) = measured(outcome);
        Answer {
            reply_bytes,
            ..Answer::new(outcome)
        }
    }
}

/// Why no flow answered a call step.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The name can't name a flow (a character flow names never have).
    #[error("`{0}` is not a flow name")]
    NotAFlowName(String),
    /// No flow of that name.
    #[error("no flow named `{0}`")]
    NotFound(String),
    /// The JS pool is full.
    #[error(transparent)]
    Overloaded(#[from] Overloaded),
}

/// Why `/run` could not run a script function.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No flow of that name.
    #[error("no script named `{0}`")]
    NotFound(String),
    /// The flow is a rule flow.
    #[error("`{0}` is a rule flow, not a script: use /pivot/{0}")]
    NotScript(String),
    /// The script did not load.
    #[error("{0}")]
    NotLoaded(LoadError),
    /// The JS pool is full.
    #[error(transparent)]
    Overloaded(#[from] Overloaded),
    /// No JS pool in this process.
    #[error("scripts can't run here: no JS pool was started")]
    NoPool,
}

impl Engine {
    /// Loads every flow under the flows folder; fails only when the folder can't be read.
    pub fn load(options: EngineOptions) -> Result<Engine, LoadError> {
        let schemas = Schemas::new();
        let registry = Registry::load(&options.flows_dir, &load_context(&schemas, &options))?;
        Ok(Engine {
            schemas,
            registry: RwLock::new(Arc::new(registry)),
            options,
            pool: None,
        })
    }

    /// Loads the flows of `options` and starts a JS pool of `threads` threads (`queue` waiting
    /// jobs, isolated as `pool` says) whose scripts use `store`: the one way the server and
    /// `pivotforge run` build it (from `Config::engine_options`).
    pub fn start(
        options: EngineOptions,
        pool: &crate::script::PoolConfig,
        store: Arc<dyn crate::store::Store>,
        threads: usize,
        queue: usize,
    ) -> std::io::Result<Engine> {
        let fetcher = crate::script::fetch::Fetcher::new()?;
        Engine::start_with_fetcher(options, pool, store, threads, queue, fetcher)
    }

    /// [`Engine::start`] with scripts' `fetch` going through `fetcher` (a simulated call's
    /// canned answers).
    pub fn start_with_fetcher(
        options: EngineOptions,
        pool: &crate::script::PoolConfig,
        store: Arc<dyn crate::store::Store>,
        threads: usize,
        queue: usize,
        fetcher: crate::script::fetch::Fetcher,
    ) -> std::io::Result<Engine> {
        let services = Arc::new(crate::script::HostServices {
            store,
            fetcher,
            pivot: options.pivot_link.clone(),
        });
        let pool = JsPool::new(threads, queue, isolation(pool), services)?;
        let engine = Engine::load(options)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))?;
        Ok(engine.with_pool(Arc::new(pool)))
    }

    /// Gives the engine a JS pool to run script flows on.
    pub fn with_pool(mut self, pool: Arc<JsPool>) -> Engine {
        self.pool = Some(pool);
        self
    }

    /// The JS pool, when there is one.
    pub fn pool(&self) -> Option<&Arc<JsPool>> {
        self.pool.as_ref()
    }

    /// Loads the flows folder again and swaps it in whole; a flow whose new file fails keeps
    /// serving its previous version.
    pub fn reload(&self) -> Result<(), LoadError> {
        let mut registry = Registry::load(
            &self.options.flows_dir,
            &load_context(&self.schemas, &self.options),
        )?;
        registry.keep_working_versions(&self.registry());
        let mut slot = self.registry.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(registry);
        Ok(())
    }

    /// The flows as loaded now.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The compiled callflow schemas.
    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    /// The options the engine was loaded with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Runs flow `name` for one request at instant `now`: one answer, or why no flow answered
    /// (no such flow, or the JS pool is full).
    pub async fn answer(
        &self,
        name: &str,
        req: &PivotRequest,
        now: DateTime<Utc>,
    ) -> Result<Answer, AnswerError> {
        if !crate::flows::valid_flow_name(name) {
            return Err(AnswerError::NotAFlowName(name.to_owned()));
        }
        let registry = self.registry();
        let entry = registry
            .get(name)
            .ok_or_else(|| AnswerError::NotFound(name.to_owned()))?
            .clone();
        drop(registry);
        let mut answer = self.answer_entry(&entry, req, now).await?;
        // A Class 5 call on the version it started with names that one.
        if answer.version.is_empty() {
            answer.version = entry.version.clone();
        }
        Ok(answer)
    }

    async fn answer_entry(
        &self,
        entry: &FlowEntry,
        req: &PivotRequest,
        now: DateTime<Utc>,
    ) -> Result<Answer, Overloaded> {
        let flow = match &entry.state {
            Ok(flow) => flow,
            Err(e) => {
                let failure = Failure {
                    kind: FailureKind::FlowNotLoaded,
                    detail: e.to_string(),
                    errors: Vec::new(),
                };
                let outcome = with_fallback(failure, entry.broken_fallback.as_ref());
                return Ok(Answer::measured(outcome));
            }
        };
        match flow {
            Flow::Rules(rules) => {
                let started = Instant::now();
                let eval = rules.evaluate(req, now);
                let ran = Instant::now();
                let (outcome, reply_bytes) = self.check(flow, eval.tree);
                Ok(Answer {
                    rule: eval.rule.map(str::to_owned),
                    run: ran - started,
                    validate: ran.elapsed(),
                    reply_bytes,
                    ..Answer::new(outcome)
                })
            }
            Flow::Script(script) => {
                let Some(pool) = &self.pool else {
                    let failure = Failure {
                        kind: FailureKind::ScriptError,
                        detail: "scripts can't run here: no JS pool was started".into(),
                        errors: Vec::new(),
                    };
                    return Ok(Answer::measured(with_fallback(failure, flow.fallback())));
                };
                if script.class5 {
                    return self.answer_class5(flow, script, pool, req, now).await;
                }
                // Straight to JSON text: the sandbox parses it and adds the flow's vars itself.
                // Written once: the same text is the exchange log's request (`from_string` would
                // parse it again to check it).
                let request_text = serde_json::value::to_raw_value(req).ok();
                let data = request_text
                    .as_ref()
                    .map_or_else(|| "{}".to_owned(), |raw| raw.get().to_owned());
                let started = Instant::now();
                let run = pool
                    .run(
                        script.clone(),
                        "main",
                        (data, Vars::Set),
                        Some(now.timestamp_millis()),
                    )
                    .await;
                let run = match run {
                    Ok(run) => run,
                    // The flow's own bulkhead or breaker: its fallback at once, when it has one.
                    Err(why @ (Overloaded::Confined | Overloaded::Tripped))
                        if flow.fallback().is_some() =>
                    {
                        let failure = Failure {
                            kind: match why {
                                Overloaded::Tripped => FailureKind::CircuitOpen,
                                _ => FailureKind::Bulkhead,
                            },
                            detail: why.to_string(),
                            errors: Vec::new(),
                        };
                        return Ok(Answer {
                            run: started.elapsed(),
                            ..Answer::new(with_fallback(failure, flow.fallback()))
                        });
                    }
                    Err(why) => return Err(why),
                };
                let ran = Instant::now();
                let script = Some(run.run_time);
                let answer = match run.result {
                    Ok(mut tree) => {
                        // Rule trees got theirs when they loaded; a script's are filled here.
                        crate::callflow::pivot::fill_req_formats(&mut tree);
                        let (outcome, reply_bytes) = self.check(flow, tree);
                        Answer {
                            reply_bytes,
                            ..Answer::new(outcome)
                        }
                    }
                    Err(ScriptFailure::Rejected { code, reason }) => {
                        let (outcome, reply_bytes) = measured(rejection(code, reason));
                        match self.oversized(reply_bytes) {
                            // A reason phrase can be as large as a tree: the same bound holds.
                            Some(failure) => {
                                Answer::measured(with_fallback(failure, flow.fallback()))
                            }
                            None => Answer {
                                reply_bytes,
                                ..Answer::new(outcome)
                            },
                        }
                    }
                    Err(missing @ ScriptFailure::NoSuchFunction { .. }) => {
                        let failure = Failure {
                            kind: FailureKind::ScriptError,
                            detail: missing.detail(),
                            errors: Vec::new(),
                        };
                        Answer::measured(with_fallback(failure, flow.fallback()))
                    }
                    Err(ScriptFailure::Error { kind, detail }) => {
                        let failure = Failure {
                            kind: failure_kind(kind),
                            detail,
                            errors: Vec::new(),
                        };
                        Answer::measured(with_fallback(failure, flow.fallback()))
                    }
                };
                Ok(Answer {
                    logs: run.logs,
                    run: ran - started,
                    validate: ran.elapsed(),
                    script,
                    request_text,
                    ..answer
                })
            }
        }
    }

    /// One step of a Class 5 flow: replayed from its journal (`script::class5::step`).
    async fn answer_class5(
        &self,
        flow: &Flow,
        script: &Arc<crate::script::ScriptFlow>,
        pool: &Arc<JsPool>,
        req: &PivotRequest,
        now: DateTime<Utc>,
    ) -> Result<Answer, Overloaded> {
        let started = Instant::now();
        let verify = |tree: &Value| self.verify(tree);
        let cx = class5_step::StepContext {
            pool,
            link: &self.options.pivot_link,
            config: &self.options.class5,
            verify: &verify,
        };
        let step = class5_step::answer(&cx, script, req, now.timestamp_millis()).await?;
        let answer = match (step.tree, step.raw) {
            // Written once, as it was stored (a retry's too).
            (Ok(tree), Some(raw)) => Answer {
                reply_bytes: raw.get().len(),
                body: Some(raw),
                ..Answer::new(classify(tree))
            },
            (Ok(tree), None) => Answer::measured(classify(tree)),
            (Err(failure), _) => Answer::measured(with_fallback(failure, flow.fallback())),
        };
        Ok(Answer {
            logs: step.logs,
            run: started.elapsed(),
            script: step.script,
            version: step.pinned.map_or_else(|| Arc::from(""), Arc::from),
            ..answer
        })
    }

    /// Runs a script's named function (`main` by default) with any JSON argument: `/run`,
    /// form submissions, drivers and `postCall`. `now` sets the script's clock; `None` is the
    /// machine's.
    pub async fn run_function(
        &self,
        name: &str,
        function: &str,
        arg: Value,
        now: Option<DateTime<Utc>>,
    ) -> Result<RunResult, RunError> {
        let entry = self
            .registry()
            .get(name)
            .cloned()
            .ok_or_else(|| RunError::NotFound(name.to_owned()))?;
        let script = match &entry.state {
            Ok(Flow::Script(script)) => script.clone(),
            Ok(Flow::Rules(_)) => return Err(RunError::NotScript(name.to_owned())),
            Err(e) => return Err(RunError::NotLoaded(e.clone())),
        };
        let pool = self.pool.as_ref().ok_or(RunError::NoPool)?;
        // As on a call step, an object argument carries the flow's vars unless it has its own.
        let arg = (arg.to_string(), Vars::IfAbsent);
        Ok(pool
            .run(script, function, arg, now.map(|t| t.timestamp_millis()))
            .await?)
    }

    /// Validates a produced tree and gives the outcome with the size of the tree it sends; an
    /// invalid or oversized tree is never sent. The size is measured before the schemas so that
    /// a huge tree costs one pass, not a validation too.
    fn check(&self, flow: &Flow, tree: Value) -> (Outcome, usize) {
        match self.verify(&tree) {
            Ok(bytes) => (classify(tree), bytes),
            Err(failure) => measured(with_fallback(failure, flow.fallback())),
        }
    }

    /// The size of a tree that may be sent, or why it may not: over the size limit, or
    /// failing the schemas.
    fn verify(&self, tree: &Value) -> Result<usize, Failure> {
        let bytes = json_size(tree);
        if let Some(failure) = self.oversized(bytes) {
            return Err(failure);
        }
        match self.schemas.validate(tree) {
            Ok(()) => Ok(bytes),
            Err(errors) => {
                let failure = Failure {
                    kind: FailureKind::InvalidTree,
                    detail: format!(
                        "the reply failed the callflow schemas: {}",
                        errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    errors,
                };
                Err(failure)
            }
        }
    }

    /// The failure of a reply of `bytes` over `[limits] max_reply_bytes`, if it is.
    fn oversized(&self, bytes: usize) -> Option<Failure> {
        let limit = self.options.max_reply_bytes;
        (bytes > limit).then(|| Failure {
            kind: FailureKind::InvalidTree,
            detail: format!(
                "the reply is {bytes} bytes of JSON, over the limit of {limit} bytes \
                 ([limits] max_reply_bytes)"
            ),
            errors: Vec::new(),
        })
    }
}

/// An outcome with the size of the tree it sends.
fn measured(outcome: Outcome) -> (Outcome, usize) {
    let bytes = outcome.tree().map_or(0, json_size);
    (outcome, bytes)
}

/// Bytes of `value` as compact JSON, counted without building the text.
pub fn json_size(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Value to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The pool's isolation settings from the `[scripts]` section.
fn isolation(pool: &crate::script::PoolConfig) -> Isolation {
    Isolation {
        slow: Duration::from_millis(pool.slow_ms),
        max_threads_per_flow: pool.max_threads_per_flow,
        trip_after: pool.trip_after,
        trip_for: Duration::from_secs(pool.trip_seconds),
    }
}

fn load_context<'a>(schemas: &'a Schemas, options: &'a EngineOptions) -> LoadContext<'a> {
    LoadContext {
        schemas,
        public_url: &options.public_url,
        pivot_link: &options.pivot_link,
        script_defaults: &options.script_defaults,
        tests_dir: &options.tests_dir,
    }
}

fn with_fallback(failure: Failure, fallback: Option<&Value>) -> Outcome {
    match fallback {
        Some(tree) => Outcome::Fallback {
            failure,
            tree: tree.clone(),
        },
        None => Outcome::Failed(failure),
    }
}

fn failure_kind(kind: ScriptErrorKind) -> FailureKind {
    match kind {
        ScriptErrorKind::Timeout => FailureKind::Timeout,
        ScriptErrorKind::MemoryLimit => FailureKind::MemoryLimit,
        ScriptErrorKind::Compile
        | ScriptErrorKind::Exception
        | ScriptErrorKind::StackOverflow
        | ScriptErrorKind::NeverSettled
        | ScriptErrorKind::Internal => FailureKind::ScriptError,
    }
}

/// A deliberate rejection becomes a `response` node with its code and reason.
fn rejection(code: u16, reason: String) -> Outcome {
    let tree = Node::new(Response::new(code, reason.clone())).to_value();
    Outcome::Rejected {
        code,
        message: reason,
        tree,
    }
}

/// A valid tree whose root is a `response` node is a deliberate rejection.
fn classify(tree: Value) -> Outcome {
    if tree.get("module").and_then(Value::as_str) == Some("response") {
        let data = tree.get("data");
        let code = data.and_then(|d| d.get("code")).and_then(Value::as_u64);
        if let Some(code) = code.and_then(|c| u16::try_from(c).ok()) {
            let message = data
                .and_then(|d| d.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            return Outcome::Rejected {
                code,
                message,
                tree,
            };
        }
    }
    Outcome::Tree(tree)
}
