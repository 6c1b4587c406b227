//! Reads a scenario file: TOML with one `[[scenario]]` table per call. Unknown keys, wrong types
//! and values that can't be played (a bad instant, a bridge outcome that is not `answer` or
//! `CAUSE[/sip:CODE]`, an unknown module in `expect`; each field's check is in `fields`) are
//! [`LoadError`]s with the file and line, like flow files' errors.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::fields::{
    bridge, digits, ends, fetch, instant, kazoo, logs, method, node_expect, params, to_json,
    Errors, RawFetch,
};
use super::{Expectations, KvSeed, Scenario, Seeds};
use crate::load_error::{line_at, LoadError};
use crate::sim::CallSpec;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    scenario: Vec<Spanned<RawScenario>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    flow: Spanned<String>,
    at: Option<Spanned<toml::Value>>,
    params: Option<Spanned<toml::Table>>,
    #[serde(default)]
    digits: Vec<Spanned<String>>,
    #[serde(default)]
    bridges: Vec<Spanned<String>>,
    kazoo: Option<Spanned<String>>,
    method: Option<Spanned<String>>,
    #[serde(default)]
    kv: Vec<Spanned<RawKv>>,
    #[serde(default)]
    userspace: Vec<Spanned<RawUserspace>>,
    #[serde(default)]
    fetch: Vec<Spanned<RawFetch>>,
    #[serde(default)]
    expect: Vec<Spanned<toml::Value>>,
    ends: Option<Spanned<String>>,
    rejected: Option<Spanned<u16>>,
    fallback: Option<bool>,
    logs_contain: Option<Spanned<toml::Value>>,
    steps: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKv {
    key: String,
    value: toml::Value,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUserspace {
    area: String,
    key: String,
    value: toml::Value,
}

/// Reads and parses the scenario file at `path`.
pub fn parse_file(path: &Path) -> Result<Vec<Scenario>, Vec<LoadError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![LoadError::new(
            path,
            None,
            format!("can't read the scenario file: {e}"),
        )]
    })?;
    parse_text(path, &text)
}

