//! The exchange log: every pivot request and what was answered, kept per call so that people
//! can see what happened on each step (`/calls`, `pivotforge calls`, the web console).
//!
//! [`CallLog::record`] runs on the HTTP worker after every reply, so it only places the step in
//! this process's arrival order, pushes it onto the in-memory `ring` and hands it to the
//! `writer` thread, which takes numbers for the steps from the store's sequence (shared by
//! every node), serialises and stores them in batches and applies retention. Reads merge the
//! two: memory has the newest steps at once, the store has everything kept (across restarts
//! and nodes). A step's number within its call is its place among the call's steps, counted
//! when they are read: in the order their requests arrived (`at`, to the millisecond), and
//! within a millisecond stored steps in sequence order, the ones in memory in arrival order
//! among them (`order_keys`).

pub mod cli;
pub mod config;
pub mod query;
pub mod redact;
mod ring;
mod step;
mod summary;
mod writer;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::outcome::Outcome;
use crate::request::PivotRequest;
use crate::script::LogLine;
use crate::store::{Store, StoreError};

pub use config::{CallsConfig, CallsFileConfig};
pub use query::CallQuery;
pub use redact::Masker;
pub use step::{Step, MAX_STEP_BYTES};
pub use summary::{rfc3339_ms, CallSummary, StepFacts, StepRecord};

/// Where the steps still waiting for a number sort: after every number the store hands out.
const PENDING: u64 = 1 << 63;

/// The prefix of the id given to steps that came without a Call-ID.
pub const NO_CALL_ID: &str = "no-call-id-";

/// One call step as it was answered.
#[derive(Debug)]
pub struct Exchange {
    /// The PBX's Call-ID (empty when the request carried none).
    pub call_id: String,
    /// The flow named in the URL.
    pub flow: String,
    /// The version of the flow that answered (empty when no flow answered).
    pub version: Arc<str>,
    /// When the request arrived.
    pub at: DateTime<Utc>,
    /// The parsed request.
    pub request: PivotRequest,
    /// Bytes the request came in (query and body): the measure of its size in the log.
    pub request_bytes: usize,
    /// What was answered.
    pub result: Recorded,
    /// Bytes of JSON of the tree sent (0 when none), as the engine measured it.
    pub reply_bytes: usize,
    /// The tree's JSON text as sent, when the engine had it written already.
    pub reply_text: Option<Box<serde_json::value::RawValue>>,
    /// `request` as JSON text, when the flow wrote it already (a script's `data`).
    pub request_text: Option<Box<serde_json::value::RawValue>>,
    /// The HTTP status sent.
    pub status: u16,
    /// The rule that matched, for rule flows.
    pub rule: Option<String>,
    /// The script's console lines.
    pub logs: Vec<LogLine>,
    /// Where the time went.
    pub timings: Timings,
}

/// What a call step gave.
#[derive(Debug)]
pub enum Recorded {
    /// The flow ran: a tree, a rejection, a fallback or an error.
    Outcome(Outcome),
    /// The request was refused before a flow ran (unknown flow, overload).
    Refused(String),
}

/// Durations of the parts of one call step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Reading and parsing the request.
    pub parse: Duration,
    /// Running the flow.
    pub run: Duration,
    /// Validating the reply.
    pub validate: Duration,
    /// From the first byte read to the reply built.
    pub total: Duration,
}

/// The exchange log of this process.
pub struct CallLog {
    ring: ring::Ring,
    /// This process's arrival order.
    next_local: AtomicU64,
    /// Tells this process's generated call ids from another's (other nodes, restarts).
    instance: String,
    store: Arc<dyn Store>,
    /// False when retention is 0 days: nothing goes to disk.
    persist: bool,
    writer: writer::Writer,
    masker: Arc<Masker>,
}

