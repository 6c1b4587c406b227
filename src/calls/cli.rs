//! `pivotforge calls`: the exchange log in a terminal. It asks a running service over HTTP (the
//! service holds the store file open), prints one line per call or every step of one call, and
//! with `--follow` keeps polling and prints what changes until interrupted.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use chrono::DateTime;
use serde_json::Value;

/// How often `--follow` asks again.
const POLL: Duration = Duration::from_secs(1);
/// Longest wait for one answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Characters of a flow version shown.
const VERSION_CHARS: usize = 12;

/// What `pivotforge calls` was asked.
#[derive(Debug, Clone, Default)]
pub struct CallsArgs {
    /// Base URL of the running service, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// One call to show step by step; all calls when absent.
    pub call_id: Option<String>,
    /// `flow=` filter.
    pub flow: Option<String>,
    /// `outcome=` filter.
    pub outcome: Option<String>,
    /// `since=` filter.
    pub since: Option<String>,
    /// `limit=`.
    pub limit: Option<usize>,
    /// Keep polling and print changes.
    pub follow: bool,
}

/// Why a request to the service gave nothing to print.
enum Failed {
    /// The request never got an answer, or the answer was not what this command reads.
    Unreachable(String),
    /// The service answered with an error.
    Refused(String),
}

impl Failed {
    fn message(&self) -> &str {
        match self {
            Failed::Unreachable(m) | Failed::Refused(m) => m,
        }
    }
}

/// Runs the command; 0 when it printed what was asked, 1 when the service could not be reached
/// or refused, 2 when the arguments are unusable.
pub fn run(args: &CallsArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let url = match target(args) {
        Ok(url) => url,
        Err(e) => {
            let _ = writeln!(err, "pivotforge calls: {e}");
            return 2;
        }
    };
    // reqwest is built without a default TLS provider; an https --url needs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            let _ = writeln!(err, "pivotforge calls: can't set up an HTTP client: {e}");
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "pivotforge calls: {e}");
            return 1;
        }
    };
    let fetch = |url: reqwest::Url| runtime.block_on(fetch(&client, url));
    match &args.call_id {
        Some(call_id) => one_call(call_id, &url, args.follow, fetch, out, err),
        None => all_calls(&url, args.follow, fetch, out, err),
    }
}

