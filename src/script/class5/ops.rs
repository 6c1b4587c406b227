//! The ctx methods on Kazoo: what each call does inside a step (emit a node, resolve at once,
//! or end the step for the PBX to carry it out), the nodes of an `ivr`, how its digits
//! resolve, call variables, and chaining a step's nodes into one tree.

use serde_json::{json, Map, Value};

use super::effects::{Effects, Mode, Suspended};
use super::journal::Ivr;

/// Methods that need the PBX: the step ends at them.
const SUSPENDING: [&str; 2] = ["ivr", "hangup"];

/// Runs ctx method `method` with `args` (a JSON list) inside the step: gives `{"value": …}`,
/// or `{"suspend": true}` when the step ends here; an error is thrown into the script.
pub fn call(fx: &mut Effects, method: &str, args: &Value) -> Result<Value, String> {
    let kind = format!("ctx.{method}");
    let list = args.as_array().cloned().unwrap_or_default();
    let arg = |i: usize| list.get(i).cloned().unwrap_or(Value::Null);
    if let Some(replayed) = fx.take(&kind) {
        let value = replayed?;
        if method == "set" {
            set_var(fx, &arg(0), arg(1));
        }
        return Ok(json!({ "value": value }));
    }
    debug_assert_eq!(fx.mode(), Mode::Recording);
    if SUSPENDING.contains(&method) {
        if method == "ivr" {
            // Checked now, so that a bad argument fails on the line that gave it.
            ivr(args, String::new())?;
        }
        fx.suspended = Some(Suspended {
            method: method.to_owned(),
            args: args.clone(),
        });
        return Ok(json!({ "suspend": true }));
    }
    let node = match method {
        "answer" => None,
        "tts" => Some(tts(&text(&arg(0), "ctx.tts text")?)?),
        "play" => Some(prompt(&text(&arg(0), "ctx.play file")?)),
        "set" => {
            let name = text(&arg(0), "ctx.set name")?;
            set_var(fx, &arg(0), arg(1));
            let mut vars = Map::new();
            vars.insert(name, arg(1));
            Some(json!({"module": "set_variables", "data": {"custom_application_vars": vars}}))
        }
        other => return Err(format!("ctx.{other} is not a ctx method")),
    };
    fx.nodes.extend(node);
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

fn tts(text: &str) -> Result<Value, String> {
    if text.chars().count() > 1000 {
        return Err("ctx.tts text must be at most 1000 characters (Kazoo's limit)".into());
    }
    Ok(json!({"module": "tts", "data": {"text": text}}))
}

/// The node that plays a prompt: a URL or a media id plays as is, text with spaces and no
/// extension is spoken, anything else is played by name.
pub fn prompt(file: &str) -> Value {
    let url = file.starts_with("http://") || file.starts_with("https://");
    let spoken = !url && file.contains(' ') && !has_extension(file);
    if spoken {
        json!({"module": "tts", "data": {"text": file}})
    } else {
        json!({"module": "play", "data": {"id": file}})
    }
}

fn has_extension(file: &str) -> bool {
    file.rsplit_once('.').is_some_and(|(_, ext)| {
        !ext.is_empty() && ext.len() <= 4 && ext.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// Call variable `key`: what `ctx.set` stored, else the first request's value under
/// ScriptForge's name, else a `Custom-Application-Vars` entry.
pub fn get(fx: &Effects, key: &str) -> Value {
    if let Some(v) = fx.vars.get(key) {
        return v.clone();
    }
    let data = &fx.call.data;
    let field = |name: &str| data.get(name).cloned();
    let found = match key {
        "sip_from_user" => field("From"),
        "sip_from_host" => field("From-Realm"),
        "sip_to_user" => field("To"),
        "sip_to_host" => field("To-Realm"),
        "sip_req_user" | "destination_number" => field("Request"),
        "caller_id_number" => field("Caller-ID-Number"),
        "caller_id_name" => field("Caller-ID-Name"),
        "call_id" | "uuid" => field("Call-ID"),
        "account_id" => field("Account-ID"),
        "language" => field("Language"),
        other => match other.strip_prefix("sip_h_") {
            Some(header) => header_value(data, header),
            None => data
                .get("Custom-Application-Vars")
                .and_then(|v| v.get(other))
                .cloned(),
        },
    };
    found.unwrap_or(Value::Null)
}

/// A custom SIP header of the first request, found without regard to case.
pub fn header_value(data: &Value, name: &str) -> Option<Value> {
    let headers = data.get("Custom-SIP-Headers")?.as_object()?;
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
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

/// The nodes of one prompt-and-collect (after invalid digits: the `invalid_file` first).
pub fn ivr_nodes(op: &Ivr, after_invalid: bool) -> Vec<Value> {
    let mut nodes = Vec::new();
    if after_invalid {
        nodes.extend(op.invalid_file.as_deref().map(prompt));
    }
    nodes.extend(op.prompt.as_deref().map(prompt));
    nodes.push(json!({"module": "collect_dtmf", "data": {
        "collection_name": op.collection,
        "max_digits": op.max,
        "timeout": (op.timeout_s * 1000.0) as u64,
        "terminators": op.terminators,
    }}));
    nodes
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

/// One tree of `nodes`, each the `_` child of the one before; `None` when there are none.
pub fn chain(nodes: Vec<Value>) -> Option<Value> {
    nodes.into_iter().rev().fold(None, |next, mut node| {
        if let (Some(next), Some(obj)) = (next, node.as_object_mut()) {
            obj.insert("children".into(), json!({ "_": next }));
        }
        Some(node)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_map_by_shape() {
        assert_eq!(prompt("https://m.example/a.mp3")["module"], "play");
        assert_eq!(prompt("user/welcome.wav")["data"]["id"], "user/welcome.wav");
        assert_eq!(prompt("Please enter your PIN")["module"], "tts");
    }

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
    fn nodes_chain_through_default_children() {
        let tree = chain(vec![json!({"module": "a"}), json!({"module": "b"})]).unwrap();
        assert_eq!(
            tree,
            json!({"module": "a", "children": {"_": {"module": "b"}}})
        );
        assert_eq!(chain(vec![]), None);
    }
}
