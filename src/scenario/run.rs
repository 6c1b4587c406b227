//! `pivotforge test [PATH…]`: finds the scenario files, checks that each names a loaded flow,
//! plays every scenario on its own fresh store and prints `ok` or `FAILED` with the diff, then
//! `N passed, M failed`. Exit codes: 0 all passed, 1 a scenario failed, 2 a file could not be
//! read or parsed (its `file:line` errors on stderr; the other files still run).
//! `pivotforge check` uses [`check_folder`] for the same file checks without playing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::junit::{Case, Suite};
use super::{check, report, Scenario};
use crate::config::Config;
use crate::flows::Registry;
use crate::load_error::LoadError;
use crate::sim::{CallSpec, Setup, Transcript};

/// Inputs of `pivotforge test`.
#[derive(Debug, Clone, Default)]
pub struct TestArgs {
    /// Scenario files or folders; empty = the configured tests folder.
    pub paths: Vec<PathBuf>,
    /// Where to write JUnit XML.
    pub junit: Option<PathBuf>,
    /// Scenarios played at once; 0 = one per core.
    pub jobs: usize,
}

/// Plays one call: the simulator in-process, or canned transcripts in tests.
pub type Player<'a> = dyn Fn(&CallSpec, &Setup) -> Result<Transcript, String> + Sync + 'a;

/// Deepest folder nesting followed under a tests folder.
const MAX_NESTING: usize = 16;

/// Runs `pivotforge test` with the in-process simulator.
pub fn test_command(
    config: &Config,
    args: &TestArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let play = |spec: &CallSpec, setup: &Setup| crate::sim::play_offline(config, spec, setup);
    run_with(config, args, &play, out, err)
}

/// Runs `pivotforge test`, each call played by `play`.
pub fn run_with(
    config: &Config,
    args: &TestArgs,
    play: &Player<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let roots = if args.paths.is_empty() {
        vec![config.tests_dir()]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for root in &roots {
        if let Some(e) = flows_folder_given(root, config) {
            let _ = writeln!(err, "pivotforge test: {e}");
            return 2;
        }
        if let Err(e) = scenario_files(root, true, &mut files) {
            let _ = writeln!(err, "pivotforge test: {e}");
            return 2;
        }
    }
    let registry = match crate::engine::Engine::load(config.engine_options()) {
        Ok(engine) => engine.registry(),
        Err(e) => {
            let _ = writeln!(err, "pivotforge test: {e}");
            return 2;
        }
    };
    let mut broken_files = 0;
    let mut loaded = Vec::new();
    for file in &files {
        match load_checked(file, &registry, &config.flows_dir) {
            Ok(scenarios) => loaded.push((file, scenarios)),
            Err(errors) => {
                broken_files += 1;
                for e in errors {
                    let _ = writeln!(err, "{e}");
                }
            }
        }
    }
    let all: Vec<&Scenario> = loaded.iter().flat_map(|(_, s)| s).collect();
    let mut cases = run_all(&all, play, args.jobs).into_iter();
    let mut suites = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for (file, scenarios) in &loaded {
        let mut suite = Suite {
            file: file.display().to_string(),
            cases: Vec::new(),
        };
        for (scenario, case) in scenarios.iter().zip(cases.by_ref()) {
            let location = format!("{}:{}", scenario.file.display(), scenario.line);
            let ms = case.seconds * 1000.0;
            match &case.failure {
                None => {
                    passed += 1;
                    let _ = writeln!(out, "ok      {location}  {}  ({ms:.0} ms)", scenario.name);
                }
                Some(diff) => {
                    failed += 1;
                    let _ = writeln!(out, "FAILED  {location}  {}  ({ms:.0} ms)", scenario.name);
                    let _ = write!(out, "{diff}");
                }
            }
            suite.cases.push(case);
        }
        suites.push(suite);
    }
    if broken_files > 0 {
        let _ = writeln!(
            err,
            "{broken_files} scenario file{} could not be loaded (above): none of {} scenarios ran",
            if broken_files == 1 { "" } else { "s" },
            if broken_files == 1 { "its" } else { "their" }
        );
    }
    if files.is_empty() {
        let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        let _ = writeln!(err, "no scenario files in {}", shown.join(", "));
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, super::junit::render(&suites)) {
            let _ = writeln!(
                err,
                "pivotforge test: can't write --junit {}: {e}",
                path.display()
            );
            return 2;
        }
    }
    if broken_files > 0 {
        2
    } else {
        i32::from(failed > 0)
    }
}

