//! The checks of a scenario's fields, one function each: every problem is pushed to the file's
//! [`Errors`] with the line of the value, and the field is left out, so that one pass reports
//! every problem of a file.

use std::ops::Range;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use toml::Spanned;

use super::{EndExpect, NodeExpect, TextMatch};
use crate::load_error::{line_at, LoadError};
use crate::sim::{BridgeOutcome, CannedFetch, KazooVersion, Method};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFetch {
    url: String,
    #[serde(default = "ok_status")]
    status: u16,
    body: Option<String>,
    json: Option<toml::Value>,
}

fn ok_status() -> u16 {
    200
}

/// Gathers a file's errors, each placed at the line of a span.
pub(super) struct Errors<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
    pub(super) errors: &'a mut Vec<LoadError>,
}

impl Errors<'_> {
    pub(super) fn push(&mut self, span: Range<usize>, message: String) {
        let line = line_at(self.text, span.start);
        self.errors
            .push(LoadError::new(self.file, Some(line), message));
    }

    pub(super) fn line(&self, span: Range<usize>) -> usize {
        line_at(self.text, span.start)
    }
}

pub(super) fn params(at: &mut Errors<'_>, table: Spanned<toml::Table>) -> Vec<(String, String)> {
    let span = table.span();
    let mut out = Vec::new();
    for (key, value) in table.into_inner() {
        match scalar_text(&value) {
            Some(text) => out.push((key, text)),
            None => at.push(
                span.clone(),
                format!(
                    "params: `{key}` must be a string, a number or a boolean; write nested \
                     Kazoo parameters flat, e.g. \"Custom-SIP-Headers[X-Account]\" = \"…\""
                ),
            ),
        }
    }
    out
}

fn scalar_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn digits(at: &mut Errors<'_>, d: Spanned<String>) -> Option<String> {
    let text = d.get_ref();
    if text
        .chars()
        .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    {
        return Some(text.clone());
    }
    at.push(
        d.span(),
        format!("digits: {text:?} is not DTMF: 0-9, * and # only (\"\" = nothing pressed)"),
    );
    None
}

pub(super) fn bridge(at: &mut Errors<'_>, b: Spanned<String>) -> Option<BridgeOutcome> {
    b.get_ref()
        .parse()
        .map_err(|e| at.push(b.span(), format!("bridges: {e}")))
        .ok()
}

pub(super) fn instant(at: &mut Errors<'_>, v: Spanned<toml::Value>) -> Option<DateTime<Utc>> {
    // A quoted string or TOML's own offset date-time: both read as RFC 3339.
    let text = match v.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => String::new(),
    };
    match DateTime::parse_from_rfc3339(&text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            at.push(
                v.span(),
                format!(
                    "at = {text:?} is not an RFC 3339 instant with its offset, e.g. \
                     \"2026-12-24T15:00:00-05:00\""
                ),
            );
            None
        }
    }
}

pub(super) fn method(at: &mut Errors<'_>, m: Spanned<String>) -> Option<Method> {
    m.get_ref()
        .parse()
        .map_err(|e| at.push(m.span(), format!("method: {e}")))
        .ok()
}

pub(super) fn kazoo(at: &mut Errors<'_>, k: Spanned<String>) -> Option<KazooVersion> {
    k.get_ref()
        .parse()
        .map_err(|e| at.push(k.span(), format!("kazoo: {e}")))
        .ok()
}

pub(super) fn fetch(at: &mut Errors<'_>, f: Spanned<RawFetch>) -> Option<CannedFetch> {
    let span = f.span();
    let f = f.into_inner();
    if !(100..600).contains(&f.status) {
        at.push(
            span,
            format!("fetch: status {} is not an HTTP status", f.status),
        );
        return None;
    }
    let body = match (f.body, f.json) {
        (Some(_), Some(_)) => {
            at.push(
                span,
                "fetch: give `body` (text) or `json` (a value), not both".into(),
            );
            return None;
        }
        (Some(body), None) => body,
        (None, Some(json)) => to_json(json).to_string(),
        (None, None) => String::new(),
    };
    Some(CannedFetch {
        url: f.url,
        status: f.status,
        body,
    })
}

pub(super) fn node_expect(at: &mut Errors<'_>, e: Spanned<toml::Value>) -> Option<NodeExpect> {
    let span = e.span();
    let line = at.line(span.clone());
    let shape = "each expect entry is { MODULE = \"text\" } (exactly), \
                 { MODULE = { contains = \"text\" } } or { MODULE = true } (any)";
    let toml::Value::Table(table) = e.into_inner() else {
        at.push(span, format!("expect: {shape}"));
        return None;
    };
    if table.len() != 1 {
        at.push(span, format!("expect: one module per entry; {shape}"));
        return None;
    }
    let (module, value) = table.into_iter().next()?;
    if !known_module(&module) {
        at.push(
            span,
            format!("expect: `{module}` is not a callflow module (see the README's module table)"),
        );
        return None;
    }
    let text = match value {
        toml::Value::String(s) => TextMatch::Exact(s),
        toml::Value::Boolean(true) => TextMatch::Any,
        toml::Value::Table(t) if t.len() == 1 && t.get("contains").is_some_and(|c| c.is_str()) => {
            TextMatch::Contains(t["contains"].as_str().unwrap_or_default().to_owned())
        }
        _ => {
            at.push(span, format!("expect: `{module}`: {shape}"));
            return None;
        }
    };
    Some(NodeExpect { module, text, line })
}

/// A module of Kazoo 4.3 (the registry) or of master only (`answer`, `noop`, …).
fn known_module(name: &str) -> bool {
    crate::callflow::registry::find(name).is_some() || crate::sim::line::master_only(name)
}

pub(super) fn ends(at: &mut Errors<'_>, e: Spanned<String>) -> Option<EndExpect> {
    let text = e.get_ref().as_str();
    match text {
        "bridge" => Some(EndExpect::Bridge),
        "end_of_tree" => Some(EndExpect::EndOfTree),
        "hung_up" => Some(EndExpect::HungUp),
        module if known_module(module) => Some(EndExpect::Module(module.to_owned())),
        _ => {
            at.push(
                e.span(),
                format!(
                    "ends = {text:?}: write \"bridge\", \"end_of_tree\", \"hung_up\" or the \
                     module of the terminal node (\"hangup\", \"voicemail\", \"response\", …)"
                ),
            );
            None
        }
    }
}

pub(super) fn logs(at: &mut Errors<'_>, l: Spanned<toml::Value>) -> Vec<String> {
    let span = l.span();
    let texts: Option<Vec<String>> = match l.into_inner() {
        toml::Value::String(s) => return vec![s],
        toml::Value::Array(items) => items
            .into_iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    };
    texts.unwrap_or_else(|| {
        at.push(span, "logs_contain: a string or an array of strings".into());
        Vec::new()
    })
}

/// A TOML value as JSON (date-times as their RFC 3339 text).
pub(super) fn to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => J::Array(items.into_iter().map(to_json).collect()),
        toml::Value::Table(t) => J::Object(t.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
    }
}
