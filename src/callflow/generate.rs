//! The JSON Schemas, generated from the typed model: one per module's `data` (from its struct's
//! `JsonSchema` derive and `schemars` attributes) and `node.json` (the node wrapper, from the
//! registry). The service validates and serves these; `schemas/` in the repo holds the same text
//! for editors and reviews, and a test fails when it is stale.

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::{ModuleSpec, MODULES};

/// Where the schemas say they live (`$id`); `node.json` refers to the module schemas by it.
pub const BASE_URL: &str = "https://pivotforge.dev/schemas/";

/// The draft every schema declares: the one Kazoo's tooling and most editors read.
const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// One generated schema: its name (`"tts"`, `"node"`), the schema, and its text as kept in the repo.
#[derive(Debug)]
pub struct Generated {
    /// Module name, or `"node"`.
    pub name: &'static str,
    /// The schema.
    pub value: Value,
    /// Pretty-printed, with a final newline: byte for byte what `schemas/NAME.json` holds.
    pub text: String,
}

/// Every schema: the modules in registry order, then `node`. Generated once per process.
pub fn all() -> &'static [Generated] {
    static ALL: OnceLock<Vec<Generated>> = OnceLock::new();
    ALL.get_or_init(|| {
        MODULES
            .iter()
            .map(|spec| (spec.name, module_schema(spec)))
            .chain([("node", node_schema())])
            .map(|(name, value)| Generated {
                name,
                text: pretty(&value),
                value,
            })
            .collect()
    })
}

/// The schema of one module's `data`: the type's schema under the house header.
pub fn module_schema(spec: &ModuleSpec) -> Value {
    let mut generator = SchemaSettings::draft07()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    let mut generated = (spec.schema)(&mut generator).to_value();
    tidy(&mut generated);
    let Value::Object(mut body) = generated else {
        unreachable!("a struct's schema is an object")
    };
    let mut schema = header(
        spec.name,
        &format!("Kazoo callflow module `{}`: data", spec.name),
        &format!(
            "{} Schema of the node's `data` object; unknown keys are allowed.",
            spec.summary
        ),
    );
    for key in ["$schema", "title", "description"] {
        body.shift_remove(key);
    }
    schema.extend(body);
    Value::Object(schema)
}

/// `node.json`: a node's shape, its module name one of the registry's, and its `data` checked
/// against that module's schema (if/then per module, referring to the module files).
pub fn node_schema() -> Value {
    let dispatch: Vec<Value> = MODULES
        .iter()
        .map(|spec| {
            json!({
                "if": {"required": ["module"], "properties": {"module": {"const": spec.name}}},
                "then": {"properties": {"data": {"$ref": format!("{}.json", spec.name)}}}
            })
        })
        .collect();
    let names: Vec<&str> = MODULES.iter().map(|spec| spec.name).collect();
    let mut schema = header(
        "node",
        "Kazoo callflow node",
        "One callflow node as answered to a Kazoo pivot: a module, its data and its child \
         branches (`_` is the default branch).",
    );
    let body = json!({
        "type": "object",
        "required": ["module", "data"],
        "properties": {
            "module": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "enum": names,
                "description": "Callflow module name."
            },
            "data": {"type": "object", "description": "Module settings; `{}` when there are none."},
            "children": {
                "type": "object",
                "description": "Branches by key; `_` is the default.",
                "additionalProperties": {"$ref": "#"}
            }
        },
        "allOf": dispatch
    });
    if let Value::Object(body) = body {
        schema.extend(body);
    }
    Value::Object(schema)
}

/// The text a schema is kept as: pretty JSON and a final newline.
pub fn pretty(value: &Value) -> String {
    // A `Value` always serialises.
    let mut text =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| unreachable!("JSON value: {e}"));
    text.push('\n');
    text
}

fn header(name: &str, title: &str, description: &str) -> Map<String, Value> {
    let mut schema = Map::new();
    schema.insert("$schema".into(), DRAFT_07.into());
    schema.insert("$id".into(), format!("{BASE_URL}{name}.json").into());
    schema.insert("title".into(), title.into());
    schema.insert("description".into(), description.into());
    schema
}

/// Brings schemars' output to what the validator must enforce, through the whole schema:
/// - no `null`: serde reads a `null` field as absent, but Kazoo refuses it, so the schema does;
/// - a unit enum is `{"type": "string", "enum": [...]}` (schemars writes `oneOf` of `const`s
///   when the variants have docs), so errors say "is not one of";
/// - no integer `format` (`uint64`, …): not a draft-07 format.
fn tidy(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    for key in ["properties", "definitions"] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            children.values_mut().for_each(tidy);
        }
    }
    for key in ["items", "additionalProperties", "not", "if", "then", "else"] {
        if let Some(child) = map.get_mut(key) {
            tidy(child);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            children.iter_mut().for_each(tidy);
        }
    }
    drop_null(map);
    collapse_unit_enum(map);
    if map.get("type") == Some(&json!("integer")) {
        map.shift_remove("format");
    }
    reorder(map);
}

