//! Rule flows: a file of ordered rules, first match wins, read by people who are not programmers.
//!
//! The file (TOML or JSON) names a time zone, variables, holidays, the rules and a default reply.
//! Everything is checked when the file loads — weekday names, windows, dates, regexes, template
//! names and every reply tree against the schemas — so a call never meets a typo.

use std::path::Path;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use regex::Regex;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::conditions::{DateSpec, Holiday, LocalNow, Match, TimeWindow, Weekdays, WindowDay};
use super::template::{StaticScope, TreeTemplate};
use crate::callflow::Schemas;
use crate::load_error::LoadError;
use crate::request::PivotRequest;

/// A loaded rule flow.
#[derive(Debug)]
pub struct RuleFlow {
    /// What the flow is for, from the file.
    pub description: Option<String>,
    /// The zone its times and dates are read in.
    pub timezone: Tz,
    rules: Vec<Rule>,
    holidays: Vec<Holiday>,
    default: TreeTemplate,
    /// The tree sent when a reply fails validation.
    pub fallback: Option<Value>,
    /// Flows this one pivots to, with the line of the tree that does, checked against the
    /// registry after loading.
    pub pivots_to: Vec<(String, Option<usize>)>,
}

#[derive(Debug)]
struct Rule {
    name: String,
    when: Conditions,
    reply: TreeTemplate,
}

/// What evaluating a rule flow gave: the rule that matched (`None` for the default) and the tree.
#[derive(Debug)]
pub struct Evaluation<'a> {
    /// Name of the matching rule; `None` when the default answered.
    pub rule: Option<&'a str>,
    /// The rendered tree, not yet validated.
    pub tree: Value,
}

impl RuleFlow {
    /// Picks the first rule whose conditions hold at `now` for `req`, else the default.
    pub fn evaluate(&self, req: &PivotRequest, now: DateTime<Utc>) -> Evaluation<'_> {
        let local = LocalNow::new(now, self.timezone);
        let holiday = self
            .holidays
            .iter()
            .any(|h| h.covers(local.date, local.minute));
        for rule in &self.rules {
            if rule.when.holds(local, holiday, req) {
                return Evaluation {
                    rule: Some(&rule.name),
                    tree: rule.reply.render(req),
                };
            }
        }
        Evaluation {
            rule: None,
            tree: self.default.render(req),
        }
    }

    /// Names of the rules, in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }
}

#[derive(Debug, Default)]
struct Conditions {
    weekdays: Option<Weekdays>,
    time: Vec<TimeWindow>,
    dates: Vec<DateSpec>,
    holiday: Option<bool>,
    matches: Vec<Match>,
}

impl Conditions {
    fn holds(&self, local: LocalNow, holiday: bool, req: &PivotRequest) -> bool {
        if self.holiday.is_some_and(|want| want != holiday) {
            return false;
        }
        if !self.matches.iter().all(|m| m.matches(req)) {
            return false;
        }
        if self.time.is_empty() {
            return self.day_holds(local.date);
        }
        self.time.iter().any(|w| match w.locate(local.minute) {
            Some(WindowDay::Today) => self.day_holds(local.date),
            Some(WindowDay::Yesterday) => local.date.pred_opt().is_some_and(|d| self.day_holds(d)),
            None => false,
        })
    }

    fn day_holds(&self, day: chrono::NaiveDate) -> bool {
        self.weekdays.is_none_or(|w| w.contains(day.weekday()))
            && (self.dates.is_empty() || self.dates.iter().any(|d| d.contains(day)))
    }
}

// ---- the file format ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    description: Option<String>,
    #[serde(default = "utc", deserialize_with = "de_timezone")]
    timezone: Tz,
    #[serde(default)]
    vars: Map<String, Value>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
    #[serde(default, alias = "rules")]
    rule: Vec<RawRule>,
    default: Option<Value>,
    fallback: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: Option<String>,
    #[serde(deserialize_with = "de_date")]
    date: DateSpec,
    #[serde(default, deserialize_with = "de_closed")]
    closed: Option<TimeWindow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    #[serde(default, deserialize_with = "de_weekdays")]
    weekdays: Option<Weekdays>,
    #[serde(default, deserialize_with = "de_windows")]
    time: Vec<TimeWindow>,
    #[serde(default, deserialize_with = "de_dates")]
    dates: Vec<DateSpec>,
    holiday: Option<bool>,
    #[serde(default, rename = "match", deserialize_with = "de_matches")]
    matches: Vec<Match>,
    reply: Value,
}

fn utc() -> Tz {
    Tz::UTC
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    match OneOrMany::deserialize(d) {
        Ok(OneOrMany::One(s)) => Ok(vec![s]),
        Ok(OneOrMany::Many(v)) => Ok(v),
        Err(_) => Err(serde::de::Error::custom(
            "expected a string or a list of strings",
        )),
    }
}

