//! What a transcript says of one node: its role on the call and its main field, read from the
//! module registry (`modules!` in `callflow/mod.rs`), and the line printed for it.

use serde_json::Value;

use super::spec::KazooVersion;
use crate::callflow::{registry, CallKind, CallRole};

/// Modules only Kazoo master has (reference §3): not in the registry, which lists 4.3's.
const MASTER_ONLY: &[(&str, CallKind)] = &[
    ("answer", CallKind::Next),
    ("noop", CallKind::Next),
    ("wait_for_hangup", CallKind::Ends),
];

/// The role of `module` on `kazoo`, or `None` when that Kazoo has no such module.
pub fn role_of(module: &str, kazoo: KazooVersion) -> Option<CallRole> {
    if let Some(spec) = registry::find(module) {
        return Some(spec.call);
    }
    let (_, kind) = MASTER_ONLY.iter().find(|(name, _)| *name == module)?;
    (kazoo == KazooVersion::Master).then_some(CallRole {
        kind: *kind,
        main: &[],
    })
}

/// Whether `module` exists only in Kazoo master.
pub fn master_only(module: &str) -> bool {
    MASTER_ONLY.iter().any(|(name, _)| *name == module)
}

/// The node's main field as text: the first of the role's fields present in `data`.
pub fn main_of(role: &CallRole, data: &Value) -> String {
    role.main
        .iter()
        .find_map(|path| {
            path.split('/')
                .try_fold(data, |v, key| v.get(key))
                .filter(|v| !v.is_null())
        })
        .map(show)
        .unwrap_or_default()
}

/// A field's value as a transcript shows it: text as is, a list of endpoints by their ids.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| item.get("id").map_or_else(|| show(item), show))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// The transcript line of a node: `tts "…"`, `collect menu (max 1) ← "1"`, `bridge device
/// 3f1c… → NO_ANSWER`, `pivot → /pivot/collected`, `hangup 486 User Busy`, `voicemail 9a8b…`.
pub fn line(
    module: &str,
    kind: CallKind,
    main: &str,
    data: &Value,
    result: Option<&str>,
) -> String {
    let result = result.unwrap_or("");
    let joined = |head: &str| {
        if main.is_empty() {
            head.to_owned()
        } else {
            format!("{head} {main}")
        }
    };
    match kind {
        CallKind::Speaks => format!("{module} {main:?}"),
        CallKind::Collects => {
            let max = data.get("max_digits").and_then(Value::as_u64).unwrap_or(1);
            format!("collect {main} (max {max}) ← {result:?}")
        }
        CallKind::Bridge => format!("bridge {} → {result}", joined(module)),
        CallKind::Pivots => format!("pivot → {result}"),
        CallKind::Rejects => {
            let message = data.get("message").and_then(Value::as_str).unwrap_or("");
            format!("hangup {main} {message}").trim_end().to_owned()
        }
        CallKind::Next | CallKind::Ends => joined(module),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_and_main_fields_come_from_the_registry() {
        let tts = role_of("tts", KazooVersion::V43).map(|r| r.kind);
        assert_eq!(tts, Some(CallKind::Speaks));
        assert_eq!(role_of("noop", KazooVersion::V43), None, "4.3 has no noop");
        assert_eq!(
            role_of("wait_for_hangup", KazooVersion::Master).map(|r| r.kind),
            Some(CallKind::Ends)
        );
        let conference = role_of("conference", KazooVersion::V43).unwrap_or(CallRole {
            kind: CallKind::Next,
            main: &[],
        });
        assert_eq!(
            main_of(&conference, &json!({"config": {"name": "room"}})),
            "room"
        );
        let group = role_of("ring_group", KazooVersion::V43).map(|r| {
            main_of(
                &r,
                &json!({"endpoints": [{"endpoint_type": "user", "id": "u1"}, {"id": "d2"}]}),
            )
        });
        assert_eq!(group.as_deref(), Some("u1, d2"));
    }

    #[test]
    fn lines_read_as_the_transcript_shows_them() {
        let data = json!({"code": 486, "message": "User Busy"});
        assert_eq!(
            line("response", CallKind::Rejects, "486", &data, None),
            "hangup 486 User Busy"
        );
        let collect = json!({"collection_name": "custom_name", "max_digits": 4});
        assert_eq!(
            line(
                "collect_dtmf",
                CallKind::Collects,
                "custom_name",
                &collect,
                Some("1234")
            ),
            "collect custom_name (max 4) ← \"1234\""
        );
        assert_eq!(
            line(
                "device",
                CallKind::Bridge,
                "3f1c",
                &json!({}),
                Some("NO_ANSWER")
            ),
            "bridge device 3f1c → NO_ANSWER"
        );
        assert_eq!(
            line("tts", CallKind::Speaks, "Hi \"you\"", &json!({}), None),
            "tts \"Hi \\\"you\\\"\""
        );
        assert_eq!(
            line("hangup", CallKind::Ends, "", &json!({}), None),
            "hangup"
        );
    }
}
