//! Script flows: ScriptForge-style JavaScript (`callflows/NAME.js`) run on a pool of JS threads,
//! each script in its own QuickJS sandbox with a time limit, a memory limit and no access to the
//! host beyond the modules it is given.

pub mod breaker;
pub mod bulkhead;
pub mod bytecode;
pub mod class5;
pub mod config;
pub mod fetch;
pub mod host;
pub mod isolation;
pub mod pool;
pub mod realms;
pub mod sandbox;
pub mod settings;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use regex::Regex;
use serde::Serialize;

pub use breaker::BreakerState;
pub use config::{PoolConfig, ScriptsConfig};
pub use host::{HostServices, LogLine};
pub use isolation::{FlowIsolation, Isolation};
pub use pool::{JsPool, Overloaded, RunResult};
pub use settings::FlowSettings;

use crate::callflow::Schemas;
use crate::load_error::LoadError;

/// A loaded script flow: its source, settings and version.
#[derive(Debug)]
pub struct ScriptFlow {
    /// The flow name (`/pivot/{name}`).
    pub name: String,
    /// Its file.
    pub file: PathBuf,
    /// The flows folder, root of `./relative` imports.
    pub root: PathBuf,
    /// Name the script runs under: its path inside the flows folder.
    pub module_name: String,
    /// The source text.
    pub source: Arc<str>,
    /// True for an ES module (`import` / `export` at top level).
    pub module: bool,
    /// True for a Class 5 flow: its `main` declares a second parameter, `ctx`.
    pub class5: bool,
    /// Changes whenever the source or the settings change; keys the warm contexts.
    pub version: u64,
    /// Time, memory, fallback, env, hosts.
    pub settings: FlowSettings,
    /// The files it imports, as they were when it loaded.
    pub imports: Arc<sandbox::Imports>,
    /// The flow's bulkhead and breaker in the pool, kept here once found so that a call needs
    /// no look-up by name.
    pub(crate) guard: OnceLock<Arc<pool::FlowGuard>>,
    /// The replies its Class 5 steps built, for the steps that would build them again.
    pub(crate) replies: class5::replies::Replies,
}

/// Why a script call did not give a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptFailure {
    /// A deliberate rejection: `[486, "Busy"]`, `Error('480 …')`, `err([…])`.
    Rejected {
        /// SIP code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// The script has no function of its own by that name (`/run` asked for a typo, a
    /// built-in such as `constructor`, or a flow has no `main`).
    NoSuchFunction {
        /// The name asked for.
        function: String,
        /// The functions the script defines or exports, sorted.
        functions: Vec<String>,
    },
    /// Anything else that went wrong.
    Error {
        /// What kind of failure.
        kind: ScriptErrorKind,
        /// For people: the message, with the stack when there is one.
        detail: String,
    },
}

impl ScriptFailure {
    /// Shorthand for an [`ScriptFailure::Error`].
    pub fn error(kind: ScriptErrorKind, detail: String) -> ScriptFailure {
        ScriptFailure::Error { kind, detail }
    }

    /// What went wrong, for people (a log line, a fallback's detail, `postCall`'s last error).
    pub fn detail(&self) -> String {
        match self {
            ScriptFailure::Rejected { code, reason } => format!("rejected: {code} {reason}"),
            ScriptFailure::NoSuchFunction {
                function,
                functions,
            } => no_such_function(function, functions),
            ScriptFailure::Error { detail, .. } => detail.clone(),
        }
    }
}

/// The message for a function the script does not have, naming those it has.
pub fn no_such_function(function: &str, functions: &[String]) -> String {
    // Echo only a prefix: the name comes from a URL.
    let shown: String = function.chars().take(64).collect();
    let own = if functions.is_empty() {
        "it defines none".to_owned()
    } else {
        format!("its functions: {}", functions.join(", "))
    };
    format!(
        "the script has no function `{shown}`: define `function {shown}(data)`, export it, or \
         set module.exports.{shown} ({own})"
    )
}

/// The kinds of script failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptErrorKind {
    /// The script did not compile or its top level threw.
    Compile,
    /// It threw or rejected with something that is not a rejection.
    Exception,
    /// It ran past `timeout_ms`.
    Timeout,
    /// It ran out of `memory_mb`.
    MemoryLimit,
    /// It recursed too deep.
    StackOverflow,
    /// Its promise can never settle.
    NeverSettled,
    /// A fault of the service itself.
    Internal,
}

fn module_syntax() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?m)^\s*(import\s*[\w{*'"]|export\s+(default|function|async|const|let|var|class)\b|export\s*[{*])"#)
            .unwrap_or_else(|_| unreachable!("the pattern is a valid regex"))
    })
}

/// True for `.js` files that are flows: not in a `lib/` folder and not starting with `_`
/// (those are modules other scripts import).
pub fn is_script_flow(rel: &Path) -> bool {
    let in_lib = rel.components().any(|c| c.as_os_str() == "lib");
    let private = rel
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('_'));
    rel.extension().is_some_and(|e| e == "js") && !in_lib && !private
}

