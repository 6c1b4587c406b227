//! The effects boundary of a Class 5 step: everything that could differ on a re-run goes
//! through [`Effects`] — the clock, `Math.random`, timers, `fetch` and cxKV/cxUserspace
//! results, and the ctx calls' results. While the journal holds results the step is
//! *replaying* (they are given back, nothing is done again); past its end it is *recording*
//! (done live, appended). A plain script flow has no `Effects` at all: it runs *live*.

use serde_json::{Map, Value};

use super::journal::Entry;

/// The three modes of the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A plain flow: nothing recorded.
    Live,
    /// Past the journal's end: done and appended.
    Recording,
    /// Inside the journal: given back from it.
    Replaying,
}

/// Who the step is for, for `get`, idempotency keys and collection names.
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    /// The flow's name.
    pub flow: String,
    /// The call's Call-ID.
    pub call_id: String,
    /// The number of the request being answered (0: the first).
    pub step: usize,
    /// The first request, as `main` sees it.
    pub data: Value,
    /// The first request, parsed, for `ctx.get`.
    pub request: crate::request::PivotRequest,
    /// The flow's `[extensions]`, `[media]` and `media_base_url`.
    pub tables: crate::ctx_map::CallTables,
    /// Where `ctx.record` uploads (this service's recording receiver).
    pub recordings_url: String,
}

/// A ctx call the script made that the PBX must carry out: the step ends there.
#[derive(Debug, Clone, PartialEq)]
pub struct Suspended {
    /// The ctx method (`ivr`, `hangup`).
    pub method: String,
    /// Its arguments.
    pub args: Value,
}

/// What a replay's event loop delivers next when no job is left to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    /// Fire this timer now.
    Timer(u32),
    /// Complete this fetch now (ok, payload).
    Fetch(u32, bool, String),
    /// Replaying, but the journal's next result is not one the event loop can give.
    Stuck(String),
    /// Not replaying: the loop waits for real timers and fetches.
    No,
}

/// Host calls that change something outside the call: a second run of the step would do them
/// again.
const WRITES: [&str; 5] = ["kv.set", "kv.delete", "kv.incr", "us.put", "us.delete"];

/// The state of one Class 5 step inside the sandbox.
#[derive(Debug, Default)]
pub struct Effects {
    replay: Vec<Entry>,
    cursor: usize,
    /// Entries recorded by this step, to append to the journal.
    pub recorded: Vec<Entry>,
    /// Set when the script asked for something other than what the journal holds next; the
    /// step's result is then refused whatever the script did with the error.
    pub diverged: Option<String>,
    /// Nodes emitted by this step (replayed calls emit none: earlier steps sent them).
    pub nodes: crate::ctx_map::Chain,
    /// The ctx call the step ended at, if any.
    pub suspended: Option<Suspended>,
    /// Call variables set with `ctx.set`.
    pub vars: Map<String, Value>,
    /// Who the step is for.
    pub call: CallInfo,
    fetches: u32,
}

impl Effects {
    /// A step that replays `journal` and then records.
    pub fn new(journal: Vec<Entry>, call: CallInfo) -> Effects {
        Effects {
            replay: journal,
            call,
            ..Effects::default()
        }
    }

    /// Where the boundary is now.
    pub fn mode(&self) -> Mode {
        if self.cursor < self.replay.len() {
            Mode::Replaying
        } else {
            Mode::Recording
        }
    }

    /// True when the step did something a second run would do again: a cxKV or userspace
    /// write, or a fetch.
    pub fn wrote(&self) -> bool {
        self.fetches > 0 || self.recorded.iter().any(|e| WRITES.contains(&e.k.as_str()))
    }

    /// The same step from its start again: the journal it replays and whom it is for, nothing
    /// done yet (the journal is only read while a step runs).
    pub fn rewound(self) -> Effects {
        Effects::new(self.replay, self.call)
    }

    /// Why the step's replay did not match the journal, once it is done: it asked for
    /// something out of turn, or it ended before asking for every result the journal holds.
    pub fn divergence(&self) -> Option<String> {
        self.diverged.clone().or_else(|| {
            (self.unreplayed() > 0).then(|| {
                format!(
                    "the script's replay diverged from its journal: the step ended with {} \
                     recorded results not asked for; was the script changed during the call?",
                    self.unreplayed()
                )
            })
        })
    }

    /// Entries of the journal not given back yet.
    pub fn unreplayed(&self) -> usize {
        self.replay.len() - self.cursor
    }

    /// While replaying, the next entry's result, which must be of kind `kind` (a mismatch
    /// marks the step diverged); `None` when recording, so the caller does it live.
    pub fn take(&mut self, kind: &str) -> Option<Result<Value, String>> {
        let entry = self.replay.get(self.cursor)?;
        if entry.k != kind {
            let why = format!(
                "the script's replay diverged from its journal: it asked for `{kind}` where the \
                 call had `{}` (entry {}); was the script changed during the call, or does it \
                 depend on something outside ctx, Date, Math.random, fetch and cxKV?",
                entry.k, self.cursor
            );
            self.diverged.get_or_insert(why.clone());
            return Some(Err(why));
        }
        self.cursor += 1;
        Some(entry.result())
    }

