//! A simulated call in-process: the engine the server runs (rules, scripts, Class 5), on a fresh
//! store in a scratch folder (seeded from `lists/*.csv` and the setup, never the service's own:
//! a simulated call changes no real counter), its clock stopped at the call's instant, scripts'
//! `fetch` canned when the setup says so.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::play::{play, Transport};
use super::reply::WireReply;
use super::spec::{CallSpec, Method, Setup};
use super::transcript::{StepOutcome, Transcript};
use super::wire::{without_credentials, WireRequest};
use crate::config::Config;
use crate::engine::{AnswerError, Engine};
use crate::outcome::Outcome;
use crate::request::{BodyFormat, PivotRequest};
use crate::scratch::ScratchDir;
use crate::script::fetch::Fetcher;
use crate::store::{self, Store};

/// Plays `spec` in-process with the flows of `config`; `Err` only when the call can't start
/// (the store or the engine can't be made, no such flow).
pub fn play_offline(config: &Config, spec: &CallSpec, setup: &Setup) -> Result<Transcript, String> {
    let scratch = ScratchDir::create("pivotforge-call")
        .map_err(|e| format!("can't create a scratch folder for the call's store: {e}"))?;
    // Nothing of a simulated call outlives it: its commits need not wait for the disk.
    let store = store::open_scratch(scratch.path()).map_err(|e| e.to_string())?;
    let now = spec.at.unwrap_or_else(Utc::now);
    let engine = start(config, store.clone(), scratch.path(), setup)?;
    seed(&engine, store.as_ref(), config, spec, setup, now)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| format!("can't start the call's runtime: {e}"))?;
    let transport = InProcess::new(&engine, now);
    // Kazoo's schemas are the engine's: the ones every reply was already checked against.
    let transcript = runtime.block_on(play(&transport, spec, engine.schemas()));
    // The store's file closes before its folder goes.
    drop(engine);
    drop(store);
    drop(scratch);
    Ok(transcript)
}

/// The engine on the scratch store; the URL tokens derived under the scratch folder, not the
/// service's data folder.
fn start(
    config: &Config,
    store: Arc<dyn Store>,
    scratch: &std::path::Path,
    setup: &Setup,
) -> Result<Engine, String> {
    let mut config = config.clone();
    config.data_dir = scratch.to_path_buf();
    config
        .derive_url_tokens()
        .map_err(|e| format!("can't derive the URL tokens: {e}"))?;
    let fetcher = match &setup.fetch {
        Some(answers) => Fetcher::canned(answers.clone()),
        None => Fetcher::new().map_err(|e| format!("can't start fetch: {e}"))?,
    };
    Engine::start_with_fetcher(config.engine_options(), &config.pool, store, 1, 4, fetcher)
        .map_err(|e| e.to_string())
}

/// Checks the flow exists, then seeds the store: `lists/*.csv`, then the setup's entries.
fn seed(
    engine: &Engine,
    store: &dyn Store,
    config: &Config,
    spec: &CallSpec,
    setup: &Setup,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let registry = engine.registry();
    let Some(entry) = registry.get(&spec.flow) else {
        let names: Vec<&str> = registry.entries().map(|e| e.name.as_str()).collect();
        return Err(format!(
            "no flow named `{}`; loaded flows: {}",
            spec.flow,
            names.join(", ")
        ));
    };
    store::load_lists(store, &config.flows_dir.join("lists"))
        .map_err(|e| format!("lists/: {e}"))?;
    let own = match &entry.state {
        Ok(crate::flows::Flow::Script(script)) => script.settings.kv_space(&spec.flow),
        _ => format!("flow:{}", spec.flow),
    };
    for (ns, key, value) in &setup.kv {
        let ns = namespace(ns, &spec.flow, &own);
        store
            .kv_set(&ns, key, value, None, now.timestamp_millis())
            .map_err(|e| format!("kv {ns} {key}: {e}"))?;
    }
    for (area, key, value) in &setup.userspace {
        store
            .us_put(area, key, value)
            .map_err(|e| format!("userspace {area} {key}: {e}"))?;
    }
    Ok(())
}

/// The store namespace a setup's kv entry names: empty or the call's flow → that flow's own
/// (its shared one when its settings name one); `flow:X` / `shared:X` as written; any other name
/// a shared namespace.
fn namespace(ns: &str, flow: &str, own: &str) -> String {
    if ns.is_empty() || ns == flow {
        own.to_owned()
    } else if ns.starts_with("flow:") || ns.starts_with("shared:") {
        ns.to_owned()
    } else {
        format!("shared:{ns}")
    }
}

/// Requests answered by an engine, as the server's `/pivot` handler answers them, at one
/// instant: the transport of [`play_offline`], and of the console's whole-call runs.
pub struct InProcess<'a> {
    engine: &'a Engine,
    now: DateTime<Utc>,
}

