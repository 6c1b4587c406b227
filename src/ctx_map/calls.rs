//! The remaining ctx calls that map to one node or to an error: `record(name)`,
//! `waitForHangup()`, and the methods a Kazoo PBX cannot offer.

use crate::callflow::{Node, RecordCall, RecordingFormat, Sleep, SleepUnit};

/// How long `waitForHangup` holds a silent call before Kazoo ends it (a day: the caller hangs
/// up long before).
pub const HOLD_SECONDS: u64 = 86_400;

/// ctx methods of ScriptForge's media server that Kazoo has no module for.
pub const UNAVAILABLE: &[&str] = &["echo", "blockDtmf", "waitFor"];

/// `ctx.record(name)`: start recording the call, uploaded to `receiver_url` (this service's
/// recording receiver, see the README's "Recordings") under `name`; `.wav` names record WAV,
/// others MP3.
pub fn record(name: &str, receiver_url: &str) -> Node {
    let mut data = RecordCall::start();
    data.url = Some(receiver_url.to_owned());
    let name = name.trim();
    if !name.is_empty() {
        data.media_name = Some(name.to_owned());
    }
    let wav = name
        .rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("wav"));
    data.format = Some(if wav {
        RecordingFormat::Wav
    } else {
        RecordingFormat::Mp3
    });
    Node::new(data)
}

/// `ctx.waitForHangup()`: a node that keeps the call up (Kazoo hangs up at a tree's end, and
/// 4.3 has no `wait_for_hangup` module).
pub fn wait_for_hangup() -> Node {
    Node::new(Sleep::new(HOLD_SECONDS, SleepUnit::Seconds))
}

/// The script error for ctx method `method` when Kazoo cannot run it, else `None`.
pub fn unavailable(method: &str) -> Option<String> {
    UNAVAILABLE.contains(&method).then(|| {
        format!(
            "ctx.{method} is not available on a Kazoo PBX (it needs ScriptForge's media server): \
             remove the call"
        )
    })
}

/// The script error for `ctx.header(name, value)`: headers of the call can only be read.
pub fn header_set_error(name: &str) -> String {
    format!(
        "ctx.header({name:?}, value): SIP headers can't be set on a call in progress on Kazoo; \
         read them with ctx.header({name:?}), or store a value with ctx.set(key, value)"
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ctx_map::test_support::assert_valid;

    #[test]
    fn record_starts_an_upload_named_after_the_recording() {
        let node = record("greeting.wav", "https://pf.example.com/t/TOKEN/recordings");
        assert_valid(&node);
        assert_eq!(
            node.to_value()["data"],
            json!({"action": "start", "format": "wav", "media_name": "greeting.wav",
                   "url": "https://pf.example.com/t/TOKEN/recordings"})
        );
        let node = record(" ", "https://pf.example.com/recordings");
        assert_valid(&node);
        assert_eq!(node.to_value()["data"]["format"], "mp3");
        assert!(node.to_value()["data"].get("media_name").is_none());
    }

    #[test]
    fn wait_for_hangup_holds_the_call_on_both_versions() {
        let node = wait_for_hangup();
        assert_valid(&node);
        assert_eq!(node.module(), "sleep");
        assert_eq!(
            node.to_value()["data"],
            json!({"duration": 86_400, "unit": "s"})
        );
    }

    #[test]
    fn media_server_methods_are_script_errors_naming_the_method() {
        for method in UNAVAILABLE {
            let message = unavailable(method).unwrap_or_default();
            assert!(message.starts_with(&format!("ctx.{method} is not available on a Kazoo PBX")));
        }
        assert_eq!(unavailable("tts"), None);
        assert!(header_set_error("X-A").contains("can't be set"));
    }
}
