//! `GET|POST /pivot/{flow…}`: one call step in, one callflow tree out.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;

use super::error::ApiError;
use super::{reply, AppState};
use crate::flows::valid_flow_name;
use crate::outcome::Outcome;
use crate::request::{BodyFormat, PivotRequest, RequestError};

/// The handler: thin glue between HTTP and `Engine::answer`.
pub async fn pivot(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let method = req.method();
    if method != actix_web::http::Method::GET && method != actix_web::http::Method::POST {
        return ApiError::MethodNotAllowed(format!(
            "{method} is not allowed on {}: use GET or POST",
            req.path()
        ))
        .error_response();
    }
    // Names are plain ASCII, so the raw path needs no decoding: a `%` makes it invalid anyway.
    let flow = req.path().strip_prefix("/pivot/").unwrap_or("").to_owned();
    let parsed = read_request(&req, payload, state.config.max_body_bytes).await;
    let call_id = parsed
        .as_ref()
        .ok()
        .and_then(|r| r.call_id.clone())
        .unwrap_or_default();
    let mut rule = None;
    let result = parsed.and_then(|pivot_req| {
        if !valid_flow_name(&flow) {
            return Err(ApiError::NotFound(format!("`{flow}` is not a flow name")));
        }
        let answer = state
            .engine
            .answer(&flow, &pivot_req, state.clock.now())
            .ok_or_else(|| {
                ApiError::NotFound(format!("no flow named `{flow}`: add callflows/{flow}.toml"))
            })?;
        rule = answer.rule;
        Ok(answer.outcome)
    });
    log(&flow, &call_id, rule.as_deref(), &result, started);
    reply::respond(&result)
}

fn log(
    flow: &str,
    call_id: &str,
    rule: Option<&str>,
    result: &Result<Outcome, ApiError>,
    started: Instant,
) {
    let status = reply::status_of(result);
    let duration_us = started.elapsed().as_micros() as u64;
    match result {
        Ok(outcome) => {
            let reason = outcome.failure().map(|f| f.detail.as_str()).unwrap_or("");
            tracing::info!(
                flow,
                call_id,
                outcome = outcome.label(),
                rule,
                status,
                duration_us,
                reason,
                "pivot"
            );
        }
        Err(e) => {
            tracing::info!(flow, call_id, outcome = "refused", status, duration_us, reason = %e, "pivot")
        }
    }
}

/// Reads the query string and, for POST, the body within `limit` bytes.
async fn read_request(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<PivotRequest, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let is_post = req.method() == actix_web::http::Method::POST;
    let format = if is_post {
        BodyFormat::from_content_type(content_type)?
    } else {
        BodyFormat::Form
    };
    let too_large = || ApiError::from(RequestError::TooLarge { limit });
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if !is_post {
        body.clear();
    }
    Ok(PivotRequest::parse(req.query_string(), &body, format)?)
}