impl CallLog {
    /// Opens the log over `store` and starts the writer thread,
    /// which applies the retention of `config` at once and then hourly, by `clock`. Steps are
    /// shown and stored with `masker`'s credentials masked.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: &CallsConfig,
        masker: Masker,
    ) -> Result<CallLog, StoreError> {
        CallLog::open(store, clock, config, writer::QUEUE, masker)
    }

    fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: &CallsConfig,
        queue: usize,
        masker: Masker,
    ) -> Result<CallLog, StoreError> {
        let masker = Arc::new(masker);
        let limits = writer::Limits {
            retention: writer::Retention {
                days: config.retention_days,
            },
            steps: queue,
            bytes: config.memory_bytes,
        };
        let writer = writer::Writer::start(store.clone(), clock, limits).map_err(|source| {
            StoreError::Io {
                context: "starting the call log writer thread".into(),
                source,
            }
        })?;
        Ok(CallLog {
            ring: ring::Ring::new(config.memory_steps, config.memory_bytes),
            next_local: AtomicU64::new(0),
            // Random, so no two processes sharing a store generate the same call id.
            instance: format!(
                "{:08x}",
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish() as u32
            ),
            store,
            persist: config.retention_days > 0,
            writer,
            masker,
        })
    }

    /// What masks credentials in this log's steps (also for the lines logged about them).
    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// Keeps one exchange: in memory at once, in the store soon after. Never blocks on the
    /// store; when the writer is too far behind, the step is kept in memory only and counted
    /// in [`CallLog::dropped`].
    pub fn record(&self, mut exchange: Exchange) {
        let local = self.next_local.fetch_add(1, Ordering::Relaxed);
        if exchange.call_id.is_empty() {
            exchange.call_id = format!("{NO_CALL_ID}{}-{local}", self.instance);
        }
        let step = Arc::new(Step::new(local, exchange, &self.masker));
        if self.persist {
            self.writer.send(step.clone());
        }
        self.ring.push(step);
    }

    /// Steps not written to the store because the writer was too far behind.
    pub fn dropped(&self) -> u64 {
        self.writer.dropped()
    }

    /// Steps held in memory now.
    pub fn in_memory(&self) -> usize {
        self.ring.held()
    }

    /// Bytes the steps held in memory count, about.
    pub fn in_memory_bytes(&self) -> usize {
        self.ring.held_bytes()
    }

    /// Whether any step of `call_id` named `flow`, in memory or in the store: how an
    /// end-of-call event is matched to a call that ran the flow. Reads the store: call it off
    /// the HTTP worker.
    pub fn ran_flow(&self, call_id: &str, flow: &str) -> Result<bool, StoreError> {
        if self.ring.of_call(call_id).iter().any(|s| s.flow == flow) {
            return Ok(true);
        }
        let stored = self.store.calls_summaries(&[call_id])?;
        Ok(stored
            .first()
            .and_then(Option::as_ref)
            .is_some_and(|s| s.flows.iter().any(|f| f == flow)))
    }

    /// `{"call_id", "steps": [...]}` for one call, from memory and the store; `None` when
    /// neither knows it. Reads the store: call it off the HTTP worker.
    pub fn call(&self, call_id: &str) -> Result<Option<Value>, StoreError> {
        let mut memory = self.ring.of_call(call_id);
        let stored = self.store.calls_steps(call_id)?;
        if memory.is_empty() && stored.is_empty() {
            return Ok(None);
        }
        // Read the numbers only now: a step the store returned was numbered before it was
        // stored, so its copy in memory shows the number and is counted once.
        memory.sort_by_key(|s| s.local);
        let keys = order_keys(&memory);
        let held: HashSet<u64> = memory.iter().filter_map(|s| s.stored_seq()).collect();
        // Memory wins when both have a step: it is the same step, not yet renumbered.
        let mut all: Vec<(OrderKey, Source<'_>)> = memory
            .iter()
            .zip(&keys)
            .map(|(s, key)| {
                let at = s.at_ms;
                ((at, *key, 1, s.local), Source::Memory(s))
            })
            .collect();
        for (seq, text) in stored.iter().filter(|(seq, _)| !held.contains(seq)) {
            let step = step::StoredStep::parse(text)?;
            all.push(((step.at_ms, *seq, 0, 0), Source::Stored(step)));
        }
        all.sort_by_key(|(key, _)| *key);
        let mut steps = Vec::with_capacity(all.len());
        for (i, (_, source)) in all.into_iter().enumerate() {
            let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
            steps.push(match source {
                Source::Memory(step) => step.to_json(number, &self.masker),
                Source::Stored(step) => step.into_json(number, &self.masker)?,
            });
        }
        Ok(Some(json!({"call_id": call_id, "steps": steps})))
    }

    /// The calls passing `query`, newest first (by last step), from memory and the store.
    /// Reads the store: call it off the HTTP worker.
    pub fn list(&self, query: &CallQuery) -> Result<Vec<CallSummary>, StoreError> {
        let snapshot = self.ring.snapshot();
        let mut by_call: HashMap<&str, Vec<&Arc<Step>>> = HashMap::new();
        for step in &snapshot {
            by_call.entry(step.call_id.as_str()).or_default().push(step);
        }
        let ids: Vec<&str> = by_call.keys().copied().collect();
        let stored = self.store.calls_summaries(&ids)?;
        let mut out = Vec::new();
        for (id, stored) in ids.iter().zip(stored) {
            let mut steps: Vec<Arc<Step>> = by_call
                .remove(id)
                .unwrap_or_default()
                .into_iter()
                .cloned()
                .collect();
            steps.sort_by_key(|s| s.local);
            let keys = order_keys(&steps);
            // The store writes a call's steps in order, so what it has is up to its last seq.
            let newer_than = stored.as_ref().map(|s| s.last_seq);
            let mut summary = stored;
            for (step, key) in steps.iter().zip(keys) {
                let in_store = step
                    .stored_seq()
                    .is_some_and(|seq| newer_than.is_some_and(|last| seq <= last));
                if in_store {
                    continue;
                }
                match &mut summary {
                    Some(s) => s.add(&step.facts(key)),
                    None => summary = Some(CallSummary::new(id, &step.facts(key))),
                }
            }
            out.extend(summary.filter(|s| query.matches(s)));
        }
        // Calls only in the store: once `limit` of them match, older ones can't make the cut.
        let in_memory: HashSet<&str> = ids.iter().copied().collect();
        let mut from_store = 0;
        self.store
            .calls_scan(query.since_ms.unwrap_or(i64::MIN), &mut |call| {
                if !in_memory.contains(call.call_id.as_str()) && query.matches(&call) {
                    out.push(call);
                    from_store += 1;
                }
                from_store < query.limit
            })?;
        out.sort_by_key(|c| std::cmp::Reverse((c.last_at_ms, c.last_seq)));
        out.truncate(query.limit);
        Ok(out)
    }
}

