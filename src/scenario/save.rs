//! Writes a played call as a scenario file (`callflows/tests/*.toml`), in the format
//! [`super::parse`] reads: the call's flow, instant, parameters, digits and bridge outcomes, and
//! its transcript as expectations — every node in order, how it ended, rejections, fallbacks and
//! the number of requests. "This call went wrong; keep it as a test": the console downloads it.

use std::fmt::Write;

use chrono::SecondsFormat;

use super::BRIDGE_MODULES;
use crate::sim::{CallSpec, End, KazooVersion, Method, NodeLine, StepOutcome, Transcript};

/// The scenario file of one call: `spec` as played, `transcript` as its expectations; each of
/// `notes` becomes a comment line at the top (what the file could not hold).
pub fn to_toml(name: &str, spec: &CallSpec, transcript: &Transcript, notes: &[String]) -> String {
    let mut out = String::new();
    for note in notes {
        for line in note.lines() {
            let _ = writeln!(out, "# {line}");
        }
    }
    out.push_str("[[scenario]]\n");
    let _ = writeln!(out, "name = {}", quoted(name));
    let _ = writeln!(out, "flow = {}", quoted(&spec.flow));
    if let Some(at) = spec.at {
        let text = at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let _ = writeln!(out, "at = {}", quoted(&text));
    }
    if !spec.params.is_empty() {
        let pairs: Vec<String> = spec
            .params
            .iter()
            .map(|(k, v)| format!("{} = {}", quoted(k), quoted(v)))
            .collect();
        let _ = writeln!(out, "params = {{ {} }}", pairs.join(", "));
    }
    if !spec.digits.is_empty() {
        let _ = writeln!(
            out,
            "digits = {}",
            list(spec.digits.iter().map(String::as_str))
        );
    }
    if !spec.bridges.is_empty() {
        let outcomes: Vec<String> = spec.bridges.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "bridges = {}",
            list(outcomes.iter().map(String::as_str))
        );
    }
    if spec.method == Method::Post {
        out.push_str("method = \"post\"\n");
    }
    if spec.kazoo == KazooVersion::Master {
        out.push_str("kazoo = \"master\"\n");
    }
    let entries: Vec<String> = transcript
        .steps
        .iter()
        .flat_map(|s| &s.nodes)
        .filter_map(expect_entry)
        .collect();
    if !entries.is_empty() {
        out.push_str("expect = [\n");
        for entry in entries {
            let _ = writeln!(out, "  {entry},");
        }
        out.push_str("]\n");
    }
    let _ = writeln!(out, "ends = {}", quoted(ends(&transcript.end)));
    let outcomes = transcript.steps.iter().map(|s| &s.outcome);
    if let Some(code) = outcomes.clone().find_map(|o| match o {
        StepOutcome::Rejected { code, .. } => Some(*code),
        _ => None,
    }) {
        let _ = writeln!(out, "rejected = {code}");
    }
    let fallback = outcomes
        .clone()
        .any(|o| matches!(o, StepOutcome::Fallback { .. }));
    let _ = writeln!(out, "fallback = {fallback}");
    if !transcript.steps.is_empty() {
        let _ = writeln!(out, "steps = {}", transcript.steps.len());
    }
    out
}

/// A node as an `expect` entry: its main field exactly, but a pivot's URL by its path only (the
/// host and a URL token differ between services); `None` for a module the scenario format
/// does not know (Kazoo master's, or not a module at all).
fn expect_entry(node: &NodeLine) -> Option<String> {
    crate::callflow::registry::find(&node.module)?;
    let key = if bare(&node.module) {
        node.module.clone()
    } else {
        quoted(&node.module)
    };
    let value = if node.module == "pivot" {
        match node.main.find("/pivot/") {
            Some(at) => {
                let path = &node.main[at..];
                let path = path.split(['?', '#']).next().unwrap_or(path);
                format!("{{ contains = {} }}", quoted(path))
            }
            None => "true".to_owned(),
        }
    } else {
        quoted(&node.main)
    };
    Some(format!("{{ {key} = {value} }}"))
}

