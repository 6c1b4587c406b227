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
    /// Credentials missing or wrong: 401, with a `WWW-Authenticate` challenge.
    #[error("{detail}")]
    Unauthorized {
        /// What to send.
        detail: String,
        /// The challenge, e.g. `Basic realm="pivotforge"`.
        challenge: &'static str,
    },
    /// No such flow or route: 404.
    #[error("{0}")]
    NotFound(String),
    /// Method not served on this path: 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A body not complete within its deadline: 408, and the connection is closed.
    #[error("{0}")]
    Timeout(String),
    /// Body over the limit: 413.
    #[error("{0}")]
    TooLarge(String),
    /// Body type not understood: 415.
    #[error("{0}")]
    UnsupportedType(String),
    /// Every JS thread busy and the queue full: 503, at once.
    #[error("{0}")]
    Overloaded(String),
    /// The store's server can't be reached now: 503, which a sender retries later.
    #[error("{0}")]
    StoreUnavailable(String),
    /// A fault of the service (e.g. the store): 500.
    #[error("{0}")]
    Internal(String),
    /// The disk is full: 507, which a PBX retries later.
    #[error("{0}")]
    InsufficientStorage(String),
}

impl ApiError {
    /// The short `error` text.
    pub fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad request",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::NotFound(_) => "not found",
            ApiError::MethodNotAllowed(_) => "method not allowed",
            ApiError::Timeout(_) => "request timeout",
            ApiError::TooLarge(_) => "payload too large",
            ApiError::UnsupportedType(_) => "unsupported media type",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::StoreUnavailable(_) => "store unavailable",
            ApiError::Internal(_) => "internal error",
            ApiError::InsufficientStorage(_) => "insufficient storage",
        }
    }
}

impl From<crate::script::Overloaded> for ApiError {
    fn from(e: crate::script::Overloaded) -> ApiError {
        ApiError::Overloaded(format!("{e}; try again shortly"))
    }
}

impl From<crate::engine::AnswerError> for ApiError {
    fn from(e: crate::engine::AnswerError) -> ApiError {
        use crate::engine::AnswerError;
        match e {
            AnswerError::NotAFlowName(flow) => {
                ApiError::NotFound(format!("`{flow}` is not a flow name"))
            }
            AnswerError::NotFound(flow) => ApiError::NotFound(format!(
                "no flow named `{flow}`: add callflows/{flow}.toml or callflows/{flow}.js"
            )),
            AnswerError::Overloaded(overloaded) => overloaded.into(),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        match e {
            crate::store::StoreError::Invalid(m) => ApiError::BadRequest(m),
            e @ crate::store::StoreError::QueueFull { .. } => ApiError::Overloaded(e.to_string()),
            e @ crate::store::StoreError::Unavailable(_) => {
                ApiError::StoreUnavailable(e.to_string())
            }
            other => ApiError::Internal(other.to_string()),
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
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Overloaded(_) | ApiError::StoreUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unauthorized { challenge, .. } = self {
            response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, *challenge));
        }
        if let ApiError::Timeout(_) = self {
            // The rest of a stalled body may still come: the connection can't carry another
            // request, and keeping it would hand the stalled client its socket back.
            response.force_close();
        }
        response.json(json!({"error": self.title(), "detail": self.to_string()}))
    }
}
