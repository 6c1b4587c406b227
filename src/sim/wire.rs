//! The requests a simulated PBX sends, built as Kazoo builds them (reference §1): the parameter
//! set of the call, a GET query appended to `voice_url` or a POST body (form or JSON), the
//! timeout of the pivot node, and what a transcript shows of the URL (secrets masked).

use std::time::Duration;

use serde_json::{Map, Value};

use super::spec::{CallSpec, Method};
use crate::request::{form, BodyFormat};

/// Kazoo's default and largest pivot request timeout (`pivot.request_timeout_ms`).
pub const TIMEOUT: Duration = Duration::from_millis(5000);

/// Where the next request goes and how, as a pivot node (or the call's start) says.
#[derive(Debug, Clone)]
pub struct Target {
    /// The node's `voice_url`.
    pub url: String,
    /// GET or POST.
    pub method: Method,
    /// The POST body's format (`req_body_format`).
    pub format: BodyFormat,
    /// `req_timeout_ms`, at most 5 s.
    pub timeout: Duration,
    /// The calling pivot node's `_` child: what Kazoo runs when the request fails.
    pub fallback: Option<Value>,
}

impl Target {
    /// The call's first request, to `url`, the way `spec` says.
    pub fn first(url: String, spec: &CallSpec) -> Target {
        Target {
            url,
            method: spec.method,
            format: BodyFormat::Form,
            timeout: TIMEOUT,
            fallback: None,
        }
    }

    /// The request a `pivot` node makes.
    pub fn of_pivot(node: &Value) -> Target {
        let data = &node["data"];
        let text = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or("");
        let method = match text("method").to_ascii_lowercase().as_str() {
            "post" => Method::Post,
            _ => Method::Get,
        };
        let format = match text("req_body_format").to_ascii_lowercase().as_str() {
            "json" => BodyFormat::Json,
            _ => BodyFormat::Form,
        };
        let timeout = data
            .get("req_timeout_ms")
            .and_then(Value::as_u64)
            .map_or(TIMEOUT, |ms| Duration::from_millis(ms).min(TIMEOUT));
        Target {
            url: text("voice_url").to_owned(),
            method,
            format,
            timeout,
            fallback: node.get("children").and_then(|c| c.get("_")).cloned(),
        }
    }
}

/// One request on the wire.
#[derive(Debug, Clone)]
pub struct WireRequest {
    /// GET or POST.
    pub method: Method,
    /// The URL sent (a GET's parameters appended).
    pub url: String,
    /// The body and its format (POST only).
    pub body: Option<(BodyFormat, Vec<u8>)>,
    /// How long Kazoo waits for the reply.
    pub timeout: Duration,
}

impl WireRequest {
    /// The request Kazoo sends to `target` with the call's `params`.
    pub fn build(target: &Target, params: &Map<String, Value>) -> WireRequest {
        let (url, body) = match target.method {
            Method::Get => {
                let url = mangle_credentials(&target.url);
                let joiner = if url.contains('?') { '&' } else { '?' };
                (format!("{url}{joiner}{}", form::encode(params)), None)
            }
            Method::Post => {
                let body = match target.format {
                    BodyFormat::Form => form::encode(params).into_bytes(),
                    BodyFormat::Json => Value::Object(params.clone()).to_string().into_bytes(),
                };
                (target.url.clone(), Some((target.format, body)))
            }
        };
        WireRequest {
            method: target.method,
            url,
            body,
            timeout: target.timeout,
        }
    }

    /// The body's `Content-Type`.
    pub fn content_type(&self) -> Option<&'static str> {
        self.body.as_ref().map(|(format, _)| match format {
            BodyFormat::Form => "application/x-www-form-urlencoded",
            BodyFormat::Json => "application/json",
        })
    }
}

/// Kazoo's GET rebuilds the URL with a splitter that expects `user@pass:host`: a standard
/// `user:pass@host` loses its `:` (reference §5, "Credentials in voice_url").
pub fn mangle_credentials(url: &str) -> String {
    let Some((userinfo, start, end)) = userinfo(url) else {
        return url.to_owned();
    };
    format!(
        "{}{}{}",
        &url[..start],
        userinfo.replace(':', ""),
        &url[end..]
    )
}

/// `url` without its `user:pass@` part.
pub fn without_credentials(url: &str) -> String {
    match userinfo(url) {
        Some((_, start, end)) => format!("{}{}", &url[..start], &url[end + 1..]),
        None => url.to_owned(),
    }
}

