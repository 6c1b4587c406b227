//! `GET|POST /pivot/{flow…}`: one call step in, one callflow tree out.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::body::read_limited;
use super::error::ApiError;
use super::{reply, AppState};
use crate::calls::{Exchange, Recorded, Timings};
use crate::flows::valid_flow_name;
use crate::outcome::Outcome;
use crate::request::{BodyFormat, PivotRequest};

/// The handler: thin glue between HTTP and `Engine::answer`; every parsed step goes to the
/// exchange log and the metrics after its reply is built.
pub async fn pivot(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let at = state.clock.now();
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
    let parsed = read_request(&req, payload, &state).await;
    let parse = started.elapsed();
    let (pivot_req, request_bytes) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let result = Err(e);
            log(&state, &flow, "", None, &result, started);
            state
                .metrics
                .pivot(&flow, "refused", started.elapsed(), None);
            return reply::respond(&result);
        }
    };
    let call_id = pivot_req.call_id.clone().unwrap_or_default();
    let mut answered = None;
    let result = if !valid_flow_name(&flow) {
        Err(ApiError::NotFound(format!("`{flow}` is not a flow name")))
    } else {
        match state.engine.answer(&flow, &pivot_req, at).await {
            None => Err(ApiError::NotFound(format!(
                "no flow named `{flow}`: add callflows/{flow}.toml or callflows/{flow}.js"
            ))),
            Some(Err(overloaded)) => Err(overloaded.into()),
            Some(Ok(answer)) => {
                let outcome = answer.outcome;
                answered = Some((
                    answer.rule,
                    answer.logs,
                    answer.version,
                    answer.run,
                    answer.validate,
                    answer.script,
                    answer.reply_bytes,
                ));
                Ok(outcome)
            }
        }
    };
    let response = reply::respond(&result);
    let (rule, logs, version, run, validate, script, reply_bytes) = answered.unwrap_or_default();
    log(&state, &flow, &call_id, rule.as_deref(), &result, started);
    let total = started.elapsed();
    let status = reply::status_of(&result);
    let result = match result {
        Ok(outcome) => Recorded::Outcome(outcome),
        Err(e) => Recorded::Refused(e.to_string()),
    };
    let label = match &result {
        Recorded::Outcome(outcome) => outcome.label(),
        Recorded::Refused(_) => "refused",
    };
    state.metrics.pivot(&flow, label, total, script);
    state.calls.record(Exchange {
        call_id,
        flow,
        version,
        at,
        request: pivot_req,
        request_bytes,
        result,
        reply_bytes,
        status,
        rule,
        logs,
        timings: Timings {
            parse,
            run,
            validate,
            total,
        },
    });
    response
}

/// The one log line of a call step; a failure's reason is masked like the exchange log, since
/// a script's error may quote a credential.
fn log(
    state: &AppState,
    flow: &str,
    call_id: &str,
    rule: Option<&str>,
    result: &Result<Outcome, ApiError>,
    started: Instant,
) {
    let status = reply::status_of(result);
    let duration_us = started.elapsed().as_micros() as u64;
    let masker = state.calls.masker();
    match result {
        Ok(outcome) => {
            let reason = outcome.failure().map(|f| f.detail.as_str()).unwrap_or("");
            let masked = masker.mask(reason);
            let reason = masked.as_deref().unwrap_or(reason);
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
            let reason = e.to_string();
            let reason = masker.mask(&reason).unwrap_or(reason);
            tracing::info!(
                flow,
                call_id,
                outcome = "refused",
                status,
                duration_us,
                reason,
                "pivot"
            )
        }
    }
}

/// Reads the query string and, for POST, the body within `max_body_bytes` and the deadline;
/// gives the request and the bytes it came in.
async fn read_request(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(PivotRequest, usize), ApiError> {
    let (format, body) = read_body(req, payload, state).await?;
    let body: &[u8] = if req.method() == actix_web::http::Method::POST {
        &body
    } else {
        &[]
    };
    let query = req.query_string();
    let parsed = PivotRequest::parse(query, body, format)?;
    Ok((parsed, query.len() + body.len()))
}

/// Reads a form or JSON body within `max_body_bytes` and the body deadline; the format comes
/// from `Content-Type` (no header reads as a form, as Kazoo's GETs have none).
pub(super) async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(BodyFormat, web::BytesMut), ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let format = if req.method() == actix_web::http::Method::GET {
        BodyFormat::Form
    } else {
        BodyFormat::from_content_type(content_type)?
    };
    let body = read_limited(
        req,
        payload,
        state.config.max_body_bytes,
        state.config.limits.body_timeout(),
    )
    .await?;
    Ok((format, body))
}
