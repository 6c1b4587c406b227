//! Validation of callflow trees against the JSON Schemas (generated from the typed model, see
//! [`generate`](super::generate); `schemas/*.json` holds the same text) before they are answered
//! to Kazoo, which hangs up on a tree its own schemas reject.

use std::fmt;

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value};

use super::generate::{self, Generated};
use super::{unknown_module_message, MAX_DEPTH, MODULES};

/// Errors collected before `validate` stops looking.
const MAX_ERRORS: usize = 50;

/// Longest module name Kazoo's node schema accepts.
const MAX_MODULE_NAME: usize = 64;

/// Longest message kept verbatim; longer ones drop the offending value (it may be huge).
const MAX_MESSAGE: usize = 200;

/// One schema violation: where (JSON pointer into the tree) and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaError {
    /// RFC 6901 pointer to the offending value; `""` is the root node.
    pub pointer: String,
    /// What is wrong there.
    pub message: String,
}

impl SchemaError {
    fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        SchemaError {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

impl std::error::Error for SchemaError {}

/// The module schemas, compiled once; validates whole trees.
pub struct Schemas {
    /// One validator per entry of `MODULES`, same order.
    modules: Vec<Validator>,
}

impl fmt::Debug for Schemas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schemas")
            .field("modules", &self.modules.len())
            .finish()
    }
}

impl Default for Schemas {
    fn default() -> Self {
        Self::new()
    }
}

impl Schemas {
    /// Compiles the module schemas; panics only if one of them is broken.
    pub fn new() -> Schemas {
        match Self::compile() {
            Ok(schemas) => schemas,
            Err(e) => panic!("generated callflow schema does not compile: {e}"),
        }
    }

    fn compile() -> Result<Schemas, String> {
        let modules = module_schemas()
            .iter()
            .map(compile_one)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Schemas { modules })
    }

    /// Checks a whole tree: node shape, module names and every node's `data`.
    pub fn validate(&self, tree: &Value) -> Result<(), Vec<SchemaError>> {
        let mut walk = Walk {
            schemas: self,
            pointer: String::new(),
            errors: Vec::new(),
        };
        walk.node(tree, 1);
        if walk.errors.is_empty() {
            Ok(())
        } else {
            Err(walk.errors)
        }
    }

    /// Text of a schema (`"tts"`, `"node"`, …), as `schemas/NAME.json` holds it.
    pub fn source(name: &str) -> Option<&'static str> {
        generate::all()
            .iter()
            .find(|generated| generated.name == name)
            .map(|generated| generated.text.as_str())
    }

    /// Names of all schemas, `"node"` included.
    pub fn names() -> impl Iterator<Item = &'static str> {
        generate::all().iter().map(|generated| generated.name)
    }

    fn module(&self, name: &str) -> Option<&Validator> {
        MODULES
            .iter()
            .position(|spec| spec.name == name)
            .and_then(|index| self.modules.get(index))
    }
}

/// The module schemas, in `MODULES` order (`node` follows them).
fn module_schemas() -> &'static [Generated] {
    &generate::all()[..MODULES.len()]
}

fn compile_one(generated: &Generated) -> Result<Validator, String> {
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .build(&generated.value)
        .map_err(|e| format!("{}.json: {e}", generated.name))
}

/// State of one `validate` call: the pointer being built and what was found so far.
struct Walk<'a> {
    schemas: &'a Schemas,
    /// Pointer of the node being checked; grown and truncated as the walk descends.
    pointer: String,
    errors: Vec<SchemaError>,
}

impl<'a> Walk<'a> {
    fn full(&self) -> bool {
        self.errors.len() >= MAX_ERRORS
    }

    /// Records an error at the current node's pointer plus `suffix`.
    fn report(&mut self, suffix: &str, message: impl Into<String>) {
        if !self.full() {
            let pointer = format!("{}{suffix}", self.pointer);
            self.errors.push(SchemaError::new(pointer, message));
        }
    }