/// The settings file beside a script: `NAME.js` → `NAME.settings.toml`.
pub fn settings_file(script: &Path) -> PathBuf {
    script.with_extension("settings.toml")
}

/// Loads a script flow and its settings, and compiles it once to catch syntax errors.
/// On failure the fallback from the settings (when they loaded) is returned with the error.
pub fn load(
    name: &str,
    file: &Path,
    root: &Path,
    defaults: &FlowSettings,
    schemas: &Schemas,
) -> Result<ScriptFlow, Box<(LoadError, Option<serde_json::Value>)>> {
    let settings_path = settings_file(file);
    let settings = settings::load(&settings_path, defaults).map_err(|e| Box::new((e, None)))?;
    if let Some(fallback) = &settings.fallback {
        if let Err(errors) = schemas.validate(fallback) {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            let e = LoadError::new(
                &settings_path,
                None,
                format!("fallback: invalid callflow tree: {}", list.join("; ")),
            );
            return Err(Box::new((e, None)));
        }
    }
    let fallback = settings.fallback.clone();
    let source = std::fs::read_to_string(file).map_err(|e| {
        (
            LoadError::new(file, None, format!("can't read the file: {e}")),
            fallback.clone(),
        )
    })?;
    let module = module_syntax().is_match(&source);
    let module_name = file
        .strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/");
    let imported =
        check_syntax(&source, module, &module_name, root).map_err(|(line, message)| {
            Box::new((LoadError::new(file, line, message), fallback.clone()))
        })?;
    let version = version(&source, &imported, &settings);
    Ok(ScriptFlow {
        name: name.to_owned(),
        file: file.to_owned(),
        root: root.to_owned(),
        module_name,
        class5: class5::declares_ctx(&source),
        source: source.into(),
        module,
        version,
        settings,
        imports: Arc::new(imported),
        guard: OnceLock::new(),
        replies: Default::default(),
    })
}

/// The version of a script flow: SHA-256 of its file, its imports (sorted by name: an edited
/// `lib/` module must reach the warm contexts of the flows importing it) and its resolved
/// settings, serialised as JSON in the struct's field order (the config's defaults count too).
pub fn version(source: &str, imported: &sandbox::Imports, settings: &FlowSettings) -> u64 {
    let mut hasher = crate::digest::VersionHasher::new();
    hasher.part("file", source.as_bytes());
    let mut names: Vec<&String> = imported.keys().collect();
    names.sort();
    for name in names {
        hasher.part("import", name.as_bytes());
        hasher.part("import-text", &imported[name]);
    }
    // A FlowSettings holds strings, numbers and JSON values only: serialising can't fail.
    let settings = serde_json::to_vec(settings).unwrap_or_default();
    hasher.part("settings", &settings);
    hasher.finish()
}

impl ScriptFlow {
    /// This flow running the script `source` (with `imports`) that a Class 5 call started
    /// with. It keeps the flow's settings and its current `version`, which keys the flow's
    /// bulkhead and breaker (a call on an older script must not reset them); Class 5 steps
    /// never use warm sandboxes, which the version also keys.
    pub fn pinned(&self, source: &str, module: bool, imports: sandbox::Imports) -> ScriptFlow {
        ScriptFlow {
            name: self.name.clone(),
            file: self.file.clone(),
            root: self.root.clone(),
            module_name: self.module_name.clone(),
            source: source.into(),
            module,
            class5: true,
            version: self.version,
            settings: self.settings.clone(),
            imports: Arc::new(imports),
            guard: OnceLock::new(),
            replies: Default::default(),
        }
    }

    /// A classic (non-module) flow made from source text rather than a file, for tools such as
    /// the test262 runner: default settings, no imports.
    pub fn from_source(name: &str, root: &Path, source: &str) -> ScriptFlow {
        let module_name = format!("{name}.js");
        ScriptFlow {
            name: name.to_owned(),
            file: root.join(&module_name),
            root: root.to_owned(),
            module_name,
            class5: class5::declares_ctx(source),
            source: source.into(),
            module: false,
            version: 0,
            settings: FlowSettings::default(),
            imports: Arc::default(),
            guard: OnceLock::new(),
            replies: Default::default(),
        }
    }
}

