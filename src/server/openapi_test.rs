//! The description stays true: the checked-in file is the generated one, its paths and methods
//! are those of the route table both ways, and every reference in it resolves.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::*;

const REGENERATE: &str = "UPDATE_GENERATED=1 cargo test --lib generated_";

fn checked_in() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

#[test]
fn generated_openapi_is_fresh() {
    let text = generated_text();
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::write(checked_in(), &text).expect("write openapi.json");
    }
    let on_disk = std::fs::read_to_string(checked_in()).unwrap_or_default();
    assert!(
        on_disk == text,
        "openapi.json is out of date with src/server/openapi/api.json or the callflow types: \
         run `{REGENERATE}` and commit it"
    );
    // What is served is what was built from: the binary embeds the same file (a build after
    // a rewrite embeds the new one).
    assert!(
        std::env::var_os("UPDATE_GENERATED").is_some() || DOCUMENT == on_disk,
        "the embedded openapi.json is older than the file: build again"
    );
}

/// Path → methods, from the route table.
fn from_routes() -> BTreeMap<String, Vec<String>> {
    let mut table = BTreeMap::new();
    for route in super::super::ROUTES {
        for (path, methods) in route.endpoints {
            let mut methods: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
            methods.sort();
            let before = table.insert(path.to_string(), methods);
            assert!(before.is_none(), "{path} is listed twice in ROUTES");
        }
    }
    table
}

#[test]
fn the_description_has_exactly_the_routes_and_methods_of_routes() {
    let routes = from_routes();
    let described: BTreeMap<String, Vec<String>> = operations(&generate()).into_iter().collect();
    let mut wrong = Vec::new();
    for (path, methods) in &routes {
        match described.get(path) {
            None => wrong.push(format!("{path} is in ROUTES but not in api.json")),
            Some(d) if d != methods => wrong.push(format!(
                "{path}: ROUTES says {methods:?}, api.json describes {d:?}"
            )),
            Some(_) => {}
        }
    }
    for path in described.keys().filter(|p| !routes.contains_key(*p)) {
        wrong.push(format!(
            "{path} is described in api.json but no route in ROUTES serves it"
        ));
    }
    assert!(
        wrong.is_empty(),
        "src/server/openapi/api.json and ROUTES (src/server/mod.rs) disagree:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn each_route_lists_only_paths_under_its_own_segment() {
    for route in super::super::ROUTES {
        assert!(
            !route.endpoints.is_empty(),
            "route `{}` lists no path",
            route.segment
        );
        for (path, methods) in route.endpoints {
            let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
            assert_eq!(
                first, route.segment,
                "{path} listed under `{}`",
                route.segment
            );
            assert!(!methods.is_empty(), "{path} lists no method");
            for method in *methods {
                assert!(
                    METHODS.contains(&method.to_lowercase().as_str())
                        && *method == method.to_uppercase(),
                    "{path}: `{method}` is not an HTTP method in upper case"
                );
            }
        }
    }
}

fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_inside_the_document() {
    let doc = generate();
    let mut found = Vec::new();
    references(&doc, &mut found);
    assert!(found
        .iter()
        .any(|r| r == "#/components/schemas/callflow_node"));
    let broken: Vec<&String> = found
        .iter()
        .filter(|r| r.strip_prefix('#').and_then(|p| doc.pointer(p)).is_none())
        .collect();
    assert!(broken.is_empty(), "unresolved: {broken:?}");
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| METHODS.iter().filter_map(move |m| item.get(*m)))
        .filter_map(|op| op.get("operationId").and_then(Value::as_str))
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "operationIds repeat: {ids:?}");
}

#[test]
fn every_error_status_answers_the_error_body() {
    // Each 4xx/5xx with a body is (or extends) the service's `{error, detail}`.
    let doc = generate();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(responses) = item.pointer(&format!("/{method}/responses")) else {
                continue;
            };
            for (status, response) in responses.as_object().unwrap() {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let response = match response.get("$ref").and_then(Value::as_str) {
                    Some(r) => doc.pointer(&r[1..]).unwrap(),
                    None => response,
                };
                let Some(content) = response.get("content") else {
                    // HEAD has no body to describe; a failed precondition or range of a download
                    // is answered by actix-files with headers only.
                    let bodyless = method == "head"
                        || (path == "/recordings/{id}/audio"
                            && ["412", "416"].contains(&status.as_str()));
                    assert!(bodyless, "{method} {path} {status} has no body");
                    continue;
                };
                let text = content.to_string();
                let shows_error = text.contains("#/components/schemas/Error")
                    || text.contains("#/components/schemas/FlowFailure")
                    || (status == "503" && path == "/readyz")
                    // A script's rejection (`pf.reject`) is its answer, not an error of the service.
                    || (status == "422" && path.starts_with("/run/"));
                if !shows_error {
                    missing.push(format!("{method} {path} {status}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "error replies without the error body: {missing:?}"
    );
}
