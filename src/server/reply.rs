//! The one place where an outcome becomes an HTTP reply (DESIGN.md, "Outcome mapping").
//!
//! 200 is sent only with a valid tree: Kazoo hangs up on a 200 it can't use, but runs the pivot
//! node's `_` branch on any other status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use serde_json::value::RawValue;

use super::error::ApiError;
use crate::outcome::Outcome;

/// Maps the result of a call step to its HTTP reply. The status sent is read back from the
/// reply (`HttpResponse::status`), never computed a second time.
pub fn respond(result: Result<(&Outcome, Option<&RawValue>), &ApiError>) -> HttpResponse {
    match result {
        Err(e) => e.error_response(),
        Ok((outcome, body)) => match (outcome.tree(), body) {
            (Some(_), Some(body)) => HttpResponse::Ok()
                .content_type(actix_web::http::header::ContentType::json())
                .body(body.get().to_owned()),
            (Some(tree), None) => HttpResponse::Ok().json(tree),
            (None, _) => {
                let failure = outcome.failure();
                let body = json!({
                    "error": failure.map(|f| f.kind.as_str()).unwrap_or("flow failed"),
                    "detail": failure.map(|f| f.detail.as_str()).unwrap_or(""),
                    "errors": failure.map(|f| f.errors.as_slice()).unwrap_or(&[]),
                });
                HttpResponse::build(StatusCode::INTERNAL_SERVER_ERROR).json(body)
            }
        },
    }
}
