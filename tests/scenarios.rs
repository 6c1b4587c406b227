//! `pivotforge test` run as a process: a passing scenario file (exit 0), a failing one (exit 1,
//! the diff on stdout), a malformed one (exit 2, `file:line` on stderr), `--junit` read back as
//! XML, the configured tests folder; `pivotforge check` over scenario files; a scenario file is
//! never served as a flow; every shipped flow has scenarios.

use crate::common;

use std::path::Path;

use common::{flows_dir, get, pivotforge_cli, serve, write_flow};

const GREETING: &str = "[default]\nmodule = \"tts\"\ndata = { text = \"Hi & <welcome>.\" }\n\
                        [default.children._]\nmodule = \"hangup\"\ndata = {}\n";

const PASSING: &str = r#"[[scenario]]
name = "greets, then hangs up"
flow = "greeting"
at = "2026-12-24T15:00:00-05:00"
expect = [{ tts = "Hi & <welcome>." }, { hangup = true }]
ends = "hangup"
steps = 1
"#;

const FAILING: &str = r#"[[scenario]]
name = "expects a <voicemail> & \"quotes\""
flow = "greeting"
expect = [{ tts = { contains = "welcome" } }, { voicemail = "9a8b" }]
ends = "voicemail"
"#;

/// `pivotforge test ARGS… --flows DIR`.
fn test_in(flows: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["test", "--flows", flows.to_str().unwrap()];
    all.extend_from_slice(args);
    pivotforge_cli(&all, &[])
}

#[test]
fn a_passing_file_exits_0_with_ok_and_the_summary() {
    let dir = flows_dir(&[
        ("greeting.toml", GREETING),
        ("tests/greeting.toml", PASSING),
    ]);
    let (code, stdout, stderr) = test_in(dir.path(), &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stderr, "");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let file = dir.path().join("tests/greeting.toml");
    let head = format!("ok      {}:1  greets, then hangs up  (", file.display());
    assert!(lines[0].starts_with(&head), "{stdout}");
    assert_eq!(lines[1], "1 passed, 0 failed");
}

