//! The ctx methods on Kazoo, inside a step: which calls end the step for the PBX to carry
//! out, what the others emit (through [`ctx_map`](crate::ctx_map), the one mapping of ctx
//! calls to typed nodes), the `ivr`'s arguments, nodes and how its digits resolve, and call
//! variables.

use serde_json::{json, Map, Value};

use super::effects::{Effects, Mode, Suspended};
use super::journal::Ivr;
use crate::callflow::{CollectDtmf, DtmfKey, Node, SetVariables};
use crate::ctx_map::{self, calls, CallTables, Chain};

/// Methods that need the PBX: the step ends at them.
const SUSPENDING: [&str; 4] = ["ivr", "hangup", "bridge", "waitForHangup"];

/// True for a method that ends the step (the PBX carries it out).
pub fn suspends(method: &str) -> bool {
    SUSPENDING.contains(&method)
}

/// Runs ctx method `method` with `args` (a JSON list) inside the step: gives `{"value": …}`,
/// or `{"suspend": true}` when the step ends here; an error is thrown into the script.
pub fn call(fx: &mut Effects, method: &str, args: &Value) -> Result<Value, String> {
    let kind = format!("ctx.{method}");
    let list = args.as_array().cloned().unwrap_or_default();
    let arg = |i: usize| list.get(i).cloned().unwrap_or(Value::Null);
    // Refused before the journal is asked: they never reach it.
    if let Some(refused) = calls::unavailable(method) {
        return Err(refused);
    }
    if method == "header" {
        return Err(calls::header_set_error(arg(0).as_str().unwrap_or_default()));
    }
    if let Some(replayed) = fx.take(&kind) {
        let value = replayed?;
        if method == "set" {
            set_var(fx, &arg(0), arg(1));
        }
        return Ok(json!({ "value": value }));
    }
    debug_assert_eq!(fx.mode(), Mode::Recording);
    if SUSPENDING.contains(&method) {
        // Checked now, so that a bad argument fails on the line that gave it.
        match method {
            "ivr" => drop(ivr_nodes(
                &ivr(args, String::new())?,
                false,
                &fx.call.tables,
                &fx.call.flow,
            )?),
            "bridge" => drop(bridge_target(&arg(0), &fx.call.tables, &fx.call.flow)?),
            _ => {}
        }
        fx.suspended = Some(Suspended {
            method: method.to_owned(),
            args: args.clone(),
        });
        return Ok(json!({ "suspend": true }));
    }
    let nodes = match method {
        "answer" => Chain::new(),
        "tts" => ctx_map::tts(&text(&arg(0), "ctx.tts text")?).map_err(|e| e.to_string())?,
        "play" => prompt(
            &text(&arg(0), "ctx.play file")?,
            &fx.call.tables,
            &fx.call.flow,
        )?,
        "record" => Chain::of(calls::record(
            &text(&arg(0), "ctx.record name")?,
            &fx.call.recordings_url,
        )),
        "set" => {
            let name = text(&arg(0), "ctx.set name")?;
            set_var(fx, &arg(0), arg(1));
            let mut vars = Map::new();
            vars.insert(name, arg(1));
            Chain::of(Node::new(SetVariables::new(vars)))
        }
        other => return Err(format!("ctx.{other} is not a ctx method")),
    };
    fx.nodes.append(nodes);
    fx.record(&kind, &Ok(Value::Null));
    Ok(json!({ "value": null }))
}

fn set_var(fx: &mut Effects, name: &Value, value: Value) {
    if let Some(name) = name.as_str() {
        fx.vars.insert(name.to_owned(), value);
    }
}

fn text(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("{what} must be a non-empty string")),
    }
}

/// The nodes that play prompt `file` (see [`ctx_map::prompt()`]), the error as the script sees it.
fn prompt(file: &str, tables: &CallTables, flow: &str) -> Result<Chain, String> {
    ctx_map::prompt(file, tables, flow).map_err(|e| format!("ctx: {e}"))
}

/// The target `ctx.bridge(destination)` names (see [`ctx_map::resolve`]), the error as the
/// script sees it.
pub fn bridge_target(
    destination: &Value,
    tables: &CallTables,
    flow: &str,
) -> Result<ctx_map::Resolved, String> {
    let destination = text(destination, "ctx.bridge destination")?;
    ctx_map::resolve(&destination, &tables.extensions, flow).map_err(|e| match e {
        ctx_map::BridgeError::Destination(why) => format!("ctx.bridge: {why}"),
        unknown => format!("ctx.bridge('{destination}'): {unknown}"),
    })
}

/// Call variable `key`: what `ctx.set` stored, else the first request's value (see
/// [`ctx_map::vars`]); `null` when the call has none.
pub fn get(fx: &Effects, key: &str) -> Value {
    if let Some(v) = fx.vars.get(key) {
        return v.clone();
    }
    ctx_map::vars::get(&fx.call.request, key).map_or(Value::Null, Value::String)
}

