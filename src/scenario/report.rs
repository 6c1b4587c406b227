//! The readable diff of a failed scenario: the expected nodes with where each was found, then
//! the call's transcript, step by step, with each matched node marked and a `>>` line where an
//! expected node was looked for and not found, then the other expectations that did not hold.

use std::fmt::Write;

use super::expect::{describe_end, describe_outcome, positioned, Found, Pos, Verdict};
use super::{NodeExpect, Scenario, TextMatch};
use crate::sim::{StepOutcome, Transcript};

/// How an expected node reads: `tts "…"`, `tts contains "…"`, `any tts`.
pub fn describe(want: &NodeExpect) -> String {
    match &want.text {
        TextMatch::Exact(text) => format!("{} {text:?}", want.module),
        TextMatch::Contains(text) => format!("{} contains {text:?}", want.module),
        TextMatch::Any => format!("any {}", want.module),
    }
}

fn at(pos: Pos) -> String {
    format!("step {} node {}", pos.step + 1, pos.node + 1)
}

/// The diff of `scenario` against `transcript`, each line indented by two spaces.
pub fn diff(scenario: &Scenario, transcript: &Transcript, verdict: &Verdict) -> String {
    let mut out = String::new();
    let wanted = &scenario.expect.nodes;
    if !wanted.is_empty() {
        let _ = writeln!(
            out,
            "  expected, in order (a subsequence of the call's nodes):"
        );
        let width = wanted.iter().map(|w| describe(w).len()).max().unwrap_or(0);
        for (i, (want, found)) in wanted.iter().zip(&verdict.nodes).enumerate() {
            let what = describe(want);
            let status = match found {
                Found::At(pos) => format!("found at {}", at(*pos)),
                Found::Missing { after: Some(pos) } => format!("NOT FOUND after {}", at(*pos)),
                Found::Missing { after: None } => "NOT FOUND".to_owned(),
            };
            let _ = writeln!(out, "    {}. {what:<width$}  {status}", i + 1);
        }
    }
    let _ = writeln!(out, "  the call:");
    let missing_at = |place: Option<Pos>| {
        wanted
            .iter()
            .zip(&verdict.nodes)
            .enumerate()
            .filter(move |(_, (_, found))| **found == Found::Missing { after: place })
            .map(|(i, (want, _))| (i, want))
    };
    let marker = |out: &mut String, i: usize, want: &NodeExpect, after: Option<Pos>| {
        let _ = writeln!(
            out,
            "      >> expected {} ({}:{}): {}, not found {}",
            i + 1,
            scenario.file.display(),
            want.line,
            describe(want),
            if after.is_some() {
                "after this"
            } else {
                "in the whole call"
            }
        );
        let _ = writeln!(out, "         {}", hint(transcript, want, after));
    };
    for (i, want) in missing_at(None) {
        marker(&mut out, i, want, None);
    }
    // Marks line up in one column, past the longest node line (within reason).
    let width = transcript
        .steps
        .iter()
        .flat_map(|s| &s.nodes)
        .map(|n| n.line.chars().count())
        .max()
        .unwrap_or(0)
        .min(72);
    for (s, step) in transcript.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "    step {}  {} {}  → {}",
            step.number,
            step.method,
            step.url,
            describe_outcome(&step.outcome)
        );
        match &step.outcome {
            StepOutcome::Fallback { detail, .. } | StepOutcome::Failed { detail, .. } => {
                let _ = writeln!(out, "      ({detail})");
            }
            StepOutcome::Tree | StepOutcome::Rejected { .. } => {}
        }
        if let Some(rule) = &step.rule {
            let _ = writeln!(out, "      rule: {rule}");
        }
        for line in &step.logs {
            let _ = writeln!(out, "      log: {line}");
        }
        for (n, node) in step.nodes.iter().enumerate() {
            let pos = Pos { step: s, node: n };
            let matched = verdict.nodes.iter().position(|f| *f == Found::At(pos));
            let line = match matched {
                Some(i) => format!("{:<width$}   <- expected {}", node.line, i + 1),
                None => node.line.clone(),
            };
            let _ = writeln!(out, "      {:>2}. {line}", n + 1);
            for (i, want) in missing_at(Some(pos)) {
                marker(&mut out, i, want, Some(pos));
            }
        }
    }
    let _ = writeln!(out, "    end: the call {}", describe_end(&transcript.end));
    for problem in &verdict.problems {
        let _ = writeln!(out, "  {problem}");
    }
    out
}

