//! Conformance of the sandbox's built-ins: runs test262's `built-ins/Date` and `built-ins/Math`
//! tests in plain QuickJS (rquickjs, no prelude) and in a flow's sandbox (the prelude, then the
//! test as the flow's script, as the JS pool warms a flow), in sloppy and strict mode, and
//! prints the pass counts. test262 is not part of this repository: pass the path of a checkout.
//!
//! Run: `bash benches/test262/run.sh /path/to/test262` (or
//! `cargo run --release --example test262 -- /path/to/test262 [-v]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pivotforge::script::fetch::Fetcher;
use pivotforge::script::sandbox::Sandbox;
use pivotforge::script::{HostServices, ScriptFailure, ScriptFlow};
use pivotforge::store::{EmbeddedStore, Store};
use rquickjs::context::EvalOptions;

/// Folders of test262 measured.
const SUITES: [&str; 2] = ["test/built-ins/Date", "test/built-ins/Math"];
/// Features that need more than a bare engine gives (`$262.createRealm`): skipped for both.
const SKIPPED_FEATURES: [&str; 1] = ["cross-realm"];

/// A test's front matter, as far as the runner needs it.
#[derive(Default)]
struct Meta {
    flags: Vec<String>,
    includes: Vec<String>,
    features: Vec<String>,
    /// `negative.type` for a test that must throw (at parse or run time).
    negative: Option<String>,
}

/// Reads a `key: [a, b]` or `key:\n  - a\n  - b` list from the YAML front matter.
fn list(front: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = front.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix(&format!("{key}:")) else {
            continue;
        };
        let rest = rest.trim();
        if let Some(inner) = rest.strip_prefix('[') {
            let inner = inner.trim_end_matches(']');
            out.extend(
                inner
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
            );
        } else {
            while let Some(next) = lines.peek() {
                match next.trim_start().strip_prefix("- ") {
                    Some(item) => {
                        out.push(item.trim().to_owned());
                        lines.next();
                    }
                    None => break,
                }
            }
        }
    }
    out
}

fn meta(source: &str) -> Meta {
    let Some(start) = source.find("/*---") else {
        return Meta::default();
    };
    let end = source[start..]
        .find("---*/")
        .map_or(source.len(), |e| start + e);
    let front = &source[start + 5..end];
    let negative = front.find("negative:").and_then(|at| {
        front[at..]
            .lines()
            .skip(1)
            .take(3)
            .find_map(|l| l.trim().strip_prefix("type:").map(|t| t.trim().to_owned()))
    });
    Meta {
        flags: list(front, "flags"),
        includes: list(front, "includes"),
        features: list(front, "features"),
        negative,
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "js")
            && !path.to_string_lossy().contains("_FIXTURE")
        {
            out.push(path);
        }
    }
}

/// Why a run failed: the thrown value's name, or a message.
type Outcome = Result<(), String>;

fn error_name(detail: &str) -> String {
    detail.split(':').next().unwrap_or("").trim().to_owned()
}

fn judge(result: Result<(), String>, negative: &Option<String>) -> Outcome {
    match (result, negative) {
        (Ok(()), None) => Ok(()),
        (Ok(()), Some(want)) => Err(format!("expected {want}, nothing was thrown")),
        (Err(detail), Some(want)) if error_name(&detail) == *want => Ok(()),
        (Err(detail), _) => Err(detail),
    }
}

fn plain(source: &str) -> Result<(), String> {
    let rt = rquickjs::Runtime::new().map_err(|e| e.to_string())?;
    rt.set_memory_limit(100 * 1024 * 1024);
    rt.set_max_stack_size(1024 * 1024);
    let ctx = rquickjs::Context::full(&rt).map_err(|e| e.to_string())?;
    ctx.with(|ctx| {
        let mut options = EvalOptions::default();
        options.strict = false;
        options.filename = Some("test.js".into());
        let ran = ctx
            .eval_with_options::<(), _>(source.as_bytes(), options)
            .map_err(|e| match e {
                rquickjs::Error::Exception => {
                    let v = ctx.catch();
                    let field = |k: &str| {
                        v.as_object()
                            .and_then(|o| o.get::<_, Option<String>>(k).ok().flatten())
                            .unwrap_or_default()
                    };
                    format!("{}: {}", field("name"), field("message"))
                }
                other => other.to_string(),
            });
        while ctx.execute_pending_job() {}
        ran
    })
}

