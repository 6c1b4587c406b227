//! Checks a transcript against a scenario's expectations: the expected nodes as an ordered
//! subsequence of every node the call ran (module equal, main field exact, contained or any),
//! then how it ended, rejections, fallbacks, log lines and the number of steps.

use super::{EndExpect, Expectations, NodeExpect, TextMatch, BRIDGE_MODULES};
use crate::sim::{End, NodeLine, StepOutcome, Transcript};

/// Where a node sits in a transcript: indexes of the step and of the node within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Index into `Transcript::steps`.
    pub step: usize,
    /// Index into that step's `nodes`.
    pub node: usize,
}

/// Every node the call ran, in order, with where it sits.
pub fn positioned(transcript: &Transcript) -> impl Iterator<Item = (Pos, &NodeLine)> {
    transcript.steps.iter().enumerate().flat_map(|(s, step)| {
        step.nodes
            .iter()
            .enumerate()
            .map(move |(n, node)| (Pos { step: s, node: n }, node))
    })
}

/// What became of one expected node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Matched by this node.
    At(Pos),
    /// No node after `after` (the previous match; `None` = the start of the call) matched.
    Missing {
        /// The last node matched before it.
        after: Option<Pos>,
    },
}

/// The result of checking one transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// One entry per expected node, in the scenario's order.
    pub nodes: Vec<Found>,
    /// Every other expectation that did not hold, as a sentence.
    pub problems: Vec<String>,
}

impl Verdict {
    /// Every expectation held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.nodes.iter().all(|f| matches!(f, Found::At(_)))
    }
}

/// Checks `transcript` against `expect`.
pub fn check(expect: &Expectations, transcript: &Transcript) -> Verdict {
    let nodes = match_nodes(&expect.nodes, transcript);
    let mut problems = Vec::new();
    if let Some(ends) = &expect.ends {
        if !ends_as(ends, &transcript.end) {
            problems.push(format!(
                "ends: expected {}, but the call {}",
                describe_expected_end(ends),
                describe_end(&transcript.end)
            ));
        }
    }
    let outcomes: Vec<&StepOutcome> = transcript.steps.iter().map(|s| &s.outcome).collect();
    if let Some(code) = expect.rejected {
        let hit = outcomes
            .iter()
            .any(|o| matches!(o, StepOutcome::Rejected { code: c, .. } if *c == code));
        if !hit {
            problems.push(format!(
                "rejected: expected a step rejected with {code}, but the steps were: {}",
                describe_outcomes(&outcomes)
            ));
        }
    }
    if let Some(wanted) = expect.fallback {
        let had = outcomes
            .iter()
            .any(|o| matches!(o, StepOutcome::Fallback { .. }));
        if wanted != had {
            let expected = if wanted {
                "a step answered by the flow's fallback"
            } else {
                "no fallback"
            };
            problems.push(format!(
                "fallback: expected {expected}, but the steps were: {}",
                describe_outcomes(&outcomes)
            ));
        }
    }
    for text in &expect.logs_contain {
        let found = transcript
            .steps
            .iter()
            .flat_map(|s| &s.logs)
            .any(|line| line.contains(text.as_str()));
        if !found {
            problems.push(format!(
                "logs_contain: no log line of the call contains {text:?}"
            ));
        }
    }
    if let Some(steps) = expect.steps {
        let made = transcript.steps.len();
        if steps != made {
            problems.push(format!(
                "steps: expected {steps} request{}, the call made {made}",
                if steps == 1 { "" } else { "s" }
            ));
        }
    }
    Verdict { nodes, problems }
}

/// Matches the expected nodes in order; a missing one does not move the cursor, so the ones
/// after it are still looked for after the last match.
fn match_nodes(expected: &[NodeExpect], transcript: &Transcript) -> Vec<Found> {
    let all: Vec<(Pos, &NodeLine)> = positioned(transcript).collect();
    let mut next = 0;
    let mut last: Option<Pos> = None;
    expected
        .iter()
        .map(
            |want| match all[next..].iter().position(|(_, n)| matches(want, n)) {
                Some(offset) => {
                    let pos = all[next + offset].0;
                    next += offset + 1;
                    last = Some(pos);
                    Found::At(pos)
                }
                None => Found::Missing { after: last },
            },
        )
        .collect()
}

