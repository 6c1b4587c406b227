//! One request of a Class 5 call: reads the step token (`?step=N`, kept by Kazoo in front of
//! its own parameters) and the call's journal, resolves what the last step left waiting for
//! (the digits of an `ivr`), replays the script on the JS pool, builds the reply, and saves
//! the journal (compare-and-set) before the reply leaves. A retried step gets its stored reply
//! again and changes nothing; a request the journal can't place gets a failure, never a tree
//! built from a half-matched journal.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::effects::{CallInfo, Effects};
use super::journal::{self, Entry, Journal, Pending, Placement, Step};
use super::replies::{Replies, Reply};
use super::{ops, Class5Config, StepOutput};
use crate::auth::{PivotLink, PivotTarget};
use crate::callflow::{Hangup, Node, Response};
use crate::ctx_map::{self, calls};
use crate::outcome::{Failure, FailureKind};
use crate::request::PivotRequest;
use crate::script::{JsPool, LogLine, Overloaded, ScriptErrorKind, ScriptFailure, ScriptFlow};
use crate::store::Store;

/// Checks a reply tree (the schemas and the size limit), giving its size in bytes.
pub type Verify<'a> = &'a (dyn Fn(&Value) -> Result<usize, Failure> + Send + Sync);

/// What a Class 5 step needs from the service.
pub struct StepContext<'a> {
    /// The JS pool (and, through its services, the store).
    pub pool: &'a JsPool,
    /// How pivots back to this service are written.
    pub link: &'a PivotLink,
    /// The journal's bounds.
    pub config: &'a Class5Config,
    /// The reply check.
    pub verify: Verify<'a>,
}

/// One answered Class 5 request.
#[derive(Debug)]
pub struct StepAnswer {
    /// The tree to send, or why there is none (the flow's fallback or a 500 follows).
    pub tree: Result<Value, Failure>,
    /// The script's console lines.
    pub logs: Vec<LogLine>,
    /// Time the script ran on its JS thread, when it ran.
    pub script: Option<Duration>,
    /// The version the step ran when the call keeps an older one than the flow's.
    pub pinned: Option<String>,
    /// The tree's JSON text as the step stored it, when it did: sent as it is.
    pub raw: Option<Box<RawValue>>,
}

impl StepAnswer {
    fn failed(kind: FailureKind, detail: String) -> StepAnswer {
        StepAnswer {
            tree: Err(Failure {
                kind,
                detail,
                errors: Vec::new(),
            }),
            logs: Vec::new(),
            script: None,
            pinned: None,
            raw: None,
        }
    }

    fn tree(tree: Value) -> StepAnswer {
        StepAnswer {
            tree: Ok(tree),
            logs: Vec::new(),
            script: None,
            pinned: None,
            raw: None,
        }
    }

    /// The reply a step stored, sent again as the text it was stored as.
    fn stored(step: &Step) -> StepAnswer {
        StepAnswer {
            raw: Some(step.reply.clone()),
            ..StepAnswer::tree(step.reply_value())
        }
    }
}

fn journal_failure(detail: String) -> StepAnswer {
    StepAnswer::failed(FailureKind::ScriptError, detail)
}

/// The step token a request carries: `step=N` (none: the call's first request).
fn token(req: &PivotRequest) -> Result<usize, String> {
    match req.extra.get("step") {
        None => Ok(0),
        Some(Value::String(s)) => s.parse().map_err(|_| bad_token(s)),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| bad_token(&n.to_string())),
        Some(other) => Err(bad_token(&other.to_string())),
    }
}

fn bad_token(shown: &str) -> String {
    let shown: String = shown.chars().take(32).collect();
    format!("the step token `{shown}` is not a step number: pivots of a Class 5 flow carry ?step=N")
}

/// The `collect_dtmf` collection of the `ivr` asked in request `n`: fresh for every step, as
/// Kazoo keeps collections for the whole call.
fn collection(n: usize) -> String {
    format!("pf_step{n}")
}

/// The pivot back to the flow for request `n` (after a failed bridge: with the branch taken,
/// see [`ctx_map::bridge`]), made by the one builder of pivot nodes, which keeps the `?query`
/// after the flow name.
fn pivot(link: &PivotLink, flow: &str, n: usize, branch: Option<&str>) -> Node {
    let query = match branch {
        None => format!("step={n}"),
        Some(key) => format!("step={n}&{}", ctx_map::outcome_param(key)),
    };
    // Built as the parsed form directly: the name is a loaded flow's and the query is ours.
    let target = PivotTarget::Flow {
        name: flow,
        query: Some(&query),
    };
    Node::new(link.pivot(target))
}

