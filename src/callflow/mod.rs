//! Kazoo callflow trees: the typed model of every module's `data`, the node wire form, and
//! schema validation (see [`schema`]) of what is answered to a pivot request.
//!
//! The `modules!` list below is the one place a module is named; the JSON Schemas are generated
//! from the types (see [`generate`]).
//!
//! Field names, enums and ranges follow `reference/kazoo-pivot.md` §3. Unknown keys are kept
//! (in each struct's `extra`) because Kazoo's schemas allow them.

#[macro_use]
pub mod registry;
mod action;
pub mod generate;
mod node;
pub mod schema;

pub use action::ActionError;
pub use node::Node;
use registry::{opts, role, special, text, CallKind::*};
pub use registry::{Builder, CallKind, CallRole, ModuleSpec};
pub use schema::{SchemaError, Schemas};

// THE list of Kazoo modules: `file: Type, "what it does", script builder, call role;`. Each entry declares
// `callflow/file.rs` (the typed `data`, whose derives and attributes give the JSON Schema) and
// makes its `Action` variant and its `MODULES` row; the schemas, the validator, the module names
// in messages, the script builders and the README table all follow. After a change here or in a
// module's type, run `UPDATE_GENERATED=1 cargo test --lib generated_` to rewrite `schemas/` and
// the README table (tests fail until they match).
modules! {
    device: Device, "Ring one device.", text("device", "id", 0), role(Bridge, &["id"]);
    user: User, "Ring every device a user owns.", text("user", "id", 0), role(Bridge, &["id"]);
    voicemail: Voicemail, "Leave or check voicemail.", text("voicemail", "id", 0), role(Ends, &["id"]);
    ring_group: RingGroup, "Ring several endpoints.",
        special("ringGroup", "endpoints, opts, next"), role(Bridge, &["endpoints"]);
    resources: Resources, "Dial out through carriers.", special("resources", "toDid, opts, next"), role(Bridge, &["to_did"]);
    tts: Tts, "Speak text to the caller.", text("tts", "text", 1000), role(Speaks, &["text"]);
    play: Play, "Play a media file.", text("play", "id", 0), role(Next, &["id"]);
    collect_dtmf: CollectDtmf, "Collect digits the caller presses.",
        special("collectDtmf", "name, maxDigits, opts, next"), role(Collects, &["collection_name"]);
    send_dtmf: SendDtmf, "Send DTMF tones down the call.",
        special("sendDtmf", "digits, opts, next"), role(Next, &["digits"]);
    pivot: Pivot, "Ask a web service for the next callflow.",
        special("pivot", "flowOrUrl, opts, next"), role(Pivots, &["voice_url"]);
    conference: Conference, "Put the caller into a conference.", opts("conference"), role(Ends, &["id", "config/name"]);
    response: Response, "Answer the call with a SIP response and hang up.",
        special("response", "code, message, opts"), role(Rejects, &["code"]);
    manual_presence: ManualPresence, "Set a presence id's state.", None, role(Next, &["presence_id"]);
    record_call: RecordCall, "Start or stop recording the call.",
        special("recordCall", "action, opts, next"), role(Next, &["action"]);
    record_caller: RecordCaller, "Record the caller (e.g. a message).", None, role(Next, &["url"]);
    hangup: Hangup, "Hang up the call.", special("hangup", ""), role(Ends, &[]);
    set_cid: SetCid, "Replace the caller id.", special("setCid", "name, number, next"), role(Next, &["caller_id_number", "caller_id_name"]);
    prepend_cid: PrependCid, "Prefix the caller id.", None, role(Next, &["caller_id_number_prefix", "caller_id_name_prefix", "action"]);
    set_variables: SetVariables, "Store call variables.", None, role(Next, &["custom_application_vars"]);
    sleep: Sleep, "Pause the callflow.", None, role(Next, &["duration"]);
    language: Language, "Set the call's language.", None, role(Next, &["language"]);
    temporal_route: TemporalRoute, "Branch on time-of-day rules stored in the PBX.", None, role(Ends, &["id", "rules"]);
    menu: Menu, "Run a menu stored in the PBX.", None, role(Ends, &["id"]);
    callflow: Callflow, "Continue with a callflow stored in the PBX.", None, role(Ends, &["id"]);
}

