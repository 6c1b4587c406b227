//! The JS pool: a fixed set of threads, each owning the sandboxes it has warmed, taking jobs from
//! one bounded queue. Scripts never run on an HTTP worker; a full queue is refused at once.
//!
//! Each flow has a guard ([`FlowGuard`]): a bulkhead that keeps a flow whose calls run long to
//! its share of the threads and of the queue, and a circuit breaker that answers a flow which
//! keeps timing out at once until a test call succeeds.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use serde_json::Value;

use super::breaker::{Admit, Breaker};
use super::bulkhead::{Admitted, Bulkhead, Share};
use super::class5::{Effects, StepOutput};
use super::host::{HostServices, LogLine};
use super::isolation::{Core, Slot};
pub use super::isolation::{FlowIsolation, Isolation};
use super::realms::{RealmKey, Realms};
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

/// Why a call was not run: answered at once, with the flow's fallback for the flow's own
/// reasons, or 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Overloaded {
    /// Every thread busy and the shared queue full.
    #[error("all script threads are busy and the queue is full")]
    QueueFull,
    /// The flow's calls run long and it already holds its share of the threads and queue.
    #[error("this flow's calls run long and it holds its share of the script threads and queue")]
    Confined,
    /// The flow's circuit breaker is open.
    #[error("this flow's circuit breaker is open after repeated timeouts or memory-limit hits")]
    Tripped,
}

/// A flow's bulkhead and breaker, shared by every version of the flow.
pub struct FlowGuard {
    name: Box<str>,
    id: u64,
    version: AtomicU64,
    breaker: Breaker,
    bulkhead: Bulkhead<Job>,
    refused_bulkhead: AtomicU64,
    refused_breaker: AtomicU64,
}