/// Reads `ivr(file, timeoutSec, min, max, terminators, {tries, invalid_file, regexp})`.
pub fn ivr(args: &Value, collection: String) -> Result<Ivr, String> {
    let list = args.as_array().cloned().unwrap_or_default();
    let at = |i: usize| list.get(i).filter(|v| !v.is_null());
    let number = |i: usize, what: &str, default: f64| -> Result<f64, String> {
        match at(i) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| format!("ctx.ivr: {what} must be a number >= 0")),
        }
    };
    let prompt = match at(0) {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(text(v, "ctx.ivr file")?),
    };
    let timeout_s = number(1, "timeoutSec", 5.0)?.max(1.0);
    let min = number(2, "min", 1.0)? as usize;
    let max = (number(3, "max", min.max(1) as f64)? as usize).max(1);
    if min > max {
        return Err(format!("ctx.ivr: min ({min}) is more than max ({max})"));
    }
    let terminators = match at(4) {
        None => vec!["#".to_owned()],
        Some(Value::String(s)) => s.chars().map(String::from).collect(),
        Some(Value::Array(keys)) => keys
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect(),
        Some(_) => return Err("ctx.ivr: terminators must be a string such as '#'".into()),
    };
    if let Some(bad) = terminators.iter().find(|t| {
        !matches!(
            t.as_str(),
            "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "*" | "#"
        )
    }) {
        return Err(format!(
            "ctx.ivr: `{bad}` is not a key: terminators are 0-9, * and #"
        ));
    }
    let opts = at(5)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let tries = opts
        .get("tries")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 10) as u32;
    let regexp = opts
        .get("regexp")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(pattern) = &regexp {
        regex::Regex::new(pattern).map_err(|e| format!("ctx.ivr: regexp does not compile: {e}"))?;
    }
    Ok(Ivr {
        collection,
        prompt,
        timeout_s,
        min,
        max,
        terminators,
        tries_left: tries,
        invalid_file: opts
            .get("invalid_file")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        regexp,
    })
}

/// The nodes of one prompt-and-collect (after invalid digits: the `invalid_file` first),
/// ending at the `collect_dtmf`, whose `_` child the caller adds.
pub fn ivr_nodes(
    op: &Ivr,
    after_invalid: bool,
    tables: &CallTables,
    flow: &str,
) -> Result<(Chain, CollectDtmf), String> {
    let mut nodes = Chain::new();
    if after_invalid {
        if let Some(file) = &op.invalid_file {
            nodes.append(prompt(file, tables, flow)?);
        }
    }
    if let Some(file) = &op.prompt {
        nodes.append(prompt(file, tables, flow)?);
    }
    let mut collect = CollectDtmf::new(op.collection.as_str(), op.max as u64);
    collect.timeout = Some((op.timeout_s * 1000.0) as u64);
    collect.terminators = Some(
        op.terminators
            .iter()
            .filter_map(|t| DtmfKey::parse(t))
            .collect(),
    );
    Ok((nodes, collect))
}

/// How an `ivr` resolves for the digits collected (`None`: the request carried none, as when
/// nothing was pressed): `success`, `timeout` or `invalid`, with the digits.
pub fn resolve_ivr(op: &Ivr, digits: Option<&str>) -> (&'static str, String) {
    let value: String = digits
        .unwrap_or("")
        .chars()
        .filter(|c| !op.terminators.iter().any(|t| t.starts_with(*c)))
        .collect();
    if value.is_empty() {
        return ("timeout", value);
    }
    let count = value.chars().count();
    let pattern_ok = op
        .regexp
        .as_deref()
        .is_none_or(|p| regex::Regex::new(p).is_ok_and(|re| re.is_match(&value)));
    if count < op.min || count > op.max || !pattern_ok {
        return ("invalid", value);
    }
    ("success", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ivr_digits_resolve_to_a_status() {
        let op = ivr(
            &json!(["p.wav", 10, 2, 4, "#", {"regexp": "^1"}]),
            "c".into(),
        )
        .unwrap();
        assert_eq!(resolve_ivr(&op, Some("12")), ("success", "12".into()));
        assert_eq!(resolve_ivr(&op, Some("12#")), ("success", "12".into()));
        assert_eq!(resolve_ivr(&op, Some("")), ("timeout", "".into()));
        assert_eq!(resolve_ivr(&op, None), ("timeout", "".into()));
        assert_eq!(resolve_ivr(&op, Some("1")).0, "invalid");
        assert_eq!(resolve_ivr(&op, Some("21")).0, "invalid");
        assert!(ivr(&json!(["p", 5, 3, 1]), "c".into()).is_err());
        assert!(ivr(&json!(["p", 5, 1, 1, "x"]), "c".into()).is_err());
    }

    #[test]
    fn an_ivr_is_its_prompts_then_a_typed_collect() {
        let op = ivr(
            &json!(["menu.wav", 7, 1, 3, "*#", {"tries": 2, "invalid_file": "Sorry, try again"}]),
            "pf_step2".into(),
        )
        .unwrap();
        let tables = CallTables {
            media_base_url: Some("https://media.example/p".into()),
            ..CallTables::default()
        };
        let (prompts, collect) = ivr_nodes(&op, true, &tables, "desk").unwrap();
        let tree = prompts.finish(Node::new(collect)).to_value();
        assert_eq!(tree["module"], "tts", "the invalid prompt first: {tree}");
        let play = &tree["children"]["_"];
        assert_eq!(play["data"]["id"], "https://media.example/p/menu.wav");
        let collect = &play["children"]["_"]["data"];
        assert_eq!(collect["collection_name"], "pf_step2");
        assert_eq!(collect["max_digits"], 3);
        assert_eq!(collect["timeout"], 7000);
        assert_eq!(collect["terminators"], json!(["*", "#"]));
        let unmapped = ivr_nodes(&op, false, &CallTables::default(), "desk").unwrap_err();
        assert!(unmapped.contains("desk.settings.toml"), "{unmapped}");
    }
}
