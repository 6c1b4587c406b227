//! The exchange log as the store keeps it: each call's steps (their JSON views, numbered in
//! one sequence that every node shares) and one summary per call, updated as steps are written.
//!
//! Sequence numbers come from the store ([`ExchangeLog::calls_reserve`]), taken by the one
//! thread that writes steps when it writes them, so no request waits for them and two nodes
//! never hand out the same number.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// What a summary needs to know of one step.
#[derive(Debug, Clone, Copy)]
pub struct StepFacts<'a> {
    /// The step's number in the store's sequence (shared by every node, across restarts).
    pub seq: u64,
    /// When the request arrived, Unix ms.
    pub at_ms: i64,
    /// The flow named in the URL.
    pub flow: &'a str,
    /// `tree`, `rejection`, `fallback`, `error` or `refused`.
    pub outcome: &'a str,
    /// The HTTP status sent.
    pub status: u16,
}

/// One step on its way to the store: its facts and its JSON view (with `"step": 0`, numbered
/// when read back).
#[derive(Debug, Clone)]
pub struct StepRecord<'a> {
    /// The call it belongs to.
    pub call_id: &'a str,
    /// Time, flow, outcome and status.
    pub facts: StepFacts<'a>,
    /// The step as `/calls/{call_id}` shows it (borrowed from the step kept in memory).
    pub json: std::borrow::Cow<'a, str>,
}

/// A call as `/calls` lists it, with what the filters need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSummary {
    /// The PBX's Call-ID (or a generated `no-call-id-NODE-N`).
    pub call_id: String,
    /// When its first step arrived, Unix ms.
    pub first_at_ms: i64,
    /// When its last step arrived, Unix ms.
    pub last_at_ms: i64,
    /// Sequence number of its last step.
    pub last_seq: u64,
    /// Number of steps.
    pub steps: u32,
    /// Flow of the last step.
    pub flow: String,
    /// Outcome of the last step.
    pub outcome: String,
    /// HTTP status of the last step.
    pub status: u16,
    /// Every flow any step ran, each once.
    pub flows: Vec<String>,
    /// Every outcome any step had, each once.
    pub outcomes: Vec<String>,
}

impl CallSummary {
    /// A call of one step.
    pub fn new(call_id: &str, step: &StepFacts<'_>) -> CallSummary {
        CallSummary {
            call_id: call_id.to_owned(),
            first_at_ms: step.at_ms,
            last_at_ms: step.at_ms,
            last_seq: step.seq,
            steps: 1,
            flow: step.flow.to_owned(),
            outcome: step.outcome.to_owned(),
            status: step.status,
            flows: vec![step.flow.to_owned()],
            outcomes: vec![step.outcome.to_owned()],
        }
    }

    /// Counts one more step; the last step is the one with the highest sequence number, so
    /// steps may be added in any order.
    pub fn add(&mut self, step: &StepFacts<'_>) {
        self.steps = self.steps.saturating_add(1);
        self.first_at_ms = self.first_at_ms.min(step.at_ms);
        if step.seq > self.last_seq {
            self.last_seq = step.seq;
            self.last_at_ms = step.at_ms;
            step.flow.clone_into(&mut self.flow);
            step.outcome.clone_into(&mut self.outcome);
            self.status = step.status;
        }
        if !self.flows.iter().any(|f| f == step.flow) {
            self.flows.push(step.flow.to_owned());
        }
        if !self.outcomes.iter().any(|o| o == step.outcome) {
            self.outcomes.push(step.outcome.to_owned());
        }
    }
}

/// The persisted exchange log. The log is a record for people: backends need not make its
/// writes durable before returning.
pub trait ExchangeLog: Send + Sync {
    /// Takes `count` consecutive sequence numbers that no one (no node, no restart) is given
    /// again, and returns the first; `count` 0 returns the next number, taking none.
    fn calls_reserve(&self, count: u64) -> Result<u64, StoreError>;
    /// Stores steps (numbered from [`ExchangeLog::calls_reserve`]) in one transaction and
    /// updates their calls' summaries.
    fn calls_append(&self, steps: &[StepRecord<'_>]) -> Result<(), StoreError>;
    /// A call's stored steps as (sequence number, JSON view), in sequence order.
    fn calls_steps(&self, call_id: &str) -> Result<Vec<(u64, String)>, StoreError>;
    /// The stored summaries of `call_ids` (`None` for a call not stored), in the same order.
    fn calls_summaries(&self, call_ids: &[&str]) -> Result<Vec<Option<CallSummary>>, StoreError>;
    /// Visits the summaries of calls whose last step is at or after `since_ms`, newest first,
    /// until `visit` returns false.
    fn calls_scan(
        &self,
        since_ms: i64,
        visit: &mut dyn FnMut(CallSummary) -> bool,
    ) -> Result<(), StoreError>;
    /// Removes up to `max` calls whose last step is before `before_ms`, with all their steps;
    /// returns how many calls were removed.
    fn calls_expire(&self, before_ms: i64, max: usize) -> Result<usize, StoreError>;
}
