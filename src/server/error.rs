//! Errors a request can meet before any flow runs, each with its status and a JSON body
//! `{"error": …, "detail": …}` that says what was wrong.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::request::RequestError;

/// A request-level error answered with a 4xx or 5xx JSON body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: 400.
    #[error("{0}")]
    BadRequest(String),
    /// No such flow or route: 404.
    #[error("{0}")]
    NotFound(String),
    /// Method not served on this path: 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Body over the limit: 413.
    #[error("{0}")]
    TooLarge(String),
    /// Body type not understood: 415.
    #[error("{0}")]
    UnsupportedType(String),
}

impl ApiError {
    /// The short `error` text.
    pub fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad request",
            ApiError::NotFound(_) => "not found",
            ApiError::MethodNotAllowed(_) => "method not allowed",
            ApiError::TooLarge(_) => "payload too large",
            ApiError::UnsupportedType(_) => "unsupported media type",
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        match e {
            RequestError::TooLarge { .. } => ApiError::TooLarge(e.to_string()),
            RequestError::ContentType(_) => ApiError::UnsupportedType(e.to_string()),
            RequestError::Form(_) | RequestError::Json(_) | RequestError::Param { .. } => {
                ApiError::BadRequest(e.to_string())
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(json!({"error": self.title(), "detail": self.to_string()}))
    }
}
