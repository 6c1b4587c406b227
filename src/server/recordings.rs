//! `/recordings`: the PBX uploads call recordings (`PUT`/`POST` in every URL form Kazoo
//! produces); people and systems list them (`GET /recordings?call_id=&account_id=&since=&until=`),
//! read one (`GET /recordings/{id}`), download it (`GET /recordings/{id}/audio`, with Range) and
//! delete it (`DELETE /recordings/{id}`).
//!
//! Each upload logs one line with the call and account ids, never a credential or the query.
//! Listing, downloading and deleting are admin requests: the server's guard checks them before
//! they get here.

use std::time::Instant;

use actix_files::NamedFile;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::{ConnectionType, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, SecondsFormat};
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::recordings::{
    format, layout, Denied, Received, Recording, RecordingError, RecordingQuery, UploadName,
};
use crate::request::form;

/// Recordings a listing returns when it names no `limit`.
const DEFAULT_LIMIT: usize = 100;
/// The most a listing returns.
const MAX_LIMIT: usize = 1000;
/// The challenge of a refused upload: Kazoo sends basic credentials from `user:pass@`.
const UPLOAD_CHALLENGE: &str = "Basic realm=\"pivotforge recordings\", charset=\"UTF-8\"";

impl From<RecordingError> for ApiError {
    fn from(e: RecordingError) -> ApiError {
        match e {
            RecordingError::Name(_) | RecordingError::Empty | RecordingError::Interrupted(_) => {
                ApiError::BadRequest(e.to_string())
            }
            RecordingError::Stalled(_) => ApiError::Timeout(e.to_string()),
            RecordingError::TooLarge { .. } => ApiError::TooLarge(e.to_string()),
            RecordingError::DiskFull(_) => ApiError::InsufficientStorage(e.to_string()),
            RecordingError::Store(store) => ApiError::from(store),
            RecordingError::Io { .. } | RecordingError::Internal(_) => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

fn unauthorized(denied: Denied, challenge: &'static str) -> ApiError {
    ApiError::Unauthorized {
        detail: denied.to_string(),
        challenge,
    }
}

/// A header as text; one that is not text reads as a value no check accepts.
fn header_text(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or("(not text)"))
}

/// The handler for every method and path under `/recordings`.
pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    // The raw path: the upload's name is decoded by `UploadName`, exactly once.
    let tail = req.uri().path().strip_prefix("/recordings").unwrap_or("");
    let method = req.method();
    let is_upload = method == Method::PUT || method == Method::POST;
    let result = if is_upload {
        upload(&req, tail, payload, &state).await
    } else if method == Method::GET || method == Method::HEAD || method == Method::DELETE {
        manage(&req, tail, &state).await
    } else {
        Err(ApiError::MethodNotAllowed(format!(
            "{method} is not allowed on /recordings: PUT or POST uploads, GET lists and \
             downloads, DELETE removes"
        )))
    };
    let mut response = result.unwrap_or_else(|e| e.error_response());
    if is_upload && !response.status().is_success() {
        // A refused upload's body may be partly unread, so the connection can't carry another
        // request; without this, actix keeps it open after a refusal mid-body.
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    response
}

/// `PUT|POST /recordings/…`: 201 with the recording when new, 200 when a retry replaced it.
async fn upload(
    req: &HttpRequest,
    tail: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let parsed = UploadName::parse(tail, req.query_string());
    let (call_id, account_id) = parsed
        .as_ref()
        .map(|n| (n.details.call_id.clone(), n.details.account_id.clone()))
        .unwrap_or_default();
    let result = match parsed {
        Ok(name) => receive(req, name, payload, state).await,
        Err(e) => Err(RecordingError::from(e).into()),
    };
    let duration_us = started.elapsed().as_micros() as u64;
    state
        .metrics
        .recording(upload_result(&result), stored_bytes(&result));
    match result {
        Ok(Received {
            recording,
            replaced,
        }) => {
            let status = if replaced {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            tracing::info!(
                call_id,
                account_id,
                id = recording.id,
                status = status.as_u16(),
                size = recording.size,
                format_ok = recording.format_ok,
                duration_us,
                "recording stored"
            );
            Ok(HttpResponse::build(status).json(render(&recording)))
        }
        Err(e) => {
            let status = e.status_code().as_u16();
            tracing::info!(call_id, account_id, status, duration_us, reason = %e, "recording refused");
            Err(e)
        }
    }
}

/// The `result` label of `pivotforge_recordings_received_total`.
fn upload_result(result: &Result<Received, ApiError>) -> &'static str {
    match result {
        Ok(received) if received.replaced => "replaced",
        Ok(_) => "created",
        Err(ApiError::Unauthorized { .. }) => "unauthorized",
        Err(ApiError::TooLarge(_)) => "too_large",
        Err(ApiError::Timeout(_)) => "stalled",
        Err(ApiError::InsufficientStorage(_)) => "disk_full",
        Err(ApiError::BadRequest(_) | ApiError::UnsupportedType(_)) => "bad_request",
        Err(_) => "error",
    }
}

/// Bytes that reached the disk.
fn stored_bytes(result: &Result<Received, ApiError>) -> u64 {
    result.as_ref().map_or(0, |r| r.recording.size)
}

/// Checks credentials, content type and declared length, then stores the body.
async fn receive(
    req: &HttpRequest,
    name: UploadName,
    payload: web::Payload,
    state: &AppState,
) -> Result<Received, ApiError> {
    let recordings = &state.recordings;
    // The guard already checked the token of a `/t/TOKEN/recordings…` URL.
    if actix_web::HttpMessage::extensions(req)
        .get::<super::guard::PathToken>()
        .is_none()
    {
        recordings
            .access()
            .upload(header_text(req, header::AUTHORIZATION))
            .map_err(|denied| unauthorized(denied, UPLOAD_CHALLENGE))?;
    }
    let content_type = header_text(req, header::CONTENT_TYPE);
    if !format::accepts(name.format, content_type) {
        let ext = format::extension(name.format);
        return Err(ApiError::UnsupportedType(format!(
            "a .{ext} recording can't be sent as `{}`: send the raw file as {} (or \
             application/octet-stream), not a form",
            content_type.unwrap_or_default(),
            format::content_type(name.format)
        )));
    }
    let declared = header_text(req, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(0) => return Err(RecordingError::Empty.into()),
        Some(n) if n > recordings.max_bytes() => {
            return Err(RecordingError::TooLarge {
                limit: recordings.max_bytes(),
            }
            .into())
        }
        _ => {}
    }
    Ok(recordings.receive(name, payload).await?)
}

/// `GET /recordings`, `GET /recordings/{id}`, `GET /recordings/{id}/audio`,
/// `DELETE /recordings/{id}`.
async fn manage(req: &HttpRequest, tail: &str, state: &AppState) -> Result<HttpResponse, ApiError> {
    let parts: Vec<&str> = tail.split('/').filter(|s| !s.is_empty()).collect();
    let delete = req.method() == Method::DELETE;
    match (parts.as_slice(), delete) {
        ([], false) => list(req, state).await,
        ([], true) => Err(ApiError::MethodNotAllowed(
            "DELETE is not allowed on /recordings: GET lists the recordings; DELETE \
             /recordings/{id} removes one"
                .into(),
        )),
        ([id], false) => Ok(HttpResponse::Ok().json(render(&find(id, state).await?))),
        ([id], true) => match state.recordings.delete((*id).to_owned()).await? {
            Some(recording) => {
                tracing::info!(
                    id = recording.id,
                    call_id = recording.details.call_id,
                    account_id = recording.details.account_id,
                    "recording deleted"
                );
                Ok(HttpResponse::NoContent().finish())
            }
            None => Err(no_recording(id)),
        },
        ([id, "audio"], false) => audio(req, &find(id, state).await?, state).await,
        ([_, "audio"], true) => Err(ApiError::MethodNotAllowed(format!(
            "DELETE is not allowed on /recordings{tail}: use GET (or HEAD) to download; DELETE \
             /recordings/{{id}} removes the recording"
        ))),
        _ => Err(ApiError::NotFound(format!(
            "no route for {} /recordings{tail}: use /recordings, /recordings/{{id}} or \
             /recordings/{{id}}/audio",
            req.method()
        ))),
    }
}

fn no_recording(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::NotFound(format!(
        "no recording with id `{}`: GET /recordings lists them",
        shown.escape_debug()
    ))
}

/// The recording with `id`, or 404.
async fn find(id: &str, state: &AppState) -> Result<Recording, ApiError> {
    if !layout::is_recording_id(id) {
        return Err(no_recording(id));
    }
    state
        .recordings
        .get(id.to_owned())
        .await?
        .ok_or_else(|| no_recording(id))
}

/// `GET /recordings/{id}/audio`: the file, with Range, conditional requests and its type.
async fn audio(
    req: &HttpRequest,
    recording: &Recording,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let path = state.recordings.file(recording).ok_or_else(|| {
        ApiError::Internal(format!(
            "recording {} has a stored path the service did not build",
            recording.id
        ))
    })?;
    let opening = path.clone();
    let opened = web::block(move || NamedFile::open(opening))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let file = opened.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ApiError::NotFound(format!(
                "the audio of recording {} is missing from {}: restore the file or DELETE the \
                 recording",
                recording.id,
                path.display()
            ))
        } else {
            ApiError::Internal(format!("can't open {}: {e}", path.display()))
        }
    })?;
    let mime = format::content_type(recording.format)
        .parse()
        .map_err(|e| ApiError::Internal(format!("bad content type: {e}")))?;
    let ext = format::extension(recording.format);
    let disposition = ContentDisposition {
        disposition: DispositionType::Inline,
        parameters: vec![DispositionParam::Filename(format!(
            "{}.{ext}",
            recording.id
        ))],
    };
    Ok(file
        .set_content_type(mime)
        .set_content_disposition(disposition)
        .into_response(req))
}