/// The `ends` a transcript's end reads as.
fn ends(end: &End) -> &str {
    match end {
        End::Terminal { module } if BRIDGE_MODULES.contains(&module.as_str()) => "bridge",
        End::Terminal { module } => module,
        End::EndOfTree => "end_of_tree",
        End::HungUp { .. } => "hung_up",
    }
}

/// A TOML basic string (escapes as TOML wants them).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(quoted).collect();
    format!("[{}]", items.join(", "))
}

/// Whether `key` can be written as a bare TOML key.
fn bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::expect::tests::menu_call;
    use crate::scenario::{check, parse_text, EndExpect, TextMatch};
    use crate::sim::BridgeOutcome;

    fn spec() -> CallSpec {
        CallSpec {
            flow: "menu".into(),
            params: vec![
                ("Caller-ID-Number".into(), "+14155550100".into()),
                ("Custom-SIP-Headers[X-Note]".into(), "say \"hi\"\n".into()),
            ],
            digits: vec!["1".into(), String::new()],
            bridges: vec![
                BridgeOutcome::Failed {
                    cause: "USER_BUSY".into(),
                    code: Some(486),
                },
                BridgeOutcome::Answer,
            ],
            at: chrono::DateTime::parse_from_rfc3339("2026-12-24T15:00:00-05:00")
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc)),
            method: Method::Post,
            kazoo: KazooVersion::Master,
        }
    }

    #[test]
    fn a_saved_call_reads_back_as_the_same_call_and_passes_against_its_transcript() {
        let transcript = menu_call();
        let notes = ["saved from the console".to_owned()];
        let text = to_toml("menu \"1\"", &spec(), &transcript, &notes);
        let parsed =
            parse_text(Path::new("saved.toml"), &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let scenario = &parsed[0];
        assert_eq!(scenario.name, "menu \"1\"");
        let (got, want) = (&scenario.spec, spec());
        assert_eq!(
            (&got.flow, &got.params, &got.digits, &got.bridges, got.at),
            (
                &want.flow,
                &want.params,
                &want.digits,
                &want.bridges,
                want.at
            )
        );
        assert_eq!((got.method, got.kazoo), (want.method, want.kazoo));
        let nodes: usize = transcript.steps.iter().map(|s| s.nodes.len()).sum();
        assert_eq!(scenario.expect.nodes.len(), nodes, "{text}");
        assert_eq!(scenario.expect.steps, Some(transcript.steps.len()));
        assert_eq!(scenario.expect.fallback, Some(false));
        assert!(scenario.expect.ends.is_some());
        let verdict = check(&scenario.expect, &transcript);
        assert!(verdict.passed(), "{verdict:?}\n{text}");
        assert!(text.starts_with("# saved from the console\n[[scenario]]\n"));
    }

    #[test]
    fn pivots_are_matched_by_path_and_ends_by_kind() {
        let node = |module: &str, main: &str| NodeLine {
            module: module.into(),
            main: main.into(),
            result: None,
            line: String::new(),
        };
        let pivot = node("pivot", "http://pf.test/t/abc/pivot/next?x=1");
        assert_eq!(
            expect_entry(&pivot).as_deref(),
            Some("{ pivot = { contains = \"/pivot/next\" } }")
        );
        assert_eq!(expect_entry(&node("noop", "")), None);
        assert_eq!(
            ends(&End::Terminal {
                module: "ring_group".into()
            }),
            "bridge"
        );
        let text = format!(
            "[[scenario]]\nname = \"a\"\nflow = \"x\"\nexpect = [{}]\nends = \"{}\"\n",
            expect_entry(&pivot).unwrap_or_default(),
            ends(&End::HungUp {
                reason: String::new()
            })
        );
        let parsed = parse_text(Path::new("a.toml"), &text).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            parsed[0].expect.nodes[0].text,
            TextMatch::Contains("/pivot/next".into())
        );
        assert_eq!(parsed[0].expect.ends, Some(EndExpect::HungUp));
    }
}
