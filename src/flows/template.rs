//! Reply trees with `{{…}}` placeholders, compiled once when a flow loads and rendered per call.
//!
//! Placeholders only ever stand inside JSON strings and render to text, so a value from the
//! request (a quote, a brace, a whole JSON document) stays text: it can never add a key or a node.
//! Values known when the flow loads (`vars.*`, `public_url`, `recordings_url`) are substituted at
//! compile time; only request lookups are left for each call.

use serde_json::{Map, Value};

use crate::request::PivotRequest;

/// Values a template can use that are fixed when the flow loads.
pub struct StaticScope<'a> {
    /// The flow's `[vars]`.
    pub vars: &'a Map<String, Value>,
    /// Base URL at which the PBX reaches this service, without a trailing `/`.
    pub public_url: &'a str,
    /// Where the PBX uploads recordings, with the upload token when uploads are protected.
    pub recordings_url: &'a str,
}

/// A tree with placeholders, ready to render.
#[derive(Debug, Clone)]
pub enum TreeTemplate {
    /// No placeholder below this point: rendered by cloning.
    Static(Value),
    /// A string with request placeholders.
    Text(Template),
    /// A list with at least one placeholder below it.
    Array(Vec<TreeTemplate>),
    /// An object with at least one placeholder below it.
    Object(Vec<(String, TreeTemplate)>),
}

impl TreeTemplate {
    /// Compiles every string of `value`, substituting what `scope` already knows.
    pub fn compile(value: &Value, scope: &StaticScope<'_>) -> Result<TreeTemplate, TemplateError> {
        Ok(match value {
            Value::String(s) => {
                let template = Template::parse(s, scope)?;
                match template.as_static() {
                    Some(v) => TreeTemplate::Static(v),
                    None => TreeTemplate::Text(template),
                }
            }
            Value::Array(items) => {
                let items = items
                    .iter()
                    .map(|v| TreeTemplate::compile(v, scope))
                    .collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(|t| matches!(t, TreeTemplate::Static(_))) {
                    TreeTemplate::Static(Value::Array(
                        items.into_iter().map(TreeTemplate::into_static).collect(),
                    ))
                } else {
                    TreeTemplate::Array(items)
                }
            }
            Value::Object(map) => {
                let fields = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), TreeTemplate::compile(v, scope)?)))
                    .collect::<Result<Vec<_>, TemplateError>>()?;
                if fields
                    .iter()
                    .all(|(_, t)| matches!(t, TreeTemplate::Static(_)))
                {
                    let map = fields
                        .into_iter()
                        .map(|(k, t)| (k, t.into_static()))
                        .collect();
                    TreeTemplate::Static(Value::Object(map))
                } else {
                    TreeTemplate::Object(fields)
                }
            }
            other => TreeTemplate::Static(other.clone()),
        })
    }

    fn into_static(self) -> Value {
        match self {
            TreeTemplate::Static(v) => v,
            _ => Value::Null,
        }
    }

    /// Renders the tree for one request.
    pub fn render(&self, req: &PivotRequest) -> Value {
        match self {
            TreeTemplate::Static(v) => v.clone(),
            TreeTemplate::Text(t) => Value::String(t.render(req)),
            TreeTemplate::Array(items) => {
                Value::Array(items.iter().map(|t| t.render(req)).collect())
            }
            TreeTemplate::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, t)| (k.clone(), t.render(req)))
                    .collect(),
            ),
        }
    }

    /// The tree with request placeholders left as written: what the load-time schema check sees.
    pub fn preview(&self) -> Value {
        match self {
            TreeTemplate::Static(v) => v.clone(),
            TreeTemplate::Text(t) => Value::String(t.source.clone()),
            TreeTemplate::Array(items) => {
                Value::Array(items.iter().map(TreeTemplate::preview).collect())
            }
            TreeTemplate::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, t)| (k.clone(), t.preview()))
                    .collect(),
            ),
        }
    }
}

