//! A circuit breaker per script flow: after `trip_after` consecutive timeouts or memory-limit
//! hits the flow is *open* and answers its fallback at once; after `trip_for` one call goes
//! through (*half-open*); its success closes the breaker, its failure opens it again.
//!
//! The state is three atomics, so the check on every call is one load. Time is passed in as
//! milliseconds on a monotonic clock, which keeps the state machine testable without waiting.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use serde::Serialize;

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls run.
    Closed,
    /// Calls are answered with the fallback at once.
    Open,
    /// One call is testing the flow; the others are answered with the fallback.
    HalfOpen,
}

impl BreakerState {
    /// Every state, in the order of their numeric values.
    pub const ALL: [BreakerState; 3] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];

    /// The name used in `/flows` and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    fn from_u8(v: u8) -> BreakerState {
        match v {
            OPEN => BreakerState::Open,
            HALF_OPEN => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }
}

/// What the breaker says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Run it.
    Run,
    /// Run it as the one test call of a half-open breaker: its result decides.
    Probe,
    /// Answer the fallback without running it.
    Refuse,
}

/// A circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    state: AtomicU8,
    consecutive: AtomicU32,
    opened_at_ms: AtomicU64,
    trips: AtomicU64,
    trip_after: u32,
    trip_ms: u64,
}

impl Breaker {
    /// A closed breaker that opens after `trip_after` consecutive failures, for `trip_for`.
    pub fn new(trip_after: u32, trip_for: Duration) -> Breaker {
        Breaker {
            state: AtomicU8::new(CLOSED),
            consecutive: AtomicU32::new(0),
            opened_at_ms: AtomicU64::new(0),
            trips: AtomicU64::new(0),
            trip_after: trip_after.max(1),
            trip_ms: u64::try_from(trip_for.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The state now.
    pub fn state(&self) -> BreakerState {
        BreakerState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Times the breaker opened from closed (a failed probe re-opening it is not counted).
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    /// Decides one call at `now_ms`; `flow` names it in the log.
    pub fn admit(&self, now_ms: u64, flow: &str) -> Admit {
        match self.state.load(Ordering::Acquire) {
            CLOSED => Admit::Run,
            OPEN => {
                let opened = self.opened_at_ms.load(Ordering::Acquire);
                let due = now_ms.saturating_sub(opened) >= self.trip_ms;
                // Only the caller that wins the switch runs: one probe at a time.
                if due && self.switch(OPEN, HALF_OPEN) {
                    tracing::info!(
                        flow,
                        breaker = "half_open",
                        "circuit breaker half-open: one call tests the flow"
                    );
                    Admit::Probe
                } else {
                    Admit::Refuse
                }
            }
            _ => Admit::Refuse,
        }
    }

    /// Records a call that ran: `failed` for a timeout or a memory-limit hit.
    pub fn record(&self, failed: bool, probe: bool, now_ms: u64, flow: &str) {
        if !failed {
            if self.consecutive.load(Ordering::Relaxed) != 0 {
                self.consecutive.store(0, Ordering::Relaxed);
            }
            if probe && self.switch(HALF_OPEN, CLOSED) {
                tracing::info!(
                    flow,
                    breaker = "closed",
                    "circuit breaker closed: the test call succeeded"
                );
            }
            return;
        }
        let failures = self
            .consecutive
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if probe {
            self.opened_at_ms.store(now_ms, Ordering::Release);
            if self.switch(HALF_OPEN, OPEN) {
                tracing::warn!(
                    flow,
                    breaker = "open",
                    retry_in_ms = self.trip_ms,
                    "circuit breaker re-opened: the test call failed"
                );
            }
        } else if failures >= self.trip_after && self.state.load(Ordering::Acquire) == CLOSED {
            // The time is set before the state, so whoever sees `open` sees when it opened.
            self.opened_at_ms.store(now_ms, Ordering::Release);
            if self.switch(CLOSED, OPEN) {
                self.trips.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    flow,
                    breaker = "open",
                    failures,
                    retry_in_ms = self.trip_ms,
                    "circuit breaker open: consecutive timeouts or memory-limit hits; the flow \
                     answers its fallback at once"
                );
            }
        }
    }

    /// A probe that never ran (refused by the queue, or expired waiting): the next call may test.
    pub fn abandon_probe(&self) {
        // `opened_at` is left as it was, so the window has already passed for the next call.
        self.switch(HALF_OPEN, OPEN);
    }

    /// Closes the breaker (a new version of the flow deserves a fresh start); true if it was not
    /// closed.
    pub fn reset(&self) -> bool {
        self.consecutive.store(0, Ordering::Relaxed);
        self.state.swap(CLOSED, Ordering::AcqRel) != CLOSED
    }

    fn switch(&self, from: u8, to: u8) -> bool {
        self.state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(3, Duration::from_secs(1))
    }

    #[test]
    fn trips_after_consecutive_failures_only() {
        let b = breaker();
        b.record(true, false, 0, "f");
        b.record(true, false, 0, "f");
        b.record(false, false, 0, "f");
        b.record(true, false, 0, "f");
        b.record(true, false, 0, "f");
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a success in between resets"
        );
        assert_eq!(b.admit(0, "f"), Admit::Run);
        b.record(true, false, 10, "f");
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.trips(), 1);
        assert_eq!(b.admit(500, "f"), Admit::Refuse);
    }

    #[test]
    fn one_probe_after_the_window_decides() {
        let b = breaker();
        for _ in 0..3 {
            b.record(true, false, 0, "f");
        }
        assert_eq!(b.admit(999, "f"), Admit::Refuse);
        assert_eq!(b.admit(1000, "f"), Admit::Probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.admit(1001, "f"), Admit::Refuse, "one probe at a time");
        b.record(true, true, 1100, "f");
        assert_eq!(b.state(), BreakerState::Open, "a failed probe re-opens");
        assert_eq!(b.admit(2000, "f"), Admit::Refuse, "the window starts again");
        assert_eq!(b.admit(2100, "f"), Admit::Probe);
        b.record(false, true, 2110, "f");
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit(2111, "f"), Admit::Run);
        assert_eq!(b.trips(), 1, "a re-open is not a new trip");
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_test() {
        let b = breaker();
        for _ in 0..3 {
            b.record(true, false, 0, "f");
        }
        assert_eq!(b.admit(1500, "f"), Admit::Probe);
        b.abandon_probe();
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.admit(1501, "f"), Admit::Probe);
        assert!(b.reset());
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(!b.reset());
    }
}
