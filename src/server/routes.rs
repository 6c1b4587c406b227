//! Small routes: health, schemas, and the JSON answers for unknown paths and methods.

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use super::error::ApiError;
use crate::callflow::Schemas;

/// `GET /healthz`: the process is alive and answering.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /schemas`: the names of the served schemas.
pub async fn schema_index() -> HttpResponse {
    let names: Vec<String> = Schemas::names()
        .map(|n| format!("/schemas/{n}.json"))
        .collect();
    HttpResponse::Ok().json(json!({"schemas": names}))
}

/// `GET /schemas/{name}.json`: one JSON Schema, for editors.
pub async fn schema(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let text = Schemas::source(&name).ok_or_else(|| {
        ApiError::NotFound(format!("no schema `{name}`: GET /schemas lists them"))
    })?;
    Ok(HttpResponse::Ok()
        .content_type("application/schema+json")
        .body(text))
}

/// Any unknown path.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response()
}
