//! What Kazoo makes of one reply (reference §2, §5): a tree to run, or a failed pivot — the
//! calling node's `_` child for a non-200, a timeout or a refused connection; a hang-up for a 200
//! it can't use (no JSON Content-Type, empty, invalid JSON, failing its schemas or holding a
//! module its version lacks).

use serde_json::Value;

use super::line::master_only;
use super::spec::KazooVersion;
use super::transcript::StepOutcome;
use crate::callflow::Schemas;
use crate::ctx_map::versions;

/// One reply as a transport got it.
#[derive(Debug, Clone, Default)]
pub struct WireReply {
    /// The HTTP status; `None` when no reply came (timeout, refused connection).
    pub status: Option<u16>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
    /// Why no reply came, when none did.
    pub error: Option<String>,
    /// In-process: what the engine said the reply was (a fallback, a rejection).
    pub outcome: Option<StepOutcome>,
    /// In-process: the rule that matched.
    pub rule: Option<String>,
    /// In-process: the script's log lines.
    pub logs: Vec<String>,
}

/// Kazoo's verdict on a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A tree to run, and what it was.
    Run(Value, StepOutcome),
    /// The pivot failed: the calling node's `_` child runs.
    Failed(StepOutcome),
    /// Kazoo hangs up.
    HangUp(StepOutcome),
}

/// Judges `reply` as `kazoo` would, validating trees with `schemas`.
pub fn judge(reply: &WireReply, kazoo: KazooVersion, schemas: &Schemas) -> Verdict {
    let failed = |detail: String| StepOutcome::Failed {
        status: reply.status,
        detail,
    };
    let Some(status) = reply.status else {
        let why = reply.error.clone().unwrap_or_else(|| "no reply".into());
        return Verdict::Failed(failed(why));
    };
    if status != 200 && status != 206 {
        let body = String::from_utf8_lossy(&reply.body);
        let shown: String = body.chars().take(300).collect();
        return Verdict::Failed(failed(format!("HTTP {status}: {shown}")));
    }
    let mime = reply
        .content_type
        .as_deref()
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    if mime.as_deref() != Some("application/json") {
        let got = reply.content_type.as_deref().unwrap_or("none");
        return Verdict::HangUp(failed(format!(
            "Content-Type is {got}, not application/json: Kazoo reads the reply as TwiML and hangs up"
        )));
    }
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        return Verdict::HangUp(failed("200 with an empty body: Kazoo hangs up".into()));
    }
    let tree: Value = match serde_json::from_slice(&reply.body) {
        Ok(tree) => tree,
        Err(e) => {
            return Verdict::HangUp(failed(format!(
                "200 with a body that is not JSON ({e}): Kazoo hangs up"
            )))
        }
    };
    if let Err(errors) = valid_for(kazoo, schemas, &tree) {
        return Verdict::HangUp(failed(format!(
            "the tree fails {}'s schemas, so it hangs up: {errors}",
            kazoo.name()
        )));
    }
    let outcome = reply.outcome.clone().unwrap_or_else(|| classify(&tree));
    Verdict::Run(tree, outcome)
}

