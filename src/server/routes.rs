//! Small routes: health, schemas, and the JSON answers for unknown paths and methods (405 with
//! the methods a path's route lists in `ROUTES`, else 404).

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
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

/// Any unknown path, or a method the path's route does not answer: 405 naming the methods it
/// does when a route lists the path in `ROUTES` (the guard adds `Allow`), else 404.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let (method, path) = (req.method(), req.path());
    let Some(methods) = allowed_methods(path) else {
        return ApiError::NotFound(format!("no route for {method} {path}")).error_response();
    };
    let detail = format!(
        "{method} is not allowed on {path}: use {}",
        methods.join(" or ")
    );
    ApiError::MethodNotAllowed(detail).error_response()
}

/// Gives a 405 the `Allow` header RFC 9110 asks for, with the methods `ROUTES` lists for the
/// path: every handler that refuses a method names the right ones in its body, and this one
/// place puts them in the header too. Any other response passes untouched.
pub(crate) fn with_allow<B>(mut response: ServiceResponse<B>) -> ServiceResponse<B> {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(header::ALLOW)
    {
        return response;
    }
    let allow = allowed_methods(response.request().path())
        .and_then(|methods| HeaderValue::from_str(&methods.join(", ")).ok());
    if let Some(allow) = allow {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// The methods the route table lists for `path` (raw, as requested), if any route serves it.
pub(crate) fn allowed_methods(path: &str) -> Option<&'static [&'static str]> {
    super::ROUTES
        .iter()
        .flat_map(|route| route.endpoints.iter())
        .find(|(template, _)| matches_template(template, path))
        .map(|(_, methods)| *methods)
}

/// Whether `path` fits a template like `/userspace/{area}/{key}` or `/schemas/{name}.json`: the
/// same segments, each `{…}` standing for a non-empty part of one segment.
fn matches_template(template: &str, path: &str) -> bool {
    let (mut want, mut got) = (template.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if segment_fits(w, g) => {}
            _ => return false,
        }
    }
}

fn segment_fits(template: &str, segment: &str) -> bool {
    let Some((before, rest)) = template.split_once('{') else {
        return template == segment;
    };
    let after = rest.split_once('}').map_or("", |(_, after)| after);
    segment.len() > before.len() + after.len()
        && segment.starts_with(before)
        && segment.ends_with(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fit_their_templates() {
        assert!(matches_template("/calls", "/calls"));
        assert!(matches_template("/calls/{call_id}", "/calls/a%40b"));
        assert!(!matches_template("/calls/{call_id}", "/calls/"));
        assert!(!matches_template("/calls/{call_id}", "/calls/a/b"));
        assert!(matches_template(
            "/schemas/{name}.json",
            "/schemas/tts.json"
        ));
        assert!(!matches_template("/schemas/{name}.json", "/schemas/.json"));
        assert!(!matches_template("/schemas/{name}.json", "/schemas/tts"));
        assert!(matches_template("/ui/", "/ui/"));
        assert!(!matches_template("/ui", "/ui/"));
        assert_eq!(allowed_methods("/healthz"), Some(&["GET"][..]));
        assert_eq!(
            allowed_methods("/userspace/dnc/x"),
            Some(&["GET", "PUT", "DELETE"][..])
        );
        assert_eq!(allowed_methods("/nowhere"), None);
    }
}
