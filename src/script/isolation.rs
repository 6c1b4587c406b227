//! What the JS pool needs to keep flows apart, besides the bulkhead and the breaker themselves:
//! the settings, the state `/flows` and `/metrics` show, and which flow each JS thread runs and
//! since when — with the thread's CPU time, so that a loop is spotted before its call ends while
//! a call that only waited for a core on a loaded machine is not.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::breaker::BreakerState;
use super::bulkhead::Share;

/// How the pool keeps one flow from starving the others (`[scripts]` in the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isolation {
    /// A call that runs this long marks its flow slow, which confines it to its share.
    pub slow: Duration,
    /// Threads a slow flow may hold (its share of the queue is the same proportion).
    pub max_threads_per_flow: usize,
    /// Consecutive timeouts or memory-limit hits that open a flow's breaker.
    pub trip_after: u32,
    /// How long an open breaker answers at once before one call tests the flow.
    pub trip_for: Duration,
}

impl Isolation {
    /// The defaults for a pool of `threads` threads: 100 ms, half the pool, 5 in a row, 30 s.
    pub fn for_threads(threads: usize) -> Isolation {
        Isolation {
            slow: Duration::from_millis(100),
            max_threads_per_flow: (threads / 2).max(1),
            trip_after: 5,
            trip_for: Duration::from_secs(30),
        }
    }
}

/// One flow's isolation state, as `/flows` and `/metrics` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowIsolation {
    /// The circuit breaker.
    pub breaker: BreakerState,
    /// Times the breaker opened.
    pub trips: u64,
    /// True while the flow's calls run long, so it is held to its share.
    pub slow: bool,
    /// Calls admitted and not done (waiting or running).
    pub in_flight: usize,
    /// Calls answered at once because the flow held its share.
    pub refused_bulkhead: u64,
    /// Calls answered at once because the breaker was open.
    pub refused_breaker: u64,
}

/// What a thread is running, for spotting a call that runs long before it ends.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) taken: AtomicBool,
    /// The id of the running job's flow; 0 when idle.
    pub(crate) flow: AtomicU64,
    /// When the job started, in microseconds of [`Core::us`].
    pub(crate) since_us: AtomicU64,
    /// The thread's CPU clock, and its reading when the job started (or shortly before: see
    /// [`Slot::start`]).
    pub(crate) clock: cpu::Clock,
    pub(crate) cpu_since_ns: AtomicU64,
    /// When `cpu_since_ns` was read, in microseconds of [`Core::us`]; written by the slot's
    /// thread only.
    cpu_read_us: AtomicU64,
}

impl Slot {
    /// Gives the slot the calling thread's CPU clock, with no reading kept from its last thread.
    pub(crate) fn take_clock(&self) {
        self.clock.set_to_current_thread();
        self.cpu_read_us.store(0, Ordering::Relaxed);
    }

    /// Marks the slot running a job of flow `flow` since `now_us`. A thread's CPU clock is read
    /// with a system call (no vDSO for it), a few percent of a fast script's call, so the
    /// reading is kept for calls that start within a twentieth of `slow_us` (1 ms at most) of
    /// it: the calls in between, all on this thread, add at most that much to what a long call
    /// appears to use, against the tenth of `slow_us` that [`Core::running_long`] asks for.
    pub(crate) fn start(&self, flow: u64, now_us: u64, slow_us: u64) {
        self.since_us.store(now_us, Ordering::Release);
        let stale_after = (slow_us / 20).min(1_000);
        let read = self.cpu_read_us.load(Ordering::Relaxed);
        if read == 0 || now_us.saturating_sub(read) >= stale_after {
            let cpu = self.clock.read().unwrap_or(0);
            self.cpu_since_ns.store(cpu, Ordering::Release);
            self.cpu_read_us.store(now_us.max(1), Ordering::Relaxed);
        }
        self.flow.store(flow, Ordering::Release);
    }
}

/// Thread CPU time. A call that has run long by the wall clock may only have been waiting for a
/// core on a loaded machine, when every thread is late alike; only one that also used the CPU
/// for a good part of that time is a flow looping.
pub(crate) mod cpu {
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A thread's CPU clock id, set by the thread itself (none before, or off Linux).
    pub(crate) struct Clock(AtomicI64);

    const NONE: i64 = i64::MIN;

    impl Default for Clock {
        fn default() -> Clock {
            Clock(AtomicI64::new(NONE))
        }
    }

    impl Clock {
        /// Takes the calling thread's CPU clock.
        pub(crate) fn set_to_current_thread(&self) {
            self.0
                .store(current().map_or(NONE, i64::from), Ordering::Release);
        }

