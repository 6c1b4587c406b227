//! The inputs from outside that pivotforge parses, each as one function from arbitrary bytes:
//! what the `cargo fuzz` targets (`fuzz/`) call, and what the stable corpus test
//! (`tests/fuzz_corpus.rs`) feeds every saved corpus file to. A function returns normally for
//! any input; a panic is a bug (and the properties checked here are what a request relies on).
//!
//! [`TARGETS`] is the one list: the fuzz targets, the corpus folders and the test follow it.

use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use crate::auth::PivotLink;
use crate::callflow::Schemas;
use crate::flows::rules::{self, LoadContext};
use crate::flows::template::{StaticScope, Template};
use crate::recordings::{layout, UploadName};
use crate::request::{BodyFormat, PivotRequest};
use crate::script::class5::journal;
use crate::script::FlowSettings;

/// A fuzz target: its name (the `fuzz/fuzz_targets/NAME.rs` file and the `fuzz/corpus/NAME/`
/// folder) and the function it calls.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    ("request", request),
    ("rule_file", rule_file),
    ("template", template),
    ("recording_url", recording_url),
    ("journal", journal_text),
];

const PUBLIC_URL: &str = "https://pivot.example.com";

/// A fixed instant, so a run depends on its input only.
fn instant() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_000_000, 0).unwrap_or_default()
}

/// `data` cut at its first NUL byte: two inputs from one (the second empty when there is none).
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// A pivot request: the query before the first NUL, the body after it, read as a form and as
/// JSON; a parsed request is read back by every name a flow may ask for.
pub fn request(data: &[u8]) {
    let (query, body) = split(data);
    let query = String::from_utf8_lossy(query);
    for format in [BodyFormat::Form, BodyFormat::Json] {
        if let Ok(req) = PivotRequest::parse(&query, body, format) {
            let _ = req.to_value();
            for name in [
                "Call-ID",
                "Caller-ID-Number",
                "Digits.default",
                "Custom-SIP-Headers.X",
            ] {
                let _ = req.get(name);
            }
        }
    }
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(Schemas::new)
}

/// A rule flow's file, as TOML and as JSON; a flow that loads is evaluated for a request.
pub fn rule_file(data: &[u8]) {
    let (text, query) = split(data);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let link = PivotLink::plain(PUBLIC_URL);
    let defaults = FlowSettings::default();
    let cx = LoadContext {
        schemas: schemas(),
        public_url: PUBLIC_URL,
        pivot_link: &link,
        script_defaults: &defaults,
        tests_dir: Path::new("callflows/tests"),
    };
    let req = PivotRequest::parse(&String::from_utf8_lossy(query), &[], BodyFormat::Form)
        .unwrap_or_default();
    for file in ["fuzz.toml", "fuzz.json"] {
        if let Ok(flow) = rules::load(Path::new(file), text, &cx) {
            let _ = flow.evaluate(&req, instant());
        }
    }
}

/// A `{{…}}` template (before the first NUL) rendered for the request whose query follows it.
pub fn template(data: &[u8]) {
    let (source, query) = split(data);
    let Ok(source) = std::str::from_utf8(source) else {
        return;
    };
    let vars = serde_json::Map::new();
    let scope = StaticScope {
        vars: &vars,
        public_url: PUBLIC_URL,
        recordings_url: "https://pivot.example.com/recordings",
    };
    if let Ok(template) = Template::parse(source, &scope) {
        let req = PivotRequest::parse(&String::from_utf8_lossy(query), &[], BodyFormat::Form)
            .unwrap_or_default();
        let _ = template.render(&req);
    }
}

/// A recording upload's URL: the path after `/recordings` and the query (split at the first
/// `?`). What it names must stay inside the recordings folder.
pub fn recording_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (tail, query) = text.split_once('?').unwrap_or((&text, ""));
    let Ok(name) = UploadName::parse(tail, query) else {
        return;
    };
    let details = &name.details;
    let ext = crate::recordings::format::extension(name.format);
    let _ = layout::recording_id(&details.account_id, &name.stem, &details.recording_id, ext);
    let relative = layout::relative_path(
        &details.account_id,
        instant(),
        &name.stem,
        &details.recording_id,
        ext,
    );
    let root = Path::new("/srv/recordings");
    let resolved = layout::resolve(root, &relative);
    let inside = resolved
        .as_deref()
        .is_some_and(|path| path.starts_with(root) && path != root);
    assert!(inside, "{relative:?} leaves the recordings folder");
}

/// A Class 5 journal as stored (or as a `run --journal` file holds it), and every request
/// placed against it.
pub fn journal_text(data: &[u8]) {
    let Ok(decoded) = journal::decode(data) else {
        return;
    };
    let encoded = journal::encode(&decoded);
    assert!(
        journal::decode(encoded.as_bytes()).is_ok(),
        "a journal that decoded does not decode once written again: {encoded}"
    );
    for n in 0..decoded.steps.len() + 2 {
        for stored in [false, true] {
            let _ = journal::place(&decoded, stored, n, 256, "fuzz");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_takes_empty_and_odd_input() {
        for (name, target) in TARGETS {
            for input in [&b""[..], b"\0", b"\xff\xfe", b"{}", b"?&=%"] {
                target(input);
            }
            assert!(!name.is_empty());
        }
    }

    #[test]
    fn a_recording_url_is_resolved_inside_the_folder() {
        recording_url(
            b"/call_recording_abc.mp3?call_id=abc&account_id=0123456789abcdef0123456789abcdef",
        );
        let traversal = std::panic::catch_unwind(|| recording_url(b"/..%2F..%2Fetc%2Fpasswd.mp3"));
        assert!(
            traversal.is_ok(),
            "a hostile name is refused or encoded, never a panic"
        );
    }
}
