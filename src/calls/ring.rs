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

/// The most recent steps, at most `capacity`.
pub struct Ring {
    steps: Mutex<VecDeque<Arc<Step>>>,
    capacity: usize,
}

impl Ring {
    /// An empty ring holding at most `capacity` steps (at least one).
    pub fn new(capacity: usize) -> Ring {
        let capacity = capacity.max(1);
        Ring {
            steps: Mutex::new(VecDeque::with_capacity(
                capacity.saturating_add(1).min(PREALLOCATE),
            )),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Step>>> {
        // A panic elsewhere can't leave a VecDeque of Arcs half-changed: keep serving.
        self.steps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a step, forgetting the oldest when full.
    pub fn push(&self, step: Arc<Step>) {
        let evicted = {
            let mut steps = self.lock();
            steps.push_back(step);
            if steps.len() > self.capacity {
                steps.pop_front()
            } else {
                None
            }
        };
        // Freeing an old exchange walks its request and tree: not while others wait.
        drop(evicted);
    }

    /// Every step held, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<Step>> {
        self.lock().iter().cloned().collect()
    }

    /// The steps of one call, oldest first.
    pub fn of_call(&self, call_id: &str) -> Vec<Arc<Step>> {
        self.lock()
            .iter()
            .filter(|s| s.exchange.call_id == call_id)
            .cloned()
            .collect()
    }

    /// Steps held now.
    pub fn held(&self) -> usize {
        self.lock().len()
    }
}
