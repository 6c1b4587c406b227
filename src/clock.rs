//! The clock flows read. Injectable so that tests and `pivotforge run --at` evaluate a flow at
//! any instant, daylight-saving days included.

use chrono::{DateTime, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock set to an instant that then runs on at the machine's pace, and can be moved forward:
/// for tests and replays that need a chosen instant *and* time that passes (a retry comes due,
/// a TTL runs out), which a [`FixedClock`] never gives.
#[derive(Debug)]
pub struct RunningClock {
    start: DateTime<Utc>,
    origin: std::time::Instant,
    /// Milliseconds it was moved forward.
    skip_ms: std::sync::atomic::AtomicI64,
}

impl RunningClock {
    /// A clock reading `start` now.
    pub fn new(start: DateTime<Utc>) -> RunningClock {
        RunningClock {
            start,
            origin: std::time::Instant::now(),
            skip_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.skip_ms
            .fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for RunningClock {
    fn now(&self) -> DateTime<Utc> {
        let ran = chrono::Duration::from_std(self.origin.elapsed()).unwrap_or_default();
        let skipped =
            chrono::Duration::milliseconds(self.skip_ms.load(std::sync::atomic::Ordering::SeqCst));
        self.start + ran + skipped
    }
}

/// An RFC 3339 time, or a date taken as midnight UTC, as Unix milliseconds: how query filters
/// (`since`, `from`, `to`) name an instant.
pub fn parse_instant(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_clock_starts_at_its_instant_runs_on_and_can_be_moved() {
        let start = DateTime::from_timestamp_millis(1_000_000).unwrap();
        let clock = RunningClock::new(start);
        let first = clock.now();
        assert!(first >= start && first - start < chrono::Duration::seconds(5));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(clock.now() - first >= chrono::Duration::milliseconds(20));
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(clock.now() - start >= chrono::Duration::hours(1));
    }
}
