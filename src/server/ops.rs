//! Operations endpoints: `GET /readyz` (should this node get calls?) and `GET /metrics`
//! (Prometheus text). `/healthz` (is the process alive?) is with the small routes.

use actix_web::{web, HttpResponse, ResponseError};

use super::error::ApiError;
use super::AppState;
use crate::metrics::CONTENT_TYPE;
use crate::readiness;

/// `GET /readyz`: 200 `{"ready": true, "flows": N, "store": "ok"}`, else 503 naming what is not
/// ready.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (engine, store) = (state.engine.clone(), state.store.clone());
    // Reading the folder and the store may wait on the disk: not on the HTTP worker.
    let found = match web::block(move || readiness::check(&engine, store.as_ref())).await {
        Ok(found) => found,
        Err(e) => return ApiError::Internal(e.to_string()).error_response(),
    };
    let mut reply = if found.ready() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    reply.json(found.to_json())
}

/// `GET /metrics`: every metric in the Prometheus text format 0.0.4.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(state.metrics.render())
}
