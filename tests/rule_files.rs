//! Rule files refused when they load, with file and line: through `pivotforge check DIR`
//! (exit 1, `file:line: message` on stderr) and through the server (that flow answers 500 with
//! the same text, the others serve). The shipped flows pass `check`.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::{assert_error, assert_tree, at, flows_dir, get, serve};
use serde_json::json;

/// One broken flow file: its name, text, the line the error must name (`None`: no line can be
/// named) and a fragment of the message.
struct Broken {
    file: &'static str,
    text: &'static str,
    line: Option<usize>,
    message: &'static str,
}

const HANGUP: &str = "module = \"hangup\"\ndata = {}";

fn broken_files() -> Vec<Broken> {
    vec![
        Broken {
            file: "syntax.toml",
            text: "description = \"x\"\n[default\nmodule = \"hangup\"\n",
            line: Some(2),
            message: "unclosed table",
        },
        Broken {
            file: "typo.toml",
            text: "description = \"typo\"\n\n[[rule]]\nweekday = \"mon\"\nreply = { module = \"hangup\", data = {} }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(4),
            message: "unknown field `weekday`, expected one of",
        },
        Broken {
            file: "bad_weekday.toml",
            text: "[[rule]]\nname = \"r\"\nweekdays = [\"mon\", \"fry\"]\nreply = { module = \"hangup\", data = {} }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(3),
            message: "`fry` is not a weekday",
        },
        Broken {
            file: "bad_window.toml",
            text: "# comment\n[[rule]]\ntime = \"9-17\"\nreply = { module = \"hangup\", data = {} }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(3),
            message: "`9-17` is not a time window",
        },
        Broken {
            file: "bad_window_end.toml",
            text: "[[rule]]\ntime = [\"09:00-12:00\", \"13:00-25:00\"]\nreply = { module = \"hangup\", data = {} }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(2),
            message: "`13:00-25:00` is not a time window",
        },
        Broken {
            file: "bad_date.toml",
            text: "[[rule]]\ndates = \"2026-02-30\"\nreply = { module = \"hangup\", data = {} }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(2),
            message: "`2026-02-30` is not a date",
        },
        Broken {
            file: "bad_range.toml",
            text: "[[rule]]\ndates = \"2027-01-05..2026-12-20\"\nreply = { module = \"hangup\", data = {} }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(2),
            message: "the range ends before it starts",
        },
        Broken {
            file: "bad_regex.toml",
            text: "[[rule]]\nmatch = { \"Caller-ID-Number\" = { regex = \"^(+1\" } }\nreply = { module = \"hangup\", data = {} }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(2),
            message: "match on `Caller-ID-Number`: bad regex",
        },
        Broken {
            file: "bad_match_test.toml",
            text: "[[rule]]\nmatch = { \"To\" = { contains = \"1\" } }\nreply = { module = \"hangup\", data = {} }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(2),
            message: "unknown test `contains`",
        },
        Broken {
            file: "bad_var.toml",
            text: "[vars]\na = \"x\"\n\n[[rule]]\nname = \"first\"\nreply = { module = \"hangup\", data = {} }\n\n[[rule]]\nname = \"uses var\"\nreply = { module = \"tts\", data = { text = \"{{vars.x}}\" } }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(8),
            message: "rule `uses var`: reply: `{{vars.x}}` is used but `x` is not defined in [vars]",
        },
        Broken {
            file: "bad_filter.toml",
            text: "description = \"filters\"\n\n[default]\nmodule = \"tts\"\ndata = { text = \"{{Caller-ID-Name | shout}}\" }\n",
            line: Some(3),
            message: "default: unknown filter `shout`",
        },
        Broken {
            file: "say.toml",
            text: "# old docs show a `say` module\n\n[default]\nmodule = \"say\"\ndata = { text = \"hi\" }\n",
            line: Some(3),
            message: "default: invalid callflow tree: /module: unknown module `say`: use `tts`",
        },
        Broken {
            file: "bad_child.toml",
            text: "[default]\nmodule = \"tts\"\ndata = { text = \"hi\" }\n[default.children._]\nmodule = \"voicemail\"\ndata = { id = \"short\" }\n",
            line: Some(1),
            message: "default: invalid callflow tree: /children/_/data/id",
        },
        Broken {
            file: "bad_rule_tree.toml",
            text: "[[rule]]\nname = \"busy\"\nholiday = true\n[rule.reply]\nmodule = \"response\"\ndata = { code = \"486\" }\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(1),
            message: "rule `busy`: reply: invalid callflow tree: /data/code",
        },
        Broken {
            file: "no_default.toml",
            text: "[[rule]]\nreply = { module = \"hangup\", data = {} }\n",
            line: None,
            message: "no `default` reply",
        },
        Broken {
            file: "bad_timezone.toml",
            text: "timezone = \"America/NewYork\"\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(1),
            message: "`America/NewYork` is not an IANA time zone",
        },
        Broken {
            file: "midnight_holiday.toml",
            text: "[[holidays]]\ndate = \"12-31\"\nclosed = \"22:00-02:00\"\n\n[default]\nmodule = \"hangup\"\ndata = {}\n",
            line: Some(3),
            message: "crosses midnight",
        },
        Broken {
            file: "dynamic_fallback.toml",
            text: "[default]\nmodule = \"hangup\"\ndata = {}\n\n[fallback]\nmodule = \"tts\"\ndata = { text = \"Sorry {{Caller-ID-Name}}\" }\n",
            line: Some(5),
            message: "fallback: the fallback is sent when something failed, so it can't use request values",
        },
        Broken {
            file: "pivot_both.toml",
            text: "[default]\nmodule = \"pivot\"\ndata = { flow = \"fine\", voice_url = \"http://x/y\" }\n",
            line: Some(1),
            message: "a pivot has both `flow` and `voice_url`",
        },
        Broken {
            file: "json_syntax.json",
            text: "{\n  \"default\": {\n    \"module\": \"hangup\",\n    \"data\": {}\n  },,\n}\n",
            line: Some(5),
            message: "key must be a string",
        },
        Broken {
            file: "json_unknown_key.json",
            text: "{\n  \"description\": \"x\",\n  \"defualt\": {\"module\": \"hangup\", \"data\": {}}\n}\n",
            line: Some(3),
            message: "unknown field `defualt`",
        },
        Broken {
            file: "json_weekday.json",
            text: "{\n  \"rules\": [\n    {\"weekdays\": \"fry\",\n     \"reply\": {\"module\": \"hangup\", \"data\": {}}}\n  ],\n  \"default\": {\"module\": \"hangup\", \"data\": {}}\n}\n",
            line: Some(3),
            message: "`fry` is not a weekday",
        },
        Broken {
            file: "json_say.json",
            text: "{\n  \"default\": {\"module\": \"say\", \"data\": {\"text\": \"x\"}}\n}\n",
            line: None,
            message: "default: invalid callflow tree: /module: unknown module `say`: use `tts`",
        },
        Broken {
            file: "json_no_default.json",
            text: "{\"rules\": []}",
            line: None,
            message: "no `default` reply",
        },
    ]
}

