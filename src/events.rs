//! Post-call events: Kazoo's end-of-call webhooks are stored durably first (the HTTP answer is
//! 200 only once they are on disk), then a worker runs each flow's `postCall(event)` from the queue,
//! retrying with backoff. An accepted event is never lost: it ends done, or in the dead letters,
//! which are kept `[events] dead_letter_days` and then removed.
//!
//! The worker claims events with a lease (`[events] lease_ms`) before it runs them, so a worker that
//! dies mid-run leaves its events to be claimed again once the lease runs out (by it after a
//! restart, or by another node): delivery is at least once, and `postCall` sees the event's
//! queue id as `event.event_id` to tell a repeat. Due times, leases, taken-marks and the
//! dead-letter retention all read the service's injected clock.

pub mod config;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use std::hash::{BuildHasher, Hasher};

use serde_json::Value;

use crate::calls::Masker;
use crate::clock::Clock;
use crate::engine::{Engine, RunError};
use crate::script::{Overloaded, ScriptFailure};
use crate::store::Store;

pub use config::{EventsConfig, EventsFileConfig};

/// Delays before each retry; after the last one the event goes to the dead letters.
const BACKOFF_MS: [i64; 7] = [1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000];
/// Events claimed per poll.
const BATCH: usize = 16;
/// Longest sleep between polls when nothing wakes the worker.
const IDLE: Duration = Duration::from_millis(500);
/// How often old dead letters are removed (and once at start-up).
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Most dead letters removed per transaction.
const SWEEP_CHUNK: usize = 1000;
/// How long a call's event stays marked as taken: Kazoo repeats a delivery within seconds (a
/// retry 2 s after a connection error), so a day is plenty.
const TAKEN_MS: i64 = 86_400_000;

/// Wakes the worker when an event arrives, so it need not wait for its next poll.
#[derive(Default, Clone)]
pub struct Doorbell(Arc<(Mutex<bool>, Condvar)>);

impl Doorbell {
    /// Signals that an event is waiting.
    pub fn ring(&self) {
        let (flag, cv) = &*self.0;
        if let Ok(mut rung) = flag.lock() {
            *rung = true;
            cv.notify_one();
        }
    }

    fn wait(&self, timeout: Duration) {
        let (flag, cv) = &*self.0;
        if let Ok(rung) = flag.lock() {
            if let Ok((mut rung, _)) = cv.wait_timeout_while(rung, timeout, |r| !*r) {
                *rung = false;
            }
        }
    }
}

/// Removes the old dead letters once before returning, then starts the worker thread, which
/// removes them hourly too; it ends once the engine or the store is gone (the server stopped).
/// A postCall error is logged and kept with `masker`'s credentials masked.
pub fn start(
    engine: &Arc<Engine>,
    store: &Arc<dyn Store>,
    doorbell: Doorbell,
    clock: Arc<dyn Clock>,
    config: EventsConfig,
    masker: Masker,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    expire_dead(store.as_ref(), clock.as_ref(), config.dead_letter_days);
    expire_taken(store.as_ref(), clock.as_ref());
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    let worker = worker_name();
    let (engine, store) = (Arc::downgrade(engine), Arc::downgrade(store));
    std::thread::Builder::new()
        .name("pivotforge-events".into())
        .spawn(move || loop {
            let (Some(engine), Some(store)) = (engine.upgrade(), store.upgrade()) else {
                return;
            };
            if Instant::now() >= next_sweep {
                expire_dead(store.as_ref(), clock.as_ref(), config.dead_letter_days);
                expire_taken(store.as_ref(), clock.as_ref());
                next_sweep = Instant::now() + SWEEP_EVERY;
            }
            let worked = runtime.block_on(run_due(
                &engine,
                store.as_ref(),
                clock.as_ref(),
                &masker,
                &worker,
                config.lease_ms,
            ));
            drop((engine, store));
            if !worked {
                doorbell.wait(IDLE);
            }
        })?;
    Ok(())
}

