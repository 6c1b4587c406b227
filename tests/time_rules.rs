//! Time rules over HTTP, each instant on its own server with a stopped clock: daylight-saving days
//! in New York and London, windows crossing midnight, dates, ranges, yearly ranges over the new
//! year, and holidays that close part of a day.

use crate::common;

use std::path::Path;

use common::{assert_tree, at, flows_dir, get, serve};
use serde_json::json;

/// Asks `flow` at `instant` and asserts it says `text` (every reply here is one tts node).
async fn says(dir: &Path, flow: &str, instant: &str, text: &str) {
    let server = serve(dir, at(instant));
    let reply = get(&server.url(&format!("/pivot/{flow}"))).await;
    assert_tree(
        &reply,
        &json!({"module": "tts", "data": {"text": text}}),
        &format!("{flow} at {instant}"),
    );
}

fn tts(text: &str) -> String {
    format!("{{ module = \"tts\", data = {{ text = \"{text}\" }} }}")
}

/// A flow in `tz` with one rule per local hour, answering `hour HH`.
fn hour_flow(tz: &str) -> String {
    let mut flow = format!("timezone = \"{tz}\"\n");
    for h in 0..24 {
        let end = if h == 23 {
            "24:00".to_owned()
        } else {
            format!("{:02}:00", h + 1)
        };
        flow.push_str(&format!(
            "\n[[rule]]\nname = \"hour {h:02}\"\ntime = \"{h:02}:00-{end}\"\nreply = {}\n",
            tts(&format!("hour {h:02}"))
        ));
    }
    flow.push_str("\n[default]\nmodule = \"tts\"\ndata = { text = \"no hour\" }\n");
    flow
}

fn office_flow(tz: &str) -> String {
    format!(
        "timezone = \"{tz}\"\n\n[[rule]]\nname = \"office\"\nweekdays = \"mon-fri\"\ntime = \"09:00-17:00\"\nreply = {}\n\n[default]\nmodule = \"tts\"\ndata = {{ text = \"closed\" }}\n",
        tts("open")
    )
}

fn dst_flows() -> tempfile::TempDir {
    flows_dir(&[
        ("ny_hours.toml", &hour_flow("America/New_York")),
        ("london_hours.toml", &hour_flow("Europe/London")),
        ("ny_office.toml", &office_flow("America/New_York")),
        (
            "london_date.toml",
            &format!(
                "timezone = \"Europe/London\"\n\n[[rule]]\ndates = \"2026-10-25\"\nreply = {}\n\n[default]\nmodule = \"tts\"\ndata = {{ text = \"another day\" }}\n",
                tts("the 25th")
            ),
        ),
    ])
}

#[tokio::test]
async fn new_york_spring_forward() {
    let dir = dst_flows();
    let d = dir.path();
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC; the 02:00 hour never happens.
    says(d, "ny_hours", "2026-03-08T06:30:00Z", "hour 01").await;
    says(d, "ny_hours", "2026-03-08T06:59:59Z", "hour 01").await;
    says(d, "ny_hours", "2026-03-08T07:00:00Z", "hour 03").await;
    says(d, "ny_hours", "2026-03-08T07:59:59Z", "hour 03").await;
    // The day before, the same UTC instant is 02:00 EST.
    says(d, "ny_hours", "2026-03-07T07:00:00Z", "hour 02").await;
}

#[tokio::test]
async fn new_york_fall_back() {
    let dir = dst_flows();
    let d = dir.path();
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00 UTC; the 01:00 hour happens twice.
    says(d, "ny_hours", "2026-11-01T04:59:59Z", "hour 00").await;
    says(d, "ny_hours", "2026-11-01T05:59:59Z", "hour 01").await;
    says(d, "ny_hours", "2026-11-01T06:00:00Z", "hour 01").await;
    says(d, "ny_hours", "2026-11-01T06:59:59Z", "hour 01").await;
    says(d, "ny_hours", "2026-11-01T07:00:00Z", "hour 02").await;
}

#[tokio::test]
async fn new_york_office_hours_follow_the_clock_change() {
    let dir = dst_flows();
    let d = dir.path();
    // Friday before the change: EST, opens at 14:00 UTC.
    says(d, "ny_office", "2026-03-06T13:59:59Z", "closed").await;
    says(d, "ny_office", "2026-03-06T14:00:00Z", "open").await;
    // Monday after: EDT, opens at 13:00 UTC and closes at 21:00 UTC.
    says(d, "ny_office", "2026-03-09T12:59:59Z", "closed").await;
    says(d, "ny_office", "2026-03-09T13:00:00Z", "open").await;
    says(d, "ny_office", "2026-03-09T20:59:59Z", "open").await;
    says(d, "ny_office", "2026-03-09T21:00:00Z", "closed").await;
    // Friday before the fall change: EDT; Monday after: EST again.
    says(d, "ny_office", "2026-10-30T13:00:00Z", "open").await;
    says(d, "ny_office", "2026-11-02T13:59:59Z", "closed").await;
    says(d, "ny_office", "2026-11-02T14:00:00Z", "open").await;
    says(d, "ny_office", "2026-11-02T22:00:00Z", "closed").await;
}