/// The first request as `main`'s `data`: what the script saw then, every replay sees.
fn first_data(req: &PivotRequest) -> Value {
    let mut data = serde_json::to_value(req).unwrap_or_else(|_| json!({}));
    if let Some(map) = data.as_object_mut() {
        map.remove("step");
        map.entry("Digits").or_insert_with(|| json!({}));
    }
    data
}

/// Answers one request of Class 5 flow `flow` at `now_ms`.
pub async fn answer(
    cx: &StepContext<'_>,
    flow: &Arc<ScriptFlow>,
    req: &PivotRequest,
    now_ms: i64,
) -> Result<StepAnswer, Overloaded> {
    let call_id = req.call_id.as_deref().unwrap_or("");
    if call_id.is_empty() {
        return Ok(journal_failure(
            "a Class 5 flow needs the request's Call-ID to find the call's journal".into(),
        ));
    }
    let n = match token(req) {
        Ok(n) => n,
        Err(e) => return Ok(journal_failure(e)),
    };
    let store = cx.pool.services().store.clone();
    let key = journal::key(&flow.name, call_id);
    let loaded = {
        let key = key.clone();
        off_worker(store.clone(), move |store| {
            journal::load(store, &key, now_ms)
        })
        .await
    };
    let (mut journal, read_version) = match loaded.and_then(|loaded| loaded) {
        Ok(Some(loaded)) => (loaded.journal, loaded.version),
        Ok(None) => (Journal::default(), 0),
        Err(e) => return Ok(journal_failure(e)),
    };
    let placed = journal::place(&journal, read_version > 0, n, cx.config.max_steps, call_id);
    let waiting = match placed {
        Err(why) => return Ok(journal_failure(why)),
        Ok(Placement::Retry(step)) => {
            // A retry (Kazoo's or a proxy's): the same reply, nothing changes.
            let mut answer = StepAnswer::stored(step);
            let note = format!(
                "class5 step {n} repeated: its stored reply was sent again (journal position {}), \
                 nothing changed",
                step.position
            );
            answer.logs.push(position_line(now_ms, note));
            return Ok(answer);
        }
        Ok(Placement::First) => None,
        Ok(Placement::Next(pending)) => Some(pending.clone()),
    };
    let mut script = flow.clone();
    let mut pinned_version = None;
    if n == 0 {
        sweep(store.clone(), now_ms).await;
        journal.version = crate::digest::short(flow.version);
        journal.data = first_data(req);
        journal.script = Some(journal::Pinned {
            source: flow.source.to_string(),
            module: flow.module,
            imports: flow
                .imports
                .iter()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                .collect(),
        });
    } else {
        if journal.version != crate::digest::short(flow.version) {
            // The file changed mid-call: the call keeps the version it started with.
            let Some(pinned) = &journal.script else {
                return Ok(journal_failure(format!(
                    "call `{call_id}` started on version {} of the flow, whose script its \
                     journal does not hold",
                    journal.version
                )));
            };
            let imports = pinned
                .imports
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect();
            script = Arc::new(flow.pinned(&pinned.source, pinned.module, imports));
            pinned_version = Some(journal.version.clone());
        }
        match waiting {
            Some(Pending::Ivr(op)) => {
                let digits = req.digits.get(&op.collection).map(String::as_str);
                let (status, value) = ops::resolve_ivr(&op, digits);
                if status != "success" && op.tries_left > 1 {
                    // Prompted again without running the script: the ivr has not resolved.
                    let again = journal::Ivr {
                        collection: collection(n),
                        tries_left: op.tries_left - 1,
                        ..op
                    };
                    let tables = flow.settings.tables();
                    let built = ops::ivr_nodes(&again, status == "invalid", &tables, &flow.name);
                    let (prompts, collect) = match built {
                        Ok(nodes) => nodes,
                        Err(detail) => return Ok(journal_failure(detail)),
                    };
                    let back = pivot(cx.link, &flow.name, n + 1, None);
                    let reply = prompts
                        .finish(Node::new(collect).default_child(back))
                        .to_value();
                    let step = Step::new(&reply, Some(Pending::Ivr(again)), 0);
                    return Ok(save(cx, &key, journal, read_version, (step, reply), now_ms).await);
                }
                let result = json!({"status": status, "value": value});
                journal.entries.push(Entry::new("ctx.ivr", result));
            }
            Some(Pending::Bridge) => {
                // A request without the branch is `_`'s: a failure no other child matched.
                let result = ctx_map::outcome_from_request(req)
                    .or_else(|| ctx_map::outcome(ctx_map::bridge::OTHER))
                    .unwrap_or(Value::Null);
                journal.entries.push(Entry::new("ctx.bridge", result));
            }
            // `place` gives a step after the first what its predecessor waits for.
            None => return Ok(journal_failure(format!("step {n} follows no step"))),
        }
    }
    let effects = Effects::new(
        journal.entries.clone(),
        CallInfo {
            flow: flow.name.clone(),
            call_id: call_id.to_owned(),
            step: n,
            data: journal.data.clone(),
            request: journal
                .data
                .as_object()
                .cloned()
                .and_then(|params| PivotRequest::from_params(params).ok())
                .unwrap_or_default(),
            tables: flow.settings.tables(),
            recordings_url: cx.link.recordings_url().to_owned(),
        },
    );
    let data = journal.data.to_string();
    let run = cx
        .pool
        .run_class5(script, data, Some(now_ms), effects)
        .await?;
    let script = Some(run.run_time);
    let out = run.class5.unwrap_or_default();
    let built = build(cx, flow, n, run.result, out);
    let replayed = journal.entries.len();
    let resolved = journal
        .entries
        .last()
        .filter(|_| n > 0)
        .map(|e| e.k.clone());
    let mut answer = match built {
        Ok((step, reply, recorded, done)) => {
            let note = describe(n, replayed, resolved.as_deref(), &recorded, done);
            journal.entries.extend(recorded);
            journal.done = done;
            let mut saved = save(cx, &key, journal, read_version, (step, reply), now_ms).await;
            if saved.tree.is_ok() {
                saved.logs.push(position_line(now_ms, note));
            }
            saved
        }
        Err(failure) => StepAnswer {
            tree: Err(failure),
            logs: Vec::new(),
            script: None,
            pinned: None,
            raw: None,
        },
    };
    let mut logs = run.logs;
    logs.append(&mut answer.logs);
    answer.logs = logs;
    answer.script = script;
    answer.pinned = pinned_version;
    Ok(answer)
}

