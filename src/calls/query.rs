//! The filters of `GET /calls?flow=&outcome=&since=&limit=`: parsing them from a query string
//! (an error names the parameter and what it accepts) and testing a call against them.

use chrono::{DateTime, Duration, Utc};

use super::summary::CallSummary;
use crate::request::form;

/// Calls listed when no `limit` is given.
pub const DEFAULT_LIMIT: usize = 50;
/// The most calls one listing returns.
pub const MAX_LIMIT: usize = 1000;
/// What `outcome=` accepts.
pub const OUTCOMES: [&str; 5] = ["tree", "rejection", "fallback", "error", "refused"];

/// Which calls to list.
#[derive(Debug, Clone, PartialEq)]
pub struct CallQuery {
    /// Calls with any step of this flow.
    pub flow: Option<String>,
    /// Calls with any step of this outcome.
    pub outcome: Option<String>,
    /// Calls whose last step is at or after this instant (Unix ms).
    pub since_ms: Option<i64>,
    /// At most this many calls.
    pub limit: usize,
}

impl Default for CallQuery {
    fn default() -> CallQuery {
        CallQuery {
            flow: None,
            outcome: None,
            since_ms: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl CallQuery {
    /// Parses a raw query string; `now` anchors durations such as `since=15m`. An empty value
    /// means no filter, so a form with blank fields can be sent as it is.
    pub fn parse(query: &str, now: DateTime<Utc>) -> Result<CallQuery, String> {
        let mut out = CallQuery::default();
        let mut failed = None;
        form::pairs(query.as_bytes(), |key, value| {
            if failed.is_none() && !value.is_empty() {
                if let Err(e) = out.set(&key, value, now) {
                    failed = Some(e);
                }
            }
        })
        .map_err(|e| format!("malformed query: {e}"))?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn set(&mut self, key: &str, value: String, now: DateTime<Utc>) -> Result<(), String> {
        match key {
            "flow" => self.flow = Some(value),
            "outcome" => {
                if !OUTCOMES.contains(&value.as_str()) {
                    return Err(format!(
                        "`outcome` must be one of {}, not `{}`",
                        OUTCOMES.join(", "),
                        shown(&value)
                    ));
                }
                self.outcome = Some(value);
            }
            "since" => self.since_ms = Some(since(&value, now)?),
            "limit" => {
                self.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        format!("`limit` must be a whole number from 1 to {MAX_LIMIT}")
                    })?;
            }
            other => {
                return Err(format!(
                    "unknown parameter `{}`: filter with flow, outcome, since, limit",
                    shown(other)
                ))
            }
        }
        Ok(())
    }

    /// True when the call passes every filter.
    pub fn matches(&self, call: &CallSummary) -> bool {
        self.since_ms.is_none_or(|t| call.last_at_ms >= t)
            && self
                .flow
                .as_deref()
                .is_none_or(|f| call.flows.iter().any(|x| x == f))
            && self
                .outcome
                .as_deref()
                .is_none_or(|o| call.outcomes.iter().any(|x| x == o))
    }
}

/// Echoes at most a short prefix of user input.
fn shown(text: &str) -> String {
    text.chars()
        .take(64)
        .collect::<String>()
        .escape_debug()
        .to_string()
}

/// An RFC 3339 time, a date (midnight UTC), or a duration back from `now` (`90s`, `15m`, `2h`,
/// `7d`, `2w`), as Unix ms.
fn since(text: &str, now: DateTime<Utc>) -> Result<i64, String> {
    if let Some(ms) = crate::clock::parse_instant(text) {
        return Ok(ms);
    }
    let back = text
        .char_indices()
        .last()
        .and_then(|(i, unit)| Some((text[..i].parse::<i64>().ok()?, unit)))
        .and_then(|(n, unit)| match unit {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            'w' => Duration::try_weeks(n),
            _ => None,
        })
        .filter(|d| *d >= Duration::zero());
    match back {
        Some(d) => Ok(now.timestamp_millis().saturating_sub(d.num_milliseconds())),
        None => Err(format!(
            "`since` must be an RFC 3339 time (2026-03-01T09:30:00Z), a date (2026-03-01) or a \
             duration back from now (90s, 15m, 2h, 7d, 2w), not `{}`",
            shown(text)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-17T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn parse(q: &str) -> Result<CallQuery, String> {
        CallQuery::parse(q, now())
    }

    #[test]
    fn filters_parse_and_blanks_mean_none() {
        assert_eq!(parse("").unwrap(), CallQuery::default());
        assert_eq!(
            parse("flow=&outcome=&since=&limit=").unwrap(),
            CallQuery::default()
        );
        let q = parse("flow=sales%2Fmain&outcome=fallback&since=15m&limit=7").unwrap();
        assert_eq!(q.flow.as_deref(), Some("sales/main"));
        assert_eq!(q.outcome.as_deref(), Some("fallback"));
        assert_eq!(q.limit, 7);
        let fifteen_back = now().timestamp_millis() - 15 * 60_000;
        assert_eq!(q.since_ms, Some(fifteen_back));
        let day = 86_400_000;
        assert_eq!(
            parse("since=7d").unwrap().since_ms,
            Some(now().timestamp_millis() - 7 * day)
        );
        assert_eq!(
            parse("since=2026-11-17T14:00:00%2B01:00").unwrap().since_ms,
            Some(now().timestamp_millis() - 2 * 3_600_000)
        );
        assert_eq!(
            parse("since=2026-11-17").unwrap().since_ms,
            Some(now().timestamp_millis() - 15 * 3_600_000)
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (q, name) in [
            ("outcome=weird", "`outcome`"),
            ("since=yesterday", "`since`"),
            ("since=-5m", "`since`"),
            ("since=5y", "`since`"),
            ("since=99999999999999999d", "`since`"),
            ("limit=0", "`limit`"),
            ("limit=1001", "`limit`"),
            ("limit=ten", "`limit`"),
            ("colour=red", "`colour`"),
            ("flow=%zz", "malformed"),
        ] {
            let e = parse(q).unwrap_err();
            assert!(e.contains(name), "{q}: {e}");
        }
    }

    #[test]
    fn matching_looks_at_any_step_and_the_last_time() {
        let call = CallSummary {
            call_id: "c".into(),
            first_at_ms: 100,
            last_at_ms: 200,
            last_seq: 2,
            steps: 2,
            flow: "b".into(),
            outcome: "tree".into(),
            status: 200,
            flows: vec!["a".into(), "b".into()],
            outcomes: vec!["fallback".into(), "tree".into()],
        };
        let q = |flow: Option<&str>, outcome: Option<&str>, since_ms: Option<i64>| CallQuery {
            flow: flow.map(Into::into),
            outcome: outcome.map(Into::into),
            since_ms,
            limit: 10,
        };
        assert!(q(Some("a"), Some("fallback"), Some(200)).matches(&call));
        assert!(!q(Some("c"), None, None).matches(&call));
        assert!(!q(None, Some("error"), None).matches(&call));
        assert!(!q(None, None, Some(201)).matches(&call));
    }
}