/// Compiles without running: a module is declared, a script is parsed as a function body.
fn check_syntax(
    source: &str,
    module: bool,
    name: &str,
    root: &Path,
) -> Result<sandbox::Imports, (Option<usize>, String)> {
    let err = |e: String| (None, e);
    let rt = rquickjs::Runtime::new().map_err(|e| err(e.to_string()))?;
    rt.set_memory_limit(64 * 1024 * 1024);
    // Declaring a module loads its imports: the same resolver as at run time checks them too,
    // and the files it reads become part of the flow's version.
    let seen = std::rc::Rc::new(std::cell::RefCell::new(sandbox::Imports::new()));
    rt.set_loader(
        sandbox::FlowResolver {
            root: root.to_owned(),
            known: None,
        },
        sandbox::FlowLoader {
            root: root.to_owned(),
            known: None,
            seen: Some(seen.clone()),
        },
    );
    let ctx = rquickjs::Context::full(&rt).map_err(|e| err(e.to_string()))?;
    ctx.with(|ctx| {
        let result = if module {
            rquickjs::Module::declare(ctx.clone(), name, source.as_bytes()).map(|_| ())
        } else {
            ctx.globals()
                .set("__src", source)
                .and_then(|_| ctx.eval::<(), _>("new Function(__src)"))
        };
        result.map_err(|e| {
            let text = match e {
                rquickjs::Error::Exception => {
                    let v = ctx.catch();
                    let obj = v.as_object();
                    let get = |k: &str| {
                        obj.and_then(|o| o.get::<_, Option<String>>(k).ok().flatten())
                            .unwrap_or_default()
                    };
                    format!("{}: {}", get("name"), get("message"))
                }
                other => other.to_string(),
            };
            (syntax_line(&ctx, &text), text)
        })
    })?;
    let imported = seen.take();
    Ok(imported)
}

fn syntax_line(_ctx: &rquickjs::Ctx<'_>, message: &str) -> Option<usize> {
    // QuickJS puts `name:LINE:COL` in the message or stack of a SyntaxError.
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r":(\d+)(:\d+)?").unwrap_or_else(|_| unreachable!("valid regex"))
    });
    re.captures(message).and_then(|c| c[1].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_sha256_of_file_imports_and_settings() {
        let source = "import { f } from 'lib/f.js';\nexport function main() { return f() }";
        let mut imports = sandbox::Imports::new();
        imports.insert(
            "lib/f.js".into(),
            b"export function f() { return 1 }".to_vec(),
        );
        let settings = FlowSettings::default();
        let base = version(source, &imports, &settings);
        // Pinned: if this changes, every version in the exchange log changes (a compiler
        // upgrade must not do that). Change it only with the hashing on purpose.
        assert_eq!(crate::digest::short(base), "ff922362fb56");
        assert_eq!(version(source, &imports, &settings), base, "deterministic");

        assert_ne!(
            version("export function main() {}", &imports, &settings),
            base,
            "file"
        );
        let mut edited = imports.clone();
        edited.insert(
            "lib/f.js".into(),
            b"export function f() { return 2 }".to_vec(),
        );
        assert_ne!(version(source, &edited, &settings), base, "import text");
        let mut renamed = sandbox::Imports::new();
        renamed.insert("lib/g.js".into(), imports["lib/f.js"].clone());
        assert_ne!(version(source, &renamed, &settings), base, "import name");
        assert_ne!(
            version(source, &sandbox::Imports::new(), &settings),
            base,
            "no import"
        );
        let timeout = FlowSettings {
            timeout_ms: 1000,
            ..FlowSettings::default()
        };
        assert_ne!(
            version(source, &imports, &timeout),
            base,
            "settings: timeout"
        );
        let mut vars = FlowSettings::default();
        vars.vars.insert("greeting".into(), serde_json::json!("hi"));
        assert_ne!(version(source, &imports, &vars), base, "settings: vars");
        let fallback = FlowSettings {
            fallback: Some(serde_json::json!({"module": "hangup"})),
            ..FlowSettings::default()
        };
        assert_ne!(
            version(source, &imports, &fallback),
            base,
            "settings: fallback"
        );
    }

    #[test]
    fn detects_modules() {
        assert!(module_syntax().is_match("import { kv } from 'cxKV';\nexport function main() {}"));
        assert!(module_syntax().is_match("export default { main }"));
        assert!(!module_syntax().is_match("function main(data) { return data } // export later"));
        assert!(!module_syntax().is_match("const x = require('cxKV');"));
    }

    #[test]
    fn syntax_errors_are_found() {
        assert!(check_syntax("function main( {", false, "x.js", Path::new(".")).is_err());
        assert!(check_syntax(
            "function main(d) { return d }",
            false,
            "x.js",
            Path::new(".")
        )
        .is_ok());
        assert!(check_syntax(
            "export function main() { return 1 }",
            true,
            "x.js",
            Path::new(".")
        )
        .is_ok());
        assert!(check_syntax("export function main( {", true, "x.js", Path::new(".")).is_err());
    }

    #[test]
    fn lib_and_private_files_are_not_flows() {
        assert!(is_script_flow(Path::new("dnc_gate.js")));
        assert!(!is_script_flow(Path::new("lib/util.js")));
        assert!(!is_script_flow(Path::new("_helpers.js")));
        assert!(!is_script_flow(Path::new("x.toml")));
    }
}