/// Removes expired journals now and then: every 32nd new call removes up to 256, so the store
/// stays in proportion to the calls of the last `journal_hours` with no sweeper thread.
async fn sweep(store: Arc<dyn Store>, now_ms: i64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEW_CALLS: AtomicU64 = AtomicU64::new(0);
    if NEW_CALLS.fetch_add(1, Ordering::Relaxed) % 32 == 0 {
        let expired = off_worker(store, move |store| {
            store.journal_expire(now_ms, 256).map_err(|e| e.to_string())
        })
        .await;
        if let Err(e) = expired.and_then(|removed| removed.map(drop)) {
            tracing::warn!(error = %e, "could not remove expired Class 5 journals");
        }
    }
}

/// Runs `f` on the store off the async worker (Tokio's blocking threads), so that a slow disk
/// or a Redis round trip holds no other request that worker serves; runs it in place where
/// there is no runtime. A panic in `f` comes back as an error, not a dropped call.
async fn off_worker<T: Send + 'static>(
    store: Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> T + Send + 'static,
) -> Result<T, String> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(f(store.as_ref()));
    }
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| format!("the call's journal could not be read or written: {e}"))
}

/// The exchange log's note of a step: where it stands in the journal and what it resolved.
fn describe(
    n: usize,
    replayed: usize,
    resolved: Option<&str>,
    recorded: &[Entry],
    done: bool,
) -> String {
    let kinds: Vec<&str> = recorded.iter().map(|e| e.k.as_str()).collect();
    format!(
        "class5 step {n}: journal position {replayed} -> {}{}; recorded: {}{}",
        replayed + recorded.len(),
        resolved
            .map(|k| format!(", resolved {k}"))
            .unwrap_or_default(),
        if kinds.is_empty() {
            "nothing".to_owned()
        } else {
            kinds.join(", ")
        },
        if done { "; the script ended" } else { "" }
    )
}

fn position_line(now_ms: i64, message: String) -> LogLine {
    LogLine {
        ts: chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default(),
        level: "info".into(),
        message,
    }
}

/// The step to store, the tree it sends, what it recorded and whether the script ended.
type Built = (Step, Value, Vec<Entry>, bool);