impl std::fmt::Debug for FlowGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowGuard")
            .field("name", &self.name)
            .field("breaker", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

impl FlowGuard {
    fn snapshot(&self) -> FlowIsolation {
        FlowIsolation {
            breaker: self.breaker.state(),
            trips: self.breaker.trips(),
            slow: self.bulkhead.is_slow(),
            in_flight: self.bulkhead.in_flight(),
            refused_bulkhead: self.refused_bulkhead.load(Ordering::Relaxed),
            refused_breaker: self.refused_breaker.load(Ordering::Relaxed),
        }
    }

    /// A new version of the flow starts with a closed breaker and no slow mark.
    fn check_version(&self, version: u64) {
        if self.version.load(Ordering::Relaxed) == version {
            return;
        }
        let before = self.version.swap(version, Ordering::Relaxed);
        if before != 0 && before != version {
            self.bulkhead.clear_slow();
            if self.breaker.reset() {
                tracing::info!(
                    flow = %self.name,
                    breaker = "closed",
                    "circuit breaker closed: a new version of the flow loaded"
                );
            }
        }
    }
}

/// A job's place in its flow's bulkhead: released once, when the job is done or dropped, or
/// when its caller gave up on a thread stuck in native code and the pool replaced that thread
/// (the stuck one no longer holds a place of the pool). A probe that is dropped without having
/// run lets the next call test the flow.
struct Ticket {
    guard: Arc<FlowGuard>,
    flags: Arc<JobFlags>,
    probe: bool,
}

/// What a job's caller and its thread both see.
#[derive(Default)]
struct JobFlags {
    /// Set by the thread when it takes the job: only a job that started can be stuck.
    started: AtomicBool,
    /// Set when the job's place in the bulkhead was given back.
    released: AtomicBool,
}

impl JobFlags {
    fn release(&self, guard: &FlowGuard) {
        if !self.released.swap(true, Ordering::AcqRel) {
            guard.bulkhead.release();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.flags.release(&self.guard);
        if self.probe {
            self.guard.breaker.abandon_probe();
        }
    }
}

/// What running a script function gave.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The JSON value returned, or the failure.
    pub result: Result<Value, ScriptFailure>,
    /// The script's console lines.
    pub logs: Vec<LogLine>,
    /// Time spent on the JS thread.
    pub run_time: Duration,
    /// What a Class 5 step recorded and emitted (`None` for a plain call).
    pub class5: Option<StepOutput>,
}

struct Job {
    flow: Arc<ScriptFlow>,
    function: String,
    arg: String,
    vars: Vars,
    deadline: Instant,
    now_ms: Option<i64>,
    /// A Class 5 step's effects: it runs in its flow's realm or a fresh sandbox, never in a
    /// plain flow's warm one.
    class5: Option<Box<Effects>>,
    ticket: Ticket,
    reply: tokio::sync::oneshot::Sender<Result<RunResult, Overloaded>>,
}

impl Job {
    /// Answers without running: the place in the bulkhead is given back first, so the caller's
    /// next call sees it free.
    fn refuse(self, why: Overloaded) {
        let Job { ticket, reply, .. } = self;
        drop(ticket);
        let _ = reply.send(Err(why));
    }
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

type Guards = HashMap<Box<str>, Arc<FlowGuard>>;

/// The pool of JS threads.
pub struct JsPool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    threads: usize,
    services: Arc<HostServices>,
    core: Arc<Core>,
    /// Every flow's guard by name: looked up once per loaded version of a flow, which keeps it.
    guards: RwLock<Guards>,
    next_id: AtomicU64,
    /// Live counters.
    pub stats: Arc<PoolStats>,
}

impl JsPool {
    /// Starts `threads` JS threads behind a queue of `queue` jobs, isolating flows by
    /// `isolation`.
    pub fn new(
        threads: usize,
        queue: usize,
        isolation: Isolation,
        services: Arc<HostServices>,
    ) -> std::io::Result<JsPool> {
        let threads = threads.max(1);
        let queue = queue.max(1);
        let (tx, rx) = bounded::<Job>(queue);
        let core = Core {
            share: Share::of(threads, queue, isolation.max_threads_per_flow),
            isolation,
            epoch: Instant::now(),
            // Stuck threads are replaced up to twice the pool; a spare slot or two for races.
            slots: (0..2 * threads + 2).map(|_| Slot::default()).collect(),
        };
        let pool = JsPool {
            tx,
            rx,
            threads,
            services,
            core: Arc::new(core),
            guards: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            stats: Arc::new(PoolStats::default()),
        };
        for _ in 0..threads {
            pool.spawn_worker()?;
        }
        Ok(pool)
    }

    fn spawn_worker(&self) -> std::io::Result<()> {
        let (rx, services, stats) = (self.rx.clone(), self.services.clone(), self.stats.clone());
        let core = self.core.clone();
        let n = self.stats.alive.fetch_add(1, Ordering::SeqCst);
        let target = self.threads;
        std::thread::Builder::new()
            .name(format!("pivotforge-js-{n}"))
            .stack_size(THREAD_STACK)
            .spawn(move || worker(rx, services, stats, core, target))
            .map(drop)
            .inspect_err(|_| {
                self.stats.alive.fetch_sub(1, Ordering::SeqCst);
            })
    }

    /// What every sandbox of the pool is given (the store, the fetcher, the pivot link).
    pub fn services(&self) -> &Arc<HostServices> {
        &self.services
    }

    /// Number of JS threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs waiting for a thread.
    pub fn queue_depth(&self) -> usize {
        self.tx.len()
    }

    /// How the pool isolates flows.
    pub fn isolation(&self) -> Isolation {
        self.core.isolation
    }

    /// The bulkhead and breaker state of flow `name`; `None` before its first call.
    pub fn flow_isolation(&self, name: &str) -> Option<FlowIsolation> {
        let guards = self.guards.read().unwrap_or_else(PoisonError::into_inner);
        guards.get(name).map(|g| g.snapshot())
    }

    fn guard_of(&self, flow: &ScriptFlow) -> Arc<FlowGuard> {
        if let Some(guard) = flow.guard.get() {
            return guard.clone();
        }
        let found = {
            let guards = self.guards.read().unwrap_or_else(PoisonError::into_inner);
            guards.get(flow.name.as_str()).cloned()
        };
        let guard = found.unwrap_or_else(|| {
            let mut guards = self.guards.write().unwrap_or_else(PoisonError::into_inner);
            guards
                .entry(flow.name.as_str().into())
                .or_insert_with(|| {
                    let isolation = self.core.isolation;
                    Arc::new(FlowGuard {
                        name: flow.name.as_str().into(),
                        id: self.next_id.fetch_add(1, Ordering::Relaxed),
                        version: AtomicU64::new(0),
                        breaker: Breaker::new(isolation.trip_after, isolation.trip_for),
                        bulkhead: Bulkhead::default(),
                        refused_bulkhead: AtomicU64::new(0),
                        refused_breaker: AtomicU64::new(0),
                    })
                })
                .clone()
        });
        flow.guard.get_or_init(|| guard).clone()
    }

    /// Sends a job to the shared queue, or answers it 503 when the queue is full.
    fn dispatch(&self, job: Job) {
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) | Err(TrySendError::Disconnected(job)) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                job.refuse(Overloaded::QueueFull);
            }
        }
    }

    /// Runs `function` of `flow` with `arg` (JSON text), within the flow's time limit counted
    /// from now. `now_ms` sets the script's clock (`Date`), for a service with an injected clock.
    pub async fn run(
        &self,
        flow: Arc<ScriptFlow>,
        function: &str,
        arg: (String, Vars),
        now_ms: Option<i64>,
    ) -> Result<RunResult, Overloaded> {
        self.submit(flow, function, arg, now_ms, None).await
    }

    /// Runs one step of a Class 5 flow: `main(data, ctx)`, from the script's top level, with
    /// its effects going through `effects`, within the flow's time limit (replay included).
    pub async fn run_class5(
        &self,
        flow: Arc<ScriptFlow>,
        data: String,
        now_ms: Option<i64>,
        effects: Effects,
    ) -> Result<RunResult, Overloaded> {
        let arg = (data, Vars::IfAbsent);
        self.submit(flow, "main", arg, now_ms, Some(Box::new(effects)))
            .await
    }

    async fn submit(
        &self,
        flow: Arc<ScriptFlow>,
        function: &str,
        (arg, vars): (String, Vars),
        now_ms: Option<i64>,
        class5: Option<Box<Effects>>,
    ) -> Result<RunResult, Overloaded> {
        let timeout = Duration::from_millis(flow.settings.timeout_ms);
        let now = Instant::now();
        let guard = self.guard_of(&flow);
        guard.check_version(flow.version);
        let probe = match guard.breaker.admit(self.core.ms(now), &guard.name) {
            Admit::Run => false,
            Admit::Probe => true,
            Admit::Refuse => {
                guard.refused_breaker.fetch_add(1, Ordering::Relaxed);
                return Err(Overloaded::Tripped);
            }
        };
        guard.bulkhead.enter();
        let share = self.core.share;
        // A flow is confined once a call ran long, or while one is running long now: the second
        // catches a flow that starts looping before its first slow call has ended.
        let slow = guard.bulkhead.is_slow()
            || (guard.bulkhead.others_dispatched() >= share.max_threads
                && self.core.running_long(guard.id, now)
                && {
                    guard.bulkhead.mark_slow();
                    true
                });
        let deadline = now + timeout;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let flags = Arc::new(JobFlags::default());
        let job = Job {
            flow,
            function: function.to_owned(),
            arg,
            vars,
            deadline,
            now_ms,
            class5,
            ticket: Ticket {
                guard: guard.clone(),
                flags: flags.clone(),
                probe,
            },
            reply,
        };
        match guard.bulkhead.admit(job, slow, share) {
            // Possibly an earlier parked call of the flow, not this one: either way this call's
            // answer comes through `answer`.
            Admitted::Run(job) => self.dispatch(job),
            Admitted::Parked => {}
            Admitted::Refused(job) => {
                drop(job);
                guard.refused_bulkhead.fetch_add(1, Ordering::Relaxed);
                return Err(Overloaded::Confined);
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
            class5: None,
        };
        Ok(match tokio::time::timeout(wait, answer).await {
            Ok(Ok(Ok(result))) => result,
            Ok(Ok(Err(refused))) => return Err(refused),
            Ok(Err(_)) | Err(_) => {
                // A thread stuck in native code: add one so the pool keeps its size (the stuck
                // one retires once it is free), but never past twice the size, so a flow that
                // keeps getting stuck can't grow the pool without end.
                let replaceable = flags.started.load(Ordering::SeqCst)
                    && self.stats.alive.load(Ordering::SeqCst) < 2 * self.threads;
                if replaceable {
                    match self.spawn_worker() {
                        // The replacement takes the place: the flow's next call may have it.
                        Ok(()) => flags.release(&guard),
                        Err(e) => {
                            tracing::error!(error = %e, "could not replace a stuck JS thread")
                        }
                    }
                }
                stuck()
            }
        })
    }
}