pub use collect_dtmf::DtmfKey;
pub use conference::{Tone, WelcomePrompt};
pub use device::DialStrategy;
pub use manual_presence::PresenceStatus;
pub use pivot::{PivotMethod, ReqBodyFormat, ReqFormat};
pub use prepend_cid::{ApplyTo, PrependAction};
pub use record_call::{RecordCallAction, RecordingFormat, UploadMethod};
pub use ring_group::{Endpoint, EndpointType, RingStrategy};
pub use send_dtmf::DtmfDuration;
pub use sleep::SleepUnit;
pub use tts::TtsEngine;
pub use voicemail::VoicemailAction;

/// Branch key Kazoo takes when no other key matches.
pub const DEFAULT_CHILD: &str = "_";

/// Deepest tree (in nodes) that is parsed or validated; deeper ones are refused, not recursed.
pub const MAX_DEPTH: usize = 64;

/// Names people reach for (old Kazoo docs, TwiML verbs) that Kazoo 4.3 rejects, with the fix.
const MISTAKES: &[(&str, &str)] = &[
    ("say", "use `tts`"),
    ("speak", "use `tts`"),
    ("text_to_speech", "use `tts`"),
    ("gather", "use `collect_dtmf`"),
    ("collect", "use `collect_dtmf`"),
    ("dial", "use `device`, `user` or `resources`"),
    ("bridge", "use `device`, `user` or `resources`"),
    ("offnet", "use `resources`"),
    (
        "record",
        "use `record_call` (or `record_caller` to take a message)",
    ),
    ("reject", "use `response`"),
    ("redirect", "use `pivot`"),
    ("play_file", "use `play`"),
    ("pause", "use `sleep`"),
    ("wait", "use `sleep`"),
    ("hang_up", "use `hangup`"),
    ("ringgroup", "use `ring_group`"),
    ("send_digits", "use `send_dtmf`"),
    ("play_digits", "use `send_dtmf`"),
    ("set_caller_id", "use `set_cid`"),
    ("set_language", "use `language`"),
    ("set_variable", "use `set_variables`"),
    (
        "answer",
        "exists only in Kazoo master, not 4.3: leave it out",
    ),
    ("noop", "exists only in Kazoo master, not 4.3: leave it out"),
    (
        "wait_for_hangup",
        "exists only in Kazoo master, not 4.3: leave it out",
    ),
];

/// Advice for a module name that is a known mistake (e.g. `say` → "use `tts`"); `None` otherwise.
pub fn module_hint(name: &str) -> Option<&'static str> {
    if registry::find(name).is_some() {
        return None;
    }
    if let Some((_, hint)) = MISTAKES
        .iter()
        .find(|(wrong, _)| wrong.eq_ignore_ascii_case(name))
    {
        return Some(hint);
    }
    registry::names()
        .any(|module| module.eq_ignore_ascii_case(name))
        .then_some("module names are lower case")
}