/// `GET /recordings?call_id=&account_id=&since=&until=&limit=`: newest first.
async fn list(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, ApiError> {
    let params = form::parse(req.query_string().as_bytes())
        .map_err(|e| ApiError::BadRequest(format!("malformed query: {e}")))?;
    let mut query = RecordingQuery {
        call_id: None,
        account_id: None,
        since_ms: None,
        until_ms: None,
        limit: DEFAULT_LIMIT,
    };
    for (key, value) in &params {
        let Some(text) = value.as_str() else {
            return Err(ApiError::BadRequest(format!(
                "`{key}` must be a plain value, not a list or object"
            )));
        };
        match key.as_str() {
            "call_id" => query.call_id = Some(text.to_owned()),
            "account_id" => query.account_id = Some(text.to_owned()),
            "since" => query.since_ms = Some(instant(key, text)?),
            "until" => query.until_ms = Some(instant(key, text)?),
            "limit" => {
                query.limit = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("`limit` must be 1 to {MAX_LIMIT}"))
                    })?
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown parameter `{other}`: filter with call_id, account_id, since, until, \
                     limit"
                )))
            }
        }
    }
    let found = state.recordings.list(query).await?;
    let rendered: Vec<Value> = found.iter().map(render).collect();
    Ok(HttpResponse::Ok().json(json!({"recordings": rendered})))
}

