//! The console's whole-call API: `POST /api/call` plays one simulated call in-process (this
//! service's flows, a fresh scratch store, the clock at the chosen instant) and answers its
//! transcript; `POST /api/call/scenario` plays it and answers it as a scenario file;
//! `GET /calls/{call_id}/scenario` writes a call of the exchange log as one. Admin only: the
//! chosen instant is never accepted on `/pivot`.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::body::read_limited;
use super::error::ApiError;
use super::AppState;
use crate::sim::{BridgeOutcome, CallSpec, Setup, Transcript};

/// Simulated calls played at once; more wait for none and get 503 (each starts an engine).
pub const MAX_SIMULATIONS: usize = 2;
/// Most digits entries, bridge outcomes or parameters one call may name.
const MAX_ENTRIES: usize = 100;
/// Longest digits entry.
const MAX_DIGITS: usize = 128;

/// How many simulated calls are playing now (a slot each).
#[derive(Debug, Default)]
pub struct Simulations(AtomicUsize);

/// A slot of [`Simulations`], given back when dropped.
struct Slot<'a>(&'a Simulations);

impl Simulations {
    fn take(&self) -> Option<Slot<'_>> {
        let taken = self.0.fetch_add(1, Ordering::AcqRel);
        if taken >= MAX_SIMULATIONS {
            self.0.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(self))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `POST /api/call`: the transcript, with the instant the call ran at.
pub async fn call(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let spec = read_spec(&req, payload, &state).await?;
    let transcript = play(&state, &spec).await?;
    let mut view =
        serde_json::to_value(&transcript).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let (Value::Object(map), Some(at)) = (&mut view, spec.at) {
        map.insert("at".into(), Value::String(rfc3339(at)));
    }
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/call/scenario`: the call played and written as a scenario file (a download).
pub async fn scenario(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let spec = read_spec(&req, payload, &state).await?;
    let transcript = play(&state, &spec).await?;
    let name = format!("{} (saved from the console playground)", spec.flow);
    let notes = [format!(
        "Saved from the pivotforge console's playground: the call as it played at {}.\n\
         Edit what it expects to what should happen, and run `pivotforge test`.",
        spec.at.map(rfc3339).unwrap_or_default()
    )];
    let text = crate::scenario::to_toml(&name, &spec, &transcript, &notes);
    Ok(download(&spec.flow, text))
}

/// `GET /calls/{call_id}/scenario`: a call of the exchange log as a scenario file.
pub async fn from_log(
    call_id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let call_id = call_id.into_inner();
    let call = super::calls::find(&state, &call_id).await?;
    let shown: String = call_id.chars().take(128).collect::<String>();
    let saved = crate::scenario::from_log::from_log(&call, &state.config.public_url)
        .await
        .map_err(|e| ApiError::BadRequest(format!("call `{}`: {e}", shown.escape_debug())))?;
    let name = format!(
        "call {} (saved from the exchange log)",
        shown.escape_debug()
    );
    let mut notes = vec![format!(
        "Saved from the pivotforge console: call {} of the exchange log, as it went.\n\
         Edit what it expects to what should happen, and run `pivotforge test`.",
        shown.escape_debug()
    )];
    notes.extend(saved.notes);
    let text = crate::scenario::to_toml(&name, &saved.spec, &saved.transcript, &notes);
    Ok(download(&saved.spec.flow, text))
}

/// Reads and checks the body of a whole-call request.
async fn read_spec(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<CallSpec, ApiError> {
    super::require_post(req, req.path())?;
    let body = read_limited(
        req,
        payload,
        state.config.max_body_bytes,
        state.config.limits.body_timeout(),
    )
    .await?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body must be a JSON object such as {{\"flow\": \"main_number_tod\"}}: {e}"
        ))
    })?;
    let mut spec = parse_call(&value).map_err(ApiError::BadRequest)?;
    if state.engine.registry().get(&spec.flow).is_none() {
        return Err(ApiError::BadRequest(format!(
            "flow: no flow named `{}` is loaded (GET /flows lists them)",
            spec.flow
        )));
    }
    // The service's clock when no instant is chosen, so the file saved says when it ran.
    spec.at = Some(spec.at.unwrap_or_else(|| state.clock.now()));
    Ok(spec)
}

/// Plays `spec` off the HTTP worker, within the limit of simulated calls at once.
async fn play(state: &AppState, spec: &CallSpec) -> Result<Transcript, ApiError> {
    let _slot = state.simulations.take().ok_or_else(|| {
        ApiError::Overloaded(format!(
            "{MAX_SIMULATIONS} simulated calls are playing already: try again when one ends"
        ))
    })?;
    let (config, spec) = (state.config.clone(), spec.clone());
    web::block(move || crate::sim::play_offline(&config, &spec, &Setup::default()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::Internal)
}

/// The body of `POST /api/call`: `{flow, params, digits, bridges, at, method, kazoo}`; every
/// problem names its field.
pub fn parse_call(body: &Value) -> Result<CallSpec, String> {
    let Value::Object(map) = body else {
        return Err(
            "the body must be a JSON object such as {\"flow\": \"main_number_tod\"}".into(),
        );
    };
    let mut spec = CallSpec::default();
    for (key, value) in map {
        match key.as_str() {
            "flow" => spec.flow = flow(value)?,
            "params" => spec.params = params(value)?,
            "digits" => spec.digits = digits(value)?,
            "bridges" => spec.bridges = bridges(value)?,
            "at" => spec.at = instant(value)?,
            "method" => {
                spec.method = text(key, value)?
                    .parse()
                    .map_err(|e| format!("method: {e}"))?
            }
            "kazoo" => {
                spec.kazoo = text(key, value)?
                    .parse()
                    .map_err(|e| format!("kazoo: {e}"))?
            }
            other => {
                return Err(format!(
                    "unknown field `{other}`: give flow, params, digits, bridges, at, method, kazoo"
                ))
            }
        }
    }
    if spec.flow.is_empty() {
        return Err("flow: missing; name the flow to call, as in /pivot/NAME".into());
    }
    Ok(spec)
}

fn text<'a>(key: &str, value: &'a Value) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{key}: must be a string, not {value}"))
}

fn flow(value: &Value) -> Result<String, String> {
    let name = text("flow", value)?.trim();
    if !crate::flow_name::valid_flow_name(name) {
        return Err(format!(
            "flow: {name:?} is not a flow name: write it as in /pivot/NAME"
        ));
    }
    Ok(name.to_owned())
}

fn params(value: &Value) -> Result<Vec<(String, String)>, String> {
    let map: &Map<String, Value> = match value {
        Value::Object(map) => map,
        Value::Null => return Ok(Vec::new()),
        other => {
            return Err(format!(
                "params: must be an object of names and values, not {other}"
            ))
        }
    };
    if map.len() > MAX_ENTRIES {
        return Err(format!("params: at most {MAX_ENTRIES} parameters"));
    }
    map.iter()
        .map(|(key, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(format!(
                        "params: `{key}` must be a string, a number or a boolean; write nested \
                         parameters flat, e.g. \"Custom-SIP-Headers[X-Account]\""
                    ))
                }
            };
            Ok((key.clone(), text))
        })
        .collect()
}

fn list<'a>(key: &str, value: &'a Value) -> Result<Vec<&'a str>, String> {
    let items = match value {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        other => return Err(format!("{key}: must be a list of strings, not {other}")),
    };
    if items.len() > MAX_ENTRIES {
        return Err(format!("{key}: at most {MAX_ENTRIES} entries"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .ok_or_else(|| format!("{key}[{i}]: must be a string, not {item}"))
        })
        .collect()
}

fn digits(value: &Value) -> Result<Vec<String>, String> {
    let entries = list("digits", value)?;
    for (i, entry) in entries.iter().enumerate() {
        let dtmf = entry
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#');
        if !dtmf || entry.len() > MAX_DIGITS {
            return Err(format!(
                "digits[{i}]: {entry:?} is not DTMF: 0-9, * and # only, at most {MAX_DIGITS} \
                 (\"\" = nothing pressed)"
            ));
        }
    }
    Ok(entries.into_iter().map(str::to_owned).collect())
}

fn bridges(value: &Value) -> Result<Vec<BridgeOutcome>, String> {
    list("bridges", value)?
        .into_iter()
        .enumerate()
        .map(|(i, entry)| entry.parse().map_err(|e| format!("bridges[{i}]: {e}")))
        .collect()
}

fn instant(value: &Value) -> Result<Option<DateTime<Utc>>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                format!(
                    "at: {s:?} is not an RFC 3339 instant with its offset, e.g. \
                     \"2026-12-24T15:00:00-05:00\""
                )
            }),
        other => Err(format!("at: must be an RFC 3339 string, not {other}")),
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A scenario file as a download named after its flow.
fn download(flow: &str, text: String) -> HttpResponse {
    let file: String = flow
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    HttpResponse::Ok()
        .content_type("application/toml; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file}.toml\""),
        ))
        .body(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sim::{KazooVersion, Method};

    #[test]
    fn a_whole_call_body_reads_into_a_spec() {
        let spec = parse_call(&json!({
            "flow": "digits_menu", "params": {"Caller-ID-Number": "+1415", "X": 7},
            "digits": ["1", ""], "bridges": ["answer", "USER_BUSY/sip:486"],
            "at": "2026-12-24T15:00:00-05:00", "method": "post", "kazoo": "master"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.flow, "digits_menu");
        assert_eq!(spec.params[1], ("X".to_owned(), "7".to_owned()));
        assert_eq!(spec.digits, ["1", ""]);
        assert_eq!(spec.bridges.len(), 2);
        assert_eq!(
            spec.at.map(rfc3339).as_deref(),
            Some("2026-12-24T20:00:00Z")
        );
        assert_eq!(
            (spec.method, spec.kazoo),
            (Method::Post, KazooVersion::Master)
        );
    }

    #[test]
    fn simulations_are_bounded_and_slots_come_back() {
        let simulations = Simulations::default();
        let held: Vec<Slot<'_>> = (0..MAX_SIMULATIONS)
            .filter_map(|_| simulations.take())
            .collect();
        assert_eq!(held.len(), MAX_SIMULATIONS);
        assert!(simulations.take().is_none(), "one too many");
        drop(held);
        assert!(simulations.take().is_some(), "the slots came back");
    }

    #[test]
    fn each_bad_field_is_named() {
        for (body, says) in [
            (json!([]), "must be a JSON object"),
            (json!({}), "flow: missing"),
            (json!({"flow": "a b"}), "flow: \"a b\" is not a flow name"),
            (
                json!({"flow": "a", "digits": ["1x"]}),
                "digits[0]: \"1x\" is not DTMF",
            ),
            (
                json!({"flow": "a", "digits": "1"}),
                "digits: must be a list",
            ),
            (
                json!({"flow": "a", "bridges": ["busy signal"]}),
                "bridges[0]: ",
            ),
            (
                json!({"flow": "a", "at": "Christmas"}),
                "at: \"Christmas\" is not an RFC 3339",
            ),
            (json!({"flow": "a", "method": "put"}), "method: "),
            (json!({"flow": "a", "kazoo": "5"}), "kazoo: "),
            (
                json!({"flow": "a", "params": {"a": [1]}}),
                "params: `a` must be",
            ),
            (json!({"flow": "a", "dgits": []}), "unknown field `dgits`"),
        ] {
            let err = parse_call(&body).err().unwrap_or_default();
            assert!(err.contains(says), "{body}: {err}");
        }
        let many: Vec<Value> = (0..=MAX_ENTRIES).map(|_| json!("1")).collect();
        let err = parse_call(&json!({"flow": "a", "digits": many})).err();
        assert!(err.is_some_and(|e| e.contains("at most")));
    }
}