/// Keys in reading order: what it is, what it needs, its fields, its limits, its default.
const KEY_ORDER: [&str; 20] = [
    "$schema",
    "$id",
    "title",
    "type",
    "description",
    "required",
    "properties",
    "items",
    "const",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "default",
    "additionalProperties",
    "allOf",
];

/// Puts the keys in [`KEY_ORDER`], others after them as they were, so the files read alike.
fn reorder(map: &mut Map<String, Value>) {
    let mut ordered = Map::new();
    for key in KEY_ORDER {
        if let Some(value) = map.shift_remove(key) {
            ordered.insert(key.to_owned(), value);
        }
    }
    ordered.append(map);
    *map = ordered;
}

fn drop_null(map: &mut Map<String, Value>) {
    let null = json!({"type": "null"});
    if let Some(Value::Array(options)) = map.get("anyOf") {
        if options.len() == 2 && options.contains(&null) {
            let inner = options.iter().find(|option| **option != null).cloned();
            map.shift_remove("anyOf");
            if let Some(Value::Object(inner)) = inner {
                // The field's own keys (its description, its default) win over the type's.
                let own = std::mem::replace(map, inner);
                map.extend(own);
            }
        }
    }
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
}

fn collapse_unit_enum(map: &mut Map<String, Value>) {
    let Some(Value::Array(variants)) = map.get("oneOf") else {
        return;
    };
    let names: Option<Vec<Value>> = variants
        .iter()
        .map(|variant| {
            let variant = variant.as_object()?;
            let only_name = variant
                .keys()
                .all(|k| matches!(k.as_str(), "type" | "const" | "description"));
            let name = variant.get("const").filter(|c| c.is_string())?;
            only_name.then(|| name.clone())
        })
        .collect();
    if let Some(names) = names {
        map.shift_remove("oneOf");
        map.insert("type".into(), "string".into());
        map.insert("enum".into(), Value::Array(names));
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    const REGENERATE: &str = "UPDATE_GENERATED=1 cargo test --lib generated_";

    fn folder() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
    }

    /// `schemas/*.json` other than the generated ones.
    fn strays() -> Vec<PathBuf> {
        let mut strays: Vec<PathBuf> = std::fs::read_dir(folder())
            .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        strays.retain(|path| {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            path.extension().is_some_and(|e| e == "json") && all().iter().all(|g| g.name != stem)
        });
        strays.sort();
        strays
    }

    #[test]
    fn generated_schemas_are_fresh() {
        if std::env::var_os("UPDATE_GENERATED").is_some() {
            for generated in all() {
                let path = folder().join(format!("{}.json", generated.name));
                std::fs::write(&path, &generated.text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            for stray in strays() {
                std::fs::remove_file(&stray).unwrap_or_else(|e| panic!("{}: {e}", stray.display()));
            }
        }
        let mut stale: Vec<String> = all()
            .iter()
            .filter(|g| {
                std::fs::read_to_string(folder().join(format!("{}.json", g.name))).ok()
                    != Some(g.text.clone())
            })
            .map(|g| format!("schemas/{}.json", g.name))
            .collect();
        stale.extend(strays().iter().map(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            format!("schemas/{name} (no such module)")
        }));
        assert!(
            stale.is_empty(),
            "out of date with the types in src/callflow: {}\nrun `{REGENERATE}` and commit schemas/",
            stale.join(", ")
        );
    }

    #[test]
    fn every_module_has_one_schema_and_node_comes_last() {
        let names: Vec<&str> = all().iter().map(|g| g.name).collect();
        let mut expected: Vec<&str> = MODULES.iter().map(|s| s.name).collect();
        expected.push("node");
        assert_eq!(names, expected);
    }

    #[test]
    fn nothing_is_nullable_and_no_integer_has_a_format() {
        fn check(name: &str, value: &Value) {
            match value {
                Value::Object(map) => {
                    assert!(
                        map.get("type")
                            .is_none_or(|t| !t.to_string().contains("null")),
                        "{name}: {value}"
                    );
                    assert!(!map.contains_key("anyOf"), "{name}: {value}");
                    if map.get("type") == Some(&json!("integer")) {
                        assert!(!map.contains_key("format"), "{name}: {value}");
                    }
                    map.values().for_each(|v| check(name, v));
                }
                Value::Array(items) => items.iter().for_each(|v| check(name, v)),
                Value::Null => panic!("{name}: null in the schema"),
                _ => {}
            }
        }
        for generated in &all()[..MODULES.len()] {
            check(generated.name, &generated.value);
        }
    }

    #[test]
    fn documented_enums_become_plain_string_enums() {
        let tts = &all()[MODULES.iter().position(|s| s.name == "tts").unwrap_or(0)].value;
        assert_eq!(
            tts["properties"]["engine"]["enum"],
            json!(["flite", "google", "ispeech", "voicefabric"])
        );
        assert_eq!(tts["properties"]["engine"]["type"], "string");
        assert!(tts["properties"]["engine"].get("oneOf").is_none());
    }
}
