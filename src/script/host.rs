//! The host side of the sandbox: the only functions a script can reach outside its own heap —
//! console capture, the store (cxKV, cxUserspace), the time helper, timers and `fetch` to the
//! flow's allowed hosts. Everything else of the machine stays out of reach.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Timelike, Utc};
use rquickjs::{Ctx, Function, Object};
use serde::Serialize;
use serde_json::Value;

use super::fetch::{Completion, Fetcher};
use super::settings::{host_allowed, FlowSettings};
use crate::store::Store;

/// Most console lines kept per call; later ones are counted, not kept.
const MAX_LOG_LINES: usize = 200;
/// Most console bytes kept per call.
const MAX_LOG_BYTES: usize = 64 * 1024;
/// Longest single console message kept.
const MAX_LOG_MESSAGE: usize = 8 * 1024;
/// ScriptForge's documented limit on pending timers.
pub const MAX_TIMERS: usize = 10;
/// Most `fetch` calls in flight for one call.
const MAX_FETCHES: usize = 16;

/// One captured console line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// When it was written.
    pub ts: DateTime<Utc>,
    /// `log`, `info`, `warn`, `error` or `debug`.
    pub level: String,
    /// The formatted message.
    pub message: String,
}

/// What the whole process gives every sandbox.
pub struct HostServices {
    /// The shared store behind cxKV and cxUserspace.
    pub store: Arc<dyn Store>,
    /// The HTTP client behind `fetch`.
    pub fetcher: Fetcher,
    /// How pivots back to this service are written (with the credentials `/pivot` needs).
    pub pivot: crate::auth::PivotLink,
}

/// Per-call state shared by the host functions of one sandbox.
#[derive(Default)]
pub struct CallState {
    /// Number of the current call; completions of earlier calls are ignored.
    pub seq: u64,
    /// Console lines of this call.
    pub logs: Vec<LogLine>,
    log_bytes: usize,
    dropped: usize,
    /// Pending timers by id, with their due instants.
    pub timers: BTreeMap<u32, Instant>,
    next_id: u32,
    /// `fetch` calls not yet completed.
    pub fetches: usize,
    /// The call's deadline (fetch timeouts derive from it).
    pub deadline: Option<Instant>,
    /// The call's clock as an offset from the machine's, in milliseconds: the job carries the
    /// instant of the service's injected clock, and the console stamps read the same clock the
    /// script's `Date` does (the prelude keeps the same offset).
    clock_offset_ms: i64,
    /// A Class 5 step's effects boundary (recording or replaying); `None`: a plain flow, live.
    pub class5: Option<super::class5::Effects>,
}

impl CallState {
    /// Starts a new call that ends at `deadline` and whose clock reads `now_ms` now (`None`:
    /// the machine's clock, for a caller that injected none).
    pub fn reset(&mut self, deadline: Instant, now_ms: Option<i64>) {
        self.clock_offset_ms = now_ms.map_or(0, |ms| ms - machine_ms());
        self.seq += 1;
        self.logs.clear();
        self.log_bytes = 0;
        self.dropped = 0;
        self.timers.clear();
        self.fetches = 0;
        self.deadline = Some(deadline);
    }

    /// The call's current instant, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        machine_ms() + self.clock_offset_ms
    }

    /// The call's current instant.
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }

    /// Takes the logs, adding a note when lines were dropped.
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        let mut logs = std::mem::take(&mut self.logs);
        if self.dropped > 0 {
            logs.push(LogLine {
                ts: self.now(),
                level: "warn".into(),
                message: format!("{} more console lines were dropped (limit {MAX_LOG_LINES} lines / {MAX_LOG_BYTES} bytes per call)", self.dropped),
            });
        }
        self.dropped = 0;
        logs
    }

    /// Adds a console line within the caps.
    pub fn log(&mut self, level: &str, mut message: String) {
        if self.logs.len() >= MAX_LOG_LINES || self.log_bytes >= MAX_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        if message.len() > MAX_LOG_MESSAGE {
            let mut cut = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" …(truncated)");
        }
        self.log_bytes += message.len();
        self.logs.push(LogLine {
            ts: self.now(),
            level: level.to_owned(),
            message,
        });
    }

    /// The earliest timer, if any.
    pub fn next_timer(&self) -> Option<(u32, Instant)> {
        self.timers
            .iter()
            .min_by_key(|(_, due)| **due)
            .map(|(id, due)| (*id, *due))
    }

    fn add_timer(&mut self, ms: f64) -> Option<u32> {
        if self.timers.len() >= MAX_TIMERS {
            return None;
        }
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let due = Instant::now() + Duration::from_millis(ms.clamp(0.0, 86_400_000.0) as u64);
        self.timers.insert(self.next_id, due);
        Some(self.next_id)
    }
}

