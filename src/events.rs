//! Post-call events: the PBX's end-of-call POSTs are stored durably first (the HTTP answer is 202
//! only once they are on disk), then a worker runs each flow's `postCall(event)` from the queue,
//! retrying with backoff. An accepted event is never lost: it ends done, or in the dead letters.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use crate::engine::{Engine, RunError};
use crate::script::{Overloaded, ScriptFailure};
use crate::store::Store;

/// Delays before each retry; after the last one the event goes to the dead letters.
const BACKOFF_MS: [i64; 7] = [1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000];
/// Events taken per poll.
const BATCH: usize = 16;
/// Longest sleep between polls when nothing wakes the worker.
const IDLE: Duration = Duration::from_millis(500);

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

/// Starts the worker thread; it ends once the engine or the store is gone (the server stopped).
pub fn start(
    engine: &Arc<Engine>,
    store: &Arc<dyn Store>,
    doorbell: Doorbell,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let (engine, store) = (Arc::downgrade(engine), Arc::downgrade(store));
    std::thread::Builder::new()
        .name("pivotforge-events".into())
        .spawn(move || loop {
            let (Some(engine), Some(store)) = (engine.upgrade(), store.upgrade()) else {
                return;
            };
            let worked = runtime.block_on(run_due(&engine, store.as_ref()));
            drop((engine, store));
            if !worked {
                doorbell.wait(IDLE);
            }
        })?;
    Ok(())
}

/// The call an event is about, for log lines: Kazoo's `Call-ID` (a pivot's `cdr_url`) or
/// `call_id` (a webhook); empty when it names none.
pub fn call_id_of(event: &Value) -> &str {
    ["Call-ID", "call_id"]
        .iter()
        .find_map(|key| event.get(key).and_then(Value::as_str))
        .unwrap_or("")
}

/// Runs every due event once; true when there was any.
pub async fn run_due(engine: &Engine, store: &dyn Store) -> bool {
    let due = match store.events_due(Utc::now().timestamp_millis(), BATCH) {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "can't read the event queue");
            return false;
        }
    };
    // Events of a flow held back by its own bulkhead or breaker are skipped (still due); a batch
    // of only those is no work done, so the worker waits instead of asking again at once.
    let mut skipped = 0;
    for event in &due {
        let call_id = call_id_of(&event.event);
        let outcome = engine
            .run_function(&event.flow, "postCall", event.event.clone(), None)
            .await;
        let error = match outcome {
            Ok(run) => match run.result {
                Ok(_) => None,
                Err(ScriptFailure::Rejected { code, reason }) => {
                    Some(format!("postCall rejected: {code} {reason}"))
                }
                Err(ScriptFailure::Error { detail, .. }) => Some(detail),
            },
            // The pool is full: leave this and the rest of the batch untouched (still due, no
            // attempt counted) for the next poll.
            Err(RunError::Overloaded(Overloaded::QueueFull)) => break,
            Err(RunError::Overloaded(Overloaded::Confined | Overloaded::Tripped)) => {
                skipped += 1;
                continue;
            }
            Err(e) => Some(e.to_string()),
        };
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
                        store.event_retry(event.id, Utc::now().timestamp_millis() + delay, &error)
                    }
                    None => {
                        tracing::error!(flow = %event.flow, event_id = event.id, call_id, error = %error, "postCall failed for good; kept in the dead letters");
                        store.event_dead(event.id, &error)
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
