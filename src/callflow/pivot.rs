//! `pivot`: ask a web service (like this one) for the next callflow.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// `data` of a `pivot` node.
///
/// `req_format` is not optional: Kazoo's schema defaults it to `kazoo` but its code to `twiml`,
/// so a missing value reads as `kazoo` and is always written out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pivot {
    /// URL called for the next callflow (`http://` or `https://`).
    #[schemars(regex(pattern = r"^https?://"))]
    pub voice_url: String,
    /// HTTP method (Kazoo default get).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "get"))]
    pub method: Option<PivotMethod>,
    /// Request parameter names, Kazoo's or Twilio-style; always sent, since Kazoo's code
    /// defaults to twiml.
    #[serde(default)]
    pub req_format: ReqFormat,
    /// POST body encoding (Kazoo default form).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "form"))]
    pub req_body_format: Option<ReqBodyFormat>,
    /// Whole-request timeout in milliseconds (1–5000).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000), extend("default" = 5000))]
    pub req_timeout_ms: Option<u64>,
    /// Have Kazoo store each request and response.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub debug: Option<bool>,
    /// URL the call detail record is sent to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdr_url: Option<String>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Pivot {
    /// Pivots to this URL with `req_format: kazoo` and Kazoo's other defaults.
    pub fn new(voice_url: impl Into<String>) -> Self {
        Self {
            voice_url: voice_url.into(),
            method: None,
            req_format: ReqFormat::Kazoo,
            req_body_format: None,
            req_timeout_ms: None,
            debug: None,
            cdr_url: None,
            skip_module: None,
            extra: Map::new(),
        }
    }
}

/// HTTP method of the pivot request; Kazoo reads it case-insensitively, we write lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PivotMethod {
    /// Parameters in the query string.
    Get,
    /// Parameters in the body.
    Post,
}

impl PivotMethod {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PivotMethod::Get => "get",
            PivotMethod::Post => "post",
        }
    }
}

impl Serialize for PivotMethod {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PivotMethod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MethodVisitor;
        impl serde::de::Visitor<'_> for MethodVisitor {
            type Value = PivotMethod;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"get\" or \"post\" (any case)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PivotMethod, E> {
                if v.eq_ignore_ascii_case("get") {
                    Ok(PivotMethod::Get)
                } else if v.eq_ignore_ascii_case("post") {
                    Ok(PivotMethod::Post)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        deserializer.deserialize_str(MethodVisitor)
    }
}

// Kazoo reads the method in any case, as `Deserialize` above does.
impl JsonSchema for PivotMethod {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "PivotMethod".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^([Gg][Ee][Tt]|[Pp][Oo][Ss][Tt])$"})
    }
}

/// Parameter naming of the pivot request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReqFormat {
    /// Kazoo names (`Call-ID`, `Digits`, …); what this service reads.
    #[default]
    Kazoo,
    /// Twilio names.
    Twiml,
}

/// Body encoding of a POST pivot request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReqBodyFormat {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`.
    Json,
}

// ---- the pivots this service writes ----------------------------------------------------------

impl ReqFormat {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ReqFormat::Kazoo => "kazoo",
            ReqFormat::Twiml => "twiml",
        }
    }
}

impl Pivot {
    /// The node's `data`: these settings, then a flow's own keys over them, as written (the
    /// schemas check them), except `voice_url`, which stays this one. Every pivot node the
    /// service builds or passes on from a rule flow ends in [`with_req_format`].
    pub fn data_with(&self, own: Map<String, Value>) -> Map<String, Value> {
        let Ok(Value::Object(mut data)) = serde_json::to_value(self) else {
            unreachable!("a pivot's data serialises to an object")
        };
        for (key, value) in own {
            if key != "voice_url" {
                data.insert(key, value);
            }
        }
        with_req_format(&mut data);
        data
    }
}

/// Gives a pivot node's `data` `req_format: "kazoo"` when it names none: Kazoo's schema
/// defaults to `kazoo` but its code to `twiml`, whose parameter names this service can't read.
/// The one place that rule is applied to JSON; a typed [`Pivot`] always carries it.
pub fn with_req_format(data: &mut Map<String, Value>) {
    data.entry("req_format")
        .or_insert_with(|| Value::String(ReqFormat::default().as_str().to_owned()));
}

/// Fills in `req_format` ([`with_req_format`]) on every pivot node of a tree a flow answered,
/// down to [`super::MAX_DEPTH`] nodes deep (a deeper tree fails validation anyway): a script's
/// own `{module: 'pivot'}` would otherwise send the PBX back with TwiML's parameter names.
pub fn fill_req_formats(tree: &mut Value) {
    fn walk(node: &mut Value, depth: usize) {
        if depth > super::MAX_DEPTH {
            return;
        }
        let Value::Object(map) = node else {
            return;
        };
        if map.get("module").and_then(Value::as_str) == Some("pivot") {
            if let Some(Value::Object(data)) = map.get_mut("data") {
                with_req_format(data);
            }
        }
        if let Some(Value::Object(children)) = map.get_mut("children") {
            for child in children.values_mut() {
                walk(child, depth + 1);
            }
        }
    }
    walk(tree, 1);
}