    fn node(&mut self, node: &Value, depth: usize) {
        if self.full() {
            return;
        }
        if depth > MAX_DEPTH {
            self.report("", format!("tree is nested deeper than {MAX_DEPTH} nodes"));
            return;
        }
        let Some(node) = node.as_object() else {
            self.report("", format!("a node must be an object, not {}", kind(node)));
            return;
        };
        let validator = self.module(node);
        match node.get("data") {
            None => self.report("", "\"data\" is a required property (send {} when empty)"),
            Some(data @ Value::Object(_)) => {
                if let Some(validator) = validator {
                    self.data(validator, data);
                }
            }
            Some(other) => self.report(
                "/data",
                format!("\"data\" must be an object, not {}", kind(other)),
            ),
        }
        match node.get("children") {
            None => {}
            Some(Value::Object(children)) => self.children(children, depth),
            Some(other) => self.report(
                "/children",
                format!(
                    "\"children\" must be an object of nodes, not {}",
                    kind(other)
                ),
            ),
        }
    }

    /// Checks `module` and returns the validator for its `data`, if it names a known module.
    fn module(&mut self, node: &Map<String, Value>) -> Option<&'a Validator> {
        let schemas: &'a Schemas = self.schemas;
        match node.get("module") {
            None => self.report("", "\"module\" is a required property"),
            Some(Value::String(name))
                if name.is_empty() || name.chars().count() > MAX_MODULE_NAME =>
            {
                self.report(
                    "/module",
                    format!("a module name must be 1 to {MAX_MODULE_NAME} characters long"),
                );
            }
            Some(Value::String(name)) => match schemas.module(name) {
                Some(validator) => return Some(validator),
                None => self.report("/module", unknown_module_message(name)),
            },
            Some(other) => self.report(
                "/module",
                format!("\"module\" must be a string, not {}", kind(other)),
            ),
        }
        None
    }

    fn data(&mut self, validator: &Validator, data: &Value) {
        if validator.is_valid(data) {
            return;
        }
        for error in validator.iter_errors(data) {
            if self.full() {
                break;
            }
            let suffix = format!("/data{}", error.instance_path().as_str());
            let mut message = error.to_string();
            if message.len() > MAX_MESSAGE {
                message = shorten(error.masked().to_string());
            }
            self.report(&suffix, message);
        }
    }

    fn children(&mut self, children: &Map<String, Value>, depth: usize) {
        for (key, child) in children {
            if self.full() {
                return;
            }
            let len = self.pointer.len();
            self.pointer.push_str("/children/");
            push_escaped(&mut self.pointer, key);
            self.node(child, depth + 1);
            self.pointer.truncate(len);
        }
    }
}

