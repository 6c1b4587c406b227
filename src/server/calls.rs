//! `GET /calls?flow=&outcome=&since=&limit=` and `GET /calls/{call_id}`: the exchange log.
//! Both read the store, so the work runs off the HTTP worker.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::calls::CallQuery;

/// `GET /calls`: calls newest first (by last step), filtered.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query =
        CallQuery::parse(req.query_string(), state.clock.now()).map_err(ApiError::BadRequest)?;
    let log = state.calls.clone();
    let calls = web::block(move || log.list(&query))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let calls: Vec<Value> = calls.iter().map(|c| c.to_json()).collect();
    Ok(HttpResponse::Ok().json(json!({ "calls": calls })))
}

/// `GET /calls/{call_id}` (the Call-ID percent-encoded as one path segment): every step.
pub async fn one(
    call_id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let call = find(&state, &call_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(call))
}

/// The call `call_id` of the exchange log, read off the HTTP worker; a 404 naming it when the
/// log has none.
pub async fn find(state: &AppState, call_id: &str) -> Result<Value, ApiError> {
    let log = state.calls.clone();
    let id = call_id.to_owned();
    let found = web::block(move || log.call(&id))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    found.ok_or_else(|| {
        let shown: String = call_id.chars().take(128).collect();
        ApiError::NotFound(format!(
            "no call with Call-ID `{}` in the log (never seen, or older than the retention): \
             GET /calls lists them; percent-encode the Call-ID as one path segment",
            shown.escape_debug()
        ))
    })
}