/// Parses the scenarios of one file's text; `file` names it in errors and in the scenarios.
pub fn parse_text(file: &Path, text: &str) -> Result<Vec<Scenario>, Vec<LoadError>> {
    let raw: RawFile =
        toml::from_str(text).map_err(|e| vec![LoadError::from_toml(file, text, &e)])?;
    if raw.scenario.is_empty() {
        return Err(vec![LoadError::new(
            file,
            None,
            "no scenario in this file: each one starts with a [[scenario]] line".into(),
        )]);
    }
    let mut errors = Vec::new();
    let mut scenarios = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for raw in raw.scenario {
        let line = line_at(text, raw.span().start);
        let mut at = Errors {
            file,
            text,
            errors: &mut errors,
        };
        let raw = raw.into_inner();
        let name = raw.name.get_ref().trim().to_owned();
        if name.is_empty() {
            at.push(
                raw.name.span(),
                "name is empty: say what the call does".into(),
            );
        } else if let Some(first) = names.get(&name) {
            at.push(
                raw.name.span(),
                format!("another scenario in this file, at line {first}, is named `{name}`: names must differ"),
            );
        } else {
            names.insert(name.clone(), line);
        }
        if let Some(scenario) = scenario(&mut at, file, line, name, raw) {
            scenarios.push(scenario);
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(errors)
    }
}

fn scenario(
    at: &mut Errors<'_>,
    file: &Path,
    line: usize,
    name: String,
    raw: RawScenario,
) -> Option<Scenario> {
    let before = at.errors.len();
    let flow = raw.flow.get_ref().trim().to_owned();
    if !crate::flow_name::valid_flow_name(&flow) {
        at.push(
            raw.flow.span(),
            format!("flow = {flow:?} is not a flow name: write it as in /pivot/NAME"),
        );
    }
    let spec = CallSpec {
        flow,
        params: raw.params.map(|p| params(at, p)).unwrap_or_default(),
        digits: raw
            .digits
            .into_iter()
            .filter_map(|d| digits(at, d))
            .collect(),
        bridges: raw
            .bridges
            .into_iter()
            .filter_map(|b| bridge(at, b))
            .collect(),
        at: raw.at.and_then(|v| instant(at, v)),
        method: raw.method.and_then(|m| method(at, m)).unwrap_or_default(),
        kazoo: raw.kazoo.and_then(|k| kazoo(at, k)).unwrap_or_default(),
    };
    let seeds = Seeds {
        kv: raw
            .kv
            .into_iter()
            .map(|kv| {
                let kv = kv.into_inner();
                KvSeed {
                    namespace: kv.namespace,
                    key: kv.key,
                    value: to_json(kv.value),
                }
            })
            .collect(),
        userspace: raw
            .userspace
            .into_iter()
            .map(|u| {
                let u = u.into_inner();
                (u.area, u.key, to_json(u.value))
            })
            .collect(),
        fetch: raw.fetch.into_iter().filter_map(|f| fetch(at, f)).collect(),
    };
    let expect = Expectations {
        nodes: raw
            .expect
            .into_iter()
            .filter_map(|e| node_expect(at, e))
            .collect(),
        ends: raw.ends.and_then(|e| ends(at, e)),
        rejected: raw.rejected.and_then(|r| {
            let code = *r.get_ref();
            if (100..700).contains(&code) {
                Some(code)
            } else {
                at.push(
                    r.span(),
                    format!("rejected = {code} is not a SIP code (100-699)"),
                );
                None
            }
        }),
        fallback: raw.fallback,
        logs_contain: raw.logs_contain.map(|l| logs(at, l)).unwrap_or_default(),
        steps: raw.steps.and_then(|s| {
            let n = *s.get_ref();
            if n == 0 {
                at.push(
                    s.span(),
                    "steps = 0: a call makes at least one request".into(),
                );
                None
            } else {
                Some(n)
            }
        }),
    };
    let flow_line = at.line(raw.flow.span());
    if expect == Expectations::default() && at.errors.len() == before {
        at.errors.push(LoadError::new(
            file,
            Some(line),
            format!(
                "scenario `{name}` checks nothing: add expect, ends, rejected, fallback, \
                 logs_contain or steps"
            ),
        ));
    }
    (at.errors.len() == before).then(|| Scenario {
        name,
        file: file.to_owned(),
        line,
        flow_line,
        spec,
        seeds,
        expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{EndExpect, TextMatch};
    use crate::sim::{BridgeOutcome, KazooVersion, Method};

    fn parse(text: &str) -> Result<Vec<Scenario>, Vec<String>> {
        parse_text(Path::new("tests/x.toml"), text)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    fn one_error(text: &str) -> String {
        let errors = parse(text).expect_err("should not parse");
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].clone()
    }

    #[test]
    fn a_whole_scenario_reads_into_the_spec_seeds_and_expectations() {
        let text = r#"
[[scenario]]
name = "PIN wrong then right"
flow = "c5_pin"
at = "2026-12-24T15:00:00-05:00"
params = { "Caller-ID-Number" = "+14155550100", "Custom-SIP-Headers[X-Seq]" = 7 }
digits = ["0000", "1234", ""]
bridges = ["NO_ANSWER", "USER_BUSY/sip:486", "answer"]
kazoo = "master"
method = "POST"
kv = [{ key = "pin-failures:+14155550100", value = 1 }, { key = "k", value = { a = [1, 2] }, namespace = "team" }]
userspace = [{ area = "dnc", key = "+14155550199", value = { reason = "asked" } }]
fetch = [{ url = "https://status.example.com/api/status", json = { status = "green" } }, { url = "https://x.example/", status = 503, body = "down" }]
expect = [
  { tts = "That PIN is not correct." },
  { tts = { contains = "Thank" } },
  { user = true },
]
ends = "bridge"
rejected = 403
fallback = false
logs_contain = "journal"
steps = 3
"#;
        let scenarios = parse(text).unwrap();
        let s = &scenarios[0];
        assert_eq!(
            (s.name.as_str(), s.line, s.flow_line),
            ("PIN wrong then right", 2, 4)
        );
        assert_eq!(s.spec.flow, "c5_pin");
        assert_eq!(s.spec.at.unwrap().to_rfc3339(), "2026-12-24T20:00:00+00:00");
        assert_eq!(
            s.spec.params,
            vec![
                ("Caller-ID-Number".to_owned(), "+14155550100".to_owned()),
                ("Custom-SIP-Headers[X-Seq]".to_owned(), "7".to_owned()),
            ]
        );
        assert_eq!(s.spec.digits, ["0000", "1234", ""]);
        assert_eq!(
            s.spec.bridges,
            vec![
                BridgeOutcome::Failed {
                    cause: "NO_ANSWER".into(),
                    code: None
                },
                BridgeOutcome::Failed {
                    cause: "USER_BUSY".into(),
                    code: Some(486)
                },
                BridgeOutcome::Answer,
            ]
        );
        assert_eq!(
            (s.spec.kazoo, s.spec.method),
            (KazooVersion::Master, Method::Post)
        );
        assert_eq!(s.seeds.kv[0].namespace, None);
        assert_eq!(s.seeds.kv[0].value, serde_json::json!(1));
        assert_eq!(s.seeds.kv[1].namespace.as_deref(), Some("team"));
        assert_eq!(s.seeds.kv[1].value, serde_json::json!({"a": [1, 2]}));
        assert_eq!(
            s.seeds.userspace[0].2,
            serde_json::json!({"reason": "asked"})
        );
        assert_eq!(s.seeds.fetch[0].status, 200);
        assert_eq!(s.seeds.fetch[0].body, r#"{"status":"green"}"#);
        assert_eq!(
            (s.seeds.fetch[1].status, s.seeds.fetch[1].body.as_str()),
            (503, "down")
        );
        let e = &s.expect;
        assert_eq!(e.nodes.len(), 3);
        assert_eq!(
            e.nodes[0].text,
            TextMatch::Exact("That PIN is not correct.".into())
        );
        assert_eq!(e.nodes[0].line, 15);
        assert_eq!(e.nodes[1].text, TextMatch::Contains("Thank".into()));
        assert_eq!(
            (e.nodes[2].module.as_str(), &e.nodes[2].text),
            ("user", &TextMatch::Any)
        );
        assert_eq!(e.ends, Some(EndExpect::Bridge));
        assert_eq!(
            (e.rejected, e.fallback, e.steps),
            (Some(403), Some(false), Some(3))
        );
        assert_eq!(e.logs_contain, ["journal"]);
    }

    #[test]
    fn toml_datetimes_and_defaults() {
        let s = &parse("[[scenario]]\nname = \"a\"\nflow = \"x\"\nat = 2026-12-24T15:00:00Z\nends = \"hangup\"\n").unwrap()[0];
        assert_eq!(s.spec.at.unwrap().to_rfc3339(), "2026-12-24T15:00:00+00:00");
        assert_eq!(
            (s.spec.method, s.spec.kazoo),
            (Method::Get, KazooVersion::V43)
        );
        assert!(s.spec.digits.is_empty() && s.spec.bridges.is_empty());
        assert_eq!(s.expect.ends, Some(EndExpect::Module("hangup".into())));
    }

    #[test]
    fn unknown_keys_are_errors_at_their_line() {
        let err = one_error("[[scenario]]\nname = \"a\"\nflow = \"x\"\nstep = 1\n");
        assert!(
            err.starts_with("tests/x.toml:4: unknown field `step`"),
            "{err}"
        );
        let err = one_error("[[scenarios]]\nname = \"a\"\n");
        assert!(
            err.starts_with("tests/x.toml:1: unknown field `scenarios`"),
            "{err}"
        );
        let err = one_error("[[scenario]]\nname = \"a\"\nflow = \"x\"\nsteps = 1\nkv = [{ key = \"k\", valeu = 1 }]\n");
        assert!(
            err.starts_with("tests/x.toml:5: unknown field `valeu`"),
            "{err}"
        );
    }

    #[test]
    fn malformed_values_are_errors_at_their_line() {
        let head = "[[scenario]]\nname = \"a\"\nflow = \"x\"\nsteps = 1\n";
        for (line, says) in [
            ("at = \"Christmas\"", "is not an RFC 3339 instant"),
            ("at = 2026-12-24T15:00:00", "is not an RFC 3339 instant"),
            ("bridges = [\"no answer\"]", "is not a bridge outcome"),
            ("bridges = [\"USER_BUSY/sip:999\"]", "is not a SIP code"),
            ("digits = [\"12a\"]", "is not DTMF"),
            (
                "digits = [1]",
                "invalid type: integer `1`, expected a string",
            ),
            ("kazoo = \"5.0\"", "give 4.3 or master"),
            ("method = \"put\"", "give get or post"),
            (
                "expect = [{ ttss = \"x\" }]",
                "`ttss` is not a callflow module",
            ),
            (
                "expect = [{ tts = \"a\", play = \"b\" }]",
                "one module per entry",
            ),
            (
                "expect = [{ tts = { has = \"a\" } }]",
                "{ MODULE = { contains = \"text\" } }",
            ),
            ("expect = [\"tts\"]", "each expect entry is"),
            ("ends = \"busy\"", "ends = \"busy\": write \"bridge\""),
            ("rejected = 42", "is not a SIP code"),
            (
                "fetch = [{ url = \"u\", status = 42 }]",
                "is not an HTTP status",
            ),
            (
                "fetch = [{ url = \"u\", body = \"a\", json = 1 }]",
                "not both",
            ),
            ("params = { a = [1] }", "params: `a` must be a string"),
            ("logs_contain = 3", "a string or an array of strings"),
        ] {
            let err = one_error(&format!("{head}{line}\n"));
            assert!(err.starts_with("tests/x.toml:5: "), "{line}: {err}");
            assert!(err.contains(says), "{line}: {err}");
        }
    }

    #[test]
    fn file_level_mistakes() {
        let err = one_error("# nothing here\n");
        assert!(err.contains("no scenario in this file"), "{err}");
        let err = one_error("[[scenario]]\nname = \"a\"\nflow = \"x\"\n");
        assert!(
            err.starts_with("tests/x.toml:1: scenario `a` checks nothing"),
            "{err}"
        );
        let err = one_error("[[scenario]]\nname = \"a\"\n");
        assert!(err.contains("missing field `flow`"), "{err}");
        let err = one_error("[[scenario]]\nname = \"a\"\nflow = \"bad name\"\nsteps = 1\n");
        assert!(
            err.starts_with("tests/x.toml:3: flow = \"bad name\" is not a flow name"),
            "{err}"
        );
        let twice = "[[scenario]]\nname = \"a\"\nflow = \"x\"\nsteps = 1\n\n[[scenario]]\nname = \"a\"\nflow = \"x\"\nsteps = 1\n";
        let err = one_error(twice);
        assert!(
            err.starts_with("tests/x.toml:7: another scenario in this file, at line 1"),
            "{err}"
        );
        let err = one_error("[[scenario]]\nname = \"a\"\nflow = \"x\"\nsteps = 1\n[[scenario]\n");
        assert!(err.starts_with("tests/x.toml:5: "), "{err}");
        // Every problem of a file at once, not only the first.
        let errors = parse("[[scenario]]\nname = \"a\"\nflow = \"x\"\nsteps = 1\nkazoo = \"5\"\nmethod = \"put\"\n").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
