//! `GET|POST /pivot/{flow…}`: one call step in, one callflow tree out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};

use super::body::read_limited;
use super::error::ApiError;
use super::{reply, AppState};
use crate::calls::{Exchange, Recorded, Timings};
use crate::engine::Answer;
use crate::request::{BodyFormat, PivotRequest};

/// The handler: parse, one call to `Engine::answer`, one reply mapping; every parsed step then
/// goes to the log line, the metrics and the exchange log, all built from the answer.
pub async fn pivot(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let at = state.clock.now();
    if let Err(e) = check_method(&req) {
        return e.error_response();
    }
    // Names are plain ASCII, so the raw path needs no decoding: a `%` makes it invalid anyway.
    let flow = req.path().strip_prefix("/pivot/").unwrap_or("").to_owned();
    let (request, request_bytes) = match read_request(&req, payload, &state).await {
        Ok(parsed) => parsed,
        Err(e) => return refused(&state, &flow, &e, started),
    };
    let parse = started.elapsed();
    let answered = state.engine.answer(&flow, &request, at).await;
    let answered = answered.map_err(ApiError::from);
    let response = reply::respond(answered.as_ref().map(|a| (&a.outcome, a.body.as_deref())));
    let head = Head {
        flow,
        at,
        request,
        request_bytes,
        parse,
        started,
    };
    record(&state, exchange(head, answered, response.status().as_u16()));
    response
}

/// Kazoo's pivot node asks with GET or POST; anything else is refused before reading a byte.
fn check_method(req: &HttpRequest) -> Result<(), ApiError> {
    let method = req.method();
    if method == actix_web::http::Method::GET || method == actix_web::http::Method::POST {
        return Ok(());
    }
    Err(ApiError::MethodNotAllowed(format!(
        "{method} is not allowed on {}: use GET or POST",
        req.path()
    )))
}

/// A request that could not be parsed: its log line and metric, no exchange-log entry (there is
/// no request to keep).
fn refused(state: &AppState, flow: &str, e: &ApiError, started: Instant) -> HttpResponse {
    let response = e.error_response();
    let reason = e.to_string();
    log(
        state,
        flow,
        "",
        None,
        Err(&reason),
        response.status().as_u16(),
        started,
    );
    state
        .metrics
        .pivot(flow, "refused", started.elapsed(), None);
    response
}

/// What the handler knows of a step before its flow answers.
struct Head {
    flow: String,
    at: DateTime<Utc>,
    request: PivotRequest,
    request_bytes: usize,
    parse: Duration,
    started: Instant,
}

/// A step's exchange-log entry, built from its answer (or why no flow answered) and the status
/// the reply was built with; the script's own run time rides along for the metrics.
fn exchange(
    head: Head,
    answered: Result<Answer, ApiError>,
    status: u16,
) -> (Exchange, Option<Duration>, Instant) {
    let mut exchange = Exchange {
        call_id: head.request.call_id.clone().unwrap_or_default(),
        flow: head.flow,
        version: Arc::from(""),
        at: head.at,
        request: head.request,
        request_bytes: head.request_bytes,
        result: Recorded::Refused(String::new()),
        reply_bytes: 0,
        reply_text: None,
        request_text: None,
        status,
        rule: None,
        logs: Vec::new(),
        timings: Timings {
            parse: head.parse,
            total: head.started.elapsed(),
            ..Timings::default()
        },
    };
    let mut script = None;
    match answered {
        Ok(answer) => {
            exchange.result = Recorded::Outcome(answer.outcome);
            exchange.version = answer.version;
            exchange.reply_bytes = answer.reply_bytes;
            exchange.reply_text = answer.body;
            exchange.request_text = answer.request_text;
            exchange.rule = answer.rule;
            exchange.logs = answer.logs;
            exchange.timings.run = answer.run;
            exchange.timings.validate = answer.validate;
            script = answer.script;
        }
        Err(e) => exchange.result = Recorded::Refused(e.to_string()),
    }
    (exchange, script, head.started)
}

/// The step's log line, its metric and its exchange-log entry, all from the one record.
fn record(state: &AppState, (exchange, script, started): (Exchange, Option<Duration>, Instant)) {
    let reason = match &exchange.result {
        Recorded::Outcome(outcome) => Ok(outcome),
        Recorded::Refused(reason) => Err(reason.as_str()),
    };
    log(
        state,
        &exchange.flow,
        &exchange.call_id,
        exchange.rule.as_deref(),
        reason,
        exchange.status,
        started,
    );
    let label = exchange.result.label();
    state
        .metrics
        .pivot(&exchange.flow, label, exchange.timings.total, script);
    state.calls.record(exchange);
}

/// The one log line of a call step; a failure's reason is masked like the exchange log, since
/// a script's error may quote a credential.
fn log(
    state: &AppState,
    flow: &str,
    call_id: &str,
    rule: Option<&str>,
    result: Result<&crate::outcome::Outcome, &str>,
    status: u16,
    started: Instant,
) {
    let duration_us = started.elapsed().as_micros() as u64;
    let (outcome, reason) = match result {
        Ok(outcome) => (
            outcome.label(),
            outcome.failure().map(|f| f.detail.as_str()).unwrap_or(""),
        ),
        Err(reason) => ("refused", reason),
    };
    let masked = state.calls.masker().mask(reason);
    crate::logging::step(&crate::logging::StepLine {
        flow,
        call_id,
        outcome,
        rule: if result.is_ok() { rule } else { None },
        status,
        duration_us,
        reason: masked.as_deref().unwrap_or(reason),
    });
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
