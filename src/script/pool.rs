//! The JS pool: a fixed set of threads, each owning the sandboxes it has warmed, taking jobs from
//! one bounded queue. Scripts never run on an HTTP worker; a full queue is refused at once.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use serde_json::Value;

use super::host::{HostServices, LogLine};
use super::sandbox::{Sandbox, Vars};
use super::{ScriptErrorKind, ScriptFailure, ScriptFlow};

/// Warm sandboxes a thread keeps before dropping the least recently used.
const WARM_PER_THREAD: usize = 64;
/// Native stack of a JS thread; QuickJS's own limit is far below it.
const THREAD_STACK: usize = 16 * 1024 * 1024;
/// How long past the deadline a caller waits for a thread before giving up on it. The
/// interrupt handler stops JS code within a millisecond or two; only a native built-in that
/// never polls it (e.g. `new Array(5e7).join()`) is still running after this.
const GRACE: Duration = Duration::from_millis(60);

/// The queue was full: the caller answers 503 at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all script threads are busy and the queue is full")]
pub struct Overloaded;

/// What running a script function gave.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The JSON value returned, or the failure.
    pub result: Result<Value, ScriptFailure>,
    /// The script's console lines.
    pub logs: Vec<LogLine>,
    /// Time spent on the JS thread.
    pub run_time: Duration,
}

struct Job {
    flow: Arc<ScriptFlow>,
    function: String,
    arg: String,
    vars: Vars,
    deadline: Instant,
    now_ms: Option<i64>,
    /// Set by the thread when it takes the job: only a job that started can be stuck.
    started: Arc<std::sync::atomic::AtomicBool>,
    reply: tokio::sync::oneshot::Sender<RunResult>,
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// JS threads alive, including ones stuck in native code that will retire when done.
    pub alive: AtomicUsize,
    /// Threads running a job now.
    pub busy: AtomicUsize,
    /// Calls that hit the time limit.
    pub timeouts: AtomicU64,
    /// Calls that hit the memory limit.
    pub memory_limits: AtomicU64,
    /// Jobs refused because the queue was full.
    pub rejected: AtomicU64,
}

/// The pool of JS threads.
pub struct JsPool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    threads: usize,
    services: Arc<HostServices>,
    /// Live counters.
    pub stats: Arc<PoolStats>,
}

impl JsPool {
    /// Starts `threads` JS threads behind a queue of `queue` jobs.
    pub fn new(
        threads: usize,
        queue: usize,
        services: Arc<HostServices>,
    ) -> std::io::Result<JsPool> {
        let threads = threads.max(1);
        let (tx, rx) = bounded::<Job>(queue.max(1));
        let pool = JsPool {
            tx,
            rx,
            threads,
            services,
            stats: Arc::new(PoolStats::default()),
        };
        for _ in 0..threads {
            pool.spawn_worker()?;
        }
        Ok(pool)
    }

    fn spawn_worker(&self) -> std::io::Result<()> {
        let (rx, services, stats) = (self.rx.clone(), self.services.clone(), self.stats.clone());
        let n = self.stats.alive.fetch_add(1, Ordering::SeqCst);
        let target = self.threads;
        std::thread::Builder::new()
            .name(format!("pivotforge-js-{n}"))
            .stack_size(THREAD_STACK)
            .spawn(move || worker(rx, services, stats, target))
            .map(drop)
            .inspect_err(|_| {
                self.stats.alive.fetch_sub(1, Ordering::SeqCst);
            })
    }

    /// Number of JS threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs waiting for a thread.
    pub fn queue_depth(&self) -> usize {
        self.tx.len()
    }

