//! `/events/{flow}`: Kazoo's end-of-call webhook (`CHANNEL_DESTROY`; POST JSON or form, or GET
//! with a query). Kazoo counts only a 200 as delivered and does not retry any other status, so
//! every event that parses gets a 200 once it is dealt with: stored for `postCall`, or dropped
//! and counted (another leg, another call, a flow without `postCall`, …). The one refusal is a
//! full queue (503): that event is lost.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::pivot::read_body;
use super::{with_store, AppState};
use crate::flows::Flow;
use crate::request::{form, BodyFormat};
use crate::webhook::{self, CHANNEL_DESTROY};

/// Why an event was not stored, as `/metrics` and the reply name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dropped {
    UnknownFlow,
    NoPostCall,
    OtherEvent,
    NoCallId,
    UnknownCall,
    OtherLeg,
    Duplicate,
}

impl Dropped {
    fn label(self) -> &'static str {
        match self {
            Dropped::UnknownFlow => "unknown_flow",
            Dropped::NoPostCall => "no_postcall",
            Dropped::OtherEvent => "other_event",
            Dropped::NoCallId => "no_call_id",
            Dropped::UnknownCall => "unknown_call",
            Dropped::OtherLeg => "other_leg",
            Dropped::Duplicate => "duplicate",
        }
    }

    fn detail(self, flow: &str) -> String {
        match self {
            Dropped::UnknownFlow => {
                format!("no flow named `{flow}`: event acknowledged and dropped")
            }
            Dropped::NoPostCall => format!(
                "flow `{flow}` has no postCall: export `postCall(event)` from callflows/{flow}.js, \
                 or point the webhook elsewhere"
            ),
            Dropped::OtherEvent => "not a channel_destroy event: dropped".into(),
            Dropped::NoCallId => "the event names no call (call_id): dropped".into(),
            Dropped::UnknownCall => format!("this call never ran flow `{flow}`: dropped"),
            Dropped::OtherLeg => format!("another leg of a call that ran `{flow}`: dropped"),
            Dropped::Duplicate => "this call's event was already taken: dropped".into(),
        }
    }
}

/// The handler.
pub async fn accept(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (req, state) = (&req, state.get_ref());
    if ![Method::POST, Method::GET, Method::PUT].contains(req.method()) {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} is not allowed on /events: use POST (or GET, as a Kazoo webhook can)",
            req.method()
        )));
    }
    let flow = req.path().strip_prefix("/events/").unwrap_or("").to_owned();
    if flow.is_empty() {
        return Err(ApiError::NotFound(
            "/events needs a flow: /events/NAME".into(),
        ));
    }
    let raw = read_event(req, payload, state).await?;
    let event = webhook::map(raw, &flow);
    let call_id = event["call_id"].as_str().unwrap_or("").to_owned();
    match triage(state, &flow, &event).await? {
        Some(dropped) => Ok(drop_event(state, &flow, &call_id, dropped)),
        None => store(state, flow, call_id, event).await,
    }
}

/// The payload: the body (JSON object or form) with the URL's query parameters added, which is
/// all a GET webhook has. The service's own token never becomes part of an event.
async fn read_event(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Map<String, Value>, ApiError> {
    let (format, body) = read_body(req, payload, state).await?;
    let mut raw = match format {
        BodyFormat::Json if !body.is_empty() => match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(ApiError::BadRequest(
                    "the event body must be a JSON object".into(),
                ))
            }
            Err(e) => return Err(ApiError::BadRequest(format!("malformed JSON body: {e}"))),
        },
        _ => form::parse(&body)
            .map_err(|e| ApiError::BadRequest(format!("malformed form body: {e}")))?,
    };
    let query = form::parse(req.query_string().as_bytes())
        .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))?;
    for (k, v) in query {
        raw.entry(k).or_insert(v);
    }
    raw.remove(super::guard::TOKEN_PARAM);
    Ok(raw)
}

