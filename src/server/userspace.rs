//! `GET/PUT/DELETE /userspace/{area}/{key}`: the named lists scripts read with cxUserspace
//! (e.g. `dnc`). The PUT body is any JSON value; `read(area, key)` in a script then returns it.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::body::read_limited;
use super::error::ApiError;
use super::{with_store, AppState};

/// Largest value a PUT may store (the store's own limit).
const MAX_VALUE: usize = 1024 * 1024;

/// `GET /userspace/{area}/{key}`: the stored value, or 404.
pub async fn read(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (area, key) = path.into_inner();
    let (a, k) = (area.clone(), key.clone());
    match with_store(&state, move |store| store.us_get(&a, &k)).await? {
        Some(value) => Ok(HttpResponse::Ok().json(value)),
        None => Err(ApiError::NotFound(format!(
            "no key `{key}` in userspace area `{area}`"
        ))),
    }
}

/// `PUT /userspace/{area}/{key}` with a JSON body: 201 when created, 200 when replaced.
pub async fn write(
    req: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (area, key) = path.into_inner();
    let body = read_limited(&req, payload, MAX_VALUE, state.config.limits.body_timeout()).await?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body must be a JSON value: {e}")))?;
    let created = with_store(&state, move |store| store.us_put(&area, &key, &value)).await?;
    let status = if created {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(json!({"created": created})))
}

/// `DELETE /userspace/{area}/{key}`: 204, or 404 when there was nothing to delete.
pub async fn remove(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (area, key) = path.into_inner();
    let (a, k) = (area.clone(), key.clone());
    if with_store(&state, move |store| store.us_delete(&a, &k)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(format!(
            "no key `{key}` in userspace area `{area}`"
        )))
    }
}

/// `GET /userspace/{area}`: up to 1000 entries of an area.
pub async fn list(
    area: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let area = area.into_inner();
    let a = area.clone();
    let entries = with_store(&state, move |store| store.us_list(&a, 1000)).await?;
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"area": area, "entries": entries})))
}