impl<'a> InProcess<'a> {
    /// Requests to `engine`'s flows, each answered at `now`.
    pub fn new(engine: &'a Engine, now: DateTime<Utc>) -> InProcess<'a> {
        InProcess { engine, now }
    }
}

impl Transport for InProcess<'_> {
    fn first_url(&self, flow: &str) -> String {
        self.engine.options().pivot_link.flow_url(flow)
    }

    async fn send(&self, request: &WireRequest) -> WireReply {
        let Some(rest) = self.local_path(&request.url) else {
            return WireReply {
                error: Some(format!(
                    "in-process, a call reaches only this service's /pivot URLs ({}/pivot/…), \
                     not {}: use --url to play against a running service",
                    self.engine.options().public_url.trim_end_matches('/'),
                    super::wire::masked(&request.url)
                )),
                ..WireReply::default()
            };
        };
        let (flow, query) = rest.split_once('?').unwrap_or((rest.as_str(), ""));
        let (body, format) = match (&request.body, request.method) {
            (Some((format, body)), Method::Post) => (body.as_slice(), *format),
            _ => (&[][..], BodyFormat::Form),
        };
        let parsed = match PivotRequest::parse(query, body, format) {
            Ok(parsed) => parsed,
            Err(e) => {
                let body = serde_json::json!({"error": "bad_request", "detail": e.to_string()});
                return status(400, &body.to_string());
            }
        };
        match self.engine.answer(flow, &parsed, self.now).await {
            Ok(answer) => {
                let logs = answer
                    .logs
                    .iter()
                    .map(|l| format!("{}: {}", l.level, l.message))
                    .collect();
                WireReply {
                    rule: answer.rule.clone(),
                    logs,
                    ..reply_of(answer.outcome)
                }
            }
            Err(e @ (AnswerError::NotFound(_) | AnswerError::NotAFlowName(_))) => status(
                404,
                &serde_json::json!({"error": "not_found", "detail": e.to_string()}).to_string(),
            ),
            Err(e @ AnswerError::Overloaded(_)) => status(
                503,
                &serde_json::json!({"error": "overloaded", "detail": e.to_string()}).to_string(),
            ),
        }
    }
}

impl InProcess<'_> {
    /// `NAME?query` of a URL of this service's `/pivot` (credentials and a `/t/TOKEN` prefix
    /// aside), `None` for any other URL.
    fn local_path(&self, url: &str) -> Option<String> {
        let base = without_credentials(self.engine.options().public_url.trim_end_matches('/'));
        let url = without_credentials(url);
        let rest = url.strip_prefix(base.as_str())?;
        let rest = match rest.strip_prefix("/t/") {
            Some(tail) => &tail[tail.find('/')?..],
            None => rest,
        };
        rest.strip_prefix("/pivot/").map(str::to_owned)
    }
}

/// The reply the server's reply mapping sends for an outcome (`server/reply.rs`).
fn reply_of(outcome: Outcome) -> WireReply {
    let hint = match &outcome {
        Outcome::Tree(_) => Some(StepOutcome::Tree),
        Outcome::Rejected { code, message, .. } => Some(StepOutcome::Rejected {
            code: *code,
            message: message.clone(),
        }),
        Outcome::Fallback { failure, .. } => Some(StepOutcome::Fallback {
            failure: failure.kind.as_str().to_owned(),
            detail: failure.detail.clone(),
        }),
        Outcome::Failed(_) => None,
    };
    match (outcome.tree(), outcome.failure()) {
        (Some(tree), _) => WireReply {
            outcome: hint,
            ..status(200, &tree.to_string())
        },
        (None, failure) => {
            let body = serde_json::json!({
                "error": failure.map_or("flow failed", |f| f.kind.as_str()),
                "detail": failure.map_or("", |f| f.detail.as_str()),
            });
            status(500, &body.to_string())
        }
    }
}

