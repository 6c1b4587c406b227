//! The recent steps in memory: a bounded ring, newest at the back. It is what makes a step
//! visible in `/calls` the moment its reply is built, before the store has it.
//!
//! Every call step pushes here on an HTTP worker, so the lock is held only to push and pop an
//! `Arc`; readers copy the `Arc`s out and do their work after letting go.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::step::Step;

/// At most this many slots are reserved up front; a larger ring grows as it fills.
const PREALLOCATE: usize = 1 << 14;

/// The most recent steps, at most `capacity` of them and `max_bytes` together (the newest step
/// is always kept, whatever its size).
pub struct Ring {
    steps: Mutex<Held>,
    capacity: usize,
    max_bytes: usize,
}

/// The steps and the sum of their sizes, changed together under the lock.
struct Held {
    steps: VecDeque<Arc<Step>>,
    bytes: usize,
}

impl Ring {
    /// An empty ring holding at most `capacity` steps (at least one) and `max_bytes`.
    pub fn new(capacity: usize, max_bytes: usize) -> Ring {
        let capacity = capacity.max(1);
        Ring {
            steps: Mutex::new(Held {
                steps: VecDeque::with_capacity(capacity.saturating_add(1).min(PREALLOCATE)),
                bytes: 0,
            }),
            capacity,
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        // A panic elsewhere can't leave a VecDeque of Arcs half-changed: keep serving.
        self.steps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a step, forgetting the oldest ones while over either bound.
    pub fn push(&self, step: Arc<Step>) {
        // One step leaves per push at steady state: no allocation for it.
        let mut first = None;
        let mut more = Vec::new();
        {
            let mut held = self.lock();
            held.bytes += step.bytes;
            held.steps.push_back(step);
            while held.steps.len() > self.capacity
                || (held.bytes > self.max_bytes && held.steps.len() > 1)
            {
                let Some(old) = held.steps.pop_front() else {
                    break;
                };
                held.bytes -= old.bytes;
                match first {
                    None => first = Some(old),
                    Some(_) => more.push(old),
                }
            }
        }
        // Freeing old steps: not while others wait.
        drop((first, more));
    }

    /// Every step held, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<Step>> {
        self.lock().steps.iter().cloned().collect()
    }

    /// The steps of one call, oldest first.
    pub fn of_call(&self, call_id: &str) -> Vec<Arc<Step>> {
        self.lock()
            .steps
            .iter()
            .filter(|s| s.call_id == call_id)
            .cloned()
            .collect()
    }

    /// Steps held now.
    pub fn held(&self) -> usize {
        self.lock().steps.len()
    }

    /// Bytes the steps held now count.
    pub fn held_bytes(&self) -> usize {
        self.lock().bytes
    }
}
