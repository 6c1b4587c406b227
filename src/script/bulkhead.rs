//! A bulkhead per script flow: a flow whose calls run long may hold at most `max_threads` JS
//! threads and `queue_share` waiting calls; past that its calls are refused at once, so the other
//! flows keep their threads. A flow whose calls are fast is not confined at all.
//!
//! The counts are atomics: a fast flow's call costs two atomic adds and two loads. A slow flow's
//! calls take its own lock (never a global one) to park, in order, the calls that wait for one of
//! its threads; the thread that finishes one of its calls takes the next parked call itself, so
//! a parked call never takes a place in the shared queue from another flow.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// The "slow" mark a long call sets: that many fast calls in a row clear it. A flow with more
/// than about one long call in this many stays confined.
const SLOW_MARK: usize = 16;

/// How far a flow may go once it is slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Calls of a slow flow that may be queued for or running on a JS thread.
    pub max_threads: usize,
    /// Calls of a slow flow that may wait (parked) for one of those.
    pub queue_share: usize,
}

impl Share {
    /// `max_threads` of `threads` threads, and the same proportion of a queue of `queue` jobs.
    pub fn of(threads: usize, queue: usize, max_threads: usize) -> Share {
        let threads = threads.max(1);
        let max_threads = max_threads.clamp(1, threads);
        Share {
            max_threads,
            queue_share: (queue * max_threads).div_ceil(threads).max(1),
        }
    }
}

/// What the bulkhead decided for one call.
#[derive(Debug)]
pub enum Admitted<J> {
    /// Send this job to the shared queue now (it may be an earlier parked one).
    Run(J),
    /// The call waits for one of its flow's threads; a finishing call of the flow runs it.
    Parked,
    /// The flow holds its whole share: answer the call at once.
    Refused(J),
}

/// One flow's bulkhead. `J` is the pool's job; every job counted here must hold an
/// [`InFlight`]-style token that calls [`Bulkhead::release`] once when it is done or dropped.
#[derive(Debug)]
pub struct Bulkhead<J> {
    /// Calls admitted and not done: parked, queued or running.
    in_flight: AtomicUsize,
    /// Length of `parked`, readable without the lock.
    parked_len: AtomicUsize,
    /// Above zero while the flow counts as slow.
    slow: AtomicUsize,
    parked: Mutex<VecDeque<J>>,
}

impl<J> Default for Bulkhead<J> {
    fn default() -> Self {
        Bulkhead {
            in_flight: AtomicUsize::new(0),
            parked_len: AtomicUsize::new(0),
            slow: AtomicUsize::new(0),
            parked: Mutex::new(VecDeque::new()),
        }
    }
}