/// Where a node of the expected module is, to tell a wrong text from a missing node.
fn hint(transcript: &Transcript, want: &NodeExpect, after: Option<Pos>) -> String {
    let same: Vec<(Pos, &str)> = positioned(transcript)
        .filter(|(_, node)| node.module == want.module)
        .map(|(pos, node)| (pos, node.main.as_str()))
        .collect();
    let later = same.iter().find(|(pos, _)| after.is_none_or(|a| *pos > a));
    match (later, same.first()) {
        (Some((pos, main)), _) => format!(
            "(the next `{}` node, at {}, is {main:?})",
            want.module,
            at(*pos)
        ),
        (None, Some((pos, main))) => format!(
            "(no `{}` node after it; an earlier one, at {}, is {main:?})",
            want.module,
            at(*pos)
        ),
        (None, None) => format!("(the call has no `{}` node)", want.module),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::expect::tests::{menu_call, want};
    use crate::scenario::{check, Expectations, Seeds};
    use crate::sim::CallSpec;

    fn scenario(nodes: Vec<NodeExpect>) -> Scenario {
        Scenario {
            name: "menu".into(),
            file: "tests/menu.toml".into(),
            line: 1,
            flow_line: 2,
            spec: CallSpec::default(),
            seeds: Seeds::default(),
            expect: Expectations {
                nodes,
                steps: Some(3),
                ..Expectations::default()
            },
        }
    }

    #[test]
    fn the_diff_marks_matches_and_where_a_node_was_missing() {
        let s = scenario(vec![
            want("tts", TextMatch::Contains("sales".into())),
            want("user", TextMatch::Exact("7e6d".into())),
            want("device", TextMatch::Exact("ffff".into())),
        ]);
        let t = menu_call();
        let text = diff(&s, &t, &check(&s.expect, &t));
        let lines: Vec<&str> = text.lines().collect();
        let tts = lines
            .iter()
            .position(|l| l.contains("tts \"For sales"))
            .unwrap();
        assert!(lines[tts].ends_with("<- expected 1"), "{text}");
        assert!(
            lines[tts + 1]
                .contains(">> expected 2 (tests/menu.toml:1): user \"7e6d\", not found after this"),
            "{text}"
        );
        assert!(
            lines[tts + 2].contains("(the call has no `user` node)"),
            "{text}"
        );
        assert!(text.contains("    2. user \"7e6d\""), "{text}");
        assert!(text.contains("NOT FOUND after step 1 node 1"), "{text}");
        assert!(
            text.contains("(the next `device` node, at step 2 node 1, is \"3f1c\")"),
            "{text}"
        );
        assert!(
            text.contains("end: the call ended at a `device` node"),
            "{text}"
        );
        assert!(
            text.contains("steps: expected 3 requests, the call made 2"),
            "{text}"
        );
    }

    #[test]
    fn a_node_missing_from_the_start_is_marked_before_the_first_step() {
        let s = scenario(vec![want("hangup", TextMatch::Any)]);
        let t = menu_call();
        let text = diff(&s, &t, &check(&s.expect, &t));
        let marker = text.find(">> expected 1").unwrap();
        assert!(marker < text.find("step 1 ").unwrap(), "{text}");
        assert!(text.contains("not found in the whole call"), "{text}");
    }
}
