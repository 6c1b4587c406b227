//! The conditions a rule can put on a call: weekdays, time windows, dates, holidays and matches on
//! request parameters. Each is parsed from the text a person writes in a flow file, with an error
//! that says what was expected.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Weekday};
use chrono_tz::Tz;
use regex::Regex;

use crate::request::PivotRequest;

/// A set of weekdays, bit 0 = Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Parses `["mon", "wed-fri", "sunday"]`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Weekdays, String> {
        if items.is_empty() {
            return Err(
                "an empty weekdays list matches no day: list days, or remove the key".into(),
            );
        }
        let mut bits = 0u8;
        for item in items {
            let item = item.as_ref().trim();
            let (from, to) = match item.split_once('-') {
                Some((a, b)) => (weekday(a)?, weekday(b)?),
                None => (weekday(item)?, weekday(item)?),
            };
            let mut day = from;
            loop {
                bits |= 1 << day.num_days_from_monday();
                if day == to {
                    break;
                }
                day = day.succ();
            }
        }
        Ok(Weekdays(bits))
    }

    /// True when `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }
}

fn weekday(s: &str) -> Result<Weekday, String> {
    let lower = s.trim().to_ascii_lowercase();
    let found = [
        ("mon", Weekday::Mon),
        ("tue", Weekday::Tue),
        ("wed", Weekday::Wed),
        ("thu", Weekday::Thu),
        ("fri", Weekday::Fri),
        ("sat", Weekday::Sat),
        ("sun", Weekday::Sun),
    ]
    .into_iter()
    .find(|(short, _)| {
        lower.len() >= 3 && (lower.starts_with(short) && full_name_ok(&lower, short))
    });
    found.map(|(_, d)| d).ok_or_else(|| {
        format!(
            "`{s}` is not a weekday: use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri"
        )
    })
}

/// Accepts `mon`, `monday`, `tues`, `tuesday` …, but not `monkey`.
fn full_name_ok(lower: &str, short: &str) -> bool {
    let full = match short {
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        "sat" => "saturday",
        _ => "sunday",
    };
    full.starts_with(lower)
}

/// A wall-clock window `HH:MM-HH:MM`, start included, end excluded. A window whose end is not
/// after its start crosses midnight and belongs to the day it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    start: u16,
    end: u16,
}

/// Which day a matching instant counts as, for the day conditions of its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowDay {
    /// The window started today.
    Today,
    /// The window started yesterday and crosses midnight.
    Yesterday,
}

impl TimeWindow {
    /// Parses `09:00-17:00`, `22:00-06:00` or `12:00-24:00`.
    pub fn parse(s: &str) -> Result<TimeWindow, String> {
        let err =
            || format!("`{s}` is not a time window: write it like 09:00-17:00 (24-hour clock)");
        let (a, b) = s.split_once('-').ok_or_else(err)?;
        let start = minutes(a).ok_or_else(err)?;
        let end = minutes(b).ok_or_else(err)?;
        if start == 1440 || start == end {
            return Err(format!("`{s}` is an empty time window"));
        }
        Ok(TimeWindow { start, end })
    }

    /// True when the window does not cross midnight.
    pub fn is_same_day(self) -> bool {
        self.start < self.end
    }

    /// Where `minute` (0..1440) falls: in today's window, in yesterday's, or outside.
    pub fn locate(self, minute: u16) -> Option<WindowDay> {
        if self.start < self.end {
            (self.start..self.end)
                .contains(&minute)
                .then_some(WindowDay::Today)
        } else if minute >= self.start {
            Some(WindowDay::Today)
        } else if minute < self.end {
            Some(WindowDay::Yesterday)
        } else {
            None
        }
    }
}

fn minutes(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !all_digits(h) || !all_digits(m) {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// A date condition: one date, a yearly date, or a range of either (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSpec {
    /// `2026-12-25`
    On(NaiveDate),
    /// `2026-12-20..2027-01-05`
    Between(NaiveDate, NaiveDate),
    /// `12-25`, every year (month, day).
    Yearly(u32, u32),
    /// `12-24..01-02`, every year; may wrap over the new year.
    YearlyBetween((u32, u32), (u32, u32)),
}

impl DateSpec {
    /// Parses one of the four forms.
    pub fn parse(s: &str) -> Result<DateSpec, String> {
        let err = || {
            format!("`{s}` is not a date: use 2026-12-25, 12-25 (every year), or a range like 2026-12-20..2027-01-05 or 12-24..01-02")
        };
        if let Some((a, b)) = s.split_once("..") {
            return match (date(a), date(b), yearly(a), yearly(b)) {
                (Some(a), Some(b), _, _) if a <= b => Ok(DateSpec::Between(a, b)),
                (Some(_), Some(_), _, _) => Err(format!("`{s}`: the range ends before it starts")),
                (_, _, Some(a), Some(b)) => Ok(DateSpec::YearlyBetween(a, b)),
                _ => Err(err()),
            };
        }
        date(s)
            .map(DateSpec::On)
            .or_else(|| yearly(s).map(|(m, d)| DateSpec::Yearly(m, d)))
            .ok_or_else(err)
    }

    /// True when `day` is covered.
    pub fn contains(self, day: NaiveDate) -> bool {
        let md = (day.month(), day.day());
        match self {
            DateSpec::On(d) => d == day,
            DateSpec::Between(a, b) => (a..=b).contains(&day),
            DateSpec::Yearly(m, d) => md == (m, d),
            DateSpec::YearlyBetween(a, b) if a <= b => (a..=b).contains(&md),
            DateSpec::YearlyBetween(a, b) => md >= a || md <= b,
        }
    }
}

/// `str::parse` accepts a sign; times and dates are digits only.
fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    (s.len() == 10).then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())?
}