/// A valid tree whose root is a `response` is a rejection; any other a tree.
fn classify(tree: &Value) -> StepOutcome {
    if tree["module"] == "response" {
        let code = tree["data"]["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok());
        if let Some(code) = code {
            let message = tree["data"]["message"].as_str().unwrap_or("").to_owned();
            return StepOutcome::Rejected { code, message };
        }
    }
    StepOutcome::Tree
}

/// Checks `tree` against `kazoo`'s modules and the callflow schemas (master's own modules, which
/// the schemas of 4.3 don't list, checked by their shape only).
fn valid_for(kazoo: KazooVersion, schemas: &Schemas, tree: &Value) -> Result<(), String> {
    let version = match kazoo {
        KazooVersion::V43 => versions::KazooVersion::V4_3,
        KazooVersion::Master => versions::KazooVersion::Master,
    };
    let joined = |errors: Vec<crate::callflow::SchemaError>| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    versions::check_for(version, tree).map_err(joined)?;
    let checked = match kazoo {
        KazooVersion::V43 => schemas.validate(tree),
        KazooVersion::Master => schemas.validate(&without_master_modules(tree, 0)),
    };
    checked.map_err(joined)
}

/// `tree` with each master-only node made a `sleep` with the same children, so the schemas
/// check the rest.
fn without_master_modules(tree: &Value, depth: usize) -> Value {
    let mut node = tree.clone();
    if depth > crate::callflow::MAX_DEPTH {
        return node;
    }
    if let Some(map) = node.as_object_mut() {
        if map
            .get("module")
            .and_then(Value::as_str)
            .is_some_and(master_only)
        {
            map.insert("module".into(), "sleep".into());
            map.insert("data".into(), Value::Object(serde_json::Map::new()));
        }
        if let Some(Value::Object(children)) = map.get_mut("children") {
            for child in children.values_mut() {
                *child = without_master_modules(child, depth + 1);
            }
        }
    }
    node
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reply(status: Option<u16>, content_type: &str, body: &Value) -> WireReply {
        WireReply {
            status,
            content_type: Some(content_type.to_owned()),
            body: body.to_string().into_bytes(),
            ..WireReply::default()
        }
    }

    #[test]
    fn non_200s_fail_the_pivot_and_unusable_200s_hang_up() {
        let schemas = Schemas::new();
        let tree = json!({"module": "tts", "data": {"text": "hi"}});
        let ok = judge(
            &reply(Some(200), "application/json", &tree),
            KazooVersion::V43,
            &schemas,
        );
        assert_eq!(ok, Verdict::Run(tree.clone(), StepOutcome::Tree));
        let gone = judge(
            &reply(Some(500), "application/json", &json!({"error": "x"})),
            KazooVersion::V43,
            &schemas,
        );
        assert!(
            matches!(
                gone,
                Verdict::Failed(StepOutcome::Failed {
                    status: Some(500),
                    ..
                })
            ),
            "{gone:?}"
        );
        let timeout = WireReply {
            error: Some("no reply within 5000 ms".into()),
            ..WireReply::default()
        };
        assert!(matches!(
            judge(&timeout, KazooVersion::V43, &schemas),
            Verdict::Failed(_)
        ));
        let html = judge(
            &reply(Some(200), "text/html", &tree),
            KazooVersion::V43,
            &schemas,
        );
        assert!(matches!(html, Verdict::HangUp(_)), "{html:?}");
        let bad = json!({"module": "tts", "data": {}});
        let invalid = judge(
            &reply(Some(200), "application/json", &bad),
            KazooVersion::V43,
            &schemas,
        );
        assert!(matches!(invalid, Verdict::HangUp(_)), "{invalid:?}");
        let busy = json!({"module": "response", "data": {"code": 486, "message": "Busy"}});
        let rejected = judge(
            &reply(Some(200), "application/json; charset=utf-8", &busy),
            KazooVersion::V43,
            &schemas,
        );
        assert_eq!(
            rejected,
            Verdict::Run(
                busy,
                StepOutcome::Rejected {
                    code: 486,
                    message: "Busy".into()
                }
            )
        );
    }

    #[test]
    fn master_modules_pass_on_master_only() {
        let schemas = Schemas::new();
        let tree = json!({"module": "answer", "data": {}, "children": {"_": {"module": "tts", "data": {"text": "hi"}}}});
        let on_43 = judge(
            &reply(Some(200), "application/json", &tree),
            KazooVersion::V43,
            &schemas,
        );
        let Verdict::HangUp(StepOutcome::Failed { detail, .. }) = on_43 else {
            panic!("{on_43:?}")
        };
        assert!(detail.contains("exists only in Kazoo master"), "{detail}");
        let on_master = judge(
            &reply(Some(200), "application/json", &tree),
            KazooVersion::Master,
            &schemas,
        );
        assert!(matches!(on_master, Verdict::Run(..)), "{on_master:?}");
        let broken = json!({"module": "answer", "data": {}, "children": {"_": {"module": "tts", "data": {}}}});
        let still = judge(
            &reply(Some(200), "application/json", &broken),
            KazooVersion::Master,
            &schemas,
        );
        assert!(
            matches!(still, Verdict::HangUp(_)),
            "the rest is still checked: {still:?}"
        );
    }
}