/// Removes dead letters older than `days` by `clock`, a chunk per transaction.
pub fn expire_dead(store: &dyn Store, clock: &dyn Clock, days: u32) {
    let cutoff = clock
        .now()
        .timestamp_millis()
        .saturating_sub(i64::from(days) * 86_400_000);
    let mut removed = 0;
    loop {
        match store.events_expire_dead(cutoff, SWEEP_CHUNK) {
            Ok(n) => {
                removed += n;
                if n < SWEEP_CHUNK {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "old dead letters not removed; will retry at the next sweep");
                break;
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, dead_letter_days = days, "old dead letters removed");
    }
}

/// This process's name on its claims: its pid and a random tag, unique among the nodes
/// sharing a store.
fn worker_name() -> String {
    let tag = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32;
    format!("pid{}-{tag:08x}", std::process::id())
}

/// Removes the marks of events taken more than a day ago by `clock` (the one the HTTP handler
/// stamps them with), a chunk per transaction.
pub fn expire_taken(store: &dyn Store, clock: &dyn Clock) {
    let cutoff = clock.now().timestamp_millis().saturating_sub(TAKEN_MS);
    loop {
        match store.events_expire_taken(cutoff, SWEEP_CHUNK) {
            Ok(n) if n < SWEEP_CHUNK => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "old taken-event marks not removed; will retry at the next sweep");
                break;
            }
        }
    }
}

/// The call an event is about, for log lines: its mapped `call_id` (or `Call-ID` in events
/// queued before the webhook mapping); empty when it names none.
pub fn call_id_of(event: &Value) -> &str {
    ["call_id", "Call-ID"]
        .iter()
        .find_map(|key| event.get(key).and_then(Value::as_str))
        .unwrap_or("")
}

/// The event as `postCall` sees it: with its queue id as `event_id`, the same on every attempt.
fn with_id(event: &Value, id: u64) -> Value {
    let mut event = event.clone();
    if let Some(map) = event.as_object_mut() {
        map.insert("event_id".into(), id.into());
    }
    event
}

/// Claims the due events as `worker` for `lease_ms` and runs each once; true when there was
/// any work.
/// Everything here reads `clock`: `postCall` (its `Date`, console stamps, cxKV expiries), due
/// times, leases and the dead letters.
pub async fn run_due(
    engine: &Engine,
    store: &dyn Store,
    clock: &dyn Clock,
    masker: &Masker,
    worker: &str,
    lease_ms: u64,
) -> bool {
    let now_ms = clock.now().timestamp_millis();
    let due = match store.events_claim(worker, now_ms, lease_ms, BATCH) {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "can't read the event queue");
            return false;
        }
    };
    // Events of a flow held back by its own bulkhead or breaker are given back (still due); a
    // batch of only those is no work done, so the worker waits instead of asking again at once.
    let mut skipped = 0;
    for (i, event) in due.iter().enumerate() {
        let call_id = call_id_of(&event.event);
        let outcome = engine
            .run_function(
                &event.flow,
                "postCall",
                with_id(&event.event, event.id),
                Some(clock.now()),
            )
            .await;
        let error = match outcome {
            Ok(run) => match run.result {
                Ok(_) => None,
                Err(ScriptFailure::Rejected { code, reason }) => {
                    Some(format!("postCall rejected: {code} {reason}"))
                }
                Err(failure) => Some(failure.detail()),
            },
            // The pool is full: give this and the rest of the batch back untouched (still due,
            // no attempt counted) for the next poll.
            Err(RunError::Overloaded(Overloaded::QueueFull)) => {
                release(store, &due[i..]);
                break;
            }
            Err(RunError::Overloaded(Overloaded::Confined | Overloaded::Tripped)) => {
                release(store, std::slice::from_ref(event));
                skipped += 1;
                continue;
            }
            Err(e) => Some(e.to_string()),
        };
        // A script's error may quote a credential: mask it before it is logged or kept.
        let error = error.map(|e| masker.mask(&e).unwrap_or(e));
        let result = match error {
            None => {
                tracing::info!(flow = %event.flow, event_id = event.id, call_id, "postCall done");
                store.event_done(event.id)
            }
            Some(error) => {
                let attempt = event.attempts as usize;
                match BACKOFF_MS.get(attempt) {
                    Some(delay) => {
                        tracing::warn!(flow = %event.flow, event_id = event.id, call_id, attempt = attempt + 1, error = %error, "postCall failed; will retry");
                        let next = clock.now().timestamp_millis() + delay;
                        store.event_retry(event.id, next, &error)
                    }
                    None => {
                        tracing::error!(flow = %event.flow, event_id = event.id, call_id, error = %error, "postCall failed for good; kept in the dead letters");
                        store.event_dead(event.id, &error, clock.now().timestamp_millis())
                    }
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(event_id = event.id, call_id, error = %e, "can't update the event queue");
        }
    }
    due.len() > skipped
}

/// Gives claimed events back without counting an attempt (their lease ends at once).
fn release(store: &dyn Store, events: &[crate::store::QueuedEvent]) {
    for event in events {
        if let Err(e) = store.event_release(event.id) {
            tracing::warn!(event_id = event.id, error = %e, "a claimed event was not given back; it is due again when its lease runs out");
        }
    }
}
