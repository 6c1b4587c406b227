//! The module registry's machinery: what one entry says about a Kazoo module ([`ModuleSpec`],
//! [`Builder`]) and the `modules!` macro that turns the one list in `callflow/mod.rs` into the
//! module declarations, the [`Action`](super::Action) enum and its conversions, and [`MODULES`].
//!
//! Everything else that names modules reads [`MODULES`]: the schemas (`generate.rs`), the
//! validator, the unknown-module messages, the builders scripts get from `require('pivotforge')`
//! and the README's module table.

use std::sync::OnceLock;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

use super::MODULES;

/// One Kazoo callflow module: its wire name, what it does, its schema and its script builder.
#[derive(Debug, Clone, Copy)]
pub struct ModuleSpec {
    /// The module name as written on the wire (`"ring_group"`).
    pub name: &'static str,
    /// One sentence saying what the module does; heads its schema and its README row.
    pub summary: &'static str,
    /// The builder scripts get for it, if any.
    pub builder: Option<Builder>,
    /// The JSON Schema of its `data`, generated from the typed struct.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
    /// What Kazoo does at a node of it on a call (the call simulator walks trees by it).
    pub call: CallRole,
}

/// How a module takes part in a call, as the call simulator plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRole {
    /// What Kazoo does at the node.
    pub kind: CallKind,
    /// The `data` fields that say what the node is about (`text`, `id`, …; `a/b` reaches into
    /// an object), the first present one shown: transcripts print it, scenarios match it.
    pub main: &'static [&'static str],
}

/// What Kazoo does at a node of a module (reference §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Runs, then goes on to the `_` child.
    Next,
    /// Speaks its main field (free text), then goes on to `_`.
    Speaks,
    /// Collects digits into a collection, then goes on to `_`.
    Collects,
    /// Bridges the call: an answer ends it; a failure takes the cause, code or `_` child.
    Bridge,
    /// Asks its `voice_url` for the next tree.
    Pivots,
    /// Answers with a SIP response and hangs up.
    Rejects,
    /// Ends the call's flow here (or hands it to something the PBX holds).
    Ends,
}

/// A module's [`CallRole`].
pub(super) const fn role(kind: CallKind, main: &'static [&'static str]) -> CallRole {
    CallRole { kind, main }
}

/// How `require('pivotforge')` builds a module's node; prelude.js makes the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum Builder {
    /// `js(opts = {}, next)`: `opts` is the node's `data`.
    Opts {
        /// Name of the builder function.
        js: &'static str,
    },
    /// `js(value, opts = {}, next)`: `value`, a non-empty string of at most `max` characters
    /// (0: no limit), is put under `field` in `opts`.
    Text {
        /// Name of the builder function.
        js: &'static str,
        /// Key of `data` the first argument goes to.
        field: &'static str,
        /// Longest value accepted; 0 for no limit.
        max: usize,
    },
    /// Written out in prelude.js's table of special builders, because its arguments need checks
    /// of their own; `args` names them for the docs.
    Special {
        /// Name of the builder function.
        js: &'static str,
        /// Its parameters, as the README shows them.
        args: &'static str,
    },
}

impl Builder {
    /// Name of the builder function.
    pub fn js(&self) -> &'static str {
        match *self {
            Builder::Opts { js } | Builder::Text { js, .. } | Builder::Special { js, .. } => js,
        }
    }

    /// The call as the docs show it, e.g. `tts(text, opts, next)`.
    pub fn signature(&self) -> String {
        match *self {
            Builder::Opts { js } => format!("{js}(opts, next)"),
            Builder::Text { js, field, .. } => format!("{js}({field}, opts, next)"),
            Builder::Special { js, args } => format!("{js}({args})"),
        }
    }
}

/// A builder taking `opts` only (see [`Builder::Opts`]).
pub(super) const fn opts(js: &'static str) -> Option<Builder> {
    Some(Builder::Opts { js })
}