/// Good flows that sit next to the broken ones.
fn good_files() -> Vec<(&'static str, String)> {
    vec![
        ("fine.toml", format!("[default]\n{HANGUP}\n")),
        (
            "pivot_ok.toml",
            "[default]\nmodule = \"pivot\"\ndata = { flow = \"fine\" }\n".to_owned(),
        ),
        (
            "sub/fine.json",
            r#"{"default": {"module": "tts", "data": {"text": "json in a sub-folder"}}}"#
                .to_owned(),
        ),
    ]
}

fn broken_dir() -> tempfile::TempDir {
    let broken = broken_files();
    let good = good_files();
    let mut files: Vec<(&str, &str)> = broken.iter().map(|b| (b.file, b.text)).collect();
    files.extend(good.iter().map(|(f, t)| (*f, t.as_str())));
    flows_dir(&files)
}

/// The prefix an error line about `file` must start with.
fn prefix(dir: &Path, file: &str, line: Option<usize>) -> String {
    let path = dir.join(file);
    match line {
        Some(line) => format!("{}:{line}: ", path.display()),
        None => format!("{}: ", path.display()),
    }
}

fn pivotforge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pivotforge"))
        .args(args)
        .env_remove("PIVOTFORGE_CONFIG")
        .env_remove("PIVOTFORGE_FLOWS")
        .env_remove("PIVOTFORGE_PUBLIC_URL")
        .output()
        .expect("run pivotforge")
}

