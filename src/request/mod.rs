//! The pivot request: what Kazoo sends on each call step, parsed from a GET query, a form body or
//! a JSON body into one typed value with Kazoo's parameter names.

pub mod form;
mod params;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

pub use form::FormError;

/// Why a request could not be read. Each maps to one 4xx status.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The query string or form body is not valid form encoding.
    #[error("malformed form encoding: {0}")]
    Form(#[from] FormError),
    /// The JSON body does not parse or is not an object.
    #[error("malformed JSON body: {0}")]
    Json(String),
    /// A known parameter has a shape Kazoo never sends (e.g. an object for `Call-ID`).
    #[error("parameter `{name}` must be {expected}")]
    Param {
        /// Kazoo's name of the parameter.
        name: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// The body is larger than the configured limit.
    #[error("request body is larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A POST body of a type other than form or JSON.
    #[error("unsupported content type `{0}`: send application/x-www-form-urlencoded or application/json")]
    ContentType(String),
}

/// How a POST body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded`, or no content type at all.
    Form,
    /// `application/json` (or any `+json` type).
    Json,
}

impl BodyFormat {
    /// Picks the body format from a `Content-Type` header value; `None` means no header.
    pub fn from_content_type(content_type: Option<&str>) -> Result<BodyFormat, RequestError> {
        let Some(ct) = content_type else {
            return Ok(BodyFormat::Form);
        };
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "" | "application/x-www-form-urlencoded" => Ok(BodyFormat::Form),
            "application/json" | "text/json" => Ok(BodyFormat::Json),
            m if m.ends_with("+json") => Ok(BodyFormat::Json),
            _ => Err(RequestError::ContentType(ct.to_owned())),
        }
    }
}

/// One call step as Kazoo described it (`req_format=kazoo`). Serialises back with Kazoo's names
/// (the list in [`params`]), then every other parameter as sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PivotRequest {
    /// A-leg Call-ID (may hold `@`, `:` and more).
    pub call_id: Option<String>,
    /// The account's id (32 hex).
    pub account_id: Option<String>,
    /// SIP From user.
    pub from: Option<String>,
    /// SIP From realm.
    pub from_realm: Option<String>,
    /// SIP To user.
    pub to: Option<String>,
    /// SIP To realm.
    pub to_realm: Option<String>,
    /// The dialled number.
    pub request: Option<String>,
    /// Realm of the Request URI.
    pub request_realm: Option<String>,
    /// Current caller id name.
    pub caller_id_name: Option<String>,
    /// Current caller id number.
    pub caller_id_number: Option<String>,
    /// Always `inbound` from Kazoo.
    pub direction: Option<String>,
    /// Kazoo's API version, e.g. `4.x`.
    pub api_version: Option<String>,
    /// Call language, e.g. `en-us`.
    pub language: Option<String>,
    /// Owner ids of the calling device: Kazoo sends one string or a list.
    pub user_ids: UserIds,
    /// Collected digits by collection name; a legacy plain `Digits=1234` is collection `default`.
    pub digits: BTreeMap<String, String>,
    /// Variables set earlier in the call by `set_variables`.
    pub custom_application_vars: Map<String, Value>,
    /// Custom SIP headers of the call.
    pub custom_sip_headers: Map<String, Value>,
    /// Every other parameter, kept as sent.
    pub extra: Map<String, Value>,
}

/// `User-ID` as Kazoo sends it: one id, or a list when the device has several owners.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserIds(pub Vec<String>);

