//! One recorded call step and its JSON view, the shape `/calls/{call_id}` answers with and the
//! store keeps.
//!
//! A step is frozen when it is recorded: its view is written once, as masked JSON text, and the
//! exchange it came from (the parsed request, the tree, the console lines: dozens of small
//! allocations) is freed at once, on the HTTP worker that made it. The memory ring and the
//! writer queue then hold one string per step, which the writer stores as it is, and no other
//! thread frees a request's pieces later.
//!
//! A step keeps at most [`MAX_STEP_BYTES`] of request, reply, logs and detail: a part over its
//! share is cut to a prefix of its JSON text and named in the view's `truncated`, so neither
//! the memory ring nor the store holds a runaway reply.

use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::redact::Masker;
use super::summary::{rfc3339_ms, StepFacts};
use super::{Exchange, Recorded};
use crate::callflow::SchemaError;
use crate::request::PivotRequest;
use crate::script::LogLine;
use crate::store::StoreError;

/// Most bytes of request, reply, logs and detail a step keeps together.
pub const MAX_STEP_BYTES: usize = 64 * 1024;
/// What a console line costs beyond its message (time, level, allocation).
const LINE_OVERHEAD: usize = 64;
/// What a step costs beyond its parts (the struct, names, timings, allocations).
const STEP_OVERHEAD: usize = 512;
/// Ends a cut part's text.
const ELLIPSIS: &str = "…";

/// A recorded step with its place in the log: what lists and orders it, and its view as text.
#[derive(Debug)]
pub struct Step {
    /// Its place in this process's arrival order (what orders the steps in memory).
    pub local: u64,
    /// Its number in the store's sequence, set by the writer just before it stores the step
    /// (unset while it waits, and for a step never stored).
    seq: OnceLock<u64>,
    /// The PBX's Call-ID (never empty here).
    pub call_id: String,
    /// The flow named in the URL.
    pub flow: String,
    /// When the request arrived, Unix ms.
    pub at_ms: i64,
    /// The outcome's label (`tree`, `fallback`, …).
    outcome: &'static str,
    /// The HTTP status sent.
    status: u16,
    /// The view as stored: JSON text, credentials masked, numbered 0.
    json: Box<str>,
    /// Bytes the step holds, about: what the memory ring and the writer queue count.
    pub bytes: usize,
}

/// The parts of a step that were cut, as prefixes of their JSON text.
#[derive(Debug, Default)]
struct Cut {
    request: Option<String>,
    reply: Option<String>,
    /// Names of the cut parts, in view order.
    truncated: Vec<&'static str>,
}