fn status(code: u16, body: &str) -> WireReply {
    WireReply {
        status: Some(code),
        content_type: Some("application/json".into()),
        body: body.as_bytes().to_vec(),
        ..WireReply::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;
    use crate::sim::{CannedFetch, End};

    fn config() -> Config {
        let flows = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("callflows");
        Config::resolve(
            None,
            Overrides {
                flows: Some(flows),
                public_url: Some("http://pf.test".into()),
                ..Overrides::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn spec(flow: &str, params: &[(&str, &str)]) -> CallSpec {
        CallSpec {
            flow: flow.into(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            at: chrono::DateTime::parse_from_rfc3339("2026-12-24T15:00:00-05:00")
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            ..CallSpec::default()
        }
    }

    #[test]
    fn a_rule_flow_plays_at_the_calls_instant() {
        let transcript = play_offline(&config(), &spec("main_number_tod", &[]), &Setup::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(transcript.steps.len(), 1);
        let step = &transcript.steps[0];
        assert_eq!(step.rule.as_deref(), Some("closed for a holiday"));
        assert_eq!(step.url, "http://pf.test/pivot/main_number_tod");
        assert_eq!(
            step.nodes[0].line,
            "voicemail 9a8b7c6d5e4f30211a2b3c4d5e6f7a8b"
        );
        assert_eq!(
            transcript.end,
            End::Terminal {
                module: "voicemail".into()
            }
        );
        assert!(transcript.ok);
    }

    #[test]
    fn fetch_answers_from_the_canned_list_and_nothing_else() {
        let canned = Setup {
            fetch: Some(vec![CannedFetch {
                url: "https://crm.example.com/api/contacts?phone=%2B14155550100".into(),
                status: 200,
                body: r#"{"name": "Alice", "tier": "gold"}"#.into(),
            }]),
            ..Setup::default()
        };
        let call = spec("crm_lookup", &[]);
        let transcript = play_offline(&config(), &call, &canned).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = transcript.steps[0]
            .nodes
            .iter()
            .map(|n| n.line.as_str())
            .collect();
        assert_eq!(
            lines,
            [
                "tts \"Welcome back, Alice.\"",
                "bridge ring_group 7e6d5c4b3a2918070f1e2d3c4b5a6978, 6d5c4b3a29180706f5e4d3c2b1a09876 → answered"
            ]
        );
        assert!(transcript.ok);
        let none = Setup {
            fetch: Some(Vec::new()),
            ..Setup::default()
        };
        let transcript = play_offline(&config(), &call, &none).unwrap_or_else(|e| panic!("{e}"));
        let StepOutcome::Fallback { detail, .. } = &transcript.steps[0].outcome else {
            panic!("{:?}", transcript.steps[0].outcome)
        };
        assert!(
            detail.contains("no canned answer for https://crm.example.com/api/contacts"),
            "{detail}"
        );
        assert!(!transcript.ok);
    }

    #[test]
    fn userspace_seeds_reach_the_script_and_unknown_flows_are_named() {
        let seeded = Setup {
            userspace: vec![("dnc".into(), "+15555550123".into(), serde_json::json!(true))],
            ..Setup::default()
        };
        let call = spec("dnc_gate", &[("Caller-ID-Number", "+15555550123")]);
        let transcript = play_offline(&config(), &call, &seeded).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            transcript.steps[0].outcome,
            StepOutcome::Rejected {
                code: 603,
                message: "Denied (DNC)".into()
            }
        );
        assert_eq!(transcript.steps[0].nodes[0].line, "hangup 603 Denied (DNC)");
        let missing = play_offline(&config(), &spec("nope", &[]), &Setup::default());
        let err = missing.err().unwrap_or_default();
        assert!(
            err.contains("no flow named `nope`; loaded flows: ") && err.contains("main_number_tod"),
            "{err}"
        );
    }

    #[test]
    fn kv_seeds_reach_the_flows_namespace_and_foreign_urls_fail_the_pivot() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = [
            (
                "greet.js",
                "const { kv } = require('cxKV');\nasync function main() {\n  \
                 return { module: 'tts', data: { text: 'Hello ' + (await kv.get('name')) } };\n}\n",
            ),
            (
                "out.toml",
                "[default]\nmodule = \"pivot\"\ndata = { voice_url = \"https://elsewhere.example/ivr\" }\n\
                 [default.children._]\nmodule = \"tts\"\ndata = { text = \"PBX side.\" }\n",
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
        }
        let mut config = config();
        config.flows_dir = dir.path().to_path_buf();
        let seeded = Setup {
            kv: vec![(String::new(), "name".into(), serde_json::json!("Ada"))],
            ..Setup::default()
        };
        let greet =
            play_offline(&config, &spec("greet", &[]), &seeded).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(greet.steps[0].nodes[0].main, "Hello Ada");
        let out = play_offline(&config, &spec("out", &[]), &Setup::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let second = &out.steps[1];
        let StepOutcome::Failed {
            status: None,
            detail,
        } = &second.outcome
        else {
            panic!("{:?}", second.outcome)
        };
        assert!(
            detail.contains("https://elsewhere.example/ivr") && detail.contains("use --url"),
            "{detail}"
        );
        assert_eq!(
            second.nodes[0].line, "tts \"PBX side.\"",
            "the pivot node's `_` child"
        );
        assert_eq!(namespace("", "greet", "flow:greet"), "flow:greet");
        assert_eq!(namespace("team", "greet", "flow:greet"), "shared:team");
        assert_eq!(namespace("flow:other", "greet", "flow:greet"), "flow:other");
    }
}
