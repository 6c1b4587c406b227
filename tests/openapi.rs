//! The OpenAPI description over real HTTP: `GET /openapi.json` serves the checked-in file as
//! `application/json`, with no credentials; and the running service answers exactly the methods
//! it describes on each path — a described method reaches its handler, any other is a JSON 405
//! naming the ones that are (the unit tests hold the description to `ROUTES`; this holds both
//! to what the server does).

use crate::common;

use common::{config, shipped_flows, Reply};
use pivotforge::auth::AuthConfig;
use pivotforge::config::Secret;
use reqwest::Method;
use serde_json::Value;

const USER: &str = "ops";
const PASSWORD: &str = "openapi-pw-1";

fn server() -> common::TestServer {
    let mut config = config(&shipped_flows());
    config.auth = AuthConfig {
        admin_basic: Some((USER.into(), Secret::new(PASSWORD))),
        ..AuthConfig::default()
    };
    common::serve_with(config, common::at("2026-03-02T10:00:00Z"))
}

/// A reply and its `Allow` header.
struct Answer {
    reply: Reply,
    allow: Option<String>,
}

impl std::ops::Deref for Answer {
    type Target = Reply;
    fn deref(&self) -> &Reply {
        &self.reply
    }
}

async fn send(method: Method, url: &str, authorized: bool) -> Answer {
    let mut builder = common::client().request(method, url);
    if authorized {
        builder = builder.basic_auth(USER, Some(PASSWORD));
    }
    let response = builder
        .send()
        .await
        .unwrap_or_else(|e| panic!("request to {url} failed: {e:?}"));
    let allow = response
        .headers()
        .get(reqwest::header::ALLOW)
        .map(|v| v.to_str().unwrap_or("(not text)").to_owned());
    Answer {
        reply: common::finish(response).await,
        allow,
    }
}

fn checked_in() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn the_description_is_served_as_json_without_credentials() {
    let server = server();
    // No credentials: the description is public, like /schemas.
    let reply = send(Method::GET, &server.url("/openapi.json"), false).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        reply.text(),
        checked_in(),
        "served text differs from openapi.json"
    );
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/pivot/{flow}"]["post"].is_object());
    assert!(doc["components"]["schemas"]["callflow_node"].is_object());
    // An admin path next to it still asks for credentials.
    let calls = send(Method::GET, &server.url("/calls"), false).await;
    common::assert_error(&calls, 401, "GET /calls without credentials");
}

/// Every `{param}` of a described path filled with a value that names nothing.
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |i| open + i + 1);
        out.push_str(&rest[..open]);
        out.push('x');
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

const PROBED: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "TRACE"];

/// Whether an `Allow` header names exactly `declared`, in any order.
fn same_methods(allow: Option<&str>, declared: &[&str]) -> bool {
    let mut named: Vec<&str> = allow.unwrap_or("").split(',').map(str::trim).collect();
    let mut declared = declared.to_vec();
    named.sort_unstable();
    declared.sort_unstable();
    named == declared
}

#[tokio::test]
async fn each_path_answers_the_methods_described_and_refuses_the_others() {
    let server = server();
    let doc: Value = serde_json::from_str(&checked_in()).expect("openapi.json parses");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "too few paths: {}", paths.len());
    let mut wrong = Vec::new();
    for (template, item) in paths {
        let path = concrete(template);
        let declared: Vec<&str> = PROBED
            .iter()
            .copied()
            .filter(|m| item.get(m.to_lowercase()).is_some())
            .collect();
        for method in PROBED {
            // Kazoo uploads to any path under /recordings (its URL shapes vary), so PUT and POST
            // reach the upload handler there even where the description names no upload.
            if path.starts_with("/recordings") && (method == "PUT" || method == "POST") {
                continue;
            }
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let reply = send(m, &server.url(&path), true).await;
            let what = format!("{method} {path} ({} {})", reply.status, reply.text());
            if declared.contains(&method) {
                let unrouted = reply.status == 404 && reply.text().contains("no route for");
                if reply.status == 405 || unrouted {
                    wrong.push(format!("described but not served: {what}"));
                }
            } else if reply.status != 405 {
                wrong.push(format!("not described but not refused with 405: {what}"));
            } else if !same_methods(reply.allow.as_deref(), &declared) {
                wrong.push(format!(
                    "405 with Allow {:?}, not {declared:?}: {what}",
                    reply.allow
                ));
            } else if method != "HEAD" {
                let body = common::assert_error(&reply, 405, &what);
                let detail = body["detail"].as_str().unwrap_or("");
                if !declared.iter().any(|d| detail.contains(d)) {
                    wrong.push(format!("405 does not name a described method: {what}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