fn worker(
    rx: Receiver<Job>,
    services: Arc<HostServices>,
    stats: Arc<PoolStats>,
    core: Arc<Core>,
    target: usize,
) {
    let slot = core.claim_slot();
    if let Some(slot) = slot {
        slot.take_clock();
    }
    let mut warm: Warm = HashMap::new();
    let mut realms = Realms::default();
    let mut uses = 0u64;
    let retired = 'jobs: loop {
        let Ok(job) = rx.recv() else {
            break 'jobs false;
        };
        let mut next = Some(job);
        let mut overran = false;
        while let Some(job) = next.take() {
            let guard = job.ticket.guard.clone();
            uses += 1;
            let kept = Kept {
                warm: &mut warm,
                realms: &mut realms,
            };
            overran |= serve(job, kept, uses, &services, &stats, &core, slot);
            // This thread was one of the flow's: the flow's next parked call takes it, so a
            // confined flow never holds more threads than its share.
            next = guard.bulkhead.next_parked(core.share);
        }
        if overran {
            // The caller gave up on a job and started a replacement thread; with the
            // replacement running, this thread retires.
            let retire = stats
                .alive
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n > target).then(|| n - 1)
                })
                .is_ok();
            if retire {
                break 'jobs true;
            }
        }
    };
    if let Some(slot) = slot {
        slot.flow.store(0, Ordering::Release);
        slot.clock.clear();
        slot.taken.store(false, Ordering::Release);
    }
    if !retired {
        stats.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a JS thread keeps between jobs.
struct Kept<'a> {
    warm: &'a mut Warm,
    realms: &'a mut Realms,
}

