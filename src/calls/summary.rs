//! One line of `/calls`: what a call's steps add up to. The store keeps one per call, updated as
//! steps are written; the listing adds the steps still only in memory to it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What a summary needs to know of one step.
#[derive(Debug, Clone, Copy)]
pub struct StepFacts<'a> {
    /// The step's number in the process-wide (and, through the store, restart-proof) sequence.
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
    /// The step as `/calls/{call_id}` shows it.
    pub json: String,
}

/// A call as `/calls` lists it, with what the filters need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSummary {
    /// The PBX's Call-ID (or a generated `no-call-id-N`).
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

    /// The summary as `/calls` shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "call_id": self.call_id,
            "flow": self.flow,
            "first_at": rfc3339_ms(self.first_at_ms),
            "last_at": rfc3339_ms(self.last_at_ms),
            "steps": self.steps,
            "outcome": self.outcome,
            "status": self.status,
        })
    }
}

/// Unix ms as RFC 3339 UTC with milliseconds, the form every time in `/calls` takes.
pub fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        seq: u64,
        at_ms: i64,
        flow: &'static str,
        outcome: &'static str,
    ) -> StepFacts<'static> {
        StepFacts {
            seq,
            at_ms,
            flow,
            outcome,
            status: 200,
        }
    }

    #[test]
    fn the_last_step_is_the_highest_sequence_whatever_the_order() {
        let mut s = CallSummary::new("c", &facts(5, 500, "b", "fallback"));
        s.add(&facts(3, 300, "a", "tree"));
        s.add(&facts(4, 400, "a", "tree"));
        assert_eq!((s.steps, s.first_at_ms, s.last_at_ms), (3, 300, 500));
        assert_eq!((s.flow.as_str(), s.outcome.as_str()), ("b", "fallback"));
        assert_eq!(s.flows, ["b", "a"]);
        assert_eq!(s.outcomes, ["fallback", "tree"]);
        let view = s.to_json();
        assert_eq!(view["first_at"], "1970-01-01T00:00:00.300Z");
        assert_eq!(view["steps"], 3);
    }
}