/// Whether `node` is what `want` describes.
pub fn matches(want: &NodeExpect, node: &NodeLine) -> bool {
    want.module == node.module
        && match &want.text {
            TextMatch::Exact(text) => node.main == *text,
            TextMatch::Contains(text) => node.main.contains(text.as_str()),
            TextMatch::Any => true,
        }
}

fn ends_as(expected: &EndExpect, end: &End) -> bool {
    match (expected, end) {
        (EndExpect::Bridge, End::Terminal { module }) => BRIDGE_MODULES.contains(&module.as_str()),
        (EndExpect::Module(want), End::Terminal { module }) => want == module,
        (EndExpect::EndOfTree, End::EndOfTree) => true,
        (EndExpect::HungUp, End::HungUp { .. }) => true,
        _ => false,
    }
}

fn describe_expected_end(expected: &EndExpect) -> String {
    match expected {
        EndExpect::Bridge => "an answered bridge".into(),
        EndExpect::Module(module) => format!("the end at a `{module}` node"),
        EndExpect::EndOfTree => "the end of a tree".into(),
        EndExpect::HungUp => "Kazoo to hang up on a problem".into(),
    }
}

/// How a call ended, as the end of a sentence ("the call …").
pub fn describe_end(end: &End) -> String {
    match end {
        End::Terminal { module } => format!("ended at a `{module}` node"),
        End::EndOfTree => "ran to the end of a tree (Kazoo hangs up)".into(),
        End::HungUp { reason } => format!("was hung up: {reason}"),
    }
}

/// A step's outcome in a few words.
pub fn describe_outcome(outcome: &StepOutcome) -> String {
    match outcome {
        StepOutcome::Tree => "tree".into(),
        StepOutcome::Rejected { code, message } => format!("rejected {code} {message}"),
        StepOutcome::Fallback { failure, .. } => format!("fallback ({failure})"),
        StepOutcome::Failed {
            status: Some(s), ..
        } => format!("failed ({s})"),
        StepOutcome::Failed { status: None, .. } => "failed".into(),
    }
}