#[test]
fn a_failing_scenario_exits_1_and_shows_the_transcript_with_the_miss_marked() {
    let dir = flows_dir(&[
        ("greeting.toml", GREETING),
        ("tests/a.toml", PASSING),
        ("tests/b.toml", FAILING),
    ]);
    let (code, stdout, stderr) = test_in(dir.path(), &[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let b = dir.path().join("tests/b.toml");
    for part in [
        format!(
            "FAILED  {}:1  expects a <voicemail> & \"quotes\"",
            b.display()
        ),
        "    1. tts contains \"welcome\"  found at step 1 node 1".to_owned(),
        "    2. voicemail \"9a8b\"        NOT FOUND after step 1 node 1".to_owned(),
        "       1. tts \"Hi & <welcome>.\"   <- expected 1".to_owned(),
        format!(
            "      >> expected 2 ({}:4): voicemail \"9a8b\", not found after this",
            b.display()
        ),
        "         (the call has no `voicemail` node)".to_owned(),
        "       2. hangup".to_owned(),
        "  ends: expected the end at a `voicemail` node, but the call ended at a `hangup` node"
            .to_owned(),
    ] {
        assert!(stdout.contains(&part), "missing {part:?} in:\n{stdout}");
    }
    assert!(stdout.ends_with("1 passed, 1 failed\n"), "{stdout}");
    // Only the one file given runs.
    let (code, stdout, _) = test_in(
        dir.path(),
        &[dir.path().join("tests/a.toml").to_str().unwrap()],
    );
    assert_eq!(code, Some(0));
    assert!(stdout.ends_with("1 passed, 0 failed\n"), "{stdout}");
}

#[test]
fn a_malformed_file_exits_2_with_file_and_line() {
    let bad = "[[scenario]]\nname = \"x\"\nflow = \"greeting\"\nexpects = []\n";
    let dir = flows_dir(&[
        ("greeting.toml", GREETING),
        ("tests/good.toml", PASSING),
        ("tests/bad.toml", bad),
        (
            "tests/missing_flow.toml",
            "[[scenario]]\nname = \"y\"\nflow = \"nope\"\nsteps = 1\n",
        ),
    ]);
    let (code, stdout, stderr) = test_in(dir.path(), &[]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    let bad = dir.path().join("tests/bad.toml");
    let head = format!(
        "{}:4: unknown field `expects`, expected one of",
        bad.display()
    );
    assert!(stderr.contains(&head), "{stderr}");
    let missing = dir.path().join("tests/missing_flow.toml");
    let head = format!(
        "{}:3: scenario `y`: no flow named `nope`",
        missing.display()
    );
    assert!(stderr.contains(&head), "{stderr}");
    assert!(
        stderr.contains("2 scenario files could not be loaded"),
        "{stderr}"
    );
    assert!(
        stdout.ends_with("1 passed, 0 failed\n"),
        "the good file ran: {stdout}"
    );

    let (code, _, stderr) = test_in(dir.path(), &["no/such/file.toml"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("pivotforge test: no/such/file.toml: "),
        "{stderr}"
    );
}

#[test]
fn junit_holds_one_testcase_per_scenario_and_the_diff_as_the_failure() {
    let dir = flows_dir(&[
        ("greeting.toml", GREETING),
        ("tests/a.toml", PASSING),
        ("tests/b.toml", FAILING),
    ]);
    let xml_path = dir.path().join("report.xml");
    let (code, stdout, _) = test_in(dir.path(), &["--junit", xml_path.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let xml = std::fs::read_to_string(&xml_path).expect("the JUnit file is written");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(
        (root.attribute("tests"), root.attribute("failures")),
        (Some("2"), Some("1"))
    );
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2);
    let b = dir.path().join("tests/b.toml").display().to_string();
    assert_eq!(suites[1].attribute("name"), Some(b.as_str()));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].attribute("name"), Some("greets, then hangs up"));
    assert_eq!(cases[0].attribute("classname"), Some("greeting"));
    assert!(cases[0].children().all(|n| !n.has_tag_name("failure")));
    assert_eq!(
        cases[1].attribute("name"),
        Some("expects a <voicemail> & \"quotes\"")
    );
    let failure = cases[1]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("the failing case has a <failure>");
    // The message and the body are the diff printed on stdout, line breaks kept.
    let diff = stdout
        .split_once("\"quotes\"")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .and_then(|(_, rest)| rest.rsplit_once("1 passed"))
        .map(|(diff, _)| diff)
        .unwrap();
    assert_eq!(failure.attribute("message"), Some(diff));
    assert_eq!(failure.text(), Some(diff));
    assert!(
        diff.contains("tts \"Hi & <welcome>.\"") && diff.contains('\n'),
        "{diff}"
    );
}

#[test]
fn the_tests_folder_is_configurable() {
    // The config file's paths are relative to it.
    let root = tempfile::tempdir().unwrap();
    let flows = root.path().join("flows");
    write_flow(&flows, "greeting.toml", GREETING);
    write_flow(&flows, "qa/greeting.toml", PASSING);
    let config = root.path().join("pivotforge.toml");
    std::fs::write(&config, "flows_dir = \"flows\"\ntests_dir = \"flows/qa\"\n").unwrap();
    let config = config.to_str().unwrap();
    let (code, stdout, stderr) = pivotforge_cli(&["test", "--config", config], &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let qa = root.path().join("flows/qa");
    let head = format!("ok      {}:1  greets", qa.join("greeting.toml").display());
    assert!(stdout.starts_with(&head), "{stdout}");
    // `check` reads the scenarios there, and not as flows.
    let (code, stdout, stderr) = pivotforge_cli(&["check", "--config", config], &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        format!(
            "1 flow OK, 0 problems in {}\n1 scenario OK, 0 problems in {}\n",
            flows.display(),
            qa.display()
        )
    );
}

#[test]
fn check_reports_scenario_problems_with_file_and_line() {
    let dir = flows_dir(&[
        ("greeting.toml", GREETING),
        ("tests/a.toml", PASSING),
        (
            "tests/b.toml",
            "[[scenario]]\nname = \"y\"\nflow = \"nope\"\nsteps = 1\n",
        ),
        (
            "tests/c.toml",
            "[[scenario]]\nname = \"z\"\nflow = \"greeting\"\nends = \"busy\"\n",
        ),
    ]);
    let (code, stdout, stderr) = pivotforge_cli(&["check", dir.path().to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let tests = dir.path().join("tests");
    assert!(
        stderr.contains(&format!(
            "{}:3: scenario `y`: no flow named `nope`",
            tests.join("b.toml").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}:4: ends = \"busy\": write \"bridge\"",
            tests.join("c.toml").display()
        )),
        "{stderr}"
    );
    assert_eq!(
        stdout,
        format!(
            "1 flow OK, 0 problems in {}\n1 scenario OK, 2 problems in {}\n",
            dir.path().display(),
            tests.display()
        )
    );
}

#[tokio::test]
async fn a_scenario_file_is_never_served_as_a_flow() {
    let dir = flows_dir(&[
        ("greeting.toml", GREETING),
        ("tests/greeting.toml", PASSING),
    ]);
    // A scenario file that happens to be a valid rule flow too is still not served.
    write_flow(dir.path(), "tests/looks_like_a_flow.toml", GREETING);
    let server = serve(dir.path(), common::at("2026-12-24T15:00:00Z"));
    let flow = get(&server.url("/pivot/greeting")).await;
    assert_eq!(flow.status, 200, "{}", flow.text());
    for name in ["tests/greeting", "tests/looks_like_a_flow"] {
        let reply = get(&server.url(&format!("/pivot/{name}"))).await;
        assert_eq!(reply.status, 404, "{name}: {}", reply.text());
    }
}

#[test]
fn every_shipped_flow_has_scenarios_and_they_name_shipped_flows() {
    let flows = common::shipped_flows();
    let (code, stdout, stderr) = pivotforge_cli(&["check", flows.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let mut named = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(flows.join("tests")).unwrap() {
        let path = entry.unwrap().path();
        let scenarios = pivotforge::scenario::parse_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        named.extend(scenarios.into_iter().map(|s| s.spec.flow));
    }
    let engine = pivotforge::engine::Engine::load(pivotforge::engine::EngineOptions::new(
        &flows,
        common::PUBLIC_URL,
    ))
    .unwrap();
    let shipped: std::collections::BTreeSet<String> = engine
        .registry()
        .entries()
        .map(|e| e.name.clone())
        .collect();
    let untested: Vec<&String> = shipped.difference(&named).collect();
    assert!(
        untested.is_empty(),
        "shipped flows without a scenario: {untested:?}"
    );
}