/// Plays every scenario on `jobs` threads (0 = one per core); the cases come back in order.
fn run_all(scenarios: &[&Scenario], play: &Player<'_>, jobs: usize) -> Vec<Case> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = if jobs == 0 { cores } else { jobs }.clamp(1, scenarios.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::with_capacity(scenarios.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(scenario) = scenarios.get(i) else {
                    return;
                };
                let case = run_one(scenario, play);
                done.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((i, case));
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, case)| case).collect()
}

/// Plays one scenario and checks it: a case with the diff when it failed.
fn run_one(scenario: &Scenario, play: &Player<'_>) -> Case {
    let started = Instant::now();
    let setup = setup_of(scenario);
    let failure = match play(&scenario.spec, &setup) {
        Err(e) => Some(format!("  the call could not be played: {e}\n")),
        Ok(transcript) => {
            let verdict = check(&scenario.expect, &transcript);
            (!verdict.passed()).then(|| report::diff(scenario, &transcript, &verdict))
        }
    };
    Case {
        name: scenario.name.clone(),
        flow: scenario.spec.flow.clone(),
        line: scenario.line,
        seconds: started.elapsed().as_secs_f64(),
        failure,
    }
}

/// The simulator's setup: the seeds (a cxKV entry with no namespace goes to the flow's own,
/// which the simulator works out), and no network for `fetch`.
fn setup_of(scenario: &Scenario) -> Setup {
    let kv = scenario
        .seeds
        .kv
        .iter()
        .map(|seed| {
            let space = seed.namespace.clone().unwrap_or_default();
            (space, seed.key.clone(), seed.value.clone())
        })
        .collect();
    Setup {
        kv,
        userspace: scenario.seeds.userspace.clone(),
        fetch: Some(scenario.seeds.fetch.clone()),
    }
}

