//! The OpenAPI 3.1 description of the HTTP API: `GET /openapi.json`, and `openapi.json` at the
//! root of the repo, for clients, reviewers and `scripts/schemathesis.sh`.
//!
//! It is generated: the routes, bodies and replies are written by hand in `openapi/api.json`,
//! and the callflow tree a pivot step answers is the schemas generated from the types in
//! `src/callflow` (so the description of a reply can't fall behind what the service validates).
//! The checked-in file is the generated one, byte for byte (a test says when it is stale:
//! `UPDATE_GENERATED=1 cargo test --lib generated_` rewrites it), and another holds its paths
//! and methods to [`super::ROUTES`] both ways.

use actix_web::HttpResponse;
use serde_json::{Map, Value};

use crate::callflow::generate;

/// The hand-written part: everything but the callflow schemas.
const SOURCE: &str = include_str!("openapi/api.json");

/// The document served: `openapi.json` as checked in, kept equal to [`generate`] by a test.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

/// The prefix of the callflow schemas' names under `components/schemas`.
const CALLFLOW: &str = "callflow_";

/// The methods an OpenAPI path item may hold operations for.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `GET /openapi.json`: the description, as `application/json`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT)
}

/// Builds the document: `api.json` with its operation references inlined and every callflow
/// schema under `components/schemas`.
pub fn generate() -> Value {
    let mut doc: Value = serde_json::from_str(SOURCE).expect("src/server/openapi/api.json parses");
    inline_operations(&mut doc);
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .expect("api.json has components/schemas");
    for generated in generate::all() {
        schemas.insert(
            format!("{CALLFLOW}{}", generated.name),
            component(generated.name, &generated.value),
        );
    }
    doc
}

/// The generated document as kept in the repo: pretty-printed, with a final newline.
pub fn generated_text() -> String {
    generate::pretty(&generate())
}

/// Operations shared by several paths (the upload, which every path under `/recordings`
/// takes) are written once under `components/pathItems`; OpenAPI lets a path item be a
/// reference but not an operation, so each `{"$ref": …}` operation is replaced by its target,
/// and the shared items are then dropped.
fn inline_operations(doc: &mut Value) {
    let source = doc.clone();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for method in METHODS {
            let target = item
                .get(method)
                .and_then(|op| op.get("$ref"))
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|pointer| source.pointer(pointer));
            if let Some(target) = target {
                item.insert(method.to_owned(), target.clone());
            }
        }
    }
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        components.shift_remove("pathItems");
    }
}

/// A callflow schema as a component: without the header of a standalone file, its references
/// (`tts.json`, `#`, `#/…`) pointing at the components.
fn component(name: &str, schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(map) = &mut schema {
        map.shift_remove("$schema");
        map.shift_remove("$id");
    }
    retarget(&mut schema, name);
    schema
}

fn retarget(value: &mut Value, own: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref") {
                *reference = component_ref(reference, own);
            }
            map.values_mut().for_each(|v| retarget(v, own));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| retarget(v, own)),
        _ => {}
    }
}

/// Where a reference of schema `own` points once every schema is a component.
fn component_ref(reference: &str, own: &str) -> String {
    let base = "#/components/schemas/";
    match reference.split_once('#') {
        Some(("", rest)) => format!("{base}{CALLFLOW}{own}{rest}"),
        Some((file, rest)) => {
            let name = file.trim_end_matches(".json");
            format!("{base}{CALLFLOW}{name}{rest}")
        }
        None => format!("{base}{CALLFLOW}{}", reference.trim_end_matches(".json")),
    }
}

/// The paths of a description, each with its methods in upper case, sorted.
pub fn operations(doc: &Value) -> Vec<(String, Vec<String>)> {
    let mut found: Vec<(String, Vec<String>)> = doc
        .get("paths")
        .and_then(Value::as_object)
        .map(Map::iter)
        .into_iter()
        .flatten()
        .map(|(path, item)| {
            let mut methods: Vec<String> = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_uppercase())
                .collect();
            methods.sort();
            (path.clone(), methods)
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
#[path = "openapi_test.rs"]
mod tests;