/// Throws `new Error(message)` built by the script's own `Error`: rquickjs's helper assigns
/// `message` after creating the object, which the frozen `Error.prototype` refuses.
fn throw(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    let error = ctx
        .globals()
        .get::<_, rquickjs::function::Constructor>("Error")
        .and_then(|ctor| ctor.construct::<_, rquickjs::Value>((message,)));
    match error {
        Ok(e) => ctx.throw(e),
        Err(e) => e,
    }
}

/// The machine's clock: the base the call's offset is added to (see [`CallState::now_ms`]).
fn machine_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn ttl(seconds: f64) -> Option<u64> {
    (seconds > 0.0).then_some((seconds * 1000.0) as u64)
}

/// Refuses a userspace change the flow's settings do not allow. The area's name is checked
/// first, so a bad name gets the rule it broke rather than advice to allow it.
fn check_write(settings: &FlowSettings, flow: &str, area: &str) -> Result<(), String> {
    crate::store::check_area(area).map_err(|e| e.to_string())?;
    if settings.may_write(area) {
        return Ok(());
    }
    Err(format!(
        "this flow may not change userspace area `{area}` (lists are operator data, read-only \
         to scripts): add it to userspace_write in {flow}.settings.toml, e.g. \
         userspace_write = [\"{area}\"]"
    ))
}

/// Runs a host call through the Class 5 effects boundary: given back from the journal while a
/// step replays, done and recorded while it records; a plain flow just runs it.
fn through(
    st: &Rc<RefCell<CallState>>,
    kind: &str,
    live: impl FnOnce() -> Result<Value, String>,
) -> Result<Value, String> {
    let given = st.borrow_mut().class5.as_mut().and_then(|fx| fx.take(kind));
    if let Some(given) = given {
        return given;
    }
    let result = live();
    if let Some(fx) = st.borrow_mut().class5.as_mut() {
        fx.record(kind, &result);
    }
    result
}

/// JSON text (or nothing) as a value crossing the boundary, and back.
fn text_value(text: Option<String>) -> Value {
    text.map_or(Value::Null, Value::String)
}