/// A part of the view: whole, or the prefix of its JSON text that was kept.
#[derive(Serialize)]
#[serde(untagged)]
enum Part<'a, T: Serialize> {
    Whole(&'a T),
    Cut(&'a str),
    /// Its JSON text, written already.
    Written(&'a serde_json::value::RawValue),
}

/// The JSON view of one step; fields in the order the console shows them.
#[derive(Serialize)]
struct View<'a> {
    step: u32,
    at: String,
    flow: &'a str,
    version: &'a str,
    request: Part<'a, PivotRequest>,
    reply: Option<Part<'a, Value>>,
    outcome: &'static str,
    status: u16,
    rule: Option<&'a str>,
    detail: Option<&'a str>,
    errors: &'a [SchemaError],
    logs: &'a [LogLine],
    timings: TimingsView,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    truncated: &'a [&'static str],
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

    /// The tree sent, to cut it.
    fn reply_mut(&mut self) -> Option<&mut Value> {
        match self {
            Recorded::Outcome(outcome) => outcome.tree_mut(),
            Recorded::Refused(_) => None,
        }
    }

    /// Why the flow failed or the request was refused, to cut it.
    fn detail_mut(&mut self) -> Option<&mut String> {
        match self {
            Recorded::Outcome(outcome) => outcome.failure_mut().map(|f| &mut f.detail),
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
    /// Places an exchange at `local` in this process's arrival order, keeps it within
    /// [`MAX_STEP_BYTES`] by cutting its largest parts (the rare, slow path), and freezes it
    /// into its masked view. A part is masked before it is cut, so that a cut never leaves half
    /// a credential unmasked.
    pub fn new(local: u64, mut exchange: Exchange, masker: &Masker) -> Step {
        let log_bytes = |logs: &[LogLine]| -> usize {
            logs.iter().map(|l| l.message.len() + LINE_OVERHEAD).sum()
        };
        let sizes = [
            exchange.request_bytes,
            exchange.reply_bytes,
            log_bytes(&exchange.logs),
            exchange.result.detail().map_or(0, str::len),
        ];
        let mut cut = Cut::default();
        if sizes.iter().sum::<usize>() > MAX_STEP_BYTES {
            let shares = shares(sizes, MAX_STEP_BYTES);
            cut = cut_parts(&mut exchange, sizes, shares, masker);
        }
        let json = frozen(&exchange, &cut, masker);
        Step {
            local,
            seq: OnceLock::new(),
            bytes: json.len() + exchange.call_id.len() + exchange.flow.len() + STEP_OVERHEAD,
            outcome: exchange.result.label(),
            status: exchange.status,
            at_ms: exchange.at.timestamp_millis(),
            json,
            call_id: exchange.call_id,
            flow: exchange.flow,
        }
    }

    /// The store's number for this step, once the writer has taken one for it.
    pub fn stored_seq(&self) -> Option<u64> {
        self.seq.get().copied()
    }

    /// Gives the step the store's number `seq` (the first number given sticks).
    pub fn number(&self, seq: u64) {
        let _ = self.seq.set(seq);
    }

    /// What the call's summary needs of this step, placed at `seq` in the sequence.
    pub fn facts(&self, seq: u64) -> StepFacts<'_> {
        StepFacts {
            seq,
            at_ms: self.at_ms,
            flow: &self.flow,
            outcome: self.outcome,
            status: self.status,
        }
    }

    /// The view as stored, credentials masked: numbered 0, since a step's number is its place
    /// among the call's steps, known only when they are read back together.
    pub fn stored_json(&self) -> &str {
        &self.json
    }

    /// The view as step `number` of its call, credentials masked.
    pub fn to_json(&self, number: u32, masker: &Masker) -> Value {
        StoredStep::parse(&self.json)
            .and_then(|step| step.into_json(number, masker))
            .unwrap_or(Value::Null)
    }
}

/// The view of `exchange`, with the parts in `cut` as cut, as masked JSON text numbered 0.
fn frozen(exchange: &Exchange, cut: &Cut, masker: &Masker) -> Box<str> {
    let e = exchange;
    let view = View {
        step: 0,
        at: rfc3339_ms(e.at.timestamp_millis()),
        flow: &e.flow,
        version: &e.version,
        request: match (&cut.request, &e.request_text) {
            (Some(text), _) => Part::Cut(text),
            (None, Some(text)) => Part::Written(text),
            (None, None) => Part::Whole(&e.request),
        },
        reply: match (&cut.reply, &e.reply_text) {
            (Some(text), _) => Some(Part::Cut(text)),
            (None, Some(text)) if e.result.reply().is_some() => Some(Part::Written(text)),
            (None, _) => e.result.reply().map(Part::Whole),
        },
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
        truncated: &cut.truncated,
    };
    // Sized from what the parts are known to take, so the text is written without regrowing.
    let mut text = Vec::with_capacity(
        e.request_bytes.min(MAX_STEP_BYTES) + e.reply_bytes.min(MAX_STEP_BYTES) + STEP_OVERHEAD,
    );
    let text = match serde_json::to_writer(&mut text, &view) {
        // serde_json writes only UTF-8.
        Ok(()) => String::from_utf8(text).unwrap_or_default(),
        // Only a map with non-text keys fails, which no view has; still, keep the step.
        Err(e) => serde_json::json!({
            "step": 0,
            "at": view.at,
            "flow": view.flow,
            "outcome": view.outcome,
            "status": view.status,
            "detail": format!("this step's view could not be written: {e}"),
        })
        .to_string(),
    };
    masker.mask_json(text).into_boxed_str()
}

/// How `budget` bytes are shared among parts of `sizes`: a part that fits in an equal share of
/// what is left keeps all it has, and what it leaves goes to the larger parts.
fn shares<const N: usize>(sizes: [usize; N], budget: usize) -> [usize; N] {
    let mut order: Vec<usize> = (0..N).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut out = [0; N];
    let mut left = budget;
    for (done, &i) in order.iter().enumerate() {
        let share = left / (N - done);
        out[i] = sizes[i].min(share);
        left -= out[i];
    }
    out
}

/// Cuts each part of `exchange` larger than its share, masked first, freeing what was cut.
fn cut_parts(
    exchange: &mut Exchange,
    sizes: [usize; 4],
    shares: [usize; 4],
    masker: &Masker,
) -> Cut {
    let mask = |text: String| masker.mask(&text).unwrap_or(text);
    let mut cut = Cut::default();
    if sizes[0] > shares[0] {
        let text = masker.mask_json(serde_json::to_string(&exchange.request).unwrap_or_default());
        cut.request = Some(prefix(&text, shares[0]));
        cut.truncated.push("request");
        exchange.request = PivotRequest::default();
        exchange.request_text = None;
    }
    if sizes[1] > shares[1] {
        if let Some(tree) = exchange.result.reply_mut() {
            let text = masker.mask_json(serde_json::to_string(&*tree).unwrap_or_default());
            cut.reply = Some(prefix(&text, shares[1]));
            cut.truncated.push("reply");
            *tree = Value::Null;
        }
    }
    if sizes[3] > shares[3] {
        if let Some(detail) = exchange.result.detail_mut() {
            *detail = prefix(&mask(std::mem::take(detail)), shares[3]);
            cut.truncated.push("detail");
        }
    }
    if sizes[2] > shares[2] {
        for line in &mut exchange.logs {
            line.message = mask(std::mem::take(&mut line.message));
        }
        cut_logs(&mut exchange.logs, shares[2]);
        cut.truncated.push("logs");
    }
    cut
}

/// Keeps the console lines that fit in `budget`, the last one cut.
fn cut_logs(logs: &mut Vec<LogLine>, budget: usize) {
    let mut left = budget;
    let mut keep = 0;
    for line in logs.iter_mut() {
        let room = left.saturating_sub(LINE_OVERHEAD);
        if room == 0 {
            break;
        }
        if line.message.len() > room {
            line.message = prefix(&line.message, room);
        }
        left -= (line.message.len() + LINE_OVERHEAD).min(left);
        keep += 1;
    }
    logs.truncate(keep);
    logs.shrink_to_fit();
}

/// The longest prefix of `text` within `max` bytes (on a character boundary), with an ellipsis.
fn prefix(text: &str, max: usize) -> String {
    let mut end = max.saturating_sub(ELLIPSIS.len()).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// A stored view, parsed, with when its request arrived: what orders a call's steps.
pub struct StoredStep {
    value: Value,
    /// The step's `at` (Unix ms); `i64::MIN` when it has none that parses, so such a step
    /// lists first rather than hiding the call.
    pub at_ms: i64,
}

impl StoredStep {
    /// Parses a stored view.
    pub fn parse(text: &str) -> Result<StoredStep, StoreError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("stored call step: {e}")))?;
        if !value.is_object() {
            return Err(StoreError::Corrupt(
                "a stored call step is not a JSON object".into(),
            ));
        }
        let at_ms = value["at"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map_or(i64::MIN, |at| at.timestamp_millis());
        Ok(StoredStep { value, at_ms })
    }

    /// The view renumbered as step `number` of its call, credentials masked (again: a secret
    /// configured after the step was stored is masked too).
    pub fn into_json(self, number: u32, masker: &Masker) -> Result<Value, StoreError> {
        let mut value = self.value;
        masker.mask_value(&mut value);
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
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::calls::Timings;
    use crate::outcome::{Failure, FailureKind, Outcome};
    use crate::script::LogLine;

    fn step(result: Recorded) -> Step {
        Step::new(9, exchange(result), &Masker::default())
    }

    fn exchange(result: Recorded) -> Exchange {
        Exchange {
            call_id: "c@h".into(),
            flow: "greet".into(),
            version: "v1".into(),
            at: Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap(),
            request: PivotRequest {
                call_id: Some("c@h".into()),
                ..PivotRequest::default()
            },
            request_bytes: 12,
            reply_bytes: result.reply().map_or(0, crate::engine::json_size),
            reply_text: None,
            request_text: None,
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
        let m = Masker::default();
        let live = s.to_json(3, &m);
        let stored = StoredStep::parse(s.stored_json())
            .and_then(|stored| stored.into_json(3, &m))
            .unwrap();
        assert_eq!(live, stored);
        let parsed = StoredStep::parse(s.stored_json()).unwrap();
        assert_eq!(parsed.at_ms, s.at_ms);
        assert_eq!(
            s.at_ms,
            Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(StoredStep::parse("{}").unwrap().at_ms, i64::MIN, "no `at`");
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
        let m = Masker::default();
        let view = s.to_json(1, &m);
        assert_eq!(view["reply"], Value::Null);
        assert_eq!(view["outcome"], "refused");
        assert_eq!(view["detail"], "no flow named `x`");
        assert_eq!(view["errors"], json!([]));
        assert!(StoredStep::parse("[1]").is_err());
        assert!(StoredStep::parse("{").is_err());
    }

    #[test]
    fn a_step_over_the_bound_keeps_a_marked_prefix_of_its_largest_parts() {
        let tree = json!({"module": "tts", "data": {"text": "é".repeat(100_000)}});
        let s = step(Recorded::Outcome(Outcome::Tree(tree)));
        // The bound is on the parts; the view's own fields and the JSON quoting come on top.
        assert!(s.bytes < MAX_STEP_BYTES + 2 * STEP_OVERHEAD, "{}", s.bytes);
        assert!(s.stored_json().len() < MAX_STEP_BYTES + STEP_OVERHEAD);
        let view = s.to_json(1, &Masker::default());
        assert_eq!(view["truncated"], json!(["reply"]));
        let kept = view["reply"].as_str().unwrap();
        assert!(kept.starts_with("{\"module\":\"tts\"") && kept.ends_with('…'));
        assert!(kept.len() <= MAX_STEP_BYTES);
        assert_eq!(
            view["request"],
            json!({"Call-ID": "c@h"}),
            "the small part stays whole"
        );
        // Logs share the bound: each large part gets its share, the lines are cut, not lost.
        let line = |n: usize| LogLine {
            ts: Utc::now(),
            level: "log".into(),
            message: "x".repeat(n),
        };
        let mut big = exchange(Recorded::Outcome(Outcome::Tree(json!("y".repeat(200_000)))));
        big.logs = (0..8).map(|_| line(8000)).collect();
        let s = Step::new(1, big, &Masker::default());
        let view = s.to_json(1, &Masker::default());
        assert_eq!(view["truncated"], json!(["reply", "logs"]));
        let logs = view["logs"].as_array().unwrap();
        assert!(!logs.is_empty() && logs.len() < 8, "{}", logs.len());
        assert!(s.bytes <= MAX_STEP_BYTES + 2 * STEP_OVERHEAD, "{}", s.bytes);

        // Parts are masked before they are cut: wherever a cut falls, no half secret is kept.
        let dense = |n: usize| "s3cr3t-pw ".repeat(n);
        let mut exchange = exchange(Recorded::Outcome(Outcome::Tree(json!(dense(20_000)))));
        exchange.logs = (0..8).map(|_| line(0)).collect();
        exchange
            .logs
            .iter_mut()
            .for_each(|l| l.message = dense(800));
        let masker = Masker::new(["s3cr3t-pw"]);
        let view = Step::new(2, exchange, &masker).to_json(1, &masker);
        assert_eq!(view["truncated"], json!(["reply", "logs"]));
        assert!(!view.to_string().contains("s3c"), "{view}");
    }

    #[test]
    fn shares_give_small_parts_all_they_have() {
        assert_eq!(shares([10, 1000, 50, 0], 400), [10, 340, 50, 0]);
        assert_eq!(shares([500, 1000, 50, 0], 400), [175, 175, 50, 0]);
        assert_eq!(shares([1, 2, 3, 4], 400), [1, 2, 3, 4]);
    }
}