/// The step's reply from what the script did: the nodes it emitted, then what it ended at.
fn build(
    cx: &StepContext<'_>,
    flow: &ScriptFlow,
    n: usize,
    result: Result<Value, ScriptFailure>,
    out: StepOutput,
) -> Result<Built, Failure> {
    if let Some(why) = out.diverged {
        return Err(Failure {
            kind: FailureKind::ScriptError,
            detail: why,
            errors: Vec::new(),
        });
    }
    let StepOutput {
        recorded,
        mut nodes,
        suspended,
        ..
    } = out;
    // A step that ends at a ctx call as an earlier one did sends that step's checked reply.
    let memo = match (&result, &suspended) {
        (Ok(_), Some(op)) => Replies::key(n, &nodes, op),
        _ => None,
    };
    if let Some(kept) = memo.as_deref().and_then(|key| flow.replies.get(key)) {
        return Ok((kept.step(), kept.tree.clone(), recorded, kept.done));
    }
    let script_error = |detail: String| Failure {
        kind: FailureKind::ScriptError,
        detail,
        errors: Vec::new(),
    };
    let (tree, pending, done) = match result {
        Err(ScriptFailure::Rejected { code, reason }) => {
            let tree = nodes.finish(Node::new(Response::new(code, reason)));
            (tree, None, true)
        }
        Err(failure) => {
            let kind = match &failure {
                ScriptFailure::Error {
                    kind: ScriptErrorKind::Timeout,
                    ..
                } => FailureKind::Timeout,
                ScriptFailure::Error {
                    kind: ScriptErrorKind::MemoryLimit,
                    ..
                } => FailureKind::MemoryLimit,
                _ => FailureKind::ScriptError,
            };
            return Err(Failure {
                kind,
                detail: failure.detail(),
                errors: Vec::new(),
            });
        }
        Ok(value) => match suspended {
            Some(op) if op.method == "ivr" => {
                let op = ops::ivr(&op.args, collection(n)).map_err(script_error)?;
                let (prompts, collect) =
                    ops::ivr_nodes(&op, false, &flow.settings.tables(), &flow.name)
                        .map_err(script_error)?;
                nodes.append(prompts);
                let back = pivot(cx.link, &flow.name, n + 1, None);
                let tree = nodes.finish(Node::new(collect).default_child(back));
                (tree, Some(Pending::Ivr(op)), false)
            }
            Some(op) if op.method == "bridge" => {
                let (target, continues) = bridge(cx, flow, n, &op.args)?;
                // The bridge ends the chain: its failure children are its own.
                let tree = nodes.finish(target);
                (tree, continues.then_some(Pending::Bridge), !continues)
            }
            Some(op) if op.method == "waitForHangup" => {
                (nodes.finish(calls::wait_for_hangup()), None, true)
            }
            Some(_hangup) => (nodes.finish(Node::new(Hangup::new())), None, true),
            None => {
                // The script returned: a node it returned ends the call, else its last prompt
                // does (a node with no child hangs up).
                if value.get("module").is_some_and(Value::is_string) {
                    let returned: Node = serde_json::from_value(value).map_err(|e| {
                        script_error(format!(
                            "main returned a callflow node that is not valid: {e}"
                        ))
                    })?;
                    nodes.push(returned);
                }
                let tree = match nodes.into_node() {
                    Some(tree) => tree,
                    None => Node::new(Hangup::new()),
                };
                (tree, None, true)
            }
        },
    };
    let reply = tree.to_value();
    (cx.verify)(&reply)?;
    let step = Step::new(&reply, pending, 0);
    if let Some(key) = memo {
        let kept = Reply {
            tree: reply.clone(),
            text: step.reply.clone(),
            pending: step.pending.clone(),
            done,
        };
        flow.replies.keep(key, Arc::new(kept));
    }
    Ok((step, reply, recorded, done))
}

/// The node of a bridge and whether the script continues after its failure: then it carries
/// a pivot back per failure branch; `continue_on === false` (or a `callflow:` target, which
/// leaves the flow) carries none, so a failed bridge hangs up.
fn bridge(
    cx: &StepContext<'_>,
    flow: &ScriptFlow,
    n: usize,
    args: &Value,
) -> Result<(Node, bool), Failure> {
    let target =
        ops::bridge_target(&args[0], &flow.settings.tables(), &flow.name).map_err(|detail| {
            Failure {
                kind: FailureKind::ScriptError,
                detail,
                errors: Vec::new(),
            }
        })?;
    let leaves = matches!(target.target(), ctx_map::Target::Callflow(_));
    let continues = args.get(1) != Some(&Value::Bool(false)) && !leaves;
    let back = |key: &str| pivot(cx.link, &flow.name, n + 1, Some(key));
    Ok((ctx_map::bridge_node(&target, continues, back), continues))
}