        /// Nanoseconds of CPU the clock's thread has used; `None` when unknown.
        pub(crate) fn read(&self) -> Option<u64> {
            let id = self.0.load(Ordering::Acquire);
            if id == NONE {
                return None;
            }
            read(i32::try_from(id).ok()?)
        }

        /// Forgets the clock (its thread is ending).
        pub(crate) fn clear(&self) {
            self.0.store(NONE, Ordering::Release);
        }
    }

    #[cfg(target_os = "linux")]
    fn current() -> Option<i32> {
        let mut id: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is always valid for the calling thread, and `id` is a valid
        // place for the result.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
        (rc == 0).then_some(id)
    }

    #[cfg(target_os = "linux")]
    fn read(id: i32) -> Option<u64> {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec to write. A clock whose thread has ended is refused
        // with EINVAL, not undefined behaviour.
        let rc = unsafe { libc::clock_gettime(id, &mut t) };
        let secs = u64::try_from(t.tv_sec).ok()?;
        let nanos = u64::try_from(t.tv_nsec).ok()?;
        (rc == 0).then(|| secs * 1_000_000_000 + nanos)
    }

    #[cfg(not(target_os = "linux"))]
    fn current() -> Option<i32> {
        None
    }

    #[cfg(not(target_os = "linux"))]
    fn read(_: i32) -> Option<u64> {
        None
    }
}

/// What the threads share with the callers (never the queue's sender: the threads end when the
/// pool is dropped).
pub(crate) struct Core {
    pub(crate) isolation: Isolation,
    pub(crate) share: Share,
    pub(crate) epoch: Instant,
    pub(crate) slots: Box<[Slot]>,
}

impl Core {
    pub(crate) fn us(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// `[scripts] slow_ms`, in microseconds.
    pub(crate) fn slow_us(&self) -> u64 {
        u64::try_from(self.isolation.slow.as_micros()).unwrap_or(u64::MAX)
    }

    pub(crate) fn ms(&self, at: Instant) -> u64 {
        self.us(at) / 1000
    }

    /// True when a thread has been running a call of flow `id` for at least `slow` and used the
    /// CPU for a tenth of it (where CPU time is known): a call that only waited for a core
    /// uses microseconds, a loop uses its share of a core.
    pub(crate) fn running_long(&self, id: u64, now: Instant) -> bool {
        let (now, slow) = (self.us(now), self.slow_us());
        self.slots.iter().any(|s| {
            s.flow.load(Ordering::Acquire) == id
                && now.saturating_sub(s.since_us.load(Ordering::Acquire)) >= slow
                && s.clock.read().is_none_or(|cpu| {
                    let used = cpu.saturating_sub(s.cpu_since_ns.load(Ordering::Acquire));
                    used / 1000 >= slow / 10
                })
        })
    }

    pub(crate) fn claim_slot(&self) -> Option<&Slot> {
        self.slots.iter().find(|s| {
            s.taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Uses the calling thread's CPU until its clock has moved past `ns`.
    fn burn_past(slot: &Slot, ns: u64) {
        let mut x = 0u64;
        while slot.clock.read().unwrap_or(u64::MAX) <= ns {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }

    #[test]
    fn a_cpu_reading_is_kept_only_within_its_window() {
        let slot = Slot::default();
        slot.take_clock();
        let slow_us = 100_000;
        slot.start(1, 10_000, slow_us);
        let first = slot.cpu_since_ns.load(Ordering::Acquire);
        assert!(first > 0, "the first job reads the clock");
        burn_past(&slot, first + 200_000);
        slot.start(2, 10_900, slow_us);
        assert_eq!(
            slot.cpu_since_ns.load(Ordering::Acquire),
            first,
            "within 1 ms: kept"
        );
        assert_eq!(slot.flow.load(Ordering::Acquire), 2);
        assert_eq!(slot.since_us.load(Ordering::Acquire), 10_900);
        slot.start(3, 11_000, slow_us);
        let second = slot.cpu_since_ns.load(Ordering::Acquire);
        assert!(second > first, "1 ms on: read again");
        // A short `slow` keeps a reading for a twentieth of it only.
        burn_past(&slot, second + 200_000);
        slot.start(4, 11_050, 1_000);
        assert!(slot.cpu_since_ns.load(Ordering::Acquire) > second);
        // A new thread's clock never starts from the last thread's reading.
        let third = slot.cpu_since_ns.load(Ordering::Acquire);
        std::thread::scope(|s| {
            s.spawn(|| {
                slot.take_clock();
                slot.start(5, 11_060, slow_us);
            });
        });
        assert!(slot.cpu_since_ns.load(Ordering::Acquire) < third);
    }
}