fn value_text(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// Builds the `host` object the prelude receives for flow `flow`.
pub fn install<'js>(
    ctx: &Ctx<'js>,
    flow: &str,
    services: &Arc<HostServices>,
    settings: &Arc<FlowSettings>,
    state: &Rc<RefCell<CallState>>,
    completions: &std::sync::mpsc::Sender<Completion>,
) -> rquickjs::Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;
    let store = || services.store.clone();
    let fail = |ctx: &Ctx<'js>, e: &dyn std::fmt::Display| throw(ctx, &e.to_string());
    // Every cxKV call of this sandbox goes to this one namespace: a script can't name another.
    let space: Arc<str> = settings.kv_space(flow).into();
    let flow: Arc<str> = flow.into();

    let st = state.clone();
    host.set(
        "log",
        Function::new(ctx.clone(), move |level: String, message: String| {
            st.borrow_mut().log(&level, message);
        })?,
    )?;

    // cxKV expiries read the call's clock, the service's injected one (as `Date` does): one
    // clock for the whole service, so a test or a replay that moves it moves TTLs too.
    let (s, ns, st) = (store(), space.clone(), state.clone());
    host.set(
        "kvGet",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, key: String| {
            through(&st, "kv.get", || {
                s.kv_get(&ns, &key, st.borrow().now_ms())
                    .map(|v| text_value(v.map(|v| v.to_string())))
                    .map_err(|e| e.to_string())
            })
            .map(value_text)
            .map_err(|e| fail(&ctx, &e))
        })?,
    )?;
    let (s, ns, st) = (store(), space.clone(), state.clone());
    host.set(
        "kvSet",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: String, json: String, seconds: f64| {
                let value: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| fail(&ctx, &e))?;
                through(&st, "kv.set", || {
                    let now_ms = st.borrow().now_ms();
                    s.kv_set(&ns, &key, &value, ttl(seconds), now_ms)
                        .map(|()| Value::Null)
                        .map_err(|e| e.to_string())
                })
                .map(drop)
                .map_err(|e| fail(&ctx, &e))
            },
        )?,
    )?;
    let (s, ns, st) = (store(), space.clone(), state.clone());
    host.set(
        "kvDelete",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, key: String| {
            through(&st, "kv.delete", || {
                s.kv_delete(&ns, &key)
                    .map(Value::Bool)
                    .map_err(|e| e.to_string())
            })
            .map(|v| v.as_bool().unwrap_or(false))
            .map_err(|e| fail(&ctx, &e))
        })?,
    )?;
    let (s, ns, st) = (store(), space.clone(), state.clone());
    host.set(
        "kvIncr",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: String, by: f64, seconds: f64| {
                through(&st, "kv.incr", || {
                    let now_ms = st.borrow().now_ms();
                    s.kv_incr(&ns, &key, by as i64, ttl(seconds), now_ms)
                        .map(Value::from)
                        .map_err(|e| e.to_string())
                })
                .map(|n| n.as_f64().unwrap_or(0.0))
                .map_err(|e| fail(&ctx, &e))
            },
        )?,
    )?;
    let (s, ns, st) = (store(), space.clone(), state.clone());
    host.set(
        "kvKeys",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            through(&st, "kv.keys", || {
                s.kv_keys(&ns, st.borrow().now_ms(), 10_000)
                    .map(|k| Value::String(serde_json::to_string(&k).unwrap_or_default()))
                    .map_err(|e| e.to_string())
            })
            .map(|v| value_text(v).unwrap_or_default())
            .map_err(|e| fail(&ctx, &e))
        })?,
    )?;
    let services_ = services.clone();
    host.set(
        "pivotData",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, target: String, opts: String| {
                // The prelude sends a plain object's own keys; anything else reads as none.
                let opts = serde_json::from_str(&opts).unwrap_or_default();
                let target = crate::auth::PivotTarget::parse(&target)
                    .map_err(|e| fail(&ctx, &format!("pf.pivot: {e}")))?;
                let data = services_.pivot.node_data(target, opts);
                Ok::<_, rquickjs::Error>(serde_json::Value::Object(data).to_string())
            },
        )?,
    )?;
    let (s, ns, st) = (store(), space.clone(), state.clone());
    host.set(
        "kvUsage",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            through(&st, "kv.usage", || {
                s.kv_usage(&ns, st.borrow().now_ms())
                    .map(|u| Value::String(serde_json::to_string(&u).unwrap_or_default()))
                    .map_err(|e| e.to_string())
            })
            .map(|v| value_text(v).unwrap_or_default())
            .map_err(|e| fail(&ctx, &e))
        })?,
    )?;
    let (s, st) = (store(), state.clone());
    host.set(
        "usGet",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, area: String, key: String| {
                through(&st, "us.get", || {
                    s.us_get(&area, &key)
                        .map(|v| text_value(v.map(|v| v.to_string())))
                        .map_err(|e| e.to_string())
                })
                .map(value_text)
                .map_err(|e| fail(&ctx, &e))
            },
        )?,
    )?;
    let (s, allowed, name, st) = (store(), settings.clone(), flow.clone(), state.clone());
    host.set(
        "usPut",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, area: String, key: String, json: String| {
                check_write(&allowed, &name, &area).map_err(|e| fail(&ctx, &e))?;
                let value: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| fail(&ctx, &e))?;
                through(&st, "us.put", || {
                    s.us_put(&area, &key, &value)
                        .map(Value::Bool)
                        .map_err(|e| e.to_string())
                })
                .map(|v| v.as_bool().unwrap_or(false))
                .map_err(|e| fail(&ctx, &e))
            },
        )?,
    )?;
    let (s, allowed, name, st) = (store(), settings.clone(), flow.clone(), state.clone());
    host.set(
        "usDelete",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, area: String, key: String| {
                check_write(&allowed, &name, &area).map_err(|e| fail(&ctx, &e))?;
                through(&st, "us.delete", || {
                    s.us_delete(&area, &key)
                        .map(Value::Bool)
                        .map_err(|e| e.to_string())
                })
                .map(|v| v.as_bool().unwrap_or(false))
                .map_err(|e| fail(&ctx, &e))
            },
        )?,
    )?;

    host.set(
        "time",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, zone: String, ms: f64| {
            let time = local_time(&zone, ms as i64).map_err(|e| fail(&ctx, &e))?;
            time.into_js(&ctx)
        })?,
    )?;

    let st = state.clone();
    host.set(
        "timerAdd",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, ms: f64| {
            st.borrow_mut().add_timer(ms).ok_or_else(|| {
                throw(
                    &ctx,
                    &format!("too many timers: at most {MAX_TIMERS} may be pending"),
                )
            })
        })?,
    )?;
    let st = state.clone();
    host.set(
        "timerClear",
        Function::new(ctx.clone(), move |id: u32| {
            st.borrow_mut().timers.remove(&id);
        })?,
    )?;

    let st = state.clone();
    let fetcher = services.fetcher.clone();
    let allow = settings.allow_hosts.clone();
    let tx = completions.clone();
    host.set("fetch", Function::new(ctx.clone(), move |ctx: Ctx<'js>, url: String, options: String| {
        let mut state = st.borrow_mut();
        let parsed = reqwest::Url::parse(&url).map_err(|e| fail(&ctx, &format!("fetch: `{url}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(fail(&ctx, &format!("fetch: only http and https URLs are allowed, not `{}`", parsed.scheme())));
        }
        let host_name = parsed.host_str().unwrap_or("");
        let port = parsed.port_or_known_default().unwrap_or(0);
        if !host_allowed(&allow, host_name, port, parsed.port().is_none()) {
            return Err(fail(&ctx, &format!(
                "fetch: host `{host_name}` is not allowed for this flow: add it to allow_hosts in the flow's .settings.toml"
            )));
        }
        if state.fetches >= MAX_FETCHES {
            return Err(fail(&ctx, &format!("fetch: at most {MAX_FETCHES} requests may be in flight")));
        }
        let deadline = state.deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        state.fetches += 1;
        state.next_id = state.next_id.wrapping_add(1).max(1);
        let id = state.next_id;
        let options = match state.class5.as_mut() {
            None => options,
            // A replayed fetch is not sent again: its completion comes from the journal.
            Some(fx) if fx.mode() == super::class5::Mode::Replaying => return Ok(id),
            Some(fx) => super::class5::with_idempotency_key(&options, &fx.idempotency_key()),
        };
        fetcher.start(state.seq, id, parsed, &options, deadline, tx.clone());
        Ok(id)
    })?)?;
    super::class5::install(ctx, &host, state)?;
    Ok(host)
}

