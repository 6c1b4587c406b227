//! Kazoo 4.3 (the release most installations run) and master accept different modules
//! (reference §5 "Versions"): a reply must run on both, since the service cannot tell which
//! PBX is asking. 4.3 hangs up on a tree holding a module it lacks.

use serde_json::Value;

use crate::callflow::{SchemaError, Schemas, MAX_DEPTH};

/// A Kazoo release line whose callflow modules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KazooVersion {
    /// The 4.3 branch.
    V4_3,
    /// Master (2019 and later).
    Master,
}

/// Both versions a reply must run on.
pub const VERSIONS: [KazooVersion; 2] = [KazooVersion::V4_3, KazooVersion::Master];

/// Modules added in master (2019) that 4.3 refuses.
pub const MASTER_ONLY: &[&str] = &["answer", "noop", "wait_for_hangup"];

/// Names old documentation shows as modules that no version has.
pub const NO_VERSION: &[&str] = &["say", "prompt"];

impl KazooVersion {
    /// Human name, as in messages.
    pub fn name(self) -> &'static str {
        match self {
            KazooVersion::V4_3 => "Kazoo 4.3",
            KazooVersion::Master => "Kazoo master",
        }
    }

    /// Why this version refuses `module`, or `None` when the version has it (as far as
    /// versions differ; the schemas check the rest).
    pub fn refuses(self, module: &str) -> Option<&'static str> {
        if NO_VERSION.contains(&module) {
            return Some(
                "is not a Kazoo module in any version (use `tts` to speak, `play` for files)",
            );
        }
        let missing = self == KazooVersion::V4_3 && MASTER_ONLY.contains(&module);
        missing.then_some("exists only in Kazoo master; 4.3 hangs up on it: leave it out")
    }
}

/// Checks that every module of `tree` exists in `version`.
pub fn check_for(version: KazooVersion, tree: &Value) -> Result<(), Vec<SchemaError>> {
    let mut errors = Vec::new();
    walk(version, tree, &mut String::new(), 1, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks `tree` for Kazoo 4.3 and master, then against the service's schemas: what every
/// Class 5 reply must pass.
pub fn check_both(schemas: &Schemas, tree: &Value) -> Result<(), Vec<SchemaError>> {
    let mut errors = Vec::new();
    for version in VERSIONS {
        if let Err(found) = check_for(version, tree) {
            errors.extend(found);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    schemas.validate(tree)
}

fn walk(
    version: KazooVersion,
    node: &Value,
    pointer: &mut String,
    depth: usize,
    errors: &mut Vec<SchemaError>,
) {
    // Deeper trees fail the schemas anyway; stop rather than recurse without bound.
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(module) = node.get("module").and_then(Value::as_str) {
        if let Some(why) = version.refuses(module) {
            errors.push(SchemaError {
                pointer: format!("{pointer}/module"),
                message: format!("module `{module}` {why} ({})", version.name()),
            });
        }
    }
    let Some(Value::Object(children)) = node.get("children") else {
        return;
    };
    for (key, child) in children {
        let len = pointer.len();
        pointer.push_str("/children/");
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        walk(version, child, pointer, depth + 1, errors);
        pointer.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ctx_map::test_support::schemas;

    fn deep_answer() -> Value {
        json!({"module": "tts", "data": {"text": "hi"}, "children": {
            "_": {"module": "answer", "data": {}, "children": {
                "a/b": {"module": "noop", "data": {}}}}}})
    }

    #[test]
    fn master_only_modules_are_refused_for_4_3_wherever_they_are() {
        let errors = check_for(KazooVersion::V4_3, &deep_answer())
            .err()
            .unwrap_or_default();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/children/_/module", "/children/_/children/a~1b/module"]
        );
        assert!(errors[0]
            .message
            .contains("`answer` exists only in Kazoo master"));
        assert_eq!(check_for(KazooVersion::Master, &deep_answer()), Ok(()));
        let wait = json!({"module": "wait_for_hangup", "data": {}});
        assert!(check_for(KazooVersion::V4_3, &wait).is_err());
        assert!(check_both(schemas(), &deep_answer()).is_err());
    }

    #[test]
    fn say_is_refused_by_both() {
        let say = json!({"module": "say", "data": {"text": "hi"}});
        for version in VERSIONS {
            let errors = check_for(version, &say).err().unwrap_or_default();
            assert_eq!(errors.len(), 1, "{version:?}");
            assert!(errors[0].message.contains("use `tts`"));
        }
    }

    #[test]
    fn a_tree_of_common_modules_passes_and_schemas_still_apply() {
        let good = json!({"module": "tts", "data": {"text": "hi"}, "children": {
            "_": {"module": "hangup", "data": {}}}});
        assert_eq!(check_both(schemas(), &good), Ok(()));
        let bad = json!({"module": "tts", "data": {}});
        assert!(check_for(KazooVersion::V4_3, &bad).is_ok());
        assert!(
            check_both(schemas(), &bad).is_err(),
            "the schemas run after the versions"
        );
    }
}