#[tokio::test]
async fn london_spring_forward() {
    let dir = dst_flows();
    let d = dir.path();
    // 2026-03-29: 01:00 GMT jumps to 02:00 BST at 01:00 UTC.
    says(d, "london_hours", "2026-03-29T00:59:59Z", "hour 00").await;
    says(d, "london_hours", "2026-03-29T01:00:00Z", "hour 02").await;
    says(d, "london_hours", "2026-03-29T01:30:00Z", "hour 02").await;
    // A day earlier, 01:30 UTC is 01:30 local.
    says(d, "london_hours", "2026-03-28T01:30:00Z", "hour 01").await;
}

#[tokio::test]
async fn london_fall_back() {
    let dir = dst_flows();
    let d = dir.path();
    // 2026-10-25: 02:00 BST falls back to 01:00 GMT at 01:00 UTC.
    says(d, "london_hours", "2026-10-25T00:59:59Z", "hour 01").await;
    says(d, "london_hours", "2026-10-25T01:00:00Z", "hour 01").await;
    says(d, "london_hours", "2026-10-25T01:59:59Z", "hour 01").await;
    says(d, "london_hours", "2026-10-25T02:00:00Z", "hour 02").await;
    // The local date changes at 23:00 UTC while summer time lasts.
    says(d, "london_date", "2026-10-24T22:59:59Z", "another day").await;
    says(d, "london_date", "2026-10-24T23:00:00Z", "the 25th").await;
    says(d, "london_date", "2026-10-25T23:59:59Z", "the 25th").await;
    says(d, "london_date", "2026-10-26T00:00:00Z", "another day").await;
}

#[tokio::test]
async fn windows_crossing_midnight_belong_to_the_day_they_start() {
    let night = |tz: &str| {
        format!(
            "timezone = \"{tz}\"\n\n[[rule]]\nname = \"friday night\"\nweekdays = \"fri\"\ntime = \"22:00-06:00\"\nreply = {}\n\n[[rule]]\nname = \"split shift\"\nweekdays = [\"sat\"]\ntime = [\"08:00-10:00\", \"16:00-18:00\"]\nreply = {}\n\n[default]\nmodule = \"tts\"\ndata = {{ text = \"other\" }}\n",
            tts("friday night"),
            tts("split shift")
        )
    };
    let dir = flows_dir(&[
        ("night.toml", &night("UTC")),
        ("ny_night.toml", &night("America/New_York")),
    ]);
    let d = dir.path();
    // Friday 2026-11-20, Saturday 2026-11-21 (UTC zone).
    says(d, "night", "2026-11-20T21:59:59Z", "other").await;
    says(d, "night", "2026-11-20T22:00:00Z", "friday night").await;
    says(d, "night", "2026-11-20T23:59:59Z", "friday night").await;
    says(d, "night", "2026-11-21T00:00:00Z", "friday night").await;
    says(d, "night", "2026-11-21T03:00:00Z", "friday night").await;
    says(d, "night", "2026-11-21T05:59:59Z", "friday night").await;
    says(d, "night", "2026-11-21T06:00:00Z", "other").await;
    // Friday 03:00 belongs to Thursday's window: no match.
    says(d, "night", "2026-11-20T03:00:00Z", "other").await;
    // Saturday 22:30 starts a Saturday window: no match.
    says(d, "night", "2026-11-21T22:30:00Z", "other").await;
    // Several windows in one rule.
    says(d, "night", "2026-11-21T09:00:00Z", "split shift").await;
    says(d, "night", "2026-11-21T12:00:00Z", "other").await;
    says(d, "night", "2026-11-21T17:59:00Z", "split shift").await;
    // The same in New York: Saturday 03:00 EST is 08:00 UTC; Friday 03:00 EST is not.
    says(d, "ny_night", "2026-11-21T08:00:00Z", "friday night").await;
    says(d, "ny_night", "2026-11-20T08:00:00Z", "other").await;
}