fn describe_outcomes(outcomes: &[&StepOutcome]) -> String {
    let words: Vec<String> = outcomes.iter().map(|o| describe_outcome(o)).collect();
    if words.is_empty() {
        "none".into()
    } else {
        words.join(", ")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sim::Step;

    pub(crate) fn node(module: &str, main: &str) -> NodeLine {
        NodeLine {
            module: module.into(),
            main: main.into(),
            result: None,
            line: format!("{module} {main:?}"),
        }
    }

    pub(crate) fn step(number: usize, outcome: StepOutcome, nodes: Vec<NodeLine>) -> Step {
        Step {
            number,
            method: "GET".into(),
            url: "http://127.0.0.1:8080/pivot/menu".into(),
            changed: Vec::new(),
            outcome,
            nodes,
            rule: None,
            logs: Vec::new(),
            ms: 0.5,
        }
    }

    /// A menu call: prompt, collect, pivot; then the sales device answers.
    pub(crate) fn menu_call() -> Transcript {
        Transcript {
            flow: "menu".into(),
            steps: vec![
                step(
                    1,
                    StepOutcome::Tree,
                    vec![
                        node("tts", "For sales press 1."),
                        node("collect_dtmf", "menu"),
                        node("pivot", "/pivot/menu"),
                    ],
                ),
                step(2, StepOutcome::Tree, vec![node("device", "3f1c")]),
            ],
            end: End::Terminal {
                module: "device".into(),
            },
            ok: true,
        }
    }

    pub(crate) fn want(module: &str, text: TextMatch) -> NodeExpect {
        NodeExpect {
            module: module.into(),
            text,
            line: 1,
        }
    }

    fn nodes(wanted: Vec<NodeExpect>) -> Expectations {
        Expectations {
            nodes: wanted,
            ..Expectations::default()
        }
    }

    #[test]
    fn exact_matches_the_whole_main_field_only() {
        let t = menu_call();
        let ok = check(
            &nodes(vec![want(
                "tts",
                TextMatch::Exact("For sales press 1.".into()),
            )]),
            &t,
        );
        assert!(ok.passed(), "{ok:?}");
        assert_eq!(ok.nodes, vec![Found::At(Pos { step: 0, node: 0 })]);
        let part = check(
            &nodes(vec![want("tts", TextMatch::Exact("For sales".into()))]),
            &t,
        );
        assert!(!part.passed());
        assert_eq!(part.nodes, vec![Found::Missing { after: None }]);
        // The module must match too, not only the text.
        let other = check(
            &nodes(vec![want(
                "play",
                TextMatch::Exact("For sales press 1.".into()),
            )]),
            &t,
        );
        assert!(!other.passed());
    }

    #[test]
    fn contains_and_any() {
        let t = menu_call();
        let v = check(
            &nodes(vec![
                want("tts", TextMatch::Contains("sales press".into())),
                want("device", TextMatch::Any),
            ]),
            &t,
        );
        assert!(v.passed(), "{v:?}");
        assert_eq!(v.nodes[1], Found::At(Pos { step: 1, node: 0 }));
        let v = check(
            &nodes(vec![want("tts", TextMatch::Contains("support".into()))]),
            &t,
        );
        assert!(!v.passed());
    }

    #[test]
    fn order_matters_and_gaps_are_allowed() {
        let t = menu_call();
        let in_order = check(
            &nodes(vec![
                want("tts", TextMatch::Any),
                want("device", TextMatch::Exact("3f1c".into())),
            ]),
            &t,
        );
        assert!(
            in_order.passed(),
            "the collect and pivot between are skipped"
        );
        let reversed = check(
            &nodes(vec![
                want("device", TextMatch::Exact("3f1c".into())),
                want("tts", TextMatch::Any),
            ]),
            &t,
        );
        assert!(!reversed.passed());
        assert_eq!(
            reversed.nodes,
            vec![
                Found::At(Pos { step: 1, node: 0 }),
                Found::Missing {
                    after: Some(Pos { step: 1, node: 0 })
                },
            ]
        );
        // One node can't match two expectations.
        let twice = check(
            &nodes(vec![
                want("device", TextMatch::Any),
                want("device", TextMatch::Any),
            ]),
            &t,
        );
        assert!(!twice.passed());
    }

    #[test]
    fn a_missing_node_leaves_the_cursor_so_later_ones_still_match() {
        let t = menu_call();
        let v = check(
            &nodes(vec![
                want("tts", TextMatch::Any),
                want("user", TextMatch::Exact("7e6d".into())),
                want("pivot", TextMatch::Exact("/pivot/menu".into())),
            ]),
            &t,
        );
        assert_eq!(
            v.nodes,
            vec![
                Found::At(Pos { step: 0, node: 0 }),
                Found::Missing {
                    after: Some(Pos { step: 0, node: 0 })
                },
                Found::At(Pos { step: 0, node: 2 }),
            ]
        );
        assert!(!v.passed());
    }

    #[test]
    fn ends_rejected_fallback_logs_and_steps() {
        let mut t = menu_call();
        let all = Expectations {
            ends: Some(EndExpect::Bridge),
            fallback: Some(false),
            steps: Some(2),
            ..Expectations::default()
        };
        assert!(check(&all, &t).passed());
        let wrong = Expectations {
            ends: Some(EndExpect::Module("voicemail".into())),
            rejected: Some(603),
            fallback: Some(true),
            logs_contain: vec!["DNC hit".into()],
            steps: Some(1),
            ..Expectations::default()
        };
        let v = check(&wrong, &t);
        assert_eq!(v.problems.len(), 5, "{:?}", v.problems);
        assert!(
            v.problems[0].contains("ended at a `device` node"),
            "{:?}",
            v.problems
        );
        assert!(v.problems[1].contains("tree, tree"), "{:?}", v.problems);

        t.steps[1].outcome = StepOutcome::Rejected {
            code: 603,
            message: "Denied (DNC)".into(),
        };
        t.steps[1]
            .logs
            .push("warn: DNC hit for +14155550199".into());
        t.end = End::Terminal {
            module: "response".into(),
        };
        let right = Expectations {
            ends: Some(EndExpect::Module("response".into())),
            rejected: Some(603),
            logs_contain: vec!["DNC hit".into()],
            ..Expectations::default()
        };
        assert!(check(&right, &t).passed(), "{:?}", check(&right, &t));
        let hung = Expectations {
            ends: Some(EndExpect::HungUp),
            ..Expectations::default()
        };
        t.end = End::HungUp {
            reason: "the pivot failed".into(),
        };
        assert!(check(&hung, &t).passed());
        t.end = End::EndOfTree;
        assert!(!check(&hung, &t).passed());
    }
}