#[test]
fn check_lists_every_broken_file_with_file_and_line() {
    let dir = broken_dir();
    let out = pivotforge(&["check", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout {stdout}\nstderr {stderr}"
    );
    let broken = broken_files();
    for b in &broken {
        let head = prefix(dir.path(), b.file, b.line);
        let found = stderr
            .lines()
            .find(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("no line starting {head:?} in:\n{stderr}"));
        assert!(
            found.contains(b.message),
            "{}: {found:?} should contain {:?}",
            b.file,
            b.message
        );
    }
    assert_eq!(
        stdout.trim(),
        format!(
            "3 flows OK, {} problems in {}",
            broken.len(),
            dir.path().display()
        )
    );
}

#[test]
fn check_names_the_line_of_a_pivot_to_an_unknown_flow() {
    let text =
        "description = \"x\"\n\n[default]\nmodule = \"pivot\"\ndata = { flow = \"nowhere\" }\n";
    let dir = flows_dir(&[
        ("fine.toml", &format!("[default]\n{HANGUP}\n")),
        ("dangling.toml", text),
    ]);
    let out = pivotforge(&["check", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The file is named and the message says which target is missing.
    let file = dir.path().join("dangling.toml");
    let found = stderr
        .lines()
        .find(|l| l.starts_with(&file.display().to_string()))
        .unwrap_or_else(|| panic!("no line about {} in {stderr}", file.display()));
    assert!(
        found.contains("pivots to `nowhere` which does not exist in the flows folder"),
        "{found}"
    );
}

#[test]
fn a_pivot_to_an_unknown_flow_is_reported_with_its_line() {
    let text =
        "description = \"x\"\n\n[default]\nmodule = \"pivot\"\ndata = { flow = \"nowhere\" }\n";
    let dir = flows_dir(&[("dangling.toml", text)]);
    let out = pivotforge(&["check", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let head = prefix(dir.path(), "dangling.toml", Some(3));
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&head) && l.contains("`nowhere`")),
        "expected {head:?}… in:\n{stderr}"
    );
}

#[test]
fn signed_numbers_are_not_times_or_dates() {
    let window = |w: &str| {
        format!(
            "[[rule]]\ntime = \"{w}\"\nreply = {{ {} }}\n\n[default]\n{HANGUP}\n",
            "module = \"hangup\", data = {}"
        )
    };
    let dated = |d: &str| {
        format!(
            "[[rule]]\ndates = \"{d}\"\nreply = {{ {} }}\n\n[default]\n{HANGUP}\n",
            "module = \"hangup\", data = {}"
        )
    };
    let dir = flows_dir(&[
        ("plus_hour.toml", &window("+9:00-17:00")),
        ("plus_minute.toml", &window("09:+5-17:00")),
        ("plus_month.toml", &dated("+1-05")),
    ]);
    let out = pivotforge(&["check", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (file, fragment) in [
        ("plus_hour.toml", "`+9:00-17:00` is not a time window"),
        ("plus_minute.toml", "`09:+5-17:00` is not a time window"),
        ("plus_month.toml", "`+1-05` is not a date"),
    ] {
        let head = prefix(dir.path(), file, Some(2));
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&head) && l.contains(fragment)),
            "expected {head:?}{fragment:?} in:\n{stderr}"
        );
    }
}

#[test]
fn check_refuses_a_single_typo() {
    let typo = &broken_files()[1];
    let dir = flows_dir(&[(typo.file, typo.text)]);
    let out = pivotforge(&["check", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = format!(
        "{}unknown field `weekday`, expected one of `name`, `weekdays`, `time`, `dates`, `holiday`, `match`, `reply`",
        prefix(dir.path(), "typo.toml", Some(4))
    );
    assert_eq!(stderr.trim(), expected);
}

#[test]
fn check_reports_bad_file_names_and_duplicates() {
    let dir = flows_dir(&[
        (
            "dup.json",
            r#"{"default": {"module": "hangup", "data": {}}}"#,
        ),
        ("dup.toml", &format!("[default]\n{HANGUP}\n")),
        ("bad name.toml", &format!("[default]\n{HANGUP}\n")),
        ("x.settings.toml", "not a flow at all ["),
        ("lists/dnc.toml", "not a flow either ["),
        (".hidden.toml", "nor this ["),
    ]);
    let out = pivotforge(&["check", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}flow `dup` is also defined by {}",
            prefix(dir.path(), "dup.toml", None),
            dir.path().join("dup.json").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}not served: a flow file name may hold only letters, digits, _ and -",
            prefix(dir.path(), "bad name.toml", None)
        )),
        "{stderr}"
    );
    assert_eq!(
        stdout.trim(),
        format!("1 flow OK, 2 problems in {}", dir.path().display())
    );
}