/// Parses `file` and checks that each scenario names a flow of `registry`.
fn load_checked(
    file: &Path,
    registry: &Registry,
    flows_dir: &Path,
) -> Result<Vec<Scenario>, Vec<LoadError>> {
    let scenarios = super::parse_file(file)?;
    let errors: Vec<LoadError> = scenarios
        .iter()
        .filter(|s| registry.get(&s.spec.flow).is_none())
        .map(|s| {
            LoadError::new(
                file,
                Some(s.flow_line),
                format!(
                    "scenario `{}`: no flow named `{}` in {} (`pivotforge check` lists the flows)",
                    s.name,
                    s.spec.flow,
                    flows_dir.display()
                ),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(errors)
    }
}

/// For `pivotforge check`: parses every scenario file under `dir` and checks its flow names.
/// `None` when there is no such folder; else the number of scenarios that are fine and every
/// problem.
pub fn check_folder(
    dir: &Path,
    registry: &Registry,
    flows_dir: &Path,
) -> Option<(usize, Vec<LoadError>)> {
    if !dir.is_dir() {
        return None;
    }
    let mut files = Vec::new();
    if let Err(e) = scenario_files(dir, true, &mut files) {
        return Some((0, vec![LoadError::new(dir, None, e)]));
    }
    let (mut ok, mut problems) = (0, Vec::new());
    for file in files {
        match load_checked(&file, registry, flows_dir) {
            Ok(scenarios) => ok += scenarios.len(),
            Err(errors) => problems.extend(errors),
        }
    }
    Some((ok, problems))
}

/// Why `root` can't be a tests folder when it is the flows folder: read as scenarios, every flow
/// and settings file there would be a file error that hides the one mistake.
fn flows_folder_given(root: &Path, config: &Config) -> Option<String> {
    // A root that does not resolve is not compared: `scenario_files` says what is wrong with it.
    let resolved = root.canonicalize().ok()?;
    let is = |folder: &Path| folder.canonicalize().ok().as_ref() == Some(&resolved);
    let tests = config.tests_dir();
    // A config whose tests folder is the flows folder itself keeps its word.
    if !is(&config.flows_dir) || is(&tests) {
        return None;
    }
    Some(format!(
        "{} is the flows folder, not a tests folder: its scenarios are in {} (`pivotforge test` \
         alone runs them)",
        root.display(),
        tests.display()
    ))
}

/// The scenario files of `path`: the file itself, or every `*.toml` below a folder (sorted,
/// hidden entries left out).
fn scenario_files(path: &Path, top: bool, out: &mut Vec<PathBuf>) -> Result<(), String> {
    scenario_files_at(path, top, out, 0)
}

fn scenario_files_at(
    path: &Path,
    top: bool,
    out: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "{}: {e}; pass scenario files or folders, or write scenarios in the tests folder \
             (FLOWS/tests by default, `tests_dir` in the config file)",
            path.display()
        )
    })?;
    if meta.is_file() {
        if top || path.extension().is_some_and(|e| e == "toml") {
            out.push(path.to_owned());
        }
        return Ok(());
    }
    if depth >= MAX_NESTING {
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    paths.sort();
    for p in paths {
        scenario_files_at(&p, false, out, depth + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;
    use crate::scenario::expect::tests::menu_call;

    fn config_with(flows: &Path) -> Config {
        let over = Overrides {
            flows: Some(flows.to_owned()),
            ..Overrides::default()
        };
        Config::resolve(None, over).unwrap()
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const FLOW: &str = "[default]\nmodule = \"tts\"\ndata = { text = \"Hi.\" }\n";

    /// `pivotforge test PATHS…` (the tests folder when none), with its exit code and output.
    fn run_paths(config: &Config, paths: Vec<PathBuf>, play: &Player<'_>) -> (i32, String, String) {
        let args = TestArgs {
            paths,
            ..TestArgs::default()
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(config, &args, play, &mut out, &mut err);
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
        (code, text(out), text(err))
    }

    #[test]
    fn runs_each_scenario_with_its_seeds_and_reports_a_summary_and_junit() {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        write(&flows.join("menu.toml"), FLOW);
        write(
            &flows.join("tests/menu.toml"),
            "[[scenario]]\nname = \"sales\"\nflow = \"menu\"\nkv = [{ key = \"k\", value = 1 }]\n\
             fetch = [{ url = \"https://x.example/\", json = { a = 1 } }]\n\
             expect = [{ device = \"3f1c\" }]\n\n\
             [[scenario]]\nname = \"support\"\nflow = \"menu\"\nexpect = [{ user = \"7e6d\" }]\n",
        );
        let config = config_with(&flows);
        let seen = std::sync::Mutex::new(Vec::new());
        let play = |spec: &CallSpec, setup: &Setup| {
            let mut seen = seen.lock().unwrap();
            seen.push((spec.flow.clone(), setup.kv.clone(), setup.fetch.clone()));
            Ok(menu_call())
        };
        let junit = dir.path().join("junit.xml");
        let args = TestArgs {
            paths: Vec::new(),
            junit: Some(junit.clone()),
            jobs: 1,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(&config, &args, &play, &mut out, &mut err);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("ok      "), "{out}");
        assert!(out.contains("tests/menu.toml:1  sales"), "{out}");
        assert!(out.contains("FAILED  "), "{out}");
        assert!(out.contains(">> expected 1"), "{out}");
        assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen[0].1,
            vec![(String::new(), "k".into(), serde_json::json!(1))]
        );
        let canned = seen[0].2.as_ref().unwrap();
        assert_eq!(canned[0].status, 200);
        assert_eq!(canned[0].body, "{\"a\":1}");
        assert_eq!(
            seen[1].2.as_deref(),
            Some(&[][..]),
            "no network even without canned answers"
        );
        let xml = std::fs::read_to_string(junit).unwrap();
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert_eq!(xml.matches("<failure ").count(), 1);
    }

    #[test]
    fn the_flows_folder_given_as_the_tests_folder_is_one_error_naming_the_tests_folder() {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        write(&flows.join("menu.toml"), FLOW);
        write(
            &flows.join("tests/menu.toml"),
            "[[scenario]]\nname = \"x\"\nflow = \"menu\"\nexpect = [{ device = \"3f1c\" }]\n",
        );
        let config = config_with(&flows);
        let play = |_: &CallSpec, _: &Setup| Ok(menu_call());
        // The same folder spelled another way is still the flows folder.
        let given = dir.path().join("flows/tests/..");
        let (code, _, err) = run_paths(&config, vec![given.clone()], &play);
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!(
                "{} is the flows folder, not a tests folder: its scenarios are in {}",
                given.display(),
                config.tests_dir().display()
            )),
            "{err}"
        );
        // Its tests folder, given by name, runs.
        let (code, out, err) = run_paths(&config, vec![flows.join("tests")], &play);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.ends_with("1 passed, 0 failed\n"), "{out}");
        // A config that names the flows folder as its tests folder is read as it says.
        let mut same = config.clone();
        same.tests_dir = Some(flows.clone());
        let (_, _, err) = run_paths(&same, vec![flows.clone()], &play);
        assert!(!err.contains("is the flows folder"), "{err}");
        assert!(err.contains("menu.toml"), "{err}");
    }

    #[test]
    fn a_missing_flow_and_a_malformed_file_are_file_line_errors_and_exit_2() {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        write(&flows.join("menu.toml"), FLOW);
        write(
            &flows.join("tests/a.toml"),
            "[[scenario]]\nname = \"x\"\nflow = \"nope\"\nsteps = 1\n",
        );
        write(
            &flows.join("tests/b.toml"),
            "[[scenario]]\nname = \"y\"\nflow = \"menu\"\nexpct = []\n",
        );
        write(
            &flows.join("tests/c.toml"),
            "[[scenario]]\nname = \"z\"\nflow = \"menu\"\nsteps = 2\n",
        );
        let config = config_with(&flows);
        let play = |_: &CallSpec, _: &Setup| Ok(menu_call());
        let (code, out, err) = run_paths(&config, Vec::new(), &play);
        assert_eq!(code, 2, "{out}{err}");
        let a = flows.join("tests/a.toml");
        assert!(
            err.contains(&format!(
                "{}:3: scenario `x`: no flow named `nope`",
                a.display()
            )),
            "{err}"
        );
        let b = flows.join("tests/b.toml");
        assert!(
            err.contains(&format!("{}:4: unknown field `expct`", b.display())),
            "{err}"
        );
        assert!(
            err.contains("2 scenario files could not be loaded"),
            "{err}"
        );
        assert!(
            out.ends_with("1 passed, 0 failed\n"),
            "the good file still ran: {out}"
        );

        let registry = crate::engine::Engine::load(config.engine_options())
            .unwrap()
            .registry();
        let names: Vec<&str> = registry.entries().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["menu"], "scenario files are never flows");
        assert!(registry.errors().is_empty(), "{:?}", registry.errors());
        let (ok, problems) = check_folder(&flows.join("tests"), &registry, &flows).unwrap();
        assert_eq!((ok, problems.len()), (1, 2), "{problems:?}");
        assert!(check_folder(&dir.path().join("none"), &registry, &flows).is_none());
    }

    #[test]
    fn the_configured_tests_folder_is_the_one_left_out_of_the_flows() {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        write(&flows.join("tests/menu.toml"), FLOW);
        write(
            &flows.join("qa/menu.toml"),
            "[[scenario]]\nname = \"a\"\nflow = \"tests/menu\"\nsteps = 1\n",
        );
        let mut config = config_with(&flows);
        // Spelled through `..`: still the same folder.
        config.tests_dir = Some(flows.join("tests/../qa"));
        let registry = crate::engine::Engine::load(config.engine_options())
            .unwrap()
            .registry();
        let names: Vec<&str> = registry.entries().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["tests/menu"]);
        assert!(registry.errors().is_empty(), "{:?}", registry.errors());
        let (ok, problems) = check_folder(&config.tests_dir(), &registry, &flows).unwrap();
        assert_eq!((ok, problems.len()), (1, 0));
    }
}