fn de_timezone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<Tz>().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{s}` is not an IANA time zone: use a name like America/New_York or Europe/London"
        ))
    })
}

fn de_weekdays<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Weekdays>, D::Error> {
    Weekdays::parse(&one_or_many(d)?)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn non_empty<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<Vec<String>, D::Error> {
    let items = one_or_many(d)?;
    if items.is_empty() {
        return Err(serde::de::Error::custom(format!(
            "an empty `{key}` list matches nothing: list values, or remove the key"
        )));
    }
    Ok(items)
}

fn de_windows<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TimeWindow>, D::Error> {
    non_empty(d, "time")?
        .iter()
        .map(|s| TimeWindow::parse(s).map_err(serde::de::Error::custom))
        .collect()
}

fn de_dates<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DateSpec>, D::Error> {
    non_empty(d, "dates")?
        .iter()
        .map(|s| DateSpec::parse(s).map_err(serde::de::Error::custom))
        .collect()
}

fn de_date<'de, D: Deserializer<'de>>(d: D) -> Result<DateSpec, D::Error> {
    DateSpec::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn de_closed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TimeWindow>, D::Error> {
    let s = String::deserialize(d)?;
    let w = TimeWindow::parse(&s).map_err(serde::de::Error::custom)?;
    if !w.is_same_day() {
        return Err(serde::de::Error::custom(format!(
            "holiday `closed = \"{s}\"` crosses midnight: give each day its own holiday entry"
        )));
    }
    Ok(Some(w))
}

fn de_matches<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Match>, D::Error> {
    let table = Map::<String, Value>::deserialize(d)?;
    table
        .into_iter()
        .map(|(param, spec)| parse_match(param, spec).map_err(serde::de::Error::custom))
        .collect()
}

fn parse_match(param: String, spec: Value) -> Result<Match, String> {
    let mut m = Match {
        param,
        missing: None,
        equals: Vec::new(),
        prefix: Vec::new(),
        regex: None,
    };
    let strings = |v: Value, what: &str| -> Result<Vec<String>, String> {
        match v {
            Value::String(s) => Ok(vec![s]),
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    _ => Err(format!("`{what}` takes a string or a list of strings")),
                })
                .collect(),
            _ => Err(format!("`{what}` takes a string or a list of strings")),
        }
    };
    match spec {
        Value::String(_) | Value::Array(_) => m.equals = strings(spec, "equals")?,
        Value::Object(tests) => {
            for (key, value) in tests {
                match key.as_str() {
                    "equals" => m.equals = strings(value, "equals")?,
                    "prefix" => m.prefix = strings(value, "prefix")?,
                    "regex" => {
                        let Value::String(pattern) = value else {
                            return Err("`regex` takes a string".into());
                        };
                        let re = Regex::new(&pattern)
                            .map_err(|e| format!("match on `{}`: bad regex: {e}", m.param))?;
                        m.regex = Some(re);
                    }
                    "missing" => {
                        let Value::Bool(b) = value else {
                            return Err("`missing` takes true or false".into());
                        };
                        m.missing = Some(b);
                    }
                    other => {
                        return Err(format!(
                            "match on `{}`: unknown test `{other}`: use equals, prefix, regex or missing",
                            m.param
                        ))
                    }
                }
            }
        }
        _ => {
            return Err(format!(
                "match on `{}`: give a string, or a table with equals, prefix, regex or missing",
                m.param
            ))
        }
    }
    Ok(m)
}

/// Where each rule, the default and the fallback start in a TOML file, for error messages.
#[derive(Deserialize, Default)]
struct Spans {
    #[serde(default, alias = "rules")]
    rule: Vec<toml::Spanned<toml::Value>>,
    default: Option<toml::Spanned<toml::Value>>,
    fallback: Option<toml::Spanned<toml::Value>>,
}

/// What a flow needs from its surroundings to load.
pub struct LoadContext<'a> {
    /// For validating every tree.
    pub schemas: &'a Schemas,
    /// Base URL of this service (`{{public_url}}`, `{{recordings_url}}`).
    pub public_url: &'a str,
    /// How pivots back to this service are written (with the credentials `/pivot` needs).
    pub pivot_link: &'a crate::auth::PivotLink,
    /// Settings every script flow starts from (the config file's `[flows]`).
    pub script_defaults: &'a crate::script::FlowSettings,
    /// The scenario folder: never loaded as flows when it lies inside the flows folder.
    pub tests_dir: &'a Path,
}