/// Where each of one call's steps in memory (in arrival order) sorts among its stored steps:
/// a numbered step at its number; one not numbered (never stored, e.g. dropped when the writer
/// was behind) just before the next numbered one; those after the last numbered one (still
/// waiting for the writer) after every stored step, in arrival order.
fn order_keys(steps: &[Arc<Step>]) -> Vec<u64> {
    let mut keys = vec![0; steps.len()];
    let mut next_numbered = None;
    for (i, step) in steps.iter().enumerate().rev() {
        keys[i] = match step.stored_seq() {
            Some(seq) => {
                next_numbered = Some(seq);
                seq
            }
            None => match next_numbered {
                Some(seq) => seq.saturating_sub(1),
                None => PENDING + step.local,
            },
        };
    }
    keys
}

/// Where a step of a looked-up call was found.
enum Source<'a> {
    Memory(&'a Arc<Step>),
    Stored(step::StoredStep),
}

/// How a looked-up call's steps sort: by arrival (Unix ms), then by the store's number (or
/// where `order_keys` places a step not numbered yet), stored before memory, then this
/// process's arrival order. Arrival first because two nodes' writers number steps when they
/// store them, each every [`writer::INTERVAL`]: a step served by one node may be numbered
/// after a later one served by the other.
type OrderKey = (i64, u64, u8, u64);

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::TimeZone;

    use super::*;
    use crate::clock::FixedClock;
    use crate::store::StoreConfig;

    fn exchange(call_id: &str) -> Exchange {
        Exchange {
            call_id: call_id.into(),
            flow: "hello".into(),
            version: "v1".into(),
            at: Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap(),
            request: PivotRequest::default(),
            request_bytes: 0,
            result: Recorded::Outcome(Outcome::Tree(json!({"module": "hangup", "data": {}}))),
            reply_bytes: 30,
            reply_text: None,
            request_text: None,
            status: 200,
            rule: None,
            logs: Vec::new(),
            timings: Timings::default(),
        }
    }

    fn open(dir: &std::path::Path, queue: usize) -> (Arc<dyn Store>, CallLog) {
        let store = crate::store::open(&StoreConfig::default(), dir).unwrap();
        let log = open_on(&store, queue);
        (store, log)
    }

    /// A log over `store`, as a second node sharing it would open one.
    fn open_on(store: &Arc<dyn Store>, queue: usize) -> CallLog {
        let clock = Arc::new(FixedClock(
            Utc.with_ymd_and_hms(2026, 11, 18, 0, 0, 0).unwrap(),
        ));
        let config = CallsConfig {
            retention_days: 7,
            memory_steps: 1000,
            ..CallsConfig::default()
        };
        CallLog::open(store.clone(), clock, &config, queue, Masker::default()).unwrap()
    }

    /// Waits until the store holds `n` steps of `call_id`.
    fn stored(store: &dyn Store, call_id: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.calls_steps(call_id).unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "the writer never stored the steps"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The `step` numbers and flows of a call as `/calls/{id}` shows it.
    fn shown(log: &CallLog, call_id: &str) -> Vec<(u64, String)> {
        let call = log.call(call_id).unwrap().unwrap();
        call["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["step"].as_u64().unwrap(),
                    s["flow"].as_str().unwrap().into(),
                )
            })
            .collect()
    }

    fn exchange_of(call_id: &str, flow: &str) -> Exchange {
        Exchange {
            flow: flow.into(),
            ..exchange(call_id)
        }
    }

    #[test]
    fn two_logs_sharing_a_store_number_one_call_in_the_order_it_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (store, a) = open(dir.path(), 16);
        let b = open_on(&store, 16);
        // The call moves between the nodes: each step is stored before the next arrives.
        for (n, (log, flow)) in [(&a, "one"), (&b, "two"), (&a, "three"), (&b, "four")]
            .into_iter()
            .enumerate()
        {
            log.record(exchange_of("moving", flow));
            stored(store.as_ref(), "moving", n + 1);
        }
        // The numbers are the store's: one sequence, none given twice, whichever node wrote.
        let seqs: Vec<u64> = store
            .calls_steps("moving")
            .unwrap()
            .iter()
            .map(|(seq, _)| *seq)
            .collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
        let want: Vec<(u64, String)> = ["one", "two", "three", "four"]
            .iter()
            .enumerate()
            .map(|(i, f)| (i as u64 + 1, (*f).to_owned()))
            .collect();
        // Each node shows the whole call, its own steps from memory among the other's.
        assert_eq!(shown(&a, "moving"), want);
        assert_eq!(shown(&b, "moving"), want);
        let listed = a.list(&CallQuery::default()).unwrap();
        assert_eq!((listed[0].steps, listed[0].flow.as_str()), (4, "four"));
        // A step still waiting for the writer comes last, numbered in turn.
        a.record(exchange_of("moving", "five"));
        assert_eq!(shown(&a, "moving").last().unwrap(), &(5, "five".to_owned()));
        let listed = a.list(&CallQuery::default()).unwrap();
        assert_eq!((listed[0].steps, listed[0].flow.as_str()), (5, "five"));
    }

    #[test]
    fn steps_list_in_arrival_order_whichever_node_stored_them_first() {
        let dir = tempfile::tempdir().unwrap();
        let (store, a) = open(dir.path(), 16);
        let b = open_on(&store, 16);
        // B's writer stores its later step before A's stores the earlier one.
        let early = exchange_of("race", "early");
        let late = Exchange {
            at: early.at + chrono::Duration::milliseconds(10),
            ..exchange_of("race", "late")
        };
        b.record(late);
        stored(store.as_ref(), "race", 1);
        a.record(early);
        stored(store.as_ref(), "race", 2);
        let want = [(1, "early".to_owned()), (2, "late".to_owned())];
        assert_eq!(shown(&a, "race"), want);
        assert_eq!(shown(&b, "race"), want);
    }

    #[test]
    fn a_step_never_stored_keeps_its_place_among_stored_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (store, log) = open(dir.path(), 16);
        let first = log.next_local.fetch_add(1, Ordering::Relaxed);
        let dropped = Arc::new(Step::new(
            first,
            exchange_of("c", "dropped"),
            &Masker::default(),
        ));
        let kept = Arc::new(Step::new(1, exchange_of("c", "kept"), &Masker::default()));
        let waiting = Arc::new(Step::new(
            2,
            exchange_of("c", "waiting"),
            &Masker::default(),
        ));
        kept.number(7);
        let keys = order_keys(&[
            Arc::new(Step::new(
                0,
                exchange_of("c", "dropped"),
                &Masker::default(),
            )),
            kept,
            waiting,
        ]);
        assert_eq!(keys, [6, 7, PENDING + 2]);
        // Through the log: a step the writer dropped, then one it stored.
        log.ring.push(dropped);
        log.record(exchange_of("c", "stored"));
        stored(store.as_ref(), "c", 1);
        let names: Vec<String> = shown(&log, "c").into_iter().map(|(_, f)| f).collect();
        assert_eq!(names, ["dropped", "stored"]);
        let listed = log.list(&CallQuery::default()).unwrap();
        assert_eq!((listed[0].steps, listed[0].flow.as_str()), (2, "stored"));
    }

    fn stored_steps(store: &dyn Store) -> u32 {
        let mut steps = 0;
        store
            .calls_scan(i64::MIN, &mut |c| {
                steps += c.steps;
                true
            })
            .unwrap();
        steps
    }

    #[test]
    fn a_full_queue_drops_persistence_not_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let (store, log) = open(dir.path(), 1);
        for n in 0..200 {
            log.record(exchange(&format!("c{n}")));
        }
        let dropped = log.dropped();
        assert!(dropped > 0, "a queue of one can't take 200 steps at once");
        let query = CallQuery {
            limit: 1000,
            ..CallQuery::default()
        };
        assert_eq!(log.list(&query).unwrap().len(), 200, "all are in memory");
        // Closing writes what was queued, and only that.
        drop(log);
        assert_eq!(u64::from(stored_steps(store.as_ref())) + dropped, 200);
    }

    #[test]
    fn a_step_in_memory_and_in_the_store_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, log) = open(dir.path(), 16);
        log.record(exchange("twice"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.calls_steps("twice").unwrap().is_empty() {
            assert!(
                Instant::now() < deadline,
                "the writer never stored the step"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let listed = log.list(&CallQuery::default()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].steps, 1);
        let call = log.call("twice").unwrap().unwrap();
        assert_eq!(call["steps"].as_array().unwrap().len(), 1);
        // A new step of the same call, still only in memory, adds to the stored summary.
        log.record(exchange("twice"));
        assert_eq!(log.list(&CallQuery::default()).unwrap()[0].steps, 2);
        let call = log.call("twice").unwrap().unwrap();
        let numbers: Vec<&Value> = call["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["step"])
            .collect();
        assert_eq!(numbers, [1, 2]);
        // An empty Call-ID gets an id of its own.
        log.record(exchange(""));
        let newest = &log.list(&CallQuery::default()).unwrap()[0];
        assert!(newest.call_id.starts_with(NO_CALL_ID), "{newest:?}");
        assert_eq!(log.in_memory(), 3);
    }
}