/// A builder taking one string for `field` first (see [`Builder::Text`]).
pub(super) const fn text(js: &'static str, field: &'static str, max: usize) -> Option<Builder> {
    Some(Builder::Text { js, field, max })
}

/// A builder written out in prelude.js (see [`Builder::Special`]).
pub(super) const fn special(js: &'static str, args: &'static str) -> Option<Builder> {
    Some(Builder::Special { js, args })
}

/// The schema of `T` as a root (everything inlined, see `generate.rs`).
pub(super) fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.root_schema_for::<T>()
}

/// The registry entry of a module, by wire name.
pub fn find(name: &str) -> Option<&'static ModuleSpec> {
    MODULES.iter().find(|spec| spec.name == name)
}

/// Every module name, in registry order.
pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|spec| spec.name)
}

/// The builders scripts get, in registry order, with the module each one builds.
pub fn builders() -> impl Iterator<Item = (&'static str, Builder)> {
    MODULES
        .iter()
        .filter_map(|spec| spec.builder.map(|builder| (spec.name, builder)))
}

/// The builders as JSON for prelude.js: `[{"module": "tts", "form": "text", "js": "tts", …}]`.
pub fn builders_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(render_builders)
}

fn render_builders() -> String {
    #[derive(Serialize)]
    struct Entry {
        module: &'static str,
        #[serde(flatten)]
        builder: Builder,
    }
    let entries: Vec<Entry> = builders()
        .map(|(module, builder)| Entry { module, builder })
        .collect();
    // Only strings, numbers and tags: serialising cannot fail.
    serde_json::to_string(&entries).unwrap_or_else(|e| unreachable!("builders serialise: {e}"))
}

/// Declares every module (file, re-export, [`Action`](super::Action) variant, [`MODULES`] row)
/// from one list of `file: Type, "summary", builder, call role;` entries.
macro_rules! modules {
    ($($file:ident: $ty:ident, $summary:literal, $builder:expr, $call:expr;)*) => {
        $(
            // `callflow` is a Kazoo module too, so one file shares its parent's name.
            #[allow(clippy::module_inception)]
            pub mod $file;
            pub use $file::$ty;
        )*

        /// Every module Kazoo 4.3 accepts, in the order docs and schemas list them.
        pub const MODULES: &[registry::ModuleSpec] = &[$(
            registry::ModuleSpec {
                name: stringify!($file),
                summary: $summary,
                builder: $builder,
                schema: registry::schema_of::<$ty>,
                call: $call,
            },
        )*];

        /// A node's module together with its typed `data`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Action {
            $(
                #[doc = concat!("A `", stringify!($file), "` node.")]
                $ty($ty),
            )*
        }

        impl Action {
            /// The module name as written on the wire.
            pub fn module(&self) -> &'static str {
                match self {
                    $(Action::$ty(_) => stringify!($file),)*
                }
            }

            /// Builds an action from a wire module name and its `data` object.
            pub fn from_parts(
                module: &str,
                data: serde_json::Value,
            ) -> Result<Action, ActionError> {
                $(
                    if module == stringify!($file) {
                        return serde_json::from_value::<$ty>(data)
                            .map(Action::$ty)
                            .map_err(|source| ActionError::Data {
                                module: stringify!($file),
                                source,
                            });
                    }
                )*
                Err(ActionError::UnknownModule(unknown_module_message(module)))
            }
        }

        /// Serialises only the `data` object of an action.
        pub(crate) struct DataOf<'a>(pub(crate) &'a Action);

        impl serde::Serialize for DataOf<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    $(Action::$ty(data) => data.serialize(serializer),)*
                }
            }
        }

        $(
            impl From<$ty> for Action {
                fn from(data: $ty) -> Self {
                    Action::$ty(data)
                }
            }
        )*
    };
}

