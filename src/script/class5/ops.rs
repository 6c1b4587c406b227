//! The ctx methods on Kazoo: what each call does inside a step (emit a node, resolve at once,
//! or end the step for the PBX to carry it out), the nodes of an `ivr`, how its digits
//! resolve, call variables, and chaining a step's nodes into one tree.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::effects::{Effects, Mode, Suspended};
use super::journal::Ivr;

/// Methods that need the PBX: the step ends at them.
const SUSPENDING: [&str; 4] = ["ivr", "hangup", "bridge", "waitForHangup"];

/// True for a method that ends the step (the PBX carries it out).
pub fn suspends(method: &str) -> bool {
    SUSPENDING.contains(&method)
}

/// How a flow's prompts map to media: its `[media]` table and `media_base_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompts {
    /// File name → media id or URL.
    pub media: BTreeMap<String, String>,
    /// A file name not in the table is appended to this URL.
    pub base_url: Option<String>,
}

impl Prompts {
    /// The prompts of a flow's settings.
    pub fn of(settings: &crate::script::FlowSettings) -> Prompts {
        Prompts {
            media: settings.media.clone(),
            base_url: settings.media_base_url.clone(),
        }
    }
}

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
        // Checked now, so that a bad argument fails on the line that gave it.
        match method {
            "ivr" => drop(ivr(args, String::new())?),
            "bridge" => drop(bridge_target(&arg(0), &fx.call.extensions)?),
            _ => {}
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
        "play" => Some(prompt(&text(&arg(0), "ctx.play file")?, &fx.call.prompts)),
        "record" => {
            let name = text(&arg(0), "ctx.record name")?;
            Some(json!({"module": "record_call", "data": {
                "action": "start",
                "url": fx.call.recordings_url,
                "media_name": name,
                "format": "mp3",
            }}))
        }
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

/// The node that plays a prompt: a URL or a 32-hex media id plays as is, text with spaces and
/// no extension is spoken, a file name maps through `[media]`, else is appended to
/// `media_base_url`, else is played by name.
pub fn prompt(file: &str, prompts: &Prompts) -> Value {
    let url = file.starts_with("http://") || file.starts_with("https://");
    let media_id = file.len() == 32 && file.bytes().all(|b| b.is_ascii_hexdigit());
    if url || media_id {
        return json!({"module": "play", "data": {"id": file}});
    }
    if file.contains(' ') && !has_extension(file) {
        return json!({"module": "tts", "data": {"text": file}});
    }
    let id = match (prompts.media.get(file), &prompts.base_url) {
        (Some(mapped), _) => mapped.clone(),
        (None, Some(base)) => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            file.trim_start_matches('/')
        ),
        (None, None) => file.to_owned(),
    };
    json!({"module": "play", "data": {"id": id}})
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
pub fn ivr_nodes(op: &Ivr, after_invalid: bool, prompts: &Prompts) -> Vec<Value> {
    let mut nodes = Vec::new();
    if after_invalid {
        nodes.extend(op.invalid_file.as_deref().map(|f| prompt(f, prompts)));
    }
    nodes.extend(op.prompt.as_deref().map(|f| prompt(f, prompts)));
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

/// How Kazoo carries on after a failed bridge of each kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeKind {
    /// `device`, `user`, `ring_group`: a cause child, a `sip:CODE` child, then `_`.
    Endpoint,
    /// `resources`: a cause or code child only, never `_`.
    Resources,
    /// `callflow`: the call leaves this flow for good.
    Callflow,
}

/// The hangup causes a failed bridge comes back with, and the SIP code each stands for.
pub const CAUSES: [(&str, u16); 8] = [
    ("NO_ANSWER", 480),
    ("USER_BUSY", 486),
    ("CALL_REJECTED", 603),
    ("UNALLOCATED_NUMBER", 404),
    ("NO_ROUTE_DESTINATION", 404),
    ("NORMAL_TEMPORARY_FAILURE", 503),
    ("NO_USER_RESPONSE", 408),
    ("ORIGINATOR_CANCEL", 487),
];

/// The node a bridge destination names: `device:ID`, `user:ID`, `ring_group:ID[,ID…]`,
/// `callflow:ID`, a short number of `[extensions]`, or an E.164 / long number (`resources`).
pub fn bridge_target(
    destination: &Value,
    extensions: &BTreeMap<String, String>,
) -> Result<(Value, BridgeKind), String> {
    let dest = text(destination, "ctx.bridge destination")?;
    let dest = dest.trim();
    if let Some(mapped) = extensions.get(dest) {
        if extensions.contains_key(mapped.as_str()) {
            return Err(format!("[extensions] {dest} maps to another extension ({mapped}): map it to a target such as \"user:ID\""));
        }
        return bridge_target(&Value::String(mapped.clone()), extensions);
    }
    let endpoint = |module: &str, id: &str| -> Result<(Value, BridgeKind), String> {
        let id = id.trim();
        if id.is_empty() {
            return Err(format!(
                "ctx.bridge('{module}:…') needs an id after the colon"
            ));
        }
        Ok((
            json!({"module": module, "data": {"id": id}}),
            BridgeKind::Endpoint,
        ))
    };
    if let Some((kind, rest)) = dest.split_once(':') {
        return match kind {
            "device" | "user" => endpoint(kind, rest),
            "callflow" => endpoint("callflow", rest).map(|(n, _)| (n, BridgeKind::Callflow)),
            "ring_group" => {
                let endpoints: Vec<Value> = rest
                    .split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(|id| match id.split_once('/') {
                        Some((t @ ("device" | "user" | "group"), id)) => {
                            json!({"endpoint_type": t, "id": id})
                        }
                        _ => json!({"endpoint_type": "device", "id": id}),
                    })
                    .collect();
                if endpoints.is_empty() {
                    return Err("ctx.bridge('ring_group:…') needs at least one id".into());
                }
                Ok((
                    json!({"module": "ring_group", "data": {"endpoints": endpoints}}),
                    BridgeKind::Endpoint,
                ))
            }
            other => Err(format!(
                "ctx.bridge: `{other}:` is not a target: use device:ID, user:ID,                  ring_group:ID[,ID…], callflow:ID or a number"
            )),
        };
    }
    let digits = dest.trim_start_matches('+');
    let number = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if number && (dest.starts_with('+') || digits.len() >= 7) {
        return Ok((
            json!({"module": "resources", "data": {"to_did": dest}}),
            BridgeKind::Resources,
        ));
    }
    if number {
        return Err(format!(
            "ctx.bridge('{dest}'): {dest} is in no [extensions] table: add it to the flow's              settings file, e.g. [extensions] {dest} = \"user:ID\" (a short number never goes              out through the carriers)"
        ));
    }
    Err(format!(
        "ctx.bridge('{dest}') names no target: use device:ID, user:ID, ring_group:ID[,ID…],          callflow:ID, an extension of [extensions] or a number"
    ))
}

/// The children of a bridge the script may continue after: one per cause (and `sip:CODE`),
/// plus `_` where the module uses it; `back(cause)` is the pivot back for a cause.
pub fn bridge_children(kind: BridgeKind, back: impl Fn(&str) -> Value) -> Map<String, Value> {
    let mut children = Map::new();
    if kind == BridgeKind::Callflow {
        return children;
    }
    for (cause, code) in CAUSES {
        children.insert(cause.to_owned(), back(cause));
        let sip = format!("sip:{code}");
        if !children.contains_key(&sip) {
            children.insert(sip, back(cause));
        }
    }
    if kind == BridgeKind::Endpoint {
        children.insert("_".into(), back("UNSPECIFIED"));
    }
    children
}

/// What a failed bridge resolves with for the cause its pivot carried.
pub fn resolve_bridge(cause: Option<&str>) -> Value {
    let cause = cause.filter(|c| !c.is_empty()).unwrap_or("UNSPECIFIED");
    let code = CAUSES
        .iter()
        .find(|(c, _)| *c == cause)
        .map_or(600, |(_, code)| *code);
    json!({"status": "failed", "cause": cause, "code": code})
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
        let none = Prompts::default();
        assert_eq!(prompt("https://m.example/a.mp3", &none)["module"], "play");
        assert_eq!(
            prompt("user/welcome.wav", &none)["data"]["id"],
            "user/welcome.wav"
        );
        assert_eq!(prompt("Please enter your PIN", &none)["module"], "tts");
        let table = Prompts {
            media: [("user/welcome.wav".to_owned(), "m1".to_owned())].into(),
            base_url: Some("https://media.example/p/".into()),
        };
        assert_eq!(prompt("user/welcome.wav", &table)["data"]["id"], "m1");
        assert_eq!(
            prompt("bye.wav", &table)["data"]["id"],
            "https://media.example/p/bye.wav"
        );
        let hex = "0123456789abcdef0123456789abcdef";
        assert_eq!(prompt(hex, &table)["data"]["id"], hex);
    }

    #[test]
    fn bridge_targets_and_their_failure_children() {
        let ext: BTreeMap<String, String> = [("1002".to_owned(), "user:u2".to_owned())].into();
        let t = |d: &str| bridge_target(&json!(d), &ext);
        assert_eq!(
            t("1002").unwrap(),
            (
                json!({"module": "user", "data": {"id": "u2"}}),
                BridgeKind::Endpoint
            )
        );
        assert_eq!(t("device:d1").unwrap().0["module"], "device");
        assert_eq!(t("+14155550100").unwrap().1, BridgeKind::Resources);
        assert_eq!(t("4155550100").unwrap().0["data"]["to_did"], "4155550100");
        let rg = t("ring_group:a, user/b").unwrap().0;
        assert_eq!(
            rg["data"]["endpoints"][1],
            json!({"endpoint_type": "user", "id": "b"})
        );
        assert_eq!(t("callflow:c").unwrap().1, BridgeKind::Callflow);
        assert!(t("1003").unwrap_err().contains("[extensions]"));
        assert!(t("fax:1").is_err());
        let back = |c: &str| json!(c);
        let endpoint = bridge_children(BridgeKind::Endpoint, back);
        assert_eq!(endpoint["USER_BUSY"], "USER_BUSY");
        assert_eq!(endpoint["sip:486"], "USER_BUSY");
        assert!(endpoint.contains_key("_"));
        assert!(!bridge_children(BridgeKind::Resources, back).contains_key("_"));
        assert_eq!(
            resolve_bridge(Some("USER_BUSY")),
            json!({"status": "failed", "cause": "USER_BUSY", "code": 486})
        );
        assert_eq!(resolve_bridge(None)["code"], 600);
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