/// An RFC 3339 time or a date (midnight UTC), as Unix ms.
fn instant(name: &str, text: &str) -> Result<i64, ApiError> {
    if let Some(ms) = crate::clock::parse_instant(text) {
        return Ok(ms);
    }
    Err(ApiError::BadRequest(format!(
        "`{name}` must be an RFC 3339 time (2026-03-01T09:30:00Z) or a date (2026-03-01)"
    )))
}

/// A recording as the API shows it (its file path stays private).
fn render(rec: &Recording) -> Value {
    let d = &rec.details;
    let received_at = DateTime::from_timestamp_millis(rec.received_at_ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
    json!({
        "id": rec.id,
        "call_id": d.call_id,
        "account_id": d.account_id,
        "from": d.from,
        "to": d.to,
        "caller_id_name": d.caller_id_name,
        "caller_id_number": d.caller_id_number,
        "duration_ms": d.duration_ms,
        "size": rec.size,
        "sha256": rec.sha256,
        "format": format::extension(rec.format),
        "format_ok": rec.format_ok,
        "received_at": received_at,
        "url": format!("/recordings/{}/audio", rec.id),
        "cdr_id": d.cdr_id,
        "interaction_id": d.interaction_id,
        "owner_id": d.owner_id,
        "recording_id": d.recording_id,
        "start": d.start,
    })
}