/// The URL to ask: `/calls?…` or `/calls/{call_id}` (the id percent-encoded as one segment).
fn target(args: &CallsArgs) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(&args.url).map_err(|e| {
        format!(
            "`{}` is not a URL ({e}): pass --url http://HOST:PORT",
            args.url
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{}` is not an http:// or https:// URL: pass --url http://HOST:PORT",
            args.url
        ));
    }
    {
        let mut path = url.path_segments_mut().map_err(|()| {
            format!(
                "`{}` can't take a path: pass --url http://HOST:PORT",
                args.url
            )
        })?;
        path.pop_if_empty().push("calls");
        if let Some(call_id) = &args.call_id {
            path.push(call_id);
        }
    }
    if args.call_id.is_none() {
        let mut query = url.query_pairs_mut();
        for (key, value) in [
            ("flow", args.flow.clone()),
            ("outcome", args.outcome.clone()),
            ("since", args.since.clone()),
            ("limit", args.limit.map(|n| n.to_string())),
        ] {
            if let Some(value) = value {
                query.append_pair(key, &value);
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    Ok(url)
}

async fn fetch(client: &reqwest::Client, url: reqwest::Url) -> Result<Value, Failed> {
    let base = format!("{}://{}", url.scheme(), url.authority());
    let response = client.get(url).send().await.map_err(|e| {
        let why = if e.is_connect() {
            "nothing answers there".to_owned()
        } else if e.is_timeout() {
            "it did not answer in time".to_owned()
        } else {
            e.to_string()
        };
        Failed::Unreachable(format!(
            "can't reach the service at {base}: {why}; start it with `pivotforge serve`, or \
             point --url at it"
        ))
    })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failed::Unreachable(format!("{base} stopped answering mid-reply: {e}")))?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Failed::Unreachable(format!(
            "{base} answered {status} without the JSON of /calls ({e}): is --url a pivotforge \
             service?"
        ))
    })?;
    if status.is_success() {
        return Ok(body);
    }
    let detail = body["detail"]
        .as_str()
        .or(body["error"].as_str())
        .unwrap_or("no detail");
    Err(Failed::Refused(format!("{status}: {detail}")))
}

fn all_calls(
    url: &reqwest::Url,
    follow: bool,
    fetch: impl Fn(reqwest::Url) -> Result<Value, Failed>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let first = match fetch(url.clone()) {
        Ok(body) => body,
        Err(e) => {
            let _ = writeln!(err, "pivotforge calls: {}", e.message());
            return 1;
        }
    };
    let calls = list_of(&first);
    if !follow {
        if calls.is_empty() {
            let _ = writeln!(err, "no calls match");
        } else {
            let _ = writeln!(out, "{}", header());
            for call in calls {
                let _ = writeln!(out, "{}", call_line(call));
            }
        }
        return 0;
    }
    // Following reads like a log: oldest first, each change appended as it is seen.
    let _ = writeln!(out, "{}", header());
    let mut seen: HashMap<String, (Value, Value)> = HashMap::new();
    let mut body = first;
    let mut failing = false;
    loop {
        for call in list_of(&body).iter().rev() {
            let id = call["call_id"].as_str().unwrap_or_default().to_owned();
            let state = (call["last_at"].clone(), call["steps"].clone());
            if seen.get(&id) != Some(&state) {
                let _ = writeln!(out, "{}", call_line(call));
                seen.insert(id, state);
            }
        }
        let _ = out.flush();
        std::thread::sleep(POLL);
        body = loop {
            match fetch(url.clone()) {
                Ok(body) => {
                    failing = false;
                    break body;
                }
                Err(e) => {
                    if !failing {
                        let _ = writeln!(err, "pivotforge calls: {}; still trying", e.message());
                        failing = true;
                    }
                    std::thread::sleep(POLL);
                }
            }
        };
    }
}

fn one_call(
    call_id: &str,
    url: &reqwest::Url,
    follow: bool,
    fetch: impl Fn(reqwest::Url) -> Result<Value, Failed>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut printed = 0;
    let mut failing = false;
    loop {
        match fetch(url.clone()) {
            Ok(body) => {
                failing = false;
                let steps = body["steps"].as_array().map_or(&[][..], |s| s.as_slice());
                if printed == 0 {
                    let _ = writeln!(out, "call {call_id}");
                }
                for step in steps.iter().skip(printed) {
                    print_step(step, out);
                }
                printed = printed.max(steps.len());
            }
            Err(e) if !follow || printed == 0 => {
                let _ = writeln!(err, "pivotforge calls: {}", e.message());
                return 1;
            }
            Err(e) => {
                if !failing {
                    let _ = writeln!(err, "pivotforge calls: {}; still trying", e.message());
                    failing = true;
                }
            }
        }
        let _ = out.flush();
        if !follow {
            return 0;
        }
        std::thread::sleep(POLL);
    }
}

fn list_of(body: &Value) -> &[Value] {
    body["calls"].as_array().map_or(&[][..], |c| c.as_slice())
}

fn header() -> String {
    format!(
        "{:<19}  {:<40}  {:<24}  {:>5}  OUTCOME",
        "LAST STEP (UTC)", "CALL-ID", "FLOW", "STEPS"
    )
}

/// `2026-11-17 15:00:00` from an RFC 3339 time, with milliseconds when asked.
fn time(value: &Value, millis: bool) -> String {
    let text = value.as_str().unwrap_or_default();
    let format = if millis {
        "%Y-%m-%d %H:%M:%S%.3f"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc().format(format).to_string())
        .unwrap_or_else(|_| text.to_owned())
}

/// One call: time, Call-ID, flow, steps, outcome and status.
fn call_line(call: &Value) -> String {
    format!(
        "{:<19}  {:<40}  {:<24}  {:>5}  {} {}",
        time(&call["last_at"], false),
        call["call_id"].as_str().unwrap_or_default(),
        call["flow"].as_str().unwrap_or_default(),
        // A JSON value ignores width: pad its text.
        call["steps"].to_string(),
        call["outcome"].as_str().unwrap_or_default(),
        call["status"],
    )
}

/// One step: what answered and how, where the time went, the request, the reply, errors, logs.
fn print_step(step: &Value, out: &mut dyn Write) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let version: String = text(&step["version"]).chars().take(VERSION_CHARS).collect();
    let mut line = format!(
        "step {}  {}  {}",
        step["step"],
        time(&step["at"], true),
        text(&step["flow"])
    );
    if !version.is_empty() {
        line.push_str(&format!(" ({version})"));
    }
    line.push_str(&format!("  {} {}", text(&step["outcome"]), step["status"]));
    if let Some(rule) = step["rule"].as_str() {
        line.push_str(&format!("  rule: {rule}"));
    }
    let _ = writeln!(out, "{line}");
    let t = &step["timings"];
    let _ = writeln!(
        out,
        "  timings  parse {} µs, run {} µs, validate {} µs, total {} µs",
        t["parse_us"], t["run_us"], t["validate_us"], t["total_us"]
    );
    let _ = writeln!(out, "  request  {}", step["request"]);
    if !step["reply"].is_null() {
        let _ = writeln!(out, "  reply    {}", step["reply"]);
    }
    if let Some(detail) = step["detail"].as_str() {
        let _ = writeln!(out, "  detail   {detail}");
    }
    for error in step["errors"].as_array().into_iter().flatten() {
        let pointer = error["pointer"].as_str().unwrap_or_default();
        let pointer = if pointer.is_empty() { "/" } else { pointer };
        let _ = writeln!(out, "  error    {pointer}: {}", text(&error["message"]));
    }
    for log in step["logs"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  log      {} {}: {}",
            time(&log["ts"], true),
            text(&log["level"]),
            text(&log["message"])
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(url: &str) -> CallsArgs {
        CallsArgs {
            url: url.into(),
            ..CallsArgs::default()
        }
    }

    #[test]
    fn urls_carry_filters_and_encode_the_call_id_as_one_segment() {
        let plain = target(&args("http://127.0.0.1:8080")).unwrap();
        assert_eq!(plain.as_str(), "http://127.0.0.1:8080/calls");
        let filtered = target(&CallsArgs {
            flow: Some("sales/main".into()),
            since: Some("15m".into()),
            limit: Some(5),
            ..args("http://h:1/base/")
        })
        .unwrap();
        assert_eq!(
            filtered.as_str(),
            "http://h:1/base/calls?flow=sales%2Fmain&since=15m&limit=5"
        );
        let one = target(&CallsArgs {
            call_id: Some("a/b@10.0.0.1 %".into()),
            ..args("http://h:1")
        })
        .unwrap();
        assert_eq!(one.path(), "/calls/a%2Fb@10.0.0.1%20%25");
        assert!(target(&args("not a url")).is_err());
        assert!(target(&args("ftp://h/")).unwrap_err().contains("http://"));
    }

    #[test]
    fn call_lines_line_up_under_the_header() {
        let call = json!({
            "call_id": "c@h", "flow": "greet", "first_at": "2026-11-17T15:00:00.000Z",
            "last_at": "2026-11-17T15:00:01.000Z", "steps": 12, "outcome": "tree", "status": 200
        });
        let line = call_line(&call);
        assert!(line.starts_with("2026-11-17 15:00:01  c@h "), "{line}");
        let header = header();
        assert_eq!(
            line.find("   12  tree 200"),
            header.find("STEPS"),
            "{header}\n{line}"
        );
    }

    #[test]
    fn a_step_prints_its_parts() {
        let step = json!({
            "step": 2, "at": "2026-11-17T15:00:00.250Z", "flow": "greet",
            "version": "0123456789abcdef", "request": {"Call-ID": "c"},
            "reply": {"module": "hangup", "data": {}}, "outcome": "fallback", "status": 200,
            "rule": null, "detail": "invalid callflow tree",
            "errors": [{"pointer": "/data/text", "message": "too short"}],
            "logs": [{"ts": "2026-11-17T15:00:00.1Z", "level": "warn", "message": "hm"}],
            "timings": {"parse_us": 1, "run_us": 2, "validate_us": 3, "total_us": 9}
        });
        let mut out = Vec::new();
        print_step(&step, &mut out);
        let text = String::from_utf8(out).unwrap();
        for part in [
            "step 2  2026-11-17 15:00:00.250  greet (0123456789ab)  fallback 200",
            "total 9 µs",
            r#"reply    {"module":"hangup","data":{}}"#,
            "error    /data/text: too short",
            "log      2026-11-17 15:00:00.100 warn: hm",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
    }
}