/// The error text for an unknown module name: the hint if there is one, else the valid names.
pub fn unknown_module_message(name: &str) -> String {
    // Names can come from anywhere; keep the message a readable size.
    let shown: String = name.chars().take(64).collect();
    let ellipsis = if shown.len() < name.len() { "…" } else { "" };
    match module_hint(name) {
        Some(hint) => format!("unknown module `{shown}{ellipsis}`: {hint}"),
        None => format!(
            "unknown module `{shown}{ellipsis}`: expected one of {}",
            registry::names().collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{json, Value};

    use super::*;

    const BOX_ID: &str = "0123456789abcdef0123456789abcdef";

    /// One valid, fully populated `data` per module, each with an unknown key that must survive.
    pub(crate) fn examples() -> Vec<Value> {
        let datas = [
            (
                "device",
                json!({"id": "dev1", "timeout": 20, "delay": 0, "dial_strategy": "single",
                "can_call_self": false, "static_invite": "sip:100@pbx.example.com",
                "suppress_clid": true, "custom_sip_headers": {"X-Tag": "1"}}),
            ),
            (
                "user",
                json!({"id": "usr1", "timeout": 20, "delay": 2, "strategy": "simultaneous",
                "can_call_self": true, "fail_on_single_reject": true, "custom_sip_headers": {}}),
            ),
            (
                "voicemail",
                json!({"id": BOX_ID, "action": "check", "max_message_length": 500,
                "interdigit_timeout": 2000, "callerid_match_login": true,
                "single_mailbox_login": false}),
            ),
            (
                "ring_group",
                json!({"endpoints": [
                    {"endpoint_type": "device", "id": "dev1", "delay": 0, "timeout": 20,
                     "weight": 50, "x_endpoint": "kept"},
                    {"endpoint_type": "group", "id": "grp1"}],
                "strategy": "weighted_random", "timeout": 30, "repeats": 2,
                "ringback": "tone_stream://%(2000,4000,440,480)", "ignore_forward": true}),
            ),
            (
                "resources",
                json!({"to_did": "+14155550100", "use_local_resources": false,
                "caller_id_type": "external", "timeout": 45, "outbound_flags": ["fax"],
                "hunt_account_id": "acc1", "ignore_early_media": true, "bypass_e164": false,
                "custom_sip_headers": {"X-Route": "a"}}),
            ),
            (
                "tts",
                json!({"text": "Press one for sales", "voice": "male", "language": "en-us",
                "engine": "flite", "terminators": ["#"], "endless_playback": false}),
            ),
            (
                "play",
                json!({"id": "https://media.example.com/hello.mp3", "loop_count": 2,
                "endless_playback": false, "answer": true, "terminators": ["1", "2"]}),
            ),
            (
                "collect_dtmf",
                json!({"collection_name": "pin", "max_digits": 4, "timeout": 5000,
                "interdigit_timeout": 2000, "terminator": "#", "terminators": ["*", "#", "0"]}),
            ),
            (
                "send_dtmf",
                json!({"digits": "123#", "duration_ms": "2000"}),
            ),
            (
                "pivot",
                json!({"voice_url": "https://pf.example.com/pivot", "method": "post",
                "req_format": "kazoo", "req_body_format": "json", "req_timeout_ms": 3000,
                "debug": true, "cdr_url": "https://pf.example.com/cdr"}),
            ),
            (
                "conference",
                json!({"id": BOX_ID, "moderator": true, "config": {"name": "room"},
                "play_entry_tone": true, "play_exit_tone": "exit.mp3",
                "welcome_prompt": {"play": false, "media_id": "welcome", "x_prompt": 1}}),
            ),
            (
                "response",
                json!({"code": 486, "message": "Busy Here", "media": "busy.mp3"}),
            ),
            (
                "manual_presence",
                json!({"presence_id": "100@pbx.example.com", "status": "busy"}),
            ),
            (
                "record_call",
                json!({"action": "start", "format": "mp3",
                "url": "https://rec.example.com/up", "method": "put", "time_limit": 3600,
                "media_name": "call", "record_on_answer": true, "record_on_bridge": false,
                "record_min_sec": 2, "should_follow_transfer": true}),
            ),
            (
                "record_caller",
                json!({"url": "https://rec.example.com/msg", "format": "wav",
                "method": "post", "time_limit": 120}),
            ),
            ("hangup", json!({})),
            (
                "set_cid",
                json!({"caller_id_name": "Sales", "caller_id_number": "+14155550100"}),
            ),
            (
                "prepend_cid",
                json!({"action": "prepend", "apply_to": "current",
                "caller_id_name_prefix": "VIP ", "caller_id_number_prefix": "9"}),
            ),
            (
                "set_variables",
                json!({"custom_application_vars": {"step": "2", "n": 3},
                "export": true}),
            ),
            ("sleep", json!({"duration": 500, "unit": "ms"})),
            ("language", json!({"language": "en-us"})),
            (
                "temporal_route",
                json!({"rules": ["r1", "r2"], "id": "tr1"}),
            ),
            ("menu", json!({"id": "menu1"})),
            ("callflow", json!({"id": "cf1"})),
        ];
        datas
            .into_iter()
            .map(|(module, mut data)| {
                if let Some(map) = data.as_object_mut() {
                    map.insert("skip_module".into(), json!(false));
                    map.insert("x_unknown".into(), json!({"kept": [1, "two"]}));
                }
                json!({"module": module, "data": data})
            })
            .collect()
    }

    fn parse(value: &Value) -> Result<Node, serde_json::Error> {
        serde_json::from_value(value.clone())
    }

    #[test]
    fn examples_cover_every_module_in_order() {
        let modules: Vec<String> = examples()
            .iter()
            .map(|e| e["module"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(modules, registry::names().collect::<Vec<_>>());
    }

    #[test]
    fn every_module_round_trips_unchanged() {
        for example in examples() {
            let node = parse(&example).unwrap_or_else(|e| panic!("{example}: {e}"));
            assert_eq!(node.module(), example["module"]);
            assert_eq!(node.to_value(), example, "typed → JSON changed it");
            let text = serde_json::to_string(&node).unwrap_or_default();
            let again: Node = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(again, node, "JSON → typed changed it");
        }
    }

    #[test]
    fn unknown_keys_land_in_extra() {
        let node = parse(&examples()[5]).unwrap_or_else(|e| panic!("{e}"));
        let Action::Tts(tts) = node.action else {
            panic!("not tts")
        };
        assert_eq!(tts.extra["x_unknown"], json!({"kept": [1, "two"]}));
        assert_eq!(tts.engine, Some(TtsEngine::Flite));
    }

    #[test]
    fn nested_tree_round_trips() {
        let tree = json!({
            "module": "collect_dtmf", "data": {"collection_name": "menu"},
            "children": {
                "_": {"module": "pivot", "data": {"voice_url": "https://a.example/p", "req_format": "kazoo"}},
                "1": {"module": "tts", "data": {"text": "hi"},
                      "children": {"_": {"module": "hangup", "data": {}}}}
            }
        });
        let node = parse(&tree).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(node.children.len(), 2);
        assert_eq!(node.to_value(), tree);
    }

    #[test]
    fn empty_data_is_always_written_and_empty_children_never() {
        let value = Node::new(Hangup::new()).to_value();
        assert_eq!(value, json!({"module": "hangup", "data": {}}));
        let text = serde_json::to_string(&Node::new(Hangup::new())).unwrap_or_default();
        assert_eq!(text, r#"{"module":"hangup","data":{}}"#);
    }

    #[test]
    fn missing_data_reads_as_empty() {
        let node = parse(&json!({"module": "hangup"})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(node, Node::new(Hangup::new()));
        assert_eq!(node.to_value(), json!({"module": "hangup", "data": {}}));
    }

    #[test]
    fn null_data_is_refused() {
        assert!(parse(&json!({"module": "hangup", "data": null})).is_err());
    }

    #[test]
    fn builders_make_the_wire_form() {
        let tree = Node::new(CollectDtmf::new("choice", 1))
            .child("1", Node::new(Tts::new("Sales")))
            .default_child(Node::new(Response::new(486, "Busy Here")));
        assert_eq!(
            tree.to_value(),
            json!({"module": "collect_dtmf", "data": {"collection_name": "choice", "max_digits": 1},
                   "children": {
                       "1": {"module": "tts", "data": {"text": "Sales"}},
                       "_": {"module": "response", "data": {"code": 486, "message": "Busy Here"}}}})
        );
    }

    #[test]
    fn pivot_always_carries_kazoo_format() {
        let built = Node::new(Pivot::new("https://pf.example.com/p")).to_value();
        assert_eq!(built["data"]["req_format"], "kazoo");
        let read = parse(&json!({"module": "pivot", "data": {"voice_url": "https://x.example/"}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.to_value()["data"]["req_format"], "kazoo");
        let twiml = json!({"module": "pivot", "data": {"voice_url": "https://x.example/", "req_format": "twiml"}});
        assert_eq!(parse(&twiml).map(|n| n.to_value()).ok(), Some(twiml));
    }

    #[test]
    fn pivot_method_is_case_insensitive() {
        let node = parse(&json!({"module": "pivot",
            "data": {"voice_url": "https://x.example/", "method": "GET", "req_format": "kazoo"}}))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(node.to_value()["data"]["method"], "get");
        assert!(parse(&json!({"module": "pivot",
            "data": {"voice_url": "https://x.example/", "method": "put"}}))
        .is_err());
    }

    #[test]
    fn send_dtmf_duration_is_number_or_string() {
        for duration in [json!(250), json!("250")] {
            let tree =
                json!({"module": "send_dtmf", "data": {"digits": "1", "duration_ms": duration}});
            assert_eq!(parse(&tree).map(|n| n.to_value()).ok(), Some(tree));
        }
    }

    #[test]
    fn constructors_fill_required_fields() {
        let cases: Vec<(Action, Value)> = vec![
            (Device::new("d").into(), json!({"id": "d"})),
            (User::new("u").into(), json!({"id": "u"})),
            (Voicemail::new(BOX_ID).into(), json!({"id": BOX_ID})),
            (
                RingGroup::new(vec![Endpoint::new(EndpointType::User, "u")]).into(),
                json!({"endpoints": [{"endpoint_type": "user", "id": "u"}]}),
            ),
            (Resources::to("+1").into(), json!({"to_did": "+1"})),
            (Play::new("m").into(), json!({"id": "m"})),
            (SendDtmf::new("1").into(), json!({"digits": "1"})),
            (
                Conference::ad_hoc("r").into(),
                json!({"config": {"name": "r"}}),
            ),
            (
                ManualPresence::new("p", PresenceStatus::Ringing).into(),
                json!({"presence_id": "p", "status": "ringing"}),
            ),
            (RecordCall::stop().into(), json!({"action": "stop"})),
            (
                RecordCaller::new("https://r/").into(),
                json!({"url": "https://r/"}),
            ),
            (
                SetCid::new("n", "1").into(),
                json!({"caller_id_name": "n", "caller_id_number": "1"}),
            ),
            (
                Sleep::new(2, SleepUnit::Seconds).into(),
                json!({"duration": 2, "unit": "s"}),
            ),
            (Language::new("fr").into(), json!({"language": "fr"})),
            (Menu::new("m").into(), json!({"id": "m"})),
            (Callflow::new("c").into(), json!({"id": "c"})),
        ];
        for (action, data) in cases {
            let module = action.module();
            assert_eq!(
                Node::new(action).to_value(),
                json!({"module": module, "data": data})
            );
        }
    }

    #[test]
    fn unknown_module_gives_a_hint() {
        let err = parse(&json!({"module": "say", "data": {"text": "hi"}}))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown module `say`: use `tts`"), "{err}");
        for (wrong, right) in [
            ("speak", "tts"),
            ("gather", "collect_dtmf"),
            ("dial", "device"),
            ("bridge", "resources"),
            ("record", "record_call"),
            ("reject", "response"),
            ("redirect", "pivot"),
            ("play_file", "play"),
            ("Say", "tts"),
        ] {
            let hint = module_hint(wrong).unwrap_or_default();
            assert!(hint.contains(&format!("`{right}`")), "{wrong}: {hint}");
        }
        assert_eq!(module_hint("tts"), None);
        assert_eq!(module_hint("Hangup"), Some("module names are lower case"));
        assert!(unknown_module_message("frobnicate").contains("expected one of device, user,"));
    }

    #[test]
    fn bad_data_names_the_module() {
        let err = parse(&json!({"module": "tts", "data": {}}))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`tts`") && err.contains("text"), "{err}");
    }

    #[test]
    fn deep_trees_are_refused_when_parsed() {
        let mut tree = json!({"module": "hangup", "data": {}});
        for _ in 0..MAX_DEPTH {
            tree = json!({"module": "sleep", "data": {}, "children": {"_": tree}});
        }
        let err = parse(&tree)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("deeper than 64"), "{err}");

        let mut ok = json!({"module": "hangup", "data": {}});
        for _ in 1..MAX_DEPTH {
            ok = json!({"module": "sleep", "data": {}, "children": {"_": ok}});
        }
        assert!(parse(&ok).is_ok());
        // The counter must be back to zero after both the failure and the success.
        assert!(parse(&ok).is_ok());
    }
}
