//! The thread that takes recorded steps to the store and applies retention, so that an HTTP
//! worker never serialises a step or waits for the disk.
//!
//! Steps arrive through a bounded channel; a full channel drops the step's persistence (the step
//! stays in memory) and counts it, never blocking the reply. The thread wakes every
//! [`INTERVAL`], numbers what arrived from the store's sequence (so numbers are the store's,
//! shared by every node, and no request waits for one), writes it in transactions of up to
//! [`BATCH`] steps, and removes calls older than the retention at start-up and every
//! [`SWEEP_EVERY`]. On Linux it runs at the lowest CPU priority: when the machine is saturated
//! it is the log that falls behind (and sheds steps), not the replies.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::step::Step;
use super::StepRecord;
use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// How often the thread wakes to write what arrived.
pub const INTERVAL: Duration = Duration::from_millis(200);
/// Most steps written in one transaction.
pub const BATCH: usize = 256;
/// Most steps waiting for the thread; at ~40k steps/s this is about 100 ms of them.
pub const QUEUE: usize = 4 * 1024;
/// How often retention runs (and once at start-up).
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Most calls removed per retention transaction, so writes are not held up behind a backlog.
const SWEEP_CHUNK: usize = 1000;

/// How long steps are kept on disk.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Days after a call's last step; 0 keeps nothing.
    pub days: u32,
}

impl Retention {
    /// Calls whose last step is before this instant (Unix ms) are removed.
    pub fn cutoff_ms(self, now_ms: i64) -> i64 {
        if self.days == 0 {
            return i64::MAX;
        }
        now_ms.saturating_sub(i64::from(self.days) * 86_400_000)
    }
}

/// What the writer keeps and may hold waiting.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long steps are kept on disk.
    pub retention: Retention,
    /// Most steps waiting.
    pub steps: usize,
    /// Most bytes of steps waiting: an evicted step still queued holds its memory.
    pub bytes: usize,
}

/// The sending side, owned by the call log; dropping it drains the queue and stops the thread.
pub struct Writer {
    queue: Sender<Arc<Step>>,
    /// Bytes of the steps waiting, shared with the thread, which takes off what it wrote.
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    dropped: AtomicU64,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the thread works with.
struct Context {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    retention: Retention,
    queued_bytes: Arc<AtomicUsize>,
}

impl Writer {
    /// Starts the thread, with room for `limits` of steps waiting (steps come masked).
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> std::io::Result<Writer> {
        let (queue, steps) = crossbeam_channel::bounded(limits.steps);
        let (stop, stopped) = mpsc::channel();
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let cx = Context {
            store,
            clock,
            retention: limits.retention,
            queued_bytes: queued_bytes.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("calls-writer".into())
            .spawn(move || {
                lower_priority();
                run(&steps, &stopped, &cx);
            })?;
        Ok(Writer {
            queue,
            queued_bytes,
            max_bytes: limits.bytes,
            dropped: AtomicU64::new(0),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Queues a step for the store, or counts it as dropped when the queue is full (in steps
    /// or in bytes).
    pub fn send(&self, step: Arc<Step>) {
        let bytes = step.bytes;
        let before = self.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        let full = before + bytes > self.max_bytes && before > 0;
        if full || self.queue.try_send(step).is_err() {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Steps that were not persisted because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the call log writer panicked; recent steps may not be stored");
            }
        }
    }
}

fn run(steps: &Receiver<Arc<Step>>, stopped: &mpsc::Receiver<()>, cx: &Context) {
    let mut next_sweep = Instant::now();
    loop {
        if Instant::now() >= next_sweep {
            sweep(steps, cx);
            next_sweep = Instant::now() + SWEEP_EVERY;
        }
        drain(steps, cx);
        // Sleeping instead of blocking on the channel means senders never have a waiting
        // receiver to wake: a send stays a few atomic operations.
        match stopped.recv_timeout(INTERVAL) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The log is closing: what is queued is written before the store closes.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                drain(steps, cx);
                return;
            }
        }
    }
}

/// Writes everything queued, [`BATCH`] steps per transaction.
fn drain(steps: &Receiver<Arc<Step>>, cx: &Context) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.extend(steps.try_iter().take(BATCH));
        if batch.is_empty() {
            return;
        }
        if let Err(e) = write(&batch, cx) {
            tracing::warn!(error = %e, steps = batch.len(), "call steps not stored");
        }
        let bytes: usize = batch.iter().map(|s| s.bytes).sum();
        cx.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
        batch.clear();
    }
}

/// Numbers one batch from the store's sequence and writes it in one transaction.
fn write(batch: &[Arc<Step>], cx: &Context) -> Result<(), StoreError> {
    let first = cx.store.calls_reserve(batch.len() as u64)?;
    let mut records = Vec::with_capacity(batch.len());
    for (step, seq) in batch.iter().zip(first..) {
        // Numbered before it is stored: a reader that finds the step in the store finds its
        // number on the copy in memory too, and counts it once.
        step.number(seq);
        records.push(StepRecord {
            call_id: &step.call_id,
            facts: step.facts(seq),
            json: std::borrow::Cow::Borrowed(step.stored_json()),
        });
    }
    cx.store.calls_append(&records)
}

/// Removes calls past the retention, a chunk per transaction, writing queued steps in between.
fn sweep(steps: &Receiver<Arc<Step>>, cx: &Context) {
    let retention = cx.retention;
    let cutoff = retention.cutoff_ms(cx.clock.now().timestamp_millis());
    let mut removed = 0;
    loop {
        match cx.store.calls_expire(cutoff, SWEEP_CHUNK) {
            Ok(n) => {
                removed += n;
                if n < SWEEP_CHUNK {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "old calls not removed; will retry at the next sweep");
                break;
            }
        }
        drain(steps, cx);
    }
    if removed > 0 {
        tracing::info!(
            removed,
            retention_days = retention.days,
            "old calls removed"
        );
    }
}

/// Lowers this thread to nice 19, so that writing the log takes little CPU from the HTTP
/// workers on a busy box. Not `SCHED_IDLE`: a thread of that class can wait seconds for a core
/// on a saturated box, and while it waits it may hold what the workers need too (the
/// allocator's locks, the kernel's lock on the process's memory map); at nice 19 it still gets
/// a slice every few milliseconds.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: gettid and setpriority only read their integer arguments.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19)
    };
    if result != 0 {
        tracing::debug!("the call log writer keeps the normal CPU priority");
    }
}

/// Elsewhere the writer keeps the normal priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_cutoff() {
        let day = 86_400_000;
        assert_eq!(Retention { days: 7 }.cutoff_ms(10 * day), 3 * day);
        assert_eq!(Retention { days: 0 }.cutoff_ms(10 * day), i64::MAX);
        assert_eq!(Retention { days: u32::MAX }.cutoff_ms(i64::MIN), i64::MIN);
    }
}