fn yearly(s: &str) -> Option<(u32, u32)> {
    let s = s.trim();
    let (m, d) = s.split_once('-')?;
    if m.len() != 2 || d.len() != 2 || !all_digits(m) || !all_digits(d) {
        return None;
    }
    let (m, d) = (m.parse().ok()?, d.parse().ok()?);
    // 2024 is a leap year, so 02-29 is accepted as a yearly date.
    NaiveDate::from_ymd_opt(2024, m, d).map(|_| (m, d))
}

/// A day the business is closed, wholly or for part of the day.
#[derive(Debug, Clone)]
pub struct Holiday {
    /// Shown in logs and `check` output.
    pub name: String,
    /// Which day(s).
    pub date: DateSpec,
    /// The closed part of the day; `None` means all day.
    pub closed: Option<TimeWindow>,
}

impl Holiday {
    /// True when the local instant falls inside this closure.
    pub fn covers(&self, day: NaiveDate, minute: u16) -> bool {
        self.date.contains(day)
            && self
                .closed
                .is_none_or(|w| w.locate(minute) == Some(WindowDay::Today))
    }
}

/// One test on a request parameter. All present tests must hold.
#[derive(Debug, Clone)]
pub struct Match {
    /// Kazoo's parameter name, or `Digits.<collection>` etc.
    pub param: String,
    /// `Some(true)`: must be absent or empty; `Some(false)`: must be present.
    pub missing: Option<bool>,
    /// Any of these, exactly.
    pub equals: Vec<String>,
    /// Starts with any of these.
    pub prefix: Vec<String>,
    /// Matches this regular expression (unanchored: write `^…$` for a whole match).
    pub regex: Option<Regex>,
}

impl Match {
    /// True when the request satisfies every test.
    pub fn matches(&self, req: &PivotRequest) -> bool {
        let value = req.get(&self.param);
        if let Some(missing) = self.missing {
            if missing != value.is_none() {
                return false;
            }
        }
        let has_tests = !self.equals.is_empty() || !self.prefix.is_empty() || self.regex.is_some();
        if !has_tests {
            return true;
        }
        let Some(value) = value else {
            return false;
        };
        (self.equals.is_empty() || self.equals.iter().any(|e| *e == value))
            && (self.prefix.is_empty() || self.prefix.iter().any(|p| value.starts_with(p.as_str())))
            && self.regex.as_ref().is_none_or(|r| r.is_match(&value))
    }
}

/// The local view of an instant in a flow's time zone.
#[derive(Debug, Clone, Copy)]
pub struct LocalNow {
    /// Today's date in the zone.
    pub date: NaiveDate,
    /// Minutes since local midnight.
    pub minute: u16,
}

impl LocalNow {
    /// Converts a UTC instant into the zone; daylight-saving rules come from the tz database.
    pub fn new(now: DateTime<chrono::Utc>, tz: Tz) -> LocalNow {
        let local = now.with_timezone(&tz);
        LocalNow {
            date: local.date_naive(),
            minute: (local.hour() * 60 + local.minute()) as u16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays() {
        let w = Weekdays::parse(&["mon-wed", "Friday"]).unwrap();
        assert!(w.contains(Weekday::Tue) && w.contains(Weekday::Fri));
        assert!(!w.contains(Weekday::Thu) && !w.contains(Weekday::Sun));
        let wrap = Weekdays::parse(&["fri-mon"]).unwrap();
        assert!(wrap.contains(Weekday::Sun) && !wrap.contains(Weekday::Tue));
        assert!(Weekdays::parse(&["monkey"]).is_err());
        assert!(Weekdays::parse(&["mo"]).is_err());
    }

    #[test]
    fn windows() {
        let day = TimeWindow::parse("09:00-17:00").unwrap();
        assert_eq!(day.locate(9 * 60), Some(WindowDay::Today));
        assert_eq!(day.locate(17 * 60), None);
        let night = TimeWindow::parse("22:00-06:00").unwrap();
        assert_eq!(night.locate(23 * 60), Some(WindowDay::Today));
        assert_eq!(night.locate(60), Some(WindowDay::Yesterday));
        assert_eq!(night.locate(12 * 60), None);
        let afternoon = TimeWindow::parse("12:00-24:00").unwrap();
        assert_eq!(afternoon.locate(1439), Some(WindowDay::Today));
        for bad in ["9-17", "09:00", "25:00-26:00", "10:00-10:00", "09:60-10:00"] {
            assert!(TimeWindow::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(DateSpec::parse("12-25").unwrap().contains(d("2031-12-25")));
        let wrap = DateSpec::parse("12-24..01-02").unwrap();
        assert!(wrap.contains(d("2026-12-31")) && wrap.contains(d("2027-01-02")));
        assert!(!wrap.contains(d("2027-01-03")));
        let range = DateSpec::parse("2026-12-20..2027-01-05").unwrap();
        assert!(range.contains(d("2027-01-05")) && !range.contains(d("2027-12-25")));
        assert!(DateSpec::parse("2026-02-30").is_err());
        assert!(DateSpec::parse("2027-01-01..2026-01-01").is_err());
        assert!(DateSpec::parse("02-29").is_ok());
        assert!(DateSpec::parse("+1-05").is_err());
        assert!(TimeWindow::parse("+9:00-17:00").is_err());
    }
}