impl UserIds {
    /// True when no `User-ID` was sent.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for UserIds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // One id goes back out as a string, several as a list: the shape Kazoo itself uses.
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl PivotRequest {
    /// Parses a whole request: the URL's query string, plus a POST body in `format`.
    /// Body parameters override query parameters of the same name.
    pub fn parse(
        query: &str,
        body: &[u8],
        format: BodyFormat,
    ) -> Result<PivotRequest, RequestError> {
        let mut req = PivotRequest::default();
        let mut rest = Map::new();
        form::pairs(query.as_bytes(), |k, v| req.absorb(&mut rest, k, v))?;
        if !body.is_empty() {
            match format {
                BodyFormat::Form => form::pairs(body, |k, v| req.absorb(&mut rest, k, v))?,
                BodyFormat::Json => match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(map)) => req.absorb_json(&mut rest, map)?,
                    Ok(_) => {
                        return Err(RequestError::Json("the body must be a JSON object".into()))
                    }
                    Err(e) => return Err(RequestError::Json(e.to_string())),
                },
            }
        }
        req.finish(rest)
    }

    /// Builds the typed request from decoded parameters, keeping unknown ones in `extra`.
    pub fn from_params(params: Map<String, Value>) -> Result<PivotRequest, RequestError> {
        let mut req = PivotRequest::default();
        let mut rest = Map::new();
        req.absorb_json(&mut rest, params)?;
        req.finish(rest)
    }

    /// Takes one decoded form pair: a known plain key straight into its field (the common case,
    /// with no map in between), anything else into `rest`.
    fn absorb(&mut self, rest: &mut Map<String, Value>, key: Cow<'_, str>, value: String) {
        match params::text_slot(self, &key) {
            Some((_, slot)) => *slot = Some(value),
            None => form::insert_pair(rest, &key, value),
        }
    }

    /// Takes the members of a JSON object the same way.
    fn absorb_json(
        &mut self,
        rest: &mut Map<String, Value>,
        map: Map<String, Value>,
    ) -> Result<(), RequestError> {
        for (k, v) in map {
            match params::text_slot(self, &k) {
                Some((name, slot)) => *slot = scalar(name, v)?,
                None => {
                    rest.insert(k, v);
                }
            }
        }
        Ok(())
    }

    /// Types the structured parameters left in `rest`; what remains becomes `extra`.
    fn finish(mut self, mut rest: Map<String, Value>) -> Result<PivotRequest, RequestError> {
        // Structured parameters land in `rest`, and so does a bracketed form key of a plain one
        // (`Call-ID[x]=1`): each is typed, or refused, by its field.
        for param in params::PARAMS {
            if let Some(value) = rest.shift_remove(param.name) {
                param.store(&mut self, value)?;
            }
        }
        self.extra = rest;
        Ok(self)
    }

    /// Looks a parameter up by Kazoo's name, as flows name it: `Caller-ID-Number`,
    /// `Digits.custom_name`, `Digits` (the `default` collection), `Custom-Application-Vars.x`,
    /// `User-ID` (the first id), or any other parameter (dots reach into objects).
    /// Absent and empty values are both `None`.
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        let found = match params::param(name) {
            Some(param) => param.get(self),
            None => self.get_nested(name),
        };
        found.filter(|v| !v.is_empty())
    }

    fn get_nested(&self, name: &str) -> Option<Cow<'_, str>> {
        let (root, rest) = match name.split_once('.') {
            Some((root, rest)) => (root, Some(rest)),
            None => (name, None),
        };
        let param = params::param(root);
        let value = match (param.map(|p| p.slot), rest) {
            (Some(params::Slot::Digits), Some(key)) => {
                return self.digits.get(key).map(|s| Cow::Borrowed(s.as_str()))
            }
            (Some(params::Slot::Object(get, _)), Some(path)) => lookup(get(self), path),
            _ => lookup(&self.extra, name),
        }?;
        match value {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Null => None,
            Value::Number(_) | Value::Bool(_) => Some(Cow::Owned(value.to_string())),
            Value::Array(_) | Value::Object(_) => Some(Cow::Owned(value.to_string())),
        }
    }

    /// The request as the JSON object a script sees as `data`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Finds `a.b.c` in a JSON object, preferring a whole-key match so names with dots still work.
fn lookup<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    match map.get(head)? {
        Value::Object(inner) => lookup(inner, rest),
        _ => None,
    }
}

fn scalar(name: &'static str, v: Value) -> Result<Option<String>, RequestError> {
    match v {
        Value::String(s) => Ok(Some(s)),
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) | Value::Object(_) => Err(RequestError::Param {
            name,
            expected: "a string",
        }),
    }
}

fn user_ids(v: Value) -> Result<UserIds, RequestError> {
    let err = RequestError::Param {
        name: "User-ID",
        expected: "a string or a list of strings",
    };
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(Ok(s)),
                _ => Some(Err(())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(UserIds)
            .map_err(|_| err),
        Value::String(s) if s.is_empty() => Ok(UserIds::default()),
        Value::String(s) => Ok(UserIds(vec![s])),
        Value::Null => Ok(UserIds::default()),
        _ => Err(err),
    }
}

fn digits(v: Value) -> Result<BTreeMap<String, String>, RequestError> {
    let err = RequestError::Param {
        name: "Digits",
        expected: "a string or an object of collection names to digit strings",
    };
    match v {
        Value::String(s) if s.is_empty() => Ok(BTreeMap::new()),
        Value::String(s) => Ok(BTreeMap::from([("default".to_owned(), s)])),
        Value::Number(n) => Ok(BTreeMap::from([("default".to_owned(), n.to_string())])),
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                Value::Number(n) => Ok((k, n.to_string())),
                _ => Err(()),
            })
            .collect::<Result<_, _>>()
            .map_err(|_| err),
        Value::Array(_) | Value::Bool(_) => Err(err),
    }
}

