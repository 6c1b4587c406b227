//! How `/calls` shows a call's summary ([`CallSummary`], kept by the store), and the form
//! every time in `/calls` takes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

pub use crate::store::{CallSummary, StepFacts, StepRecord};

impl CallSummary {
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
