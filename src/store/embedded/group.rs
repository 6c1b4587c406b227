//! Group commit: durable writes that arrive while another is being committed wait for it, then
//! go to the disk together in one transaction, so that many Class 5 steps share one fsync
//! instead of queueing for one each on redb's single writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Most writes one commit takes; the rest go in the next.
const MAX_BATCH: usize = 256;

/// Writes of kind `J` giving `R`, committed in batches by whichever waiting caller gets its
/// turn first (no thread of its own).
pub(super) struct Group<J, R> {
    queue: Mutex<Vec<Slot<J, R>>>,
    turn: Mutex<()>,
    commits: AtomicU64,
}

struct Slot<J, R> {
    job: J,
    done: Arc<Mutex<Option<R>>>,
}

/// A lock whose holder panicked still guards consistent data here: every slot is filled or
/// left empty as a whole, and an empty one reads as "not written".
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<J, R> Group<J, R> {
    /// An empty group.
    pub(super) fn new() -> Group<J, R> {
        Group {
            queue: Mutex::new(Vec::new()),
            turn: Mutex::new(()),
            commits: AtomicU64::new(0),
        }
    }

    /// Queues `job` and waits until a commit has taken it; `commit` runs a batch (this job's
    /// and any others waiting) and gives one result per job, in order. None: the commit that
    /// took the job panicked or gave too few results, so it is not known to be written.
    pub(super) fn submit(&self, job: J, commit: impl Fn(Vec<J>) -> Vec<R>) -> Option<R> {
        let done = Arc::new(Mutex::new(None));
        lock(&self.queue).push(Slot {
            job,
            done: Arc::clone(&done),
        });
        let _turn = lock(&self.turn);
        loop {
            if let Some(result) = lock(&done).take() {
                return Some(result);
            }
            let batch: Vec<Slot<J, R>> = {
                let mut queue = lock(&self.queue);
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            if batch.is_empty() {
                return None;
            }
            let (jobs, dones): (Vec<J>, Vec<_>) =
                batch.into_iter().map(|slot| (slot.job, slot.done)).unzip();
            let results = commit(jobs);
            self.commits.fetch_add(1, Ordering::Relaxed);
            for (done, result) in dones.iter().zip(results) {
                *lock(done) = Some(result);
            }
        }
    }

    /// Commits run so far.
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[test]
    fn each_caller_gets_its_own_result_and_waiting_callers_share_commits() {
        let group: Arc<Group<u32, u32>> = Arc::new(Group::new());
        let committed = Arc::new(Mutex::new(Vec::new()));
        let threads = 32;
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads as u32)
            .map(|n| {
                let (group, committed, start) = (group.clone(), committed.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    group.submit(n, |jobs| {
                        let mut committed = lock(&committed);
                        if committed.is_empty() {
                            // The first commit lasts until every other caller has queued.
                            while lock(&group.queue).len() + jobs.len() < threads {
                                std::thread::yield_now();
                            }
                        }
                        committed.extend(jobs.iter().copied());
                        jobs.iter().map(|j| j * 10).collect()
                    })
                })
            })
            .collect();
        let got: Vec<Option<u32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for (n, result) in got.iter().enumerate() {
            assert_eq!(*result, Some(n as u32 * 10), "caller {n}");
        }
        let mut all = lock(&committed).clone();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..threads as u32).collect::<Vec<_>>(),
            "each job once"
        );
        assert!(group.commits() <= 2, "{} commits", group.commits());
    }

    #[test]
    fn a_commit_that_gives_too_few_results_leaves_the_rest_unwritten() {
        let group: Group<u32, u32> = Group::new();
        assert_eq!(group.submit(1, |_| Vec::new()), None);
        assert_eq!(
            group.submit(2, |jobs| jobs),
            Some(2),
            "the next commit is unaffected"
        );
    }
}