    /// Records `result` of kind `kind` (recording mode only).
    pub fn record(&mut self, kind: &str, result: &Result<Value, String>) {
        if self.mode() == Mode::Recording {
            self.recorded.push(Entry::of(kind, result));
        }
    }

    /// The next entry when it is an asynchronous completion (`timer`, `fetch.done`) the
    /// replay must deliver now.
    pub fn next_async(&self) -> Option<&Entry> {
        self.replay
            .get(self.cursor)
            .filter(|e| e.k == "timer" || e.k == "fetch.done")
    }

    /// Moves past the entry [`Effects::next_async`] gave.
    pub fn advance(&mut self) {
        self.cursor += 1;
    }

    /// What the event loop delivers next while replaying, when no job is left to run: the
    /// journal's next timer or fetch completion; a diverged step when the journal holds
    /// something else next.
    pub fn next_completion(&mut self) -> Replayed {
        if self.mode() != Mode::Replaying {
            return Replayed::No;
        }
        let Some(entry) = self.next_async().cloned() else {
            let why = "the script's replay diverged from its journal: it waits for nothing the \
                       journal holds next; was the script changed during the call?";
            self.diverged.get_or_insert_with(|| why.to_owned());
            return Replayed::Stuck(why.to_owned());
        };
        self.advance();
        let Entry { k, v, .. } = entry;
        let id = v.get("id").and_then(Value::as_u64).unwrap_or(0) as u32;
        if k == "timer" {
            return Replayed::Timer(id);
        }
        let ok = v.get("ok").and_then(Value::as_bool).unwrap_or(false);
        let payload = v.get("payload").and_then(Value::as_str).unwrap_or("");
        Replayed::Fetch(id, ok, payload.to_owned())
    }

    /// The `Idempotency-Key` of the step's next `fetch`: the same on every attempt of the
    /// step, different for every fetch of the call.
    pub fn idempotency_key(&mut self) -> String {
        use sha2::{Digest as _, Sha256};
        self.fetches += 1;
        let mut h = Sha256::new();
        for part in [self.call.flow.as_bytes(), self.call.call_id.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.update((self.call.step as u64).to_be_bytes());
        h.update(self.fetches.to_be_bytes());
        let hex: String = h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("pf-{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replays_then_records_and_catches_divergence() {
        let journal = vec![Entry::new("now", json!(5)), Entry::new("kv.incr", json!(1))];
        let mut fx = Effects::new(journal, CallInfo::default());
        assert_eq!(fx.mode(), Mode::Replaying);
        assert_eq!(fx.take("now"), Some(Ok(json!(5))));
        fx.record("now", &Ok(json!(6)));
        assert!(
            fx.recorded.is_empty(),
            "nothing is recorded while replaying"
        );
        assert_eq!(fx.take("kv.incr"), Some(Ok(json!(1))));
        assert_eq!(fx.mode(), Mode::Recording);
        assert_eq!(fx.take("now"), None);
        fx.record("random", &Err("boom".into()));
        assert_eq!(fx.recorded[0].result(), Err("boom".into()));

        let mut other = Effects::new(vec![Entry::new("now", json!(5))], CallInfo::default());
        assert!(matches!(other.take("random"), Some(Err(_))));
        assert!(other.diverged.as_deref().unwrap().contains("`random`"));
    }

    #[test]
    fn the_event_loop_replays_completions_in_journal_order() {
        let journal = vec![
            Entry::new("timer", json!({"id": 1})),
            Entry::new("fetch.done", json!({"id": 2, "ok": true, "payload": "{}"})),
            Entry::new("now", json!(5)),
        ];
        let mut fx = Effects::new(journal, CallInfo::default());
        assert_eq!(fx.next_completion(), Replayed::Timer(1));
        assert_eq!(fx.next_completion(), Replayed::Fetch(2, true, "{}".into()));
        assert!(
            matches!(fx.next_completion(), Replayed::Stuck(_)),
            "a result no loop gives"
        );
        assert!(fx.diverged.is_some());
        assert_eq!(fx.take("now"), Some(Ok(json!(5))));
        assert_eq!(
            fx.next_completion(),
            Replayed::No,
            "recording: real timers and fetches"
        );
    }

    #[test]
    fn idempotency_keys_follow_call_and_step() {
        let call = |step| CallInfo {
            flow: "f".into(),
            call_id: "c".into(),
            step,
            ..CallInfo::default()
        };
        let (mut a, mut b) = (Effects::new(vec![], call(2)), Effects::new(vec![], call(2)));
        let first = a.idempotency_key();
        assert_eq!(
            first,
            b.idempotency_key(),
            "a retried step sends the same key"
        );
        assert_ne!(first, a.idempotency_key(), "each fetch has its own");
        assert_ne!(first, Effects::new(vec![], call(3)).idempotency_key());
    }
}
