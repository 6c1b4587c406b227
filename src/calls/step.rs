//! One recorded call step and its JSON view, the shape `/calls/{call_id}` answers with and the
//! store keeps. The view borrows from the exchange, so writing it costs one serialisation and no
//! copy of the request or the tree.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::summary::{rfc3339_ms, StepFacts};
use super::{Exchange, Recorded};
use crate::callflow::SchemaError;
use crate::request::PivotRequest;
use crate::script::LogLine;
use crate::store::StoreError;

/// An exchange with its place in the log.
#[derive(Debug)]
pub struct Step {
    /// Sequence number: increasing in arrival order across the process and its restarts.
    pub seq: u64,
    /// What was asked and answered (its `call_id` is never empty here).
    pub exchange: Exchange,
}

/// The JSON view of one step; fields in the order the console shows them.
#[derive(Serialize)]
struct View<'a> {
    step: u32,
    at: String,
    flow: &'a str,
    version: &'a str,
    request: &'a PivotRequest,
    reply: Option<&'a Value>,
    outcome: &'static str,
    status: u16,
    rule: Option<&'a str>,
    detail: Option<&'a str>,
    errors: &'a [SchemaError],
    logs: &'a [LogLine],
    timings: TimingsView,
}

/// Timings in whole microseconds.
#[derive(Serialize)]
struct TimingsView {
    parse_us: u64,
    run_us: u64,
    validate_us: u64,
    total_us: u64,
}

/// Microseconds, rounded up: a part that took any time at all never shows as 0.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1000)).unwrap_or(u64::MAX)
}

impl Recorded {
    /// `tree`, `rejection`, `fallback`, `error` or `refused`.
    pub fn label(&self) -> &'static str {
        match self {
            Recorded::Outcome(outcome) => outcome.label(),
            Recorded::Refused(_) => "refused",
        }
    }

    /// The tree sent, if any.
    pub fn reply(&self) -> Option<&Value> {
        match self {
            Recorded::Outcome(outcome) => outcome.tree(),
            Recorded::Refused(_) => None,
        }
    }

    /// Why the flow failed or the request was refused.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Recorded::Outcome(outcome) => outcome.failure().map(|f| f.detail.as_str()),
            Recorded::Refused(why) => Some(why),
        }
    }

    /// The schema errors of an invalid tree.
    pub fn errors(&self) -> &[SchemaError] {
        match self {
            Recorded::Outcome(outcome) => outcome.failure().map_or(&[], |f| &f.errors),
            Recorded::Refused(_) => &[],
        }
    }
}

impl Step {
    /// What the call's summary needs of this step.
    pub fn facts(&self) -> StepFacts<'_> {
        let e = &self.exchange;
        StepFacts {
            seq: self.seq,
            at_ms: e.at.timestamp_millis(),
            flow: &e.flow,
            outcome: e.result.label(),
            status: e.status,
        }
    }

    fn view(&self, number: u32) -> View<'_> {
        let e = &self.exchange;
        View {
            step: number,
            at: rfc3339_ms(e.at.timestamp_millis()),
            flow: &e.flow,
            version: &e.version,
            request: &e.request,
            reply: e.result.reply(),
            outcome: e.result.label(),
            status: e.status,
            rule: e.rule.as_deref(),
            detail: e.result.detail(),
            errors: e.result.errors(),
            logs: &e.logs,
            timings: TimingsView {
                parse_us: micros(e.timings.parse),
                run_us: micros(e.timings.run),
                validate_us: micros(e.timings.validate),
                total_us: micros(e.timings.total),
            },
        }
    }

    /// The view as stored: numbered 0, since a step's number is its place among the call's
    /// steps, known only when they are read back together.
    pub fn stored_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(&self.view(0))
            .map_err(|e| StoreError::Invalid(format!("call step can't be serialised: {e}")))
    }

    /// The view as step `number` of its call.
    pub fn to_json(&self, number: u32) -> Value {
        serde_json::to_value(self.view(number)).unwrap_or(Value::Null)
    }
}

/// A stored view renumbered as step `number`.
pub fn stored_to_json(text: &str, number: u32) -> Result<Value, StoreError> {
    let mut value: Value = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("stored call step: {e}")))?;
    match value.as_object_mut() {
        // Replacing a key keeps its place, so `step` stays first.
        Some(map) => {
            map.insert("step".into(), number.into());
            Ok(value)
        }
        None => Err(StoreError::Corrupt(
            "a stored call step is not a JSON object".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::calls::Timings;
    use crate::outcome::{Failure, FailureKind, Outcome};

    fn step(result: Recorded) -> Step {
        Step {
            seq: 9,
            exchange: Exchange {
                call_id: "c@h".into(),
                flow: "greet".into(),
                version: "v1".into(),
                at: Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap(),
                request: PivotRequest {
                    call_id: Some("c@h".into()),
                    ..PivotRequest::default()
                },
                result,
                status: 200,
                rule: None,
                logs: Vec::new(),
                timings: Timings {
                    parse: Duration::from_nanos(1),
                    run: Duration::from_micros(2),
                    validate: Duration::ZERO,
                    total: Duration::from_nanos(3500),
                },
            },
        }
    }

    #[test]
    fn memory_and_stored_views_are_the_same_json() {
        let failure = Failure {
            kind: FailureKind::InvalidTree,
            detail: "bad text".into(),
            errors: vec![SchemaError {
                pointer: "/data/text".into(),
                message: "too short".into(),
            }],
        };
        let s = step(Recorded::Outcome(Outcome::Fallback {
            failure,
            tree: json!({"module": "hangup", "data": {}}),
        }));
        let live = s.to_json(3);
        let stored = stored_to_json(&s.stored_json().unwrap(), 3).unwrap();
        assert_eq!(live, stored);
        let keys: Vec<&str> = stored
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "step", "at", "flow", "version", "request", "reply", "outcome", "status", "rule",
                "detail", "errors", "logs", "timings"
            ]
        );
        assert_eq!(stored["at"], "2026-11-17T15:00:00.000Z");
        assert_eq!(stored["request"], json!({"Call-ID": "c@h"}));
        assert_eq!(stored["outcome"], "fallback");
        assert_eq!(stored["errors"][0]["pointer"], "/data/text");
        assert_eq!(
            stored["timings"],
            json!({"parse_us": 1, "run_us": 2, "validate_us": 0, "total_us": 4})
        );
    }

    #[test]
    fn a_refusal_has_no_reply_and_says_why() {
        let s = step(Recorded::Refused("no flow named `x`".into()));
        let view = s.to_json(1);
        assert_eq!(view["reply"], Value::Null);
        assert_eq!(view["outcome"], "refused");
        assert_eq!(view["detail"], "no flow named `x`");
        assert_eq!(view["errors"], json!([]));
        assert!(stored_to_json("[1]", 1).is_err());
        assert!(stored_to_json("{", 1).is_err());
    }
}
