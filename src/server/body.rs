//! Reading a request body: the one place a `/pivot`, `/events`, `/run` or `/userspace` body is
//! collected, within its byte limit and its deadline (`[limits] body_timeout_ms`).
//!
//! Without a deadline a client that declares a body and then trickles it holds its connection
//! (and a file descriptor) for ever; enough of them starve every other request.

use std::time::Duration;

use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use super::error::ApiError;
use crate::request::RequestError;

/// Reads a whole body, refusing one over `limit` bytes with 413 (by its Content-Length at once,
/// or as soon as the stream passes the limit) and one not complete within `deadline` with 408.
pub(crate) async fn read_limited(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    deadline: Duration,
) -> Result<web::BytesMut, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(RequestError::TooLarge { limit }.into());
    }
    match actix_web::rt::time::timeout(deadline, collect(payload, limit)).await {
        Ok(body) => body,
        Err(_) => Err(ApiError::Timeout(format!(
            "the request body was not complete within {} ms ([limits] body_timeout_ms); send \
             the whole body at once",
            deadline.as_millis()
        ))),
    }
}

/// Collects the chunks of `payload` within `limit` bytes.
async fn collect(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(RequestError::TooLarge { limit }.into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