    /// Runs `function` of `flow` with `arg` (JSON text), within the flow's time limit counted
    /// from now. `now_ms` sets the script's clock (`Date`), for a service with an injected clock.
    pub async fn run(
        &self,
        flow: Arc<ScriptFlow>,
        function: &str,
        (arg, vars): (String, Vars),
        now_ms: Option<i64>,
    ) -> Result<RunResult, Overloaded> {
        let timeout = Duration::from_millis(flow.settings.timeout_ms);
        let deadline = Instant::now() + timeout;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let job = Job {
            flow,
            function: function.to_owned(),
            arg,
            vars,
            deadline,
            now_ms,
            started: started.clone(),
            reply,
        };
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(Overloaded);
            }
        }
        // The thread enforces the deadline itself; this bound only covers a thread stuck in
        // native code that the interrupt handler cannot reach.
        let wait = deadline.saturating_duration_since(Instant::now()) + GRACE;
        let stuck = || RunResult {
            result: Err(ScriptFailure::error(
                ScriptErrorKind::Timeout,
                "the script did not finish within its time limit".into(),
            )),
            logs: Vec::new(),
            run_time: timeout,
        };
        Ok(match tokio::time::timeout(wait, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => {
                // A thread stuck in native code: add one so the pool keeps its size (the stuck
                // one retires once it is free), but never past twice the size, so a flow that
                // keeps getting stuck can't grow the pool without end.
                let replaceable = started.load(Ordering::SeqCst)
                    && self.stats.alive.load(Ordering::SeqCst) < 2 * self.threads;
                if replaceable {
                    if let Err(e) = self.spawn_worker() {
                        tracing::error!(error = %e, "could not replace a stuck JS thread");
                    }
                }
                stuck()
            }
        })
    }
}

fn worker(rx: Receiver<Job>, services: Arc<HostServices>, stats: Arc<PoolStats>, target: usize) {
    let mut warm: HashMap<String, (u64, Sandbox, u64)> = HashMap::new();
    let mut uses = 0u64;
    while let Ok(job) = rx.recv() {
        job.started.store(true, Ordering::SeqCst);
        stats.busy.fetch_add(1, Ordering::Relaxed);
        uses += 1;
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            run_job(&mut warm, uses, &job, &services)
        }));
        let (result, logs) = outcome.unwrap_or_else(|_| {
            // A panic may have left the flow's sandbox half-way: never reuse it.
            warm.remove(&job.flow.name);
            (
                Err(ScriptFailure::error(
                    ScriptErrorKind::Internal,
                    "the script runtime failed; see the service log".into(),
                )),
                Vec::new(),
            )
        });
        match &result {
            Err(ScriptFailure::Error {
                kind: ScriptErrorKind::Timeout,
                ..
            }) => {
                stats.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            Err(ScriptFailure::Error {
                kind: ScriptErrorKind::MemoryLimit,
                ..
            }) => {
                stats.memory_limits.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        let overran = Instant::now() >= job.deadline + GRACE;
        let _ = job.reply.send(RunResult {
            result,
            logs,
            run_time: started.elapsed(),
        });
        stats.busy.fetch_sub(1, Ordering::Relaxed);
        if overran {
            // The caller gave up on this job and started a replacement thread; the sandbox may
            // be mid-way through anything. With the replacement running, this thread retires.
            warm.remove(&job.flow.name);
            let retire = stats
                .alive
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n > target).then(|| n - 1)
                })
                .is_ok();
            if retire {
                return;
            }
        }
    }
    stats.alive.fetch_sub(1, Ordering::SeqCst);
}

type Warm = HashMap<String, (u64, Sandbox, u64)>;

fn run_job(
    warm: &mut Warm,
    now: u64,
    job: &Job,
    services: &Arc<HostServices>,
) -> (Result<Value, ScriptFailure>, Vec<LogLine>) {
    if Instant::now() >= job.deadline {
        let e = ScriptFailure::error(
            ScriptErrorKind::Timeout,
            "the call waited in the queue past its time limit".into(),
        );
        return (Err(e), Vec::new());
    }
    let fresh =
        !matches!(warm.get(&job.flow.name), Some((version, _, _)) if *version == job.flow.version);
    if fresh {
        // A new version replaces the old one; two flows never share a sandbox.
        warm.remove(&job.flow.name);
        if warm.len() >= WARM_PER_THREAD {
            if let Some(oldest) = warm
                .iter()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(k, _)| k.clone())
            {
                warm.remove(&oldest);
            }
        }
        match Sandbox::new(&job.flow, services, job.deadline) {
            Ok(sandbox) => {
                warm.insert(job.flow.name.clone(), (job.flow.version, sandbox, now));
            }
            Err(e) => return (Err(e), Vec::new()),
        }
    }
    let Some((_, sandbox, used)) = warm.get_mut(&job.flow.name) else {
        let e = ScriptFailure::error(ScriptErrorKind::Internal, "sandbox missing".into());
        return (Err(e), Vec::new());
    };
    *used = now;
    let out = sandbox.call(&job.function, &job.arg, job.vars, job.deadline, job.now_ms);
    if out.discard {
        warm.remove(&job.flow.name);
    }
    (out.result, out.logs)
}
