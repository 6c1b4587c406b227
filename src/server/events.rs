//! `POST /events/{flow}`: the PBX's end-of-call POSTs (a pivot node's `cdr_url`, or a webhook
//! for CHANNEL_DESTROY; form or JSON). The answer is 202 only once the event is on disk.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::ApiError;
use super::pivot::read_body;
use super::{with_store, AppState};
use crate::flows::{valid_flow_name, Flow};
use crate::request::{form, BodyFormat};

/// The handler.
pub async fn accept(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (req, state) = (&req, state.get_ref());
    super::require_post(req, "/events")?;
    let flow = req.path().strip_prefix("/events/").unwrap_or("").to_owned();
    if !valid_flow_name(&flow) {
        return Err(ApiError::NotFound(format!("`{flow}` is not a flow name")));
    }
    match state
        .engine
        .registry()
        .get(&flow)
        .map(|e| matches!(e.state, Ok(Flow::Script(_)) | Err(_)))
    {
        None => return Err(ApiError::NotFound(format!("no flow named `{flow}`"))),
        Some(false) => {
            return Err(ApiError::NotFound(format!(
                "`{flow}` is a rule flow: post-call events need a script with postCall"
            )))
        }
        Some(true) => {}
    }
    let (format, body) = read_body(req, payload, state).await?;
    let mut event = match format {
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
    // Parameters in the URL (e.g. `?account=…` on a cdr_url) are part of the event too.
    for (k, v) in form::parse(req.query_string().as_bytes())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
    {
        event.entry(k).or_insert(v);
    }
    let value = Value::Object(event);
    let call_id = crate::events::call_id_of(&value).to_owned();
    // The queue runs on the machine's clock, whatever clock flows see: the worker compares
    // due times with it.
    let now = chrono::Utc::now().timestamp_millis();
    let f = flow.clone();
    let max = state.config.events.max_pending_bytes;
    let id = with_store(state, move |store| store.event_push(&f, &value, now, max)).await?;
    state.doorbell.ring();
    tracing::info!(flow = %flow, event_id = id, call_id, "post-call event stored");
    Ok(HttpResponse::Accepted().json(json!({"id": id, "flow": flow})))
}