impl<J> Bulkhead<J> {
    /// Counts a new call in; pair it with one [`Bulkhead::release`].
    pub fn enter(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a call out (done, refused, or dropped).
    pub fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Calls admitted and not done.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// True while the flow is confined to its share.
    pub fn is_slow(&self) -> bool {
        self.slow.load(Ordering::Relaxed) > 0
    }

    /// Marks the flow slow.
    pub fn mark_slow(&self) {
        if self.slow.load(Ordering::Relaxed) != SLOW_MARK {
            self.slow.store(SLOW_MARK, Ordering::Relaxed);
        }
    }

    /// One fast call: the slow mark fades.
    pub fn fast_call(&self) {
        if self.slow.load(Ordering::Relaxed) > 0 {
            let _ = self
                .slow
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Forgets the slow mark (a new version of the flow).
    pub fn clear_slow(&self) {
        self.slow.store(0, Ordering::Relaxed);
    }

    /// Calls of this flow queued or running now, besides parked ones and the one being admitted
    /// (which [`Bulkhead::enter`] has counted already).
    pub fn others_dispatched(&self) -> usize {
        self.in_flight
            .load(Ordering::SeqCst)
            .saturating_sub(1)
            .saturating_sub(self.parked_len.load(Ordering::SeqCst))
    }

    /// Decides a call that [`Bulkhead::enter`] counted; `slow` says whether the flow is confined
    /// now. A fast flow with nothing parked is never locked.
    pub fn admit(&self, job: J, slow: bool, share: Share) -> Admitted<J> {
        if !slow && self.parked_len.load(Ordering::SeqCst) == 0 {
            return Admitted::Run(job);
        }
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        // This call is counted in `in_flight` but is not parked yet.
        let dispatched = self
            .in_flight
            .load(Ordering::SeqCst)
            .saturating_sub(1 + parked.len());
        if !slow {
            // Not confined (any more): this call runs, after a parked one while there is room.
            if dispatched < share.max_threads {
                if let Some(front) = parked.pop_front() {
                    parked.push_back(job);
                    self.parked_len.store(parked.len(), Ordering::SeqCst);
                    return Admitted::Run(front);
                }
            }
            return Admitted::Run(job);
        }
        if dispatched < share.max_threads && parked.is_empty() {
            return Admitted::Run(job);
        }
        if parked.len() >= share.queue_share && dispatched >= share.max_threads {
            return Admitted::Refused(job);
        }
        parked.push_back(job);
        self.parked_len.store(parked.len(), Ordering::SeqCst);
        // A call of the flow may have finished since `dispatched` was read, seeing nothing
        // parked: then no thread will come for the parked calls, so one goes now.
        let dispatched = self
            .in_flight
            .load(Ordering::SeqCst)
            .saturating_sub(parked.len());
        if dispatched < share.max_threads {
            let front = parked.pop_front();
            self.parked_len.store(parked.len(), Ordering::SeqCst);
            if let Some(front) = front {
                return Admitted::Run(front);
            }
        }
        Admitted::Parked
    }

    /// After one of the flow's calls finished (and was released): the next parked call, if the
    /// flow has room for it, for the finishing thread to run.
    pub fn next_parked(&self, share: Share) -> Option<J> {
        if self.parked_len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        let dispatched = self
            .in_flight
            .load(Ordering::SeqCst)
            .saturating_sub(parked.len());
        if dispatched >= share.max_threads {
            return None;
        }
        let job = parked.pop_front();
        self.parked_len.store(parked.len(), Ordering::SeqCst);
        job
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share() -> Share {
        Share {
            max_threads: 1,
            queue_share: 2,
        }
    }

    fn admit(b: &Bulkhead<u32>, job: u32, slow: bool) -> Admitted<u32> {
        b.enter();
        let out = b.admit(job, slow, share());
        if let Admitted::Refused(_) = out {
            b.release();
        }
        out
    }

    #[test]
    fn shares_scale_with_the_queue() {
        assert_eq!(
            Share::of(2, 128, 1),
            Share {
                max_threads: 1,
                queue_share: 64
            }
        );
        assert_eq!(Share::of(4, 10, 9).max_threads, 4);
        assert_eq!(Share::of(3, 1, 1).queue_share, 1);
    }

    #[test]
    fn a_fast_flow_is_never_confined() {
        let b = Bulkhead::<u32>::default();
        for i in 0..100 {
            assert!(matches!(admit(&b, i, false), Admitted::Run(j) if j == i));
        }
        assert_eq!(b.in_flight(), 100);
    }

    #[test]
    fn a_slow_flow_holds_its_threads_then_its_queue_share_then_is_refused() {
        let b = Bulkhead::<u32>::default();
        assert!(matches!(admit(&b, 1, true), Admitted::Run(1)));
        assert!(matches!(admit(&b, 2, true), Admitted::Parked));
        assert!(matches!(admit(&b, 3, true), Admitted::Parked));
        assert!(matches!(admit(&b, 4, true), Admitted::Refused(4)));
        assert_eq!(b.in_flight(), 3);
        // Job 1 finishes: its thread takes job 2, in order; nothing more while 2 runs.
        b.release();
        assert_eq!(b.next_parked(share()), Some(2));
        assert_eq!(b.next_parked(share()), None);
        b.release();
        assert_eq!(b.next_parked(share()), Some(3));
        b.release();
        assert_eq!(b.next_parked(share()), None);
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn a_call_parked_after_the_last_one_finished_still_runs() {
        let b = Bulkhead::<u32>::default();
        assert!(matches!(admit(&b, 1, true), Admitted::Run(1)));
        // Job 1 finishes while nothing is parked, so its thread takes nothing.
        b.release();
        assert_eq!(b.next_parked(share()), None);
        assert!(matches!(admit(&b, 2, true), Admitted::Run(2)));
    }

    #[test]
    fn the_slow_mark_fades_after_fast_calls() {
        let b = Bulkhead::<u32>::default();
        b.mark_slow();
        for _ in 0..SLOW_MARK - 1 {
            b.fast_call();
        }
        assert!(b.is_slow());
        b.fast_call();
        assert!(!b.is_slow());
        b.fast_call();
        assert!(!b.is_slow());
    }
}