/// Why the event is not for this flow's `postCall`, or `None` when it is.
async fn triage(state: &AppState, flow: &str, event: &Value) -> Result<Option<Dropped>, ApiError> {
    let registry = state.engine.registry();
    match registry.get(flow).map(|e| &e.state) {
        None => return Ok(Some(Dropped::UnknownFlow)),
        Some(Ok(Flow::Rules(_))) => return Ok(Some(Dropped::NoPostCall)),
        Some(Ok(Flow::Script(script))) if !webhook::may_define_post_call(script) => {
            return Ok(Some(Dropped::NoPostCall))
        }
        // A flow that did not load may be fixed by the next reload: keep its events.
        Some(_) => {}
    }
    drop(registry);
    if event["hook_event"]
        .as_str()
        .is_some_and(|h| !h.eq_ignore_ascii_case(CHANNEL_DESTROY))
    {
        return Ok(Some(Dropped::OtherEvent));
    }
    let Some(call_id) = event["call_id"].as_str().filter(|c| !c.is_empty()) else {
        return Ok(Some(Dropped::NoCallId));
    };
    let other_leg = event["other_leg_call_id"].as_str().unwrap_or("");
    match_call(state, flow, call_id, other_leg).await
}

/// `None` when `call_id` has a step of `flow` in the exchange log; else whether it is another
/// leg of such a call (`other_leg` has one) or some other call. Reads the store off the worker.
async fn match_call(
    state: &AppState,
    flow: &str,
    call_id: &str,
    other_leg: &str,
) -> Result<Option<Dropped>, ApiError> {
    let calls = state.calls.clone();
    let (flow, call_id, other_leg) = (flow.to_owned(), call_id.to_owned(), other_leg.to_owned());
    let found = web::block(
        move || -> Result<Option<Dropped>, crate::store::StoreError> {
            if calls.ran_flow(&call_id, &flow)? {
                return Ok(None);
            }
            if !other_leg.is_empty() && calls.ran_flow(&other_leg, &flow)? {
                return Ok(Some(Dropped::OtherLeg));
            }
            Ok(Some(Dropped::UnknownCall))
        },
    )
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    found.map_err(ApiError::from)
}

/// Acknowledges a dropped event with 200: counted, logged (a flow without postCall warns once).
fn drop_event(state: &AppState, flow: &str, call_id: &str, dropped: Dropped) -> HttpResponse {
    let detail = dropped.detail(flow);
    state.metrics.event(flow, dropped.label());
    if dropped == Dropped::NoPostCall && state.intake.first_warning(flow) {
        tracing::warn!(flow = %flow, call_id, "{detail}");
    } else {
        tracing::info!(flow = %flow, call_id, result = dropped.label(), "post-call event dropped");
    }
    HttpResponse::Ok().json(json!({"result": dropped.label(), "flow": flow, "detail": detail}))
}

/// Stores the event for the worker unless this call's event was taken already (a repeated
/// delivery): 200 once it is on disk, 503 (the event lost) when the queue is at its bound.
async fn store(
    state: &AppState,
    flow: String,
    call_id: String,
    event: Value,
) -> Result<HttpResponse, ApiError> {
    // The queue runs on the service's clock, the one the worker compares due times with.
    let now = state.clock.now().timestamp_millis();
    let (f, c) = (flow.clone(), call_id.clone());
    let max = state.config.events.max_pending_bytes;
    let pushed = with_store(state, move |store| {
        store.event_push_once(&f, &c, &event, now, max)
    })
    .await;
    let id = match pushed {
        Ok(Some(id)) => id,
        Ok(None) => return Ok(drop_event(state, &flow, &call_id, Dropped::Duplicate)),
        Err(e) => {
            let full = matches!(e, ApiError::Overloaded(_));
            state
                .metrics
                .event(&flow, if full { "queue_full" } else { "error" });
            tracing::error!(flow = %flow, call_id, error = %e, "post-call event not stored: it is lost");
            return Err(e);
        }
    };
    state.metrics.event(&flow, "stored");
    state.doorbell.ring();
    tracing::info!(flow = %flow, event_id = id, call_id, "post-call event stored");
    Ok(HttpResponse::Ok().json(json!({"result": "stored", "id": id, "flow": flow})))
}