#[tokio::test]
async fn dates_ranges_and_yearly_ranges_over_the_new_year() {
    let rule = |name: &str, dates: &str| {
        format!(
            "\n[[rule]]\nname = \"{name}\"\ndates = {dates}\nreply = {}\n",
            tts(name)
        )
    };
    let mut flow = "timezone = \"America/New_York\"\n".to_owned();
    flow.push_str(&rule("one day", "\"2026-07-04\""));
    flow.push_str(&rule("range", "\"2026-08-10..2026-08-20\""));
    flow.push_str(&rule("winter", "\"12-24..01-02\""));
    flow.push_str(&rule("yearly", "[\"03-17\", \"02-29\"]"));
    flow.push_str("\n[default]\nmodule = \"tts\"\ndata = { text = \"none\" }\n");
    let dir = flows_dir(&[("dates.toml", &flow)]);
    let d = dir.path();
    // One date, in the flow's zone: 4 July runs until 04:00 UTC on the 5th.
    says(d, "dates", "2026-07-04T00:00:00-04:00", "one day").await;
    says(d, "dates", "2026-07-05T03:59:59Z", "one day").await;
    says(d, "dates", "2026-07-05T04:00:00Z", "none").await;
    says(d, "dates", "2027-07-04T12:00:00-04:00", "none").await;
    // An inclusive range.
    says(d, "dates", "2026-08-09T23:59:59-04:00", "none").await;
    says(d, "dates", "2026-08-10T00:00:00-04:00", "range").await;
    says(d, "dates", "2026-08-20T23:59:59-04:00", "range").await;
    says(d, "dates", "2026-08-21T00:00:00-04:00", "none").await;
    // A yearly range over the new year, any year.
    says(d, "dates", "2026-12-23T23:59:59-05:00", "none").await;
    says(d, "dates", "2026-12-24T00:00:00-05:00", "winter").await;
    says(d, "dates", "2026-12-31T23:59:59-05:00", "winter").await;
    says(d, "dates", "2027-01-01T00:00:00-05:00", "winter").await;
    says(d, "dates", "2027-01-02T23:59:59-05:00", "winter").await;
    says(d, "dates", "2027-01-03T00:00:00-05:00", "none").await;
    says(d, "dates", "2031-12-28T12:00:00-05:00", "winter").await;
    // Yearly dates, a leap day included.
    says(d, "dates", "2031-03-17T12:00:00-04:00", "yearly").await;
    says(d, "dates", "2028-02-29T12:00:00-05:00", "yearly").await;
    says(d, "dates", "2027-03-01T12:00:00-05:00", "none").await;
}

#[tokio::test]
async fn holidays_close_all_or_part_of_a_day() {
    let flow = format!(
        r#"timezone = "Europe/London"

[[holidays]]
name = "Christmas Eve"
date = "12-24"
closed = "12:00-24:00"

[[holidays]]
name = "Summer bank holiday"
date = "2026-08-31"

[[holidays]]
name = "Winter closure"
date = "2026-12-28..2026-12-30"

[[rule]]
name = "holiday"
holiday = true
reply = {}

[[rule]]
name = "working"
holiday = false
weekdays = "mon-sat"
time = "08:00-20:00"
reply = {}

[default]
module = "tts"
data = {{ text = "closed" }}
"#,
        tts("closed for the holiday"),
        tts("open")
    );
    let dir = flows_dir(&[("shop.toml", &flow)]);
    let d = dir.path();
    // Thursday 24 Dec (GMT): open in the morning, closed from noon to midnight.
    says(d, "shop", "2026-12-24T11:59:59Z", "open").await;
    says(d, "shop", "2026-12-24T12:00:00Z", "closed for the holiday").await;
    says(d, "shop", "2026-12-24T19:00:00Z", "closed for the holiday").await;
    says(d, "shop", "2026-12-24T23:59:59Z", "closed for the holiday").await;
    // The 25th is an ordinary Friday in this flow.
    says(d, "shop", "2026-12-25T00:00:00Z", "closed").await;
    says(d, "shop", "2026-12-25T10:00:00Z", "open").await;
    // A whole-day holiday, in summer time: all of the local day.
    says(
        d,
        "shop",
        "2026-08-31T07:30:00+01:00",
        "closed for the holiday",
    )
    .await;
    says(
        d,
        "shop",
        "2026-08-31T09:00:00+01:00",
        "closed for the holiday",
    )
    .await;
    says(d, "shop", "2026-08-30T23:59:59Z", "closed for the holiday").await;
    says(d, "shop", "2027-08-31T09:00:00+01:00", "open").await;
    // A range of holidays.
    says(d, "shop", "2026-12-29T10:00:00Z", "closed for the holiday").await;
    says(d, "shop", "2026-12-31T10:00:00Z", "open").await;
}