/// Runs one job and answers it; true when it ran so far past its deadline that its caller gave
/// up on it.
fn serve(
    mut job: Job,
    Kept { warm, realms }: Kept<'_>,
    uses: u64,
    services: &Arc<HostServices>,
    stats: &PoolStats,
    core: &Core,
    slot: Option<&Slot>,
) -> bool {
    job.ticket.flags.started.store(true, Ordering::SeqCst);
    stats.busy.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let guard = job.ticket.guard.clone();
    // A job that waited past its deadline says nothing about its flow: it does not run.
    let expired = started >= job.deadline;
    if let Some(slot) = slot {
        slot.start(guard.id, core.us(started), core.slow_us());
    }
    let class5 = job.class5.take();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match class5 {
        Some(effects) => run_step(&job, realms, uses, services, *effects),
        None => {
            let (result, logs) = run_job(warm, uses, &job, services);
            (result, logs, None)
        }
    }));
    if let Some(slot) = slot {
        slot.flow.store(0, Ordering::Release);
    }
    let (result, logs, class5) = outcome.unwrap_or_else(|_| {
        // A panic may have left the flow's sandbox half-way: never reuse it.
        warm.remove(&job.flow.name);
        realms.forget(&job.flow.name);
        (
            Err(ScriptFailure::error(
                ScriptErrorKind::Internal,
                "the script runtime failed; see the service log".into(),
            )),
            Vec::new(),
            None,
        )
    });
    let run_time = started.elapsed();
    let kind = match &result {
        Err(ScriptFailure::Error { kind, .. }) => Some(*kind),
        _ => None,
    };
    match kind {
        Some(ScriptErrorKind::Timeout) => {
            stats.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        Some(ScriptErrorKind::MemoryLimit) => {
            stats.memory_limits.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
    if !expired {
        let timed_out = kind == Some(ScriptErrorKind::Timeout);
        if timed_out || run_time >= core.isolation.slow {
            guard.bulkhead.mark_slow();
        } else {
            guard.bulkhead.fast_call();
        }
        let failed = timed_out || kind == Some(ScriptErrorKind::MemoryLimit);
        let now_ms = core.ms(Instant::now());
        guard
            .breaker
            .record(failed, job.ticket.probe, now_ms, &guard.name);
        // Recorded: the ticket must not hand the probe back when it is dropped.
        job.ticket.probe = false;
    }
    let overran = Instant::now() >= job.deadline + GRACE;
    if overran {
        // The sandbox may be mid-way through anything.
        warm.remove(&job.flow.name);
        realms.forget(&job.flow.name);
    }
    let Job { ticket, reply, .. } = job;
    // The place is given back before the answer, so the caller's next call finds it free.
    drop(ticket);
    let _ = reply.send(Ok(RunResult {
        result,
        logs,
        run_time,
        class5,
    }));
    stats.busy.fetch_sub(1, Ordering::Relaxed);
    overran
}

type Warm = HashMap<String, (u64, Sandbox, u64)>;

/// What a Class 5 step gave: the result, the console lines and what the step recorded.
type StepRun = (
    Result<Value, ScriptFailure>,
    Vec<LogLine>,
    Option<StepOutput>,
);

/// One Class 5 step. A replay must start from the script's top level, never from state an
/// earlier step left: a classic flow's step runs its top level anew in the flow's realm on this
/// thread (see [`Realms`]); a module flow's, in a fresh context.
fn run_step(
    job: &Job,
    realms: &mut Realms,
    uses: u64,
    services: &Arc<HostServices>,
    effects: Effects,
) -> StepRun {
    if Instant::now() >= job.deadline {
        let e = ScriptFailure::error(
            ScriptErrorKind::Timeout,
            "the call waited in the queue past its time limit".into(),
        );
        return (Err(e), Vec::new(), None);
    }
    let key = RealmKey::of(&job.flow);
    if job.flow.module || realms.fresh_only(&key) {
        return fresh_step(job, services, effects);
    }
    let sandbox = match realms.get(&key, &job.flow, services, job.deadline, uses) {
        Ok(sandbox) => sandbox,
        Err(e) => return (Err(e), Vec::new(), None),
    };
    sandbox.set_effects(effects);
    let out = sandbox.call(&job.function, &job.arg, job.vars, job.deadline, job.now_ms);
    let Some(fx) = sandbox.take_effects() else {
        // Set just above and taken only here: never the case, but the realm is not trusted.
        realms.discard(&key, false);
        return (out.result, out.logs, None);
    };
    let failed = out.result.is_err() || fx.divergence().is_some();
    let clean = !failed && !out.discard && sandbox.clean();
    if failed || out.discard {
        realms.discard(&key, false);
    } else if !clean {
        realms.discard(&key, true);
    }
    // A step that failed in the realm runs once more in a context of its own, unless it did
    // something a second run would do again: a script that changes a built-in (which the
    // realm refuses) still works there, and the flow's steps run that way from then on.
    // A deliberate rejection or a limit would be the same there.
    let erred = match &out.result {
        Err(ScriptFailure::Error { kind, .. }) => !matches!(
            kind,
            ScriptErrorKind::Timeout
                | ScriptErrorKind::MemoryLimit
                | ScriptErrorKind::StackOverflow
        ),
        Err(_) => false,
        Ok(_) => failed,
    };
    let redo = erred && !fx.wrote();
    if redo && Instant::now() < job.deadline {
        let fresh = fresh_step(job, services, fx.rewound());
        let diverged = fresh.2.as_ref().is_some_and(|o| o.diverged.is_some());
        if fresh.0.is_ok() && !diverged {
            tracing::info!(
                flow = %job.flow.name,
                "a Class 5 step failed in the flow's realm and worked in a fresh context (does the \
                 script change a built-in?): its steps run in fresh contexts on this thread"
            );
            realms.make_fresh_only(&key);
        }
        return fresh;
    }
    (out.result, out.logs, Some(StepOutput::of(fx)))
}

/// One Class 5 step in a fresh context, dropped when the step is done.
fn fresh_step(job: &Job, services: &Arc<HostServices>, effects: Effects) -> StepRun {
    let mut sandbox = match Sandbox::with_effects(&job.flow, services, job.deadline, Some(effects))
    {
        Ok(sandbox) => sandbox,
        Err(e) => return (Err(e), Vec::new(), None),
    };
    let out = sandbox.call(&job.function, &job.arg, job.vars, job.deadline, job.now_ms);
    let step = sandbox.take_effects().map(StepOutput::of);
    (out.result, out.logs, step)
}

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
