//! JUnit XML for CI systems: one `<testsuite>` per scenario file, one `<testcase>` per
//! scenario, a `<failure>` whose message and body are the diff. Text is escaped for XML 1.0,
//! and characters XML can't carry at all (most control characters) are written as `?`.

use std::fmt::Write;

/// One scenario's result, as JUnit needs it.
#[derive(Debug, Clone)]
pub struct Case {
    /// The scenario's name.
    pub name: String,
    /// The flow it plays (the `classname`).
    pub flow: String,
    /// Where it is: `file:line`.
    pub location: String,
    /// Seconds it took.
    pub seconds: f64,
    /// The diff (or why it could not run) when it failed.
    pub failure: Option<String>,
}

/// One scenario file's results.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The file, as given.
    pub file: String,
    /// Its scenarios, in file order.
    pub cases: Vec<Case>,
}

/// The whole report.
pub fn render(suites: &[Suite]) -> String {
    let count = |f: fn(&Case) -> bool| {
        suites
            .iter()
            .flat_map(|s| &s.cases)
            .filter(|c| f(c))
            .count()
    };
    let tests = count(|_| true);
    let failures = count(|c| c.failure.is_some());
    let seconds: f64 = suites
        .iter()
        .flat_map(|s| &s.cases)
        .map(|c| c.seconds)
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"pivotforge test\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{seconds:.3}\">"
    );
    for suite in suites {
        let failed = suite.cases.iter().filter(|c| c.failure.is_some()).count();
        let time: f64 = suite.cases.iter().map(|c| c.seconds).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{time:.3}\">",
            escape(&suite.file),
            suite.cases.len()
        );
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\"",
                escape(&case.name),
                escape(&case.flow),
                escape(&case.location),
                case.seconds
            );
            match &case.failure {
                None => out.push_str("/>\n"),
                Some(diff) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"scenario\">{}</failure>\n    </testcase>",
                        escape(diff),
                        escape(diff)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Escapes text for an XML attribute or element body. Line breaks and tabs in attributes are
/// written as character references, which XML parsers keep (a raw one would be normalised to a
/// space).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if allowed(c) => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// XML 1.0's `Char` production, less what is escaped above.
fn allowed(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_breaks_and_forbidden_characters() {
        assert_eq!(
            escape("<tts \"a\" & 'b'>\n\tx\u{1}y\u{7f}é"),
            "&lt;tts &quot;a&quot; &amp; &apos;b&apos;&gt;&#10;&#9;x?y\u{7f}é"
        );
        assert_eq!(escape("]]> \u{FFFE} \u{1F600}"), "]]&gt; ? \u{1F600}");
    }

    #[test]
    fn one_testcase_per_scenario_and_a_failure_with_the_diff() {
        let suites = [Suite {
            file: "tests/a&b.toml".into(),
            cases: vec![
                Case {
                    name: "ok <1>".into(),
                    flow: "menu".into(),
                    location: "tests/a&b.toml:1".into(),
                    seconds: 0.001,
                    failure: None,
                },
                Case {
                    name: "bad".into(),
                    flow: "menu".into(),
                    location: "tests/a&b.toml:9".into(),
                    seconds: 0.002,
                    failure: Some("  >> expected 1: tts \"x\" <b>".into()),
                },
            ],
        }];
        let xml = render(&suites);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"pivotforge test\" tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("<testsuite name=\"tests/a&amp;b.toml\" tests=\"2\" failures=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("<testcase name=\"ok &lt;1&gt;\" classname=\"menu\" file=\"tests/a&amp;b.toml:1\" time=\"0.001\"/>"), "{xml}");
        assert!(xml.contains("<failure message=\"  &gt;&gt; expected 1: tts &quot;x&quot; &lt;b&gt;\" type=\"scenario\">"), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert!(xml.ends_with("</testsuite>\n</testsuites>\n"));
    }
}