fn sandboxed(source: &str, root: &Path, services: &Arc<HostServices>) -> Result<(), String> {
    let flow = ScriptFlow::from_source("test262", root, source);
    let deadline = Instant::now() + Duration::from_secs(20);
    match Sandbox::new(&flow, services, deadline) {
        Ok(_) => Ok(()),
        Err(ScriptFailure::Error { detail, .. }) => Err(detail),
        Err(other) => Err(other.detail()),
    }
}

#[derive(Default)]
struct Counts {
    run: usize,
    passed: usize,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(root) = args.next().map(PathBuf::from) else {
        eprintln!("usage: test262 PATH-OF-A-TEST262-CHECKOUT [-v]");
        std::process::exit(2);
    };
    let verbose = args.any(|a| a == "-v");
    let harness = |name: &str| {
        std::fs::read_to_string(root.join("harness").join(name)).unwrap_or_else(|e| {
            eprintln!("can't read harness/{name}: {e}");
            std::process::exit(2);
        })
    };
    let mut tests = Vec::new();
    for suite in SUITES {
        files(&root.join(suite), &mut tests);
    }
    tests.sort();
    if tests.is_empty() {
        eprintln!(
            "no tests under {}/test/built-ins/{{Date,Math}}",
            root.display()
        );
        std::process::exit(2);
    }

    let data = tempfile::tempdir().expect("a temporary folder");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(data.path()).expect("store opens"));
    let services = Arc::new(HostServices {
        store,
        fetcher: Fetcher::new().expect("fetch runtime"),
        pivot: pivotforge::auth::PivotLink::plain("http://127.0.0.1:8080"),
    });

    let mut counts: BTreeMap<(&str, &str), Counts> = BTreeMap::new();
    let mut skipped = 0;
    let mut regressions = Vec::new();
    let mut plain_failures = Vec::new();
    for path in &tests {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let m = meta(&text);
        let has = |f: &str| m.flags.iter().any(|x| x == f);
        if has("module")
            || has("async")
            || m.features
                .iter()
                .any(|f| SKIPPED_FEATURES.contains(&f.as_str()))
        {
            skipped += 1;
            continue;
        }
        let mut modes = Vec::new();
        if has("raw") {
            modes.push(("sloppy", text.clone()));
        } else {
            let mut body = harness("assert.js") + "\n" + &harness("sta.js") + "\n";
            for include in &m.includes {
                body.push_str(&harness(include));
                body.push('\n');
            }
            body.push_str(&text);
            if !has("onlyStrict") {
                modes.push(("sloppy", body.clone()));
            }
            if !has("noStrict") {
                modes.push(("strict", format!("\"use strict\";\n{body}")));
            }
        }
        for (mode, source) in modes {
            let p = judge(plain(&source), &m.negative);
            let s = judge(sandboxed(&source, data.path(), &services), &m.negative);
            for (engine, outcome) in [("plain", &p), ("sandbox", &s)] {
                let c = counts.entry((engine, mode)).or_default();
                c.run += 1;
                c.passed += usize::from(outcome.is_ok());
            }
            if let Err(why) = &p {
                plain_failures.push(format!(
                    "{rel} ({mode}): {}",
                    why.lines().next().unwrap_or("")
                ));
            }
            if let (Ok(()), Err(why)) = (&p, &s) {
                regressions.push(format!(
                    "{rel} ({mode}): {}",
                    why.lines().next().unwrap_or("")
                ));
            }
        }
    }

    println!(
        "test262 built-ins/Date + built-ins/Math: {} files, {skipped} skipped (module, async or cross-realm)",
        tests.len()
    );
    println!("{:<8} {:>14} {:>14}", "", "sloppy", "strict");
    for engine in ["plain", "sandbox"] {
        let cell = |mode| {
            counts
                .get(&(engine, mode))
                .map_or("-".to_owned(), |c| format!("{}/{}", c.passed, c.run))
        };
        println!("{engine:<8} {:>14} {:>14}", cell("sloppy"), cell("strict"));
    }
    if verbose {
        println!("failing in plain QuickJS: {}", plain_failures.len());
        for line in &plain_failures {
            println!("  {line}");
        }
    }
    println!(
        "passing in plain QuickJS but failing in the sandbox: {}",
        regressions.len()
    );
    for line in regressions
        .iter()
        .take(if verbose { usize::MAX } else { 20 })
    {
        println!("  {line}");
    }
    if !regressions.is_empty() {
        std::process::exit(1);
    }
}