/// The local time in an IANA zone, as the helper module's `time(zone)` gives it.
pub struct LocalTime {
    zone: String,
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    weekday: &'static str,
    day_of_week: u32,
    date: String,
    time: String,
}

impl LocalTime {
    /// Its fields as a list, in the order of the prelude's `time()`, which makes the object
    /// with a literal: through JSON text it cost a parse on every call, and setting its
    /// properties from here (each key found as an atom, each set looking for a setter) cost
    /// more again, in profiles of `business_hours`.
    fn into_js<'js>(self, ctx: &Ctx<'js>) -> rquickjs::Result<rquickjs::Value<'js>> {
        use rquickjs::convert::List;
        use rquickjs::IntoJs;
        List((
            self.zone,
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.weekday,
            self.day_of_week,
            self.date,
            self.time,
        ))
        .into_js(ctx)
    }
}

/// The local time in an IANA zone at `ms` since the epoch.
pub fn local_time(zone: &str, ms: i64) -> Result<LocalTime, String> {
    let tz: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| format!("`{zone}` is not an IANA time zone, e.g. America/New_York"))?;
    let utc = DateTime::<Utc>::from_timestamp_millis(ms).ok_or("time out of range")?;
    let t = utc.with_timezone(&tz);
    let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    Ok(LocalTime {
        zone: zone.to_owned(),
        year: t.year(),
        month: t.month(),
        day: t.day(),
        hour: t.hour(),
        minute: t.minute(),
        second: t.second(),
        weekday: names[t.weekday().num_days_from_monday() as usize],
        day_of_week: t.weekday().number_from_monday(),
        date: t.format("%Y-%m-%d").to_string(),
        time: t.format("%H:%M").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_follows_dst() {
        // 2026-03-08 07:30Z is 03:30 EDT (after the 02:00 jump); 06:30Z is 01:30 EST.
        let after = local_time("America/New_York", 1_772_955_000_000).unwrap();
        assert_eq!(after.time, "03:30");
        assert_eq!(after.weekday, "sun");
        let before = local_time("America/New_York", 1_772_951_400_000).unwrap();
        assert_eq!(before.time, "01:30");
        assert!(local_time("Mars/Base", 0).is_err());
    }

    #[test]
    fn the_call_clock_follows_the_injected_instant() {
        let mut s = CallState::default();
        // An instant far from the machine's: a call given it reads it, console stamps included.
        s.reset(Instant::now(), Some(1_000_000));
        assert!((s.now_ms() - 1_000_000).abs() < 5_000, "{}", s.now_ms());
        s.log("log", "x".into());
        let stamp = s.take_logs()[0].ts.timestamp_millis();
        assert!((stamp - 1_000_000).abs() < 5_000, "{stamp}");
        // No injected instant: the machine's clock.
        s.reset(Instant::now(), None);
        assert!((s.now_ms() - Utc::now().timestamp_millis()).abs() < 5_000);
    }

    #[test]
    fn logs_are_capped() {
        let mut s = CallState::default();
        s.reset(Instant::now(), None);
        for _ in 0..MAX_LOG_LINES + 5 {
            s.log("log", "x".into());
        }
        s.log("log", "y".repeat(MAX_LOG_MESSAGE * 2));
        let logs = s.take_logs();
        assert_eq!(logs.len(), MAX_LOG_LINES + 1);
        assert!(logs
            .last()
            .unwrap()
            .message
            .contains("6 more console lines"));
    }
}