/// The README's module table, one row per registry entry.
pub fn readme_table() -> String {
    let mut table = String::from("| module | what it does | script builder |\n|---|---|---|\n");
    for spec in MODULES {
        let builder = spec
            .builder
            .map_or_else(|| "—".to_owned(), |b| format!("`{}`", b.signature()));
        table.push_str(&format!(
            "| `{}` | {} | {builder} |\n",
            spec.name, spec.summary
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;
    use crate::callflow::generate;

    const START: &str = "<!-- modules: start -->\n";
    const END: &str = "<!-- modules: end -->";

    #[test]
    fn generated_readme_table_is_fresh() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap_or_default();
        let (Some(start), Some(end)) = (readme.find(START), readme.find(END)) else {
            panic!("README.md has no `{START}` … `{END}` block for the module table");
        };
        let body = start + START.len();
        let wanted = readme_table();
        if readme[body..end] != wanted && std::env::var_os("UPDATE_GENERATED").is_some() {
            let updated = format!("{}{wanted}{}", &readme[..body], &readme[end..]);
            std::fs::write(&path, updated).unwrap_or_else(|e| panic!("README.md: {e}"));
            return;
        }
        assert_eq!(
            readme[body..end],
            wanted,
            "the README's module table is out of step with MODULES in src/callflow/mod.rs: \
             run `UPDATE_GENERATED=1 cargo test --lib generated_`"
        );
    }

    #[test]
    fn names_and_builders_are_unique() {
        let names: HashSet<&str> = names().collect();
        assert_eq!(names.len(), MODULES.len());
        let js: HashSet<&str> = builders().map(|(_, b)| b.js()).collect();
        assert_eq!(js.len(), builders().count());
        assert!(!js.contains("time") && !js.contains("node"));
    }

    #[test]
    fn text_builders_fill_a_string_field_of_their_schema() {
        for (module, builder) in builders() {
            let Builder::Text { field, max, .. } = builder else {
                continue;
            };
            let schema = find(module)
                .map(generate::module_schema)
                .unwrap_or_default();
            let property = &schema["properties"][field];
            assert_eq!(property["type"], "string", "{module}.{field}");
            // A builder may leave a limit to validation, but one it checks is the schema's.
            if max > 0 {
                let limit = property["maxLength"].as_u64().unwrap_or(0);
                assert_eq!(
                    limit, max as u64,
                    "{module}.{field}: builder and schema differ"
                );
            }
        }
    }

    #[test]
    fn prelude_writes_out_exactly_the_special_builders() {
        let prelude = include_str!("../script/prelude.js");
        let written: Vec<&str> = prelude
            .lines()
            .filter_map(|line| line.strip_prefix("    ")?.split_once(": (module) =>"))
            .map(|(name, _)| name)
            .collect();
        let listed: Vec<&str> = builders()
            .filter(|(_, b)| matches!(b, Builder::Special { .. }))
            .map(|(_, b)| b.js())
            .collect();
        let mut written_sorted = written.clone();
        written_sorted.sort_unstable();
        let mut listed_sorted = listed.clone();
        listed_sorted.sort_unstable();
        assert_eq!(written_sorted, listed_sorted);
    }

    #[test]
    fn builders_json_names_module_form_and_fields() {
        let parsed: serde_json::Value = serde_json::from_str(builders_json()).unwrap_or_default();
        assert_eq!(
            parsed[5],
            serde_json::json!({"module": "tts", "form": "text", "js": "tts", "field": "text", "max": 1000})
        );
        assert_eq!(parsed.as_array().map(Vec::len), Some(builders().count()));
    }

    #[test]
    fn hints_point_at_registered_modules() {
        for (wrong, hint) in crate::callflow::MISTAKES {
            assert!(find(wrong).is_none(), "{wrong} is a module");
            for named in hint.split('`').skip(1).step_by(2) {
                assert!(find(named).is_some(), "{wrong}: hint names `{named}`");
            }
        }
    }
}