fn object(name: &'static str, v: Value) -> Result<Map<String, Value>, RequestError> {
    match v {
        Value::Object(map) => Ok(map),
        // An empty object arrives from the form encoding as nothing at all, or as `key=`.
        Value::String(s) if s.is_empty() => Ok(Map::new()),
        Value::Null => Ok(Map::new()),
        _ => Err(RequestError::Param {
            name,
            expected: "an object",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_form_and_json_agree() {
        let q = "Call-ID=abc%4010.0.0.1&Digits[custom_name]=1234&User-ID[]=u1&User-ID[]=u2\
                 &Custom-Application-Vars[team]=blue&X-Extra=kept";
        let from_get = PivotRequest::parse(q, b"", BodyFormat::Form).unwrap();
        let from_form = PivotRequest::parse("", q.as_bytes(), BodyFormat::Form).unwrap();
        let json = json!({"Call-ID": "abc@10.0.0.1", "Digits": {"custom_name": "1234"},
            "User-ID": ["u1", "u2"], "Custom-Application-Vars": {"team": "blue"}, "X-Extra": "kept"});
        let from_json =
            PivotRequest::parse("", json.to_string().as_bytes(), BodyFormat::Json).unwrap();
        assert_eq!(from_get, from_form);
        assert_eq!(from_get, from_json);
        assert_eq!(from_get.get("Digits.custom_name").as_deref(), Some("1234"));
        assert_eq!(
            from_get.get("Custom-Application-Vars.team").as_deref(),
            Some("blue")
        );
        assert_eq!(from_get.get("X-Extra").as_deref(), Some("kept"));
        assert_eq!(from_get.get("User-ID").as_deref(), Some("u1"));
        assert_eq!(from_get.to_value()["User-ID"], json!(["u1", "u2"]));
    }

    #[test]
    fn legacy_digits_are_the_default_collection() {
        let r = PivotRequest::parse("Digits=1234&User-ID=solo", b"", BodyFormat::Form).unwrap();
        assert_eq!(r.get("Digits").as_deref(), Some("1234"));
        assert_eq!(r.get("Digits.default").as_deref(), Some("1234"));
        assert_eq!(r.to_value()["User-ID"], json!("solo"));
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let bad = |body: &str| PivotRequest::parse("", body.as_bytes(), BodyFormat::Json);
        assert!(matches!(bad("[1]"), Err(RequestError::Json(_))));
        assert!(matches!(
            bad("{\"Call-ID\": {}}"),
            Err(RequestError::Param {
                name: "Call-ID",
                ..
            })
        ));
        assert!(matches!(
            bad("{\"Digits\": [1]}"),
            Err(RequestError::Param { name: "Digits", .. })
        ));
        assert!(matches!(
            BodyFormat::from_content_type(Some("text/plain")),
            Err(RequestError::ContentType(_))
        ));
        assert_eq!(
            BodyFormat::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
            BodyFormat::Json
        );
    }

    #[test]
    fn every_listed_parameter_parses_reads_and_writes_back() {
        let mut names = Vec::new();
        for param in params::PARAMS {
            let name = param.name;
            assert!(!names.contains(&name), "{name} is listed twice");
            names.push(name);
            // Each kind as Kazoo sends it, and what `get` and the JSON form then hold.
            let (query, bare, written) = match param.slot {
                params::Slot::Text(..) => (format!("{name}=v1"), Some("v1"), json!("v1")),
                params::Slot::UserIds => (format!("{name}=v1"), Some("v1"), json!("v1")),
                params::Slot::Digits => (
                    format!("{name}[default]=v1"),
                    Some("v1"),
                    json!({"default": "v1"}),
                ),
                params::Slot::Object(..) => (format!("{name}[k]=v1"), None, json!({"k": "v1"})),
            };
            let req = PivotRequest::parse(&query, b"", BodyFormat::Form).unwrap();
            assert_eq!(req.get(name).as_deref(), bare, "{name}");
            assert!(
                req.extra.is_empty(),
                "{name} fell into extra: {:?}",
                req.extra
            );
            let value = req.to_value();
            assert_eq!(value, json!({name: written}), "{name}");
            let from_json =
                PivotRequest::parse("", value.to_string().as_bytes(), BodyFormat::Json).unwrap();
            assert_eq!(from_json, req, "{name} from JSON");
        }
        // Each name fills its own field: all at once, with distinct values, nothing is lost.
        let text: Vec<String> = params::PARAMS
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match p.slot {
                params::Slot::Object(..) => None,
                params::Slot::Digits => Some(format!("{}[d]=v{i}", p.name)),
                _ => Some(format!("{}=v{i}", p.name)),
            })
            .collect();
        let req = PivotRequest::parse(&text.join("&"), b"", BodyFormat::Form).unwrap();
        for (i, param) in params::PARAMS.iter().enumerate() {
            let got = match param.slot {
                params::Slot::Object(..) => continue,
                params::Slot::Digits => req.get("Digits.d"),
                _ => req.get(param.name),
            };
            assert_eq!(got, Some(format!("v{i}").into()), "{}", param.name);
        }
        assert_eq!(req.call_id.as_deref(), Some("v0"));
        assert_eq!(req.caller_id_number.as_deref(), Some("v9"));
        assert_eq!(req.language.as_deref(), Some("v12"));
        // Serialised in the table's order, Kazoo's names first, the rest as sent.
        let req = PivotRequest::parse(
            "X-Other=1&Language=en-us&Digits=5&Call-ID=c1",
            b"",
            BodyFormat::Form,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"Call-ID":"c1","Language":"en-us","Digits":{"default":"5"},"X-Other":"1"}"#
        );
    }
}