/// Parses and checks a rule flow from its file's text. `file` is used in errors only.
pub fn load(file: &Path, text: &str, ctx: &LoadContext<'_>) -> Result<RuleFlow, LoadError> {
    let is_toml = file.extension().is_some_and(|e| e == "toml");
    let (raw, spans): (RawFlow, Spans) = if is_toml {
        let raw =
            toml::from_str::<RawFlow>(text).map_err(|e| LoadError::from_toml(file, text, &e))?;
        (raw, toml::from_str::<Spans>(text).unwrap_or_default())
    } else {
        let raw = serde_json::from_str::<RawFlow>(text).map_err(|e| json_error(file, &e))?;
        (raw, Spans::default())
    };
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map(|s| crate::load_error::line_at(text, s.start))
    };

    let scope = StaticScope {
        vars: &raw.vars,
        public_url: ctx.public_url,
        recordings_url: ctx.pivot_link.recordings_url(),
    };
    let mut pivots_to = Vec::new();
    let mut compile = |what: &str, tree: Value, line: Option<usize>| {
        let err = |message: String| LoadError::new(file, line, format!("{what}: {message}"));
        let mut tree = tree;
        let mut targets = Vec::new();
        expand_pivots(&mut tree, ctx.pivot_link, &mut targets).map_err(err)?;
        pivots_to.extend(targets.into_iter().map(|t| (t, line)));
        let template = TreeTemplate::compile(&tree, &scope).map_err(|e| err(e.to_string()))?;
        if let Err(errors) = ctx.schemas.validate(&template.preview()) {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(err(format!("invalid callflow tree: {}", list.join("; "))));
        }
        Ok(template)
    };

    let mut rules = Vec::with_capacity(raw.rule.len());
    for (i, rule) in raw.rule.into_iter().enumerate() {
        let name = rule.name.unwrap_or_else(|| format!("rule {}", i + 1));
        let line = line_of(spans.rule.get(i).map(|s| s.span()));
        let reply = compile(&format!("rule `{name}`: reply"), rule.reply, line)?;
        rules.push(Rule {
            name,
            when: Conditions {
                weekdays: rule.weekdays,
                time: rule.time,
                dates: rule.dates,
                holiday: rule.holiday,
                matches: rule.matches,
            },
            reply,
        });
    }
    let default_line = line_of(spans.default.as_ref().map(|s| s.span()));
    let Some(default) = raw.default else {
        return Err(LoadError::new(
            file,
            None,
            "no `default` reply: add a [default] tree so that calls matching no rule are still answered".into(),
        ));
    };
    let default = compile("default", default, default_line)?;
    let fallback = match raw.fallback {
        None => None,
        Some(tree) => {
            let line = line_of(spans.fallback.as_ref().map(|s| s.span()));
            match compile("fallback", tree, line)? {
                TreeTemplate::Static(v) => Some(v),
                _ => {
                    return Err(LoadError::new(
                        file,
                        line,
                        "fallback: the fallback is sent when something failed, so it can't use request values; use only {{vars.*}}".into(),
                    ))
                }
            }
        }
    };
    let holidays = raw
        .holidays
        .into_iter()
        .enumerate()
        .map(|(i, h)| Holiday {
            name: h.name.unwrap_or_else(|| format!("holiday {}", i + 1)),
            date: h.date,
            closed: h.closed,
        })
        .collect();
    Ok(RuleFlow {
        description: raw.description,
        timezone: raw.timezone,
        rules,
        holidays,
        default,
        fallback,
        pivots_to,
    })
}

/// Turns `{"module": "pivot", "data": {"flow": "x"}}` into a pivot back to this service (the
/// link builds it, as for a script's `pf.pivot`), and makes every pivot carry
/// `req_format: "kazoo"` (Kazoo's code defaults to TwiML without it).
fn expand_pivots(
    node: &mut Value,
    link: &crate::auth::PivotLink,
    targets: &mut Vec<String>,
) -> Result<(), String> {
    let Value::Object(map) = node else {
        return Ok(());
    };
    if map.get("module").and_then(Value::as_str) == Some("pivot") {
        if let Some(Value::Object(data)) = map.get_mut("data") {
            if let Some(flow) = data.shift_remove("flow") {
                let Value::String(flow) = flow else {
                    return Err("pivot `flow` must be a flow name or a URL".into());
                };
                let target = crate::auth::PivotTarget::parse(&flow)
                    .map_err(|e| format!("pivot `flow = \"{flow}\"`: {e}"))?;
                if data.contains_key("voice_url") {
                    return Err("a pivot has both `flow` and `voice_url`: keep one".into());
                }
                *data = link.node_data(target, std::mem::take(data));
                targets.extend(target.flow().map(str::to_owned));
            } else {
                // The flow's own pivot node: its settings as written, with the format Kazoo needs.
                crate::callflow::pivot::with_req_format(data);
            }
        }
    }
    if let Some(Value::Object(children)) = map.get_mut("children") {
        for child in children.values_mut() {
            expand_pivots(child, link, targets)?;
        }
    }
    Ok(())
}

fn json_error(file: &Path, e: &serde_json::Error) -> LoadError {
    let message = e.to_string();
    // serde_json appends " at line L column C"; the line goes in its own field.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    LoadError::new(file, (e.line() > 0).then_some(e.line()), message)
}