/// `url` as a transcript shows it: a password and a `/t/TOKEN` path segment masked.
pub fn masked(url: &str) -> String {
    let mut out = match userinfo(url) {
        Some((info, start, end)) => match info.split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..start], &url[end..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    if let Some(at) = out.find("/t/") {
        let token_start = at + 3;
        let token_end = out[token_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| token_start + i);
        if token_end > token_start {
            out.replace_range(token_start..token_end, "***");
        }
    }
    out
}

/// The user-info part of `url` (`user:pass`) and its byte range.
fn userinfo(url: &str) -> Option<(&str, usize, usize)> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')? + start;
    Some((&url[start..at], start, at))
}

/// The parameters a call starts with: Kazoo's usual set (reference §1), then the spec's
/// (`Key=Value`, bracket keys allowed: `Custom-Application-Vars[x]=1`; an empty value drops the
/// parameter, as Kazoo drops absent values).
pub fn first_params(spec: &CallSpec, call_id: &str) -> Map<String, Value> {
    let mut params = Map::new();
    let defaults = [
        ("Call-ID", call_id),
        ("Account-ID", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        ("From", "+14155550100"),
        ("From-Realm", "pbx.example.com"),
        ("To", "2030"),
        ("To-Realm", "pbx.example.com"),
        ("Request", "2030"),
        ("Request-Realm", "pbx.example.com"),
        ("Caller-ID-Name", "Simulated Caller"),
        ("Caller-ID-Number", "+14155550100"),
        ("Direction", "inbound"),
        ("Api-Version", "4.x"),
        ("Language", "en-us"),
    ];
    for (key, value) in defaults {
        params.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    params.insert("Custom-Application-Vars".into(), Value::Object(Map::new()));
    params.insert("Custom-SIP-Headers".into(), Value::Object(Map::new()));
    for (key, value) in &spec.params {
        if value.is_empty() {
            let base = key.split('[').next().unwrap_or(key);
            params.remove(base);
        } else {
            form::insert_pair(&mut params, key, value.clone());
        }
    }
    params
}

/// The parameters of `now` that are new or differ from `before` (flattened: `Digits[menu]`).
pub fn changed(before: &[(String, String)], now: &[(String, String)]) -> Vec<(String, String)> {
    now.iter()
        .filter(|pair| !before.contains(pair))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_get_appends_to_the_query_and_loses_the_credentials_colon() {
        let mut params = Map::new();
        params.insert("Digits".into(), json!({"menu": "1"}));
        params.insert("Caller-ID-Name".into(), json!("Alice Smith"));
        let mut target = Target::of_pivot(&json!({"module": "pivot",
            "data": {"voice_url": "http://u:p@pf.example/pivot/a?step=2", "req_format": "kazoo"}}));
        let get = WireRequest::build(&target, &params);
        assert_eq!(
            get.url,
            "http://up@pf.example/pivot/a?step=2&Digits[menu]=1&Caller-ID-Name=Alice+Smith"
        );
        assert!(get.body.is_none());
        target.method = Method::Post;
        let post = WireRequest::build(&target, &params);
        assert_eq!(
            post.url, "http://u:p@pf.example/pivot/a?step=2",
            "POST keeps it"
        );
        assert_eq!(
            post.content_type(),
            Some("application/x-www-form-urlencoded")
        );
        target.format = BodyFormat::Json;
        let json_body = WireRequest::build(&target, &params);
        let body = json_body.body.map(|(_, b)| b).unwrap_or_default();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).ok(),
            Some(json!({"Digits": {"menu": "1"}, "Caller-ID-Name": "Alice Smith"}))
        );
    }

    #[test]
    fn masking_hides_passwords_and_tokens() {
        assert_eq!(
            masked("https://u:secret@pf.example/t/abc123/pivot/x?step=1"),
            "https://u:***@pf.example/t/***/pivot/x?step=1"
        );
        assert_eq!(masked("http://pf/pivot/x"), "http://pf/pivot/x");
        assert_eq!(
            without_credentials("http://u:p@pf/pivot/x?a=b@c"),
            "http://pf/pivot/x?a=b@c"
        );
    }

    #[test]
    fn spec_params_override_and_empty_ones_drop() {
        let spec = CallSpec {
            params: vec![
                ("Caller-ID-Number".into(), "+442071234567".into()),
                ("Language".into(), String::new()),
                ("Custom-Application-Vars[tier]".into(), "gold".into()),
            ],
            ..CallSpec::default()
        };
        let params = first_params(&spec, "c1");
        assert_eq!(params["Caller-ID-Number"], "+442071234567");
        assert!(params.get("Language").is_none());
        assert_eq!(params["Custom-Application-Vars"], json!({"tier": "gold"}));
        assert_eq!(params["Call-ID"], "c1");
    }
}
