//! A transcript for people (`pivotforge call`) and for programs (`--json`: one JSON object per
//! step, then one for the end). Plain functions: tests call them.

use std::fmt::Write;

use super::transcript::{End, Step, StepOutcome, Transcript};

/// The readable transcript: each request (method, URL, the parameters that changed), what the
/// reply was, each node Kazoo ran, and how the call ended.
pub fn text(transcript: &Transcript) -> String {
    let mut out = String::new();
    for step in &transcript.steps {
        step_text(&mut out, step);
    }
    let _ = writeln!(
        out,
        "end: {} — {}",
        end_text(&transcript.end),
        if transcript.ok {
            "call OK"
        } else {
            "call NOT OK"
        }
    );
    out
}

fn step_text(out: &mut String, step: &Step) {
    let _ = writeln!(
        out,
        "step {} · {} {} · {:.1} ms",
        step.number, step.method, step.url, step.ms
    );
    wrap_params(out, &step.changed);
    if let Some(rule) = &step.rule {
        let _ = writeln!(out, "  rule: {rule}");
    }
    for line in &step.logs {
        let _ = writeln!(out, "  console.{line}");
    }
    let _ = writeln!(out, "  reply: {}", outcome_text(&step.outcome));
    if matches!(step.outcome, StepOutcome::Failed { .. }) && !step.nodes.is_empty() {
        let _ = writeln!(out, "  the calling pivot node's `_` child runs:");
    }
    for node in &step.nodes {
        let _ = writeln!(out, "  ▸ {}", node.line);
    }
}

/// The parameters as `Key=Value` pairs, several to a line (the first request sends about fifteen).
fn wrap_params(out: &mut String, pairs: &[(String, String)]) {
    const WIDTH: usize = 100;
    let mut line = String::new();
    for (key, value) in pairs {
        let pair = format!("{key}={value}");
        if !line.is_empty() && line.chars().count() + 2 + pair.chars().count() > WIDTH {
            let _ = writeln!(out, "    {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push_str("  ");
        }
        line.push_str(&pair);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "    {line}");
    }
}

/// One reply in a few words: `tree`, `rejection 486 Busy`, `fallback tree (timeout: …)`,
/// `FAILED (HTTP 500): …`.
pub fn outcome_text(outcome: &StepOutcome) -> String {
    match outcome {
        StepOutcome::Tree => "tree".into(),
        StepOutcome::Rejected { code, message } => format!("rejection {code} {message}"),
        StepOutcome::Fallback { failure, detail } => {
            format!("the flow's fallback tree ({failure}: {detail})")
        }
        StepOutcome::Failed {
            status: Some(status),
            detail,
        } => format!("FAILED (HTTP {status}): {detail}"),
        StepOutcome::Failed {
            status: None,
            detail,
        } => format!("FAILED: {detail}"),
    }
}

/// How the call ended, in a few words.
pub fn end_text(end: &End) -> String {
    match end {
        End::Terminal { module } => format!("at {module}"),
        End::EndOfTree => "the tree ended (a node with no `_` child): Kazoo hangs up".into(),
        End::HungUp { reason } => format!("hung up: {reason}"),
    }
}

/// `--json`: one object per step, one per line, then `{"end": …, "ok": …, "flow": …,
/// "steps": N}`.
pub fn json_lines(transcript: &Transcript) -> String {
    let mut out = String::new();
    for step in &transcript.steps {
        let _ = writeln!(out, "{}", serde_json::to_string(step).unwrap_or_default());
    }
    let end = serde_json::json!({
        "flow": transcript.flow,
        "steps": transcript.steps.len(),
        "end": transcript.end,
        "ok": transcript.ok,
    });
    let _ = writeln!(out, "{end}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::transcript::NodeLine;

    fn transcript() -> Transcript {
        Transcript {
            flow: "menu".into(),
            steps: vec![Step {
                number: 1,
                method: "GET".into(),
                url: "http://pf/pivot/menu".into(),
                changed: vec![("Call-ID".into(), "c1".into())],
                outcome: StepOutcome::Failed {
                    status: Some(500),
                    detail: "boom".into(),
                },
                nodes: vec![NodeLine {
                    module: "tts".into(),
                    main: "Sorry".into(),
                    result: None,
                    line: "tts \"Sorry\"".into(),
                }],
                rule: None,
                logs: vec![],
                ms: 1.25,
            }],
            end: End::EndOfTree,
            ok: false,
        }
    }

    #[test]
    fn text_shows_request_reply_nodes_and_end() {
        assert_eq!(
            text(&transcript()),
            "step 1 · GET http://pf/pivot/menu · 1.2 ms\n    Call-ID=c1\n  reply: FAILED (HTTP 500): boom\n  \
             the calling pivot node's `_` child runs:\n  ▸ tts \"Sorry\"\nend: the tree ended (a node \
             with no `_` child): Kazoo hangs up — call NOT OK\n"
        );
    }

    #[test]
    fn json_is_one_object_per_step_then_the_end() {
        let text = json_lines(&transcript());
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_default())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["outcome"]["kind"], "failed");
        assert_eq!(lines[0]["nodes"][0]["module"], "tts");
        assert_eq!(lines[1]["end"]["kind"], "end_of_tree");
        assert_eq!(lines[1]["ok"], false);
    }
}