#[test]
fn check_passes_on_the_shipped_flows() {
    let dir = common::shipped_flows();
    let out = pivotforge(&["check", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
    // Counted from the files, so a scenario added to them needs no edit here.
    let scenarios: usize = std::fs::read_dir(dir.join("tests"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .map(|text| text.matches("[[scenario]]").count())
        .sum();
    assert!(scenarios > 0);
    assert_eq!(
        stdout.trim(),
        format!(
            "28 flows OK, 0 problems in {}\n{scenarios} scenarios OK, 0 problems in {}",
            dir.display(),
            dir.join("tests").display()
        )
    );
}

#[test]
fn check_of_a_missing_folder_fails() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = pivotforge(&["check", missing.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "{}: can't read the flows folder",
            missing.display()
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_server_answers_500_for_each_broken_flow_and_serves_the_others() {
    let dir = broken_dir();
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    for b in broken_files() {
        let name = b.file.rsplit_once('.').unwrap().0;
        let reply = get(&server.url(&format!("/pivot/{name}"))).await;
        let body = assert_error(&reply, 500, b.file);
        assert_eq!(body["error"], "flow failed to load", "{}", b.file);
        let detail = body["detail"].as_str().unwrap();
        let head = prefix(dir.path(), b.file, b.line);
        assert!(
            detail.starts_with(&head) && detail.contains(b.message),
            "{}: {detail:?} should start {head:?} and contain {:?}",
            b.file,
            b.message
        );
    }
    assert_tree(
        &get(&server.url("/pivot/fine")).await,
        &json!({"module": "hangup", "data": {}}),
        "fine",
    );
    assert_tree(
        &get(&server.url("/pivot/pivot_ok")).await,
        &json!({"module": "pivot", "data": {"voice_url": "http://pivot.test/pivot/fine", "req_format": "kazoo", "method": "post", "req_body_format": "form"}}),
        "pivot_ok",
    );
    assert_tree(
        &get(&server.url("/pivot/sub/fine")).await,
        &json!({"module": "tts", "data": {"text": "json in a sub-folder"}}),
        "sub/fine",
    );
}

#[tokio::test]
async fn the_server_serves_the_first_of_two_files_with_one_name() {
    let dir = flows_dir(&[
        (
            "dup.json",
            r#"{"default": {"module": "tts", "data": {"text": "from json"}}}"#,
        ),
        (
            "dup.toml",
            "[default]\nmodule = \"tts\"\ndata = { text = \"from toml\" }\n",
        ),
    ]);
    let server = serve(dir.path(), at("2026-11-17T15:00:00Z"));
    assert_tree(
        &get(&server.url("/pivot/dup")).await,
        &json!({"module": "tts", "data": {"text": "from json"}}),
        "dup",
    );
}

#[cfg(unix)]
#[tokio::test]
async fn symlinked_flow_files_and_folders_are_served() {
    // Kubernetes ConfigMap volumes, stow, and `ln -s` deployments all present flows as links.
    let root = tempfile::tempdir().unwrap();
    let flows = root.path().join("flows");
    let store = root.path().join("store");
    common::write_flow(&flows, "plain.toml", &format!("[default]\n{HANGUP}\n"));
    common::write_flow(
        &store,
        "linked.toml",
        "[default]\nmodule = \"tts\"\ndata = { text = \"linked file\" }\n",
    );
    common::write_flow(
        &store,
        "team/a.toml",
        "[default]\nmodule = \"tts\"\ndata = { text = \"linked folder\" }\n",
    );
    std::os::unix::fs::symlink(store.join("linked.toml"), flows.join("linked.toml")).unwrap();
    std::os::unix::fs::symlink(store.join("team"), flows.join("team")).unwrap();

    let out = pivotforge(&["check", flows.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("3 flows OK, 0 problems in {}", flows.display())
    );
    let server = serve(&flows, at("2026-11-17T15:00:00Z"));
    assert_tree(
        &get(&server.url("/pivot/linked")).await,
        &json!({"module": "tts", "data": {"text": "linked file"}}),
        "linked file",
    );
    assert_tree(
        &get(&server.url("/pivot/team/a")).await,
        &json!({"module": "tts", "data": {"text": "linked folder"}}),
        "linked folder",
    );
}