/// A placeholder that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without its `}}`.
    #[error("`{{{{` without a closing `}}}}` in \"{0}\"")]
    Unclosed(String),
    /// `{{vars.x}}` where `[vars]` has no `x`.
    #[error("`{{{{vars.{0}}}}}` is used but `{0}` is not defined in [vars]")]
    UnknownVar(String),
    /// A filter name that does not exist.
    #[error("unknown filter `{0}`: use one of default, area_code, digits, spell, upper, lower")]
    UnknownFilter(String),
    /// `{{ }}` with no name inside.
    #[error("empty placeholder `{{{{}}}}` in \"{0}\"")]
    Empty(String),
}

/// One string with placeholders.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
    /// Set when the whole string was one `{{vars.x}}` naming a number or boolean.
    typed: Option<Value>,
}

#[derive(Debug, Clone)]
enum Segment {
    Text(String),
    Param { name: String, filters: Vec<Filter> },
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Default(String),
    AreaCode,
    Digits,
    Spell,
    Upper,
    Lower,
}

impl Template {
    /// Parses one string, substituting static names from `scope`.
    pub fn parse(source: &str, scope: &StaticScope<'_>) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut typed = None;
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            let offset = source.len() - rest.len() + open;
            push_text(&mut segments, &rest[..open]);
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed(source.to_owned()))?;
            let mut parts = after[..close].split('|');
            let name = parts.next().unwrap_or("").trim();
            if name.is_empty() {
                return Err(TemplateError::Empty(source.to_owned()));
            }
            let filters = parts.map(parse_filter).collect::<Result<Vec<_>, _>>()?;
            match static_value(name, scope)? {
                Some(value) => {
                    // Only a placeholder that is the entire string may keep a number's type.
                    let whole = offset == 0 && close + 2 == after.len() && filters.is_empty();
                    if whole && !value.is_string() {
                        typed = Some(value.clone());
                    }
                    let text = match value {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    push_text(&mut segments, &apply(&filters, Some(text)));
                }
                None => segments.push(Segment::Param {
                    name: name.to_owned(),
                    filters,
                }),
            }
            rest = &after[close + 2..];
        }
        push_text(&mut segments, rest);
        Ok(Template {
            source: source.to_owned(),
            segments,
            typed,
        })
    }

    /// The value when nothing depends on the request.
    fn as_static(&self) -> Option<Value> {
        if let Some(v) = &self.typed {
            return Some(v.clone());
        }
        match self.segments.as_slice() {
            [] => Some(Value::String(String::new())),
            [Segment::Text(t)] => Some(Value::String(t.clone())),
            _ => None,
        }
    }

    /// Renders the string for one request; a missing parameter renders as empty text.
    pub fn render(&self, req: &PivotRequest) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Param { name, filters } => {
                    let value = req.get(name).map(|v| v.into_owned());
                    out.push_str(&apply(filters, value));
                }
            }
        }
        out
    }
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Segment::Text(prev)) = segments.last_mut() {
        prev.push_str(text);
    } else {
        segments.push(Segment::Text(text.to_owned()));
    }
}

fn static_value(name: &str, scope: &StaticScope<'_>) -> Result<Option<Value>, TemplateError> {
    if let Some(var) = name.strip_prefix("vars.") {
        return scope
            .vars
            .get(var)
            .cloned()
            .map(Some)
            .ok_or_else(|| TemplateError::UnknownVar(var.to_owned()));
    }
    Ok(match name {
        "public_url" => Some(Value::String(scope.public_url.to_owned())),
        "recordings_url" => Some(Value::String(scope.recordings_url.to_owned())),
        _ => None,
    })
}