/// Appends `segment` escaped per RFC 6901 (`~` → `~0`, `/` → `~1`).
fn push_escaped(pointer: &mut String, segment: &str) {
    for c in segment.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Cuts a message to `MAX_MESSAGE` bytes on a character boundary.
fn shorten(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// JSON type name of a value, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use jsonschema::Registry;
    use serde_json::json;

    use super::*;
    use crate::callflow::tests::examples;

    fn schemas() -> &'static Schemas {
        static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
        SCHEMAS.get_or_init(Schemas::new)
    }

    /// `node.json` compiled with the module schemas as resources, as an editor would use it.
    fn node_validator() -> &'static Validator {
        static NODE: OnceLock<Validator> = OnceLock::new();
        NODE.get_or_init(|| {
            let resources = module_schemas().iter().map(|generated| {
                (
                    format!("https://pivotforge.dev/schemas/{}.json", generated.name),
                    generated.value.clone(),
                )
            });
            let registry = Registry::new()
                .draft(Draft::Draft7)
                .extend(resources)
                .and_then(|builder| builder.prepare())
                .unwrap_or_else(|e| panic!("registry: {e}"));
            let node: Value = Schemas::source("node")
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_else(|| panic!("node.json is missing"));
            jsonschema::options()
                .with_draft(Draft::Draft7)
                .with_registry(&registry)
                .build(&node)
                .unwrap_or_else(|e| panic!("node.json: {e}"))
        })
    }

    fn errors(tree: &Value) -> Vec<SchemaError> {
        schemas().validate(tree).err().unwrap_or_default()
    }

    fn node(module: &str, data: Value) -> Value {
        json!({"module": module, "data": data})
    }

    /// Asserts the tree is rejected with an error at `pointer` whose message contains `fragment`.
    fn assert_rejected(tree: &Value, pointer: &str, fragment: &str) {
        let found = errors(tree);
        assert!(
            found
                .iter()
                .any(|e| e.pointer == pointer && e.message.contains(fragment)),
            "{tree}\nexpected {pointer:?} containing {fragment:?}, got {found:?}"
        );
    }

    fn long(n: usize) -> String {
        "x".repeat(n)
    }

    /// Trees that break one rule each, with where and what the error must say.
    fn invalid_cases() -> Vec<(Value, &'static str, &'static str)> {
        let endpoint = |extra: Value| {
            let mut e = json!({"endpoint_type": "device", "id": "d1"});
            if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
                e.extend(extra.clone());
            }
            node("ring_group", json!({"endpoints": [e]}))
        };
        vec![
            // node shape
            (json!("tts"), "", "must be an object"),
            (json!({"data": {}}), "", "\"module\" is a required property"),
            (
                json!({"module": 5, "data": {}}),
                "/module",
                "must be a string",
            ),
            (json!({"module": "", "data": {}}), "/module", "1 to 64"),
            (
                json!({"module": long(65), "data": {}}),
                "/module",
                "1 to 64",
            ),
            (
                json!({"module": "tts"}),
                "",
                "\"data\" is a required property",
            ),
            (
                json!({"module": "hangup", "data": []}),
                "/data",
                "must be an object",
            ),
            (
                json!({"module": "hangup", "data": {}, "children": []}),
                "/children",
                "object of nodes",
            ),
            (
                json!({"module": "hangup", "data": {}, "children": {"_": 1}}),
                "/children/_",
                "must be an object",
            ),
            (
                node("say", json!({"text": "hi"})),
                "/module",
                "unknown module `say`: use `tts`",
            ),
            (node("Hangup", json!({})), "/module", "lower case"),
            // tts
            (
                node("tts", json!({})),
                "/data",
                "\"text\" is a required property",
            ),
            (
                node("tts", json!({"text": ""})),
                "/data/text",
                "shorter than 1",
            ),
            (
                node("tts", json!({"text": long(1001)})),
                "/data/text",
                "longer than 1000",
            ),
            (
                node("tts", json!({"text": "a", "engine": "polly"})),
                "/data/engine",
                "is not one of",
            ),
            // null is not "absent": Kazoo refuses it (serde would read it as `None`)
            (
                node("tts", json!({"text": "a", "voice": null})),
                "/data/voice",
                "not of type \"string\"",
            ),
            (
                node("tts", json!({"text": "a", "engine": null})),
                "/data/engine",
                "is not one of",
            ),
            (
                node("pivot", json!({"voice_url": "https://x", "method": null})),
                "/data/method",
                "not of type \"string\"",
            ),
            (
                node("send_dtmf", json!({"digits": "1", "duration_ms": null})),
                "/data/duration_ms",
                "not of types",
            ),
            (
                node("collect_dtmf", json!({"max_digits": null})),
                "/data/max_digits",
                "not of type \"integer\"",
            ),
            (
                node("tts", json!({"text": "a", "terminators": "#"})),
                "/data/terminators",
                "array",
            ),
            // ring_group
            (
                node("ring_group", json!({})),
                "/data",
                "\"endpoints\" is a required property",
            ),
            (
                node("ring_group", json!({"endpoints": []})),
                "/data/endpoints",
                "less than 1 item",
            ),
            (
                node("ring_group", json!({"endpoints": ["dev1"]})),
                "/data/endpoints/0",
                "not of type \"object\"",
            ),
            (
                node("ring_group", json!({"endpoints": [{"id": "d"}]})),
                "/data/endpoints/0",
                "\"endpoint_type\" is a required",
            ),
            (
                node(
                    "ring_group",
                    json!({"endpoints": [{"endpoint_type": "user"}]}),
                ),
                "/data/endpoints/0",
                "\"id\" is a required",
            ),
            (
                endpoint(json!({"endpoint_type": "phone"})),
                "/data/endpoints/0/endpoint_type",
                "is not one of",
            ),
            (
                endpoint(json!({"id": ""})),
                "/data/endpoints/0/id",
                "shorter than 1",
            ),
            (
                endpoint(json!({"id": long(129)})),
                "/data/endpoints/0/id",
                "longer than 128",
            ),
            (
                endpoint(json!({"weight": 0})),
                "/data/endpoints/0/weight",
                "less than the minimum",
            ),
            (
                endpoint(json!({"weight": 101})),
                "/data/endpoints/0/weight",
                "greater than the maximum",
            ),
            (
                endpoint(json!({"delay": -1})),
                "/data/endpoints/0/delay",
                "less than the minimum",
            ),
            (
                node(
                    "ring_group",
                    json!({"endpoints": [{"endpoint_type": "user", "id": "u"}], "strategy": "round_robin"}),
                ),
                "/data/strategy",
                "is not one of",
            ),
            (
                node(
                    "ring_group",
                    json!({"endpoints": [{"endpoint_type": "user", "id": "u"}], "repeats": 0}),
                ),
                "/data/repeats",
                "less than the minimum",
            ),
            // response
            (
                node("response", json!({})),
                "/data",
                "\"code\" is a required property",
            ),
            (
                node("response", json!({"code": "486"})),
                "/data/code",
                "not of type \"integer\"",
            ),
            (
                node("response", json!({"code": 99})),
                "/data/code",
                "less than the minimum",
            ),
            (
                node("response", json!({"code": 700})),
                "/data/code",
                "greater than the maximum",
            ),
            (
                node("response", json!({"code": 486, "media": long(2049)})),
                "/data/media",
                "longer than 2048",
            ),
            // pivot
            (
                node("pivot", json!({})),
                "/data",
                "\"voice_url\" is a required property",
            ),
            (
                node("pivot", json!({"voice_url": "ftp://x"})),
                "/data/voice_url",
                "does not match",
            ),
            (
                node("pivot", json!({"voice_url": "https://x", "method": "put"})),
                "/data/method",
                "does not match",
            ),
            (
                node(
                    "pivot",
                    json!({"voice_url": "https://x", "req_format": "json"}),
                ),
                "/data/req_format",
                "is not one of",
            ),
            (
                node(
                    "pivot",
                    json!({"voice_url": "https://x", "req_body_format": "xml"}),
                ),
                "/data/req_body_format",
                "is not one of",
            ),
            (
                node(
                    "pivot",
                    json!({"voice_url": "https://x", "req_timeout_ms": 0}),
                ),
                "/data/req_timeout_ms",
                "less than the minimum",
            ),
            (
                node(
                    "pivot",
                    json!({"voice_url": "https://x", "req_timeout_ms": 5001}),
                ),
                "/data/req_timeout_ms",
                "greater than the maximum",
            ),
            (
                node("pivot", json!({"voice_url": "https://x", "debug": "yes"})),
                "/data/debug",
                "not of type \"boolean\"",
            ),
            // voicemail, conference
            (
                node("voicemail", json!({"id": long(31)})),
                "/data/id",
                "shorter than 32",
            ),
            (
                node("voicemail", json!({"id": long(33)})),
                "/data/id",
                "longer than 32",
            ),
            (
                node("voicemail", json!({"action": "delete"})),
                "/data/action",
                "is not one of",
            ),
            (
                node("conference", json!({"id": "short"})),
                "/data/id",
                "shorter than 32",
            ),
            (
                node("conference", json!({"play_entry_tone": 1})),
                "/data/play_entry_tone",
                "not of types",
            ),
            // collect_dtmf
            (
                node("collect_dtmf", json!({"terminator": "A"})),
                "/data/terminator",
                "is not one of",
            ),
            (
                node("collect_dtmf", json!({"terminators": ["#", "x"]})),
                "/data/terminators/1",
                "is not one of",
            ),
            (
                node("collect_dtmf", json!({"max_digits": 0})),
                "/data/max_digits",
                "less than the minimum",
            ),
            (
                node("collect_dtmf", json!({"timeout": 0})),
                "/data/timeout",
                "less than the minimum",
            ),
            (
                node("collect_dtmf", json!({"interdigit_timeout": 0})),
                "/data/interdigit_timeout",
                "less than the minimum",
            ),
            // send_dtmf
            (
                node("send_dtmf", json!({})),
                "/data",
                "\"digits\" is a required property",
            ),
            (
                node("send_dtmf", json!({"digits": "1", "duration_ms": true})),
                "/data/duration_ms",
                "not of types",
            ),
            // sleep, language
            (
                node("sleep", json!({"duration": 86_400_001})),
                "/data/duration",
                "greater than the maximum",
            ),
            (
                node("sleep", json!({"duration": -1})),
                "/data/duration",
                "less than the minimum",
            ),
            (
                node("sleep", json!({"unit": "d"})),
                "/data/unit",
                "is not one of",
            ),
            (
                node("language", json!({})),
                "/data",
                "\"language\" is a required property",
            ),
            (
                node("language", json!({"language": "english"})),
                "/data/language",
                "does not match",
            ),
            (
                node("language", json!({"language": "en-usa"})),
                "/data/language",
                "does not match",
            ),
            // record_call, record_caller
            (
                node("record_call", json!({})),
                "/data",
                "\"action\" is a required property",
            ),
            (
                node("record_call", json!({"action": "pause"})),
                "/data/action",
                "is not one of",
            ),
            (
                node("record_call", json!({"action": "start", "format": "ogg"})),
                "/data/format",
                "is not one of",
            ),
            (
                node("record_call", json!({"action": "start", "method": "get"})),
                "/data/method",
                "is not one of",
            ),
            (
                node("record_call", json!({"action": "start", "time_limit": 4})),
                "/data/time_limit",
                "less than the minimum",
            ),
            (
                node(
                    "record_call",
                    json!({"action": "start", "time_limit": 10801}),
                ),
                "/data/time_limit",
                "greater than the maximum",
            ),
            (
                node("record_caller", json!({"time_limit": 10801})),
                "/data/time_limit",
                "greater than the maximum",
            ),
            (
                node("record_caller", json!({"format": "flac"})),
                "/data/format",
                "is not one of",
            ),
            // the rest
            (
                node("manual_presence", json!({})),
                "/data",
                "\"presence_id\" is a required property",
            ),
            (
                node(
                    "manual_presence",
                    json!({"presence_id": "p", "status": "away"}),
                ),
                "/data/status",
                "is not one of",
            ),
            (
                node("set_variables", json!({})),
                "/data",
                "\"custom_application_vars\" is a required property",
            ),
            (
                node("set_variables", json!({"custom_application_vars": "x"})),
                "/data/custom_application_vars",
                "not of type \"object\"",
            ),
            (
                node("device", json!({"timeout": -1})),
                "/data/timeout",
                "less than the minimum",
            ),
            (
                node("device", json!({"dial_strategy": "all"})),
                "/data/dial_strategy",
                "is not one of",
            ),
            (
                node("user", json!({"delay": -5})),
                "/data/delay",
                "less than the minimum",
            ),
            (
                node("user", json!({"strategy": "weighted_random"})),
                "/data/strategy",
                "is not one of",
            ),
            (
                node("resources", json!({"outbound_flags": [1]})),
                "/data/outbound_flags/0",
                "not of type \"string\"",
            ),
            (
                node("play", json!({"loop_count": 0})),
                "/data/loop_count",
                "less than the minimum",
            ),
            (
                node("prepend_cid", json!({"action": "append"})),
                "/data/action",
                "is not one of",
            ),
            (
                node("prepend_cid", json!({"apply_to": "both"})),
                "/data/apply_to",
                "is not one of",
            ),
            (
                node("hangup", json!({"skip_module": "yes"})),
                "/data/skip_module",
                "not of type \"boolean\"",
            ),
            (
                node("temporal_route", json!({"rules": "r1"})),
                "/data/rules",
                "not of type \"array\"",
            ),
            (
                node("menu", json!({"id": 5})),
                "/data/id",
                "not of type \"string\"",
            ),
            (
                node("callflow", json!({"id": []})),
                "/data/id",
                "not of type \"string\"",
            ),
        ]
    }

    /// Valid trees beyond the one-node examples: branches, defaults, loose keys.
    fn valid_trees() -> Vec<Value> {
        let mut trees = examples();
        trees.extend([
            json!({"module": "collect_dtmf", "data": {}, "children": {
                "1": {"module": "tts", "data": {"text": "one"}},
                "_": {"module": "pivot", "data": {"voice_url": "http://a.example/", "method": "POST"}}}}),
            json!({"module": "tts", "data": {"text": long(1000)}, "children": {}}),
            json!({"module": "ring_group", "data": {"endpoints": [{"endpoint_type": "user", "id": long(128), "weight": 100}]},
                   "children": {"_": {"module": "voicemail", "data": {"id": "0123456789abcdef0123456789abcdef"}}}}),
            json!({"module": "sleep", "data": {"duration": 86_400_000, "unit": "h"}, "whatever": true}),
            json!({"module": "language", "data": {"language": "EN"}}),
            json!({"module": "response", "data": {"code": 699, "media": long(2048)}}),
            json!({"module": "response", "data": {"code": 100}}),
            json!({"module": "record_call", "data": {"action": "stop"}, "children": {"a/b~c": {"module": "hangup", "data": {}}}}),
            json!({"module": "send_dtmf", "data": {"digits": "", "duration_ms": 0}}),
            json!({"module": "pivot", "data": {"voice_url": "https://x", "req_timeout_ms": 5000, "method": "gEt"}}),
        ]);
        trees
    }

    #[test]
    fn every_embedded_schema_compiles() {
        let schemas = Schemas::new();
        assert_eq!(schemas.modules.len(), MODULES.len());
        node_validator();
    }

    #[test]
    fn schema_table_follows_module_table() {
        let names: Vec<&str> = Schemas::names().collect();
        let modules: Vec<&str> = MODULES.iter().map(|spec| spec.name).collect();
        assert_eq!(names[..MODULES.len()], modules);
        assert_eq!(names.last(), Some(&"node"));
        assert!(Schemas::source("tts").is_some_and(|s| s.contains("\"text\"")));
        assert_eq!(Schemas::source("say"), None);
    }

    /// Whether any (sub)schema sets `additionalProperties: false`.
    fn closes_objects(schema: &Value) -> bool {
        match schema {
            Value::Object(map) => {
                map.get("additionalProperties") == Some(&Value::Bool(false))
                    || map.values().any(closes_objects)
            }
            Value::Array(items) => items.iter().any(closes_objects),
            _ => false,
        }
    }

    #[test]
    fn schemas_have_the_house_header_and_stay_open() {
        for name in Schemas::names() {
            let schema: Value = Schemas::source(name)
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            assert_eq!(
                schema["$schema"], "http://json-schema.org/draft-07/schema#",
                "{name}"
            );
            assert_eq!(
                schema["$id"],
                format!("https://pivotforge.dev/schemas/{name}.json")
            );
            assert!(
                schema["title"].is_string() && schema["description"].is_string(),
                "{name}"
            );
            assert!(!closes_objects(&schema), "{name} closes an object");
            if name != "node" {
                assert_eq!(
                    schema["properties"]["skip_module"]["type"], "boolean",
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn valid_trees_pass() {
        for tree in valid_trees() {
            assert_eq!(schemas().validate(&tree), Ok(()), "{tree}");
        }
    }

    #[test]
    fn typed_builders_produce_valid_trees() {
        use crate::callflow::{CollectDtmf, Node, Pivot, Response, Tts};
        let tree = Node::new(CollectDtmf::new("choice", 1))
            .child("1", Node::new(Tts::new("Sales")))
            .child("2", Node::new(Pivot::new("https://pf.example.com/next")))
            .default_child(Node::new(Response::new(486, "Busy Here")));
        assert_eq!(schemas().validate(&tree.to_value()), Ok(()));
    }

    #[test]
    fn each_violation_is_caught_where_it_is() {
        let mut misses = Vec::new();
        for (tree, pointer, fragment) in invalid_cases() {
            let found = errors(&tree);
            if !found
                .iter()
                .any(|e| e.pointer == pointer && e.message.contains(fragment))
            {
                misses.push(format!(
                    "{tree}: wanted {pointer:?} ~ {fragment:?}, got {found:?}"
                ));
            }
        }
        assert!(misses.is_empty(), "{}", misses.join("\n"));
    }

    #[test]
    fn nested_errors_carry_the_full_pointer() {
        let tree = json!({"module": "collect_dtmf", "data": {}, "children": {
            "_": {"module": "tts", "data": {"text": "ok"}, "children": {
                "1": {"module": "user", "data": {"timeout": -3}},
                "a/b~c": {"module": "speak", "data": {}}}}}});
        assert_rejected(
            &tree,
            "/children/_/children/1/data/timeout",
            "less than the minimum",
        );
        assert_rejected(&tree, "/children/_/children/a~1b~0c/module", "use `tts`");
        assert_eq!(errors(&tree).len(), 2);
    }

    #[test]
    fn display_shows_pointer_then_message() {
        let root = SchemaError::new("", "\"module\" is a required property");
        assert_eq!(root.to_string(), "/: \"module\" is a required property");
        let found = errors(&node("response", json!({"code": "486"})));
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["/data/code: \"486\" is not of type \"integer\""]
        );
    }

    #[test]
    fn long_values_are_not_echoed() {
        let found = errors(&node("tts", json!({"text": long(5000)})));
        assert!(
            found.iter().all(|e| e.message.len() <= MAX_MESSAGE + 3),
            "{found:?}"
        );
        assert!(found[0].message.contains("longer than 1000"), "{found:?}");
    }

    #[test]
    fn errors_stop_at_fifty() {
        let children: Map<String, Value> = (0..200)
            .map(|i| {
                (
                    i.to_string(),
                    json!({"module": "tts", "data": {"text": 1, "engine": 2}}),
                )
            })
            .collect();
        let tree = json!({"module": "hangup", "data": {}, "children": children});
        assert_eq!(errors(&tree).len(), MAX_ERRORS);
    }

    #[test]
    fn node_schema_agrees_with_the_walker() {
        let node = node_validator();
        let valid = valid_trees();
        let invalid: Vec<Value> = invalid_cases()
            .into_iter()
            .map(|(tree, _, _)| tree)
            .collect();
        assert!(valid.len() >= 10 && invalid.len() >= 10);
        for tree in &valid {
            assert!(node.is_valid(tree), "node.json rejects {tree}");
            assert!(schemas().validate(tree).is_ok(), "walker rejects {tree}");
        }
        for tree in &invalid {
            assert!(!node.is_valid(tree), "node.json accepts {tree}");
            assert!(schemas().validate(tree).is_err(), "walker accepts {tree}");
        }
    }

    #[test]
    fn very_deep_trees_are_rejected_without_overflow() {
        // Built by moving values: `json!` would serialise (recursively copy) the inner tree.
        let mut tree = json!({"module": "hangup", "data": {}});
        for _ in 1..10_000 {
            let mut children = Map::new();
            children.insert("_".to_owned(), tree);
            let mut parent = Map::new();
            parent.insert("module".to_owned(), json!("sleep"));
            parent.insert("data".to_owned(), json!({}));
            parent.insert("children".to_owned(), Value::Object(children));
            tree = Value::Object(parent);
        }
        let found = errors(&tree);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("deeper than 64"));
        assert_eq!(found[0].pointer, "/children/_".repeat(MAX_DEPTH));

        // Dropping the value recursively could itself overflow the test thread's stack.
        let mut next = Some(tree);
        while let Some(mut current) = next.take() {
            next = current
                .get_mut("children")
                .and_then(|children| children.get_mut("_"))
                .map(Value::take);
        }
    }

    #[test]
    fn depth_limit_is_inclusive() {
        let mut tree = json!({"module": "hangup", "data": {}});
        for _ in 1..MAX_DEPTH {
            tree = json!({"module": "sleep", "data": {}, "children": {"_": tree}});
        }
        assert_eq!(schemas().validate(&tree), Ok(()));
    }

    #[test]
    fn schemas_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Schemas>();
    }
}