/// Appends `step` and writes the journal (compare-and-set on `expected`) before the reply
/// leaves; a lost race with a retry of the same step gives that retry's stored reply.
async fn save(
    cx: &StepContext<'_>,
    key: &str,
    mut journal: Journal,
    expected: u64,
    (mut step, reply): (Step, Value),
    now_ms: i64,
) -> StepAnswer {
    let n = journal.steps.len();
    step.position = journal.entries.len();
    journal.steps.push(step);
    let encoded = journal::encode(&journal);
    // The text stored is the text sent: the last step gives it up, not a copy.
    let raw = journal.steps.pop().map(|step| step.reply);
    let bytes = encoded.len();
    if bytes > cx.config.max_journal_bytes {
        return journal_failure(format!(
            "the call's journal would be {bytes} bytes, over the limit of {} \
             ([class5] max_journal_bytes)",
            cx.config.max_journal_bytes
        ));
    }
    let store = cx.pool.services().store.clone();
    let key = key.to_owned();
    let ttl_ms = cx.config.ttl_ms();
    let saved = off_worker(store, move |store| {
        saved_reply(
            store,
            &key,
            &encoded,
            expected,
            ttl_ms,
            now_ms,
            n,
            (reply, raw),
        )
    })
    .await;
    saved.unwrap_or_else(journal_failure)
}

/// Saves the journal `encoded` if it is still at version `expected`, giving this step's `reply`
/// (and its stored text); else the reply of step `n` that the journal now holds (a concurrent
/// request of the same step won).
#[allow(clippy::too_many_arguments)]
fn saved_reply(
    store: &dyn Store,
    key: &str,
    encoded: &str,
    expected: u64,
    ttl_ms: u64,
    now_ms: i64,
    n: usize,
    (reply, raw): (Value, Option<Box<RawValue>>),
) -> StepAnswer {
    match journal::save(store, key, encoded, expected, ttl_ms, now_ms) {
        Ok(true) => StepAnswer {
            raw,
            ..StepAnswer::tree(reply)
        },
        Ok(false) => match journal::load(store, key, now_ms) {
            Ok(Some(now)) => match now.journal.steps.get(n) {
                Some(theirs) => StepAnswer::stored(theirs),
                None => journal_failure(
                    "the call's journal changed while this step ran and holds no reply for it"
                        .into(),
                ),
            },
            Ok(None) => {
                journal_failure("the call's journal disappeared while this step ran".into())
            }
            Err(e) => journal_failure(e),
        },
        Err(e) => journal_failure(format!("the call's journal could not be saved: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{HostServices, Isolation};

    fn pool() -> (tempfile::TempDir, JsPool) {
        let (dir, store) = crate::store::temp_store();
        let services = HostServices {
            store,
            fetcher: crate::script::fetch::Fetcher::new().unwrap(),
            pivot: PivotLink::plain("http://pf"),
        };
        let pool = JsPool::new(1, 4, Isolation::for_threads(1), Arc::new(services)).unwrap();
        (dir, pool)
    }

    fn step(module: &str) -> Step {
        Step::new(&json!({"module": module, "data": {}}), None, 0)
    }

    #[tokio::test]
    async fn a_write_that_lost_the_race_sends_the_winners_reply() {
        let (_dir, pool) = pool();
        let (link, config) = (PivotLink::plain("http://pf"), Class5Config::default());
        let verify = |_: &Value| Ok(0);
        let cx = StepContext {
            pool: &pool,
            link: &link,
            config: &config,
            verify: &verify,
        };
        let store = pool.services().store.clone();
        // Another node answered step 0 of the call first.
        let theirs = Journal {
            steps: vec![step("hangup")],
            ..Journal::default()
        };
        let theirs = journal::encode(&theirs);
        assert!(journal::save(store.as_ref(), "k", &theirs, 0, 60_000, 0).unwrap());
        let tts = (step("tts"), json!({"module": "tts", "data": {}}));
        let answer = save(&cx, "k", Journal::default(), 0, tts, 0).await;
        assert_eq!(answer.tree.unwrap()["module"], "hangup");
        // A lost write whose step the winner does not hold is refused, not sent.
        let ahead = Journal {
            steps: vec![step("tts")],
            ..Journal::default()
        };
        let play = (step("play"), json!({"module": "play", "data": {}}));
        let answer = save(&cx, "k", ahead, 0, play, 0).await;
        assert!(answer.tree.unwrap_err().detail.contains("changed while"));
    }
}