fn parse_filter(raw: &str) -> Result<Filter, TemplateError> {
    let (name, arg) = match raw.split_once(':') {
        Some((n, a)) => (n.trim(), Some(a.trim())),
        None => (raw.trim(), None),
    };
    Ok(match (name, arg) {
        ("default", Some(arg)) => Filter::Default(unquote(arg).to_owned()),
        ("area_code", None) => Filter::AreaCode,
        ("digits", None) => Filter::Digits,
        ("spell", None) => Filter::Spell,
        ("upper", None) => Filter::Upper,
        ("lower", None) => Filter::Lower,
        _ => return Err(TemplateError::UnknownFilter(raw.trim().to_owned())),
    })
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

fn apply(filters: &[Filter], value: Option<String>) -> String {
    let mut value = value.filter(|v| !v.is_empty());
    for filter in filters {
        value = match filter {
            Filter::Default(d) => value.or_else(|| Some(d.clone())),
            Filter::AreaCode => value.and_then(|v| area_code(&v)),
            Filter::Digits => value.map(|v| v.chars().filter(char::is_ascii_digit).collect()),
            Filter::Spell => value.map(|v| spell(&v)),
            Filter::Upper => value.map(|v| v.to_uppercase()),
            Filter::Lower => value.map(|v| v.to_lowercase()),
        }
        .filter(|v| !v.is_empty());
    }
    value.unwrap_or_default()
}

/// The first three digits of a North American national number (`+1` and punctuation stripped).
pub fn area_code(number: &str) -> Option<String> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let national = match digits.len() {
        11 if digits.starts_with('1') => &digits[1..],
        10 => &digits[..],
        _ => return None,
    };
    Some(national[..3].to_owned())
}

/// `1234` → `1 2 3 4`, so text-to-speech reads digits one by one.
fn spell(v: &str) -> String {
    let mut out = String::with_capacity(v.len() * 2);
    for (i, c) in v.chars().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::BodyFormat;
    use serde_json::json;

    fn scope_vars() -> Map<String, Value> {
        json!({"desk": "abc", "timeout": 25})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    fn req(q: &str) -> PivotRequest {
        PivotRequest::parse(q, b"", BodyFormat::Form).unwrap()
    }

    #[test]
    fn static_parts_resolve_at_compile_time() {
        let vars = scope_vars();
        let scope = StaticScope {
            vars: &vars,
            public_url: "http://pf",
            recordings_url: "http://pf/recordings",
        };
        let t = TreeTemplate::compile(
            &json!({"id": "{{vars.desk}}", "timeout": "{{vars.timeout}}", "u": "{{public_url}}/x"}),
            &scope,
        )
        .unwrap();
        assert!(matches!(t, TreeTemplate::Static(_)));
        assert_eq!(
            t.render(&req("")),
            json!({"id": "abc", "timeout": 25, "u": "http://pf/x"})
        );
    }

    #[test]
    fn request_values_stay_text() {
        let vars = scope_vars();
        let scope = StaticScope {
            vars: &vars,
            public_url: "",
            recordings_url: "/recordings",
        };
        let t = TreeTemplate::compile(&json!({"text": "Hi {{Caller-ID-Name}}!"}), &scope).unwrap();
        let evil = req("Caller-ID-Name=%22%7D%2C%22module%22%3A%22hangup");
        assert_eq!(
            t.render(&evil),
            json!({"text": "Hi \"},\"module\":\"hangup!"})
        );
    }

    #[test]
    fn filters() {
        let vars = scope_vars();
        let scope = StaticScope {
            vars: &vars,
            public_url: "",
            recordings_url: "/recordings",
        };
        let t = |s: &str| Template::parse(s, &scope).unwrap();
        let r = req("Caller-ID-Number=%2B14155550100&Digits[x]=123");
        assert_eq!(t("{{Caller-ID-Number | area_code}}").render(&r), "415");
        assert_eq!(t("{{Digits.x | spell}}").render(&r), "1 2 3");
        assert_eq!(
            t("{{Caller-ID-Name | default: \"friend\"}}").render(&r),
            "friend"
        );
        assert_eq!(t("{{Caller-ID-Number | digits}}").render(&r), "14155550100");
        assert_eq!(area_code("anonymous"), None);
        assert_eq!(area_code("4155550100").as_deref(), Some("415"));
    }

    #[test]
    fn errors() {
        let vars = scope_vars();
        let scope = StaticScope {
            vars: &vars,
            public_url: "",
            recordings_url: "/recordings",
        };
        assert_eq!(
            Template::parse("{{vars.nope}}", &scope).unwrap_err(),
            TemplateError::UnknownVar("nope".into())
        );
        assert!(matches!(
            Template::parse("{{x", &scope),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::parse("{{x|shout}}", &scope),
            Err(TemplateError::UnknownFilter(_))
        ));
        assert!(matches!(
            Template::parse("{{ }}", &scope),
            Err(TemplateError::Empty(_))
        ));
    }
}
