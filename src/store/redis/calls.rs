//! The persisted exchange log in the Redis backend.
//!
//! `P calls:seq` hands out step numbers (`INCRBY`, one sequence for every node). A call's steps
//! are the hash `P calls:s:CALL` (seq, zero-padded → the step's JSON), its summary the string
//! `P calls:c:CALL`, and `P calls:by_last` indexes calls by their last step: scored by its time,
//! member `SEQ:CALL` (SEQ zero-padded), so calls whose last steps share a millisecond still list
//! in step order. A batch computes the summaries it changes here (with
//! [`CallSummary::add`]) and writes everything under `WATCH` of those summaries: when another
//! node's batch touched one of the calls in between, the batch is read and written again.

use std::collections::HashMap;

use super::{before, count, lua, shape, Lua, RedisStore};
use crate::store::{CallSummary, StepRecord, StoreError};

/// Attempts of a batch whose calls other nodes keep changing under it.
const MAX_ATTEMPTS: usize = 32;
/// Calls read per round trip while scanning.
const SCAN_PAGE: usize = 200;

/// ARGV: P, one past the highest seq in the batch. Moves the counter past it. Sent with EVAL
/// inside the batch's MULTI (where a script missing from Redis's cache can't be loaded).
const BUMP: &str = lua!(
    "local k = P .. 'calls:seq'\n\
     local cur = redis.call('GET', k) or '0'\n\
     if le(cur, ARGV[2]) and cur ~= ARGV[2] then redis.call('SET', k, ARGV[2]) end\n\
     return 1\n"
);

/// ARGV: P, before (exclusive bound), max. Removes whole calls; returns how many.
static EXPIRE: Lua = Lua::new(|| {
    redis::Script::new(lua!(
        "local ms = redis.call('ZRANGEBYSCORE', P .. 'calls:by_last', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])\n\
         for _, m in ipairs(ms) do\n\
           local call = string.sub(m, 22)\n\
           redis.call('DEL', P .. 'calls:c:' .. call, P .. 'calls:s:' .. call)\n\
           redis.call('ZREM', P .. 'calls:by_last', m)\n\
         end\n\
         return #ms\n"
    ))
});

/// The index member of a call whose last step is `seq`.
fn member(seq: u64, call_id: &str) -> String {
    format!("{seq:020}:{call_id}")
}

fn decode(text: &str) -> Result<CallSummary, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("call summary: {e}")))
}

fn encode(summary: &CallSummary) -> Result<String, StoreError> {
    serde_json::to_string(summary)
        .map_err(|e| StoreError::Invalid(format!("call summary can't be serialised: {e}")))
}

/// Takes `count` sequence numbers; returns the first.
pub(super) fn reserve(s: &RedisStore, n: u64) -> Result<u64, StoreError> {
    let key = s.key(&["calls:seq"]);
    if n == 0 {
        let next: Option<u64> = s.pool.read(|c| redis::cmd("GET").arg(&key).query(c))?;
        return Ok(next.unwrap_or(0));
    }
    let by = i64::try_from(n)
        .map_err(|_| StoreError::Invalid(format!("can't reserve {n} step numbers at once")))?;
    let next: u64 = s
        .pool
        .run(|c| redis::cmd("INCRBY").arg(&key).arg(by).query(c))?;
    Ok(next - n)
}

/// Stores `steps` and brings the summaries of their calls up to date.
pub(super) fn append(s: &RedisStore, steps: &[StepRecord<'_>]) -> Result<(), StoreError> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut calls: Vec<&str> = steps.iter().map(|st| st.call_id).collect();
    calls.sort_unstable();
    calls.dedup();
    let summary_keys: Vec<String> = calls.iter().map(|c| s.key(&["calls:c:", c])).collect();
    let next = steps.iter().map(|st| st.facts.seq + 1).max().unwrap_or(0);
    for _ in 0..MAX_ATTEMPTS {
        let written = s.pool.run(|c| {
            let result = attempt(s, c, &calls, &summary_keys, steps, next);
            if result.is_err() {
                // The connection goes back to the pool: it must not keep watching.
                let _ = redis::cmd("UNWATCH").exec(c);
            }
            result
        })?;
        if written? {
            return Ok(());
        }
    }
    Err(StoreError::Unavailable(
        format!(
            "the exchange log's summaries kept changing under {MAX_ATTEMPTS} attempts to write a \
             batch; it is retried with the next one"
        )
        .into(),
    ))
}

/// One try at writing a batch under `WATCH` of its calls' summaries: `Ok(Ok(false))` when
/// another writer changed one of them in between.
fn attempt(
    s: &RedisStore,
    c: &mut redis::Connection,
    calls: &[&str],
    summary_keys: &[String],
    steps: &[StepRecord<'_>],
    next: u64,
) -> redis::RedisResult<Result<bool, StoreError>> {
    redis::cmd("WATCH").arg(summary_keys).exec(c)?;
    let stored: Vec<Option<String>> = redis::cmd("MGET").arg(summary_keys).query(c)?;
    let plan = match plan(calls, &stored, steps) {
        Ok(plan) => plan,
        Err(e) => {
            redis::cmd("UNWATCH").exec(c)?;
            return Ok(Err(e));
        }
    };
    let mut pipe = redis::pipe();
    pipe.atomic();
    for st in steps {
        let seq = format!("{:020}", st.facts.seq);
        pipe.hset(s.key(&["calls:s:", st.call_id]), seq, st.json.as_ref())
            .ignore();
    }
    let by_last = s.key(&["calls:by_last"]);
    for (call_id, (old, summary, text)) in &plan {
        pipe.set(s.key(&["calls:c:", call_id]), text).ignore();
        if let Some(old) = old {
            pipe.zrem(&by_last, old).ignore();
        }
        pipe.zadd(
            &by_last,
            member(summary.last_seq, call_id),
            summary.last_at_ms,
        )
        .ignore();
    }
    pipe.cmd("EVAL")
        .arg(BUMP)
        .arg(0)
        .arg(&s.prefix)
        .arg(next)
        .ignore();
    let done: Option<()> = pipe.query(c)?;
    Ok(Ok(done.is_some()))
}

/// The summaries a batch leaves, per call: (index member to replace, summary, its JSON).
type Plan<'a> = HashMap<&'a str, (Option<String>, CallSummary, String)>;

fn plan<'a>(
    calls: &[&'a str],
    stored: &[Option<String>],
    steps: &[StepRecord<'_>],
) -> Result<Plan<'a>, StoreError> {
    let mut summaries: HashMap<&str, (Option<String>, Option<CallSummary>)> = HashMap::new();
    for (call_id, text) in calls.iter().zip(stored) {
        let summary = text.as_deref().map(decode).transpose()?;
        let old = summary.as_ref().map(|sm| member(sm.last_seq, call_id));
        summaries.insert(call_id, (old, summary));
    }
    for st in steps {
        let Some((_, summary)) = summaries.get_mut(st.call_id) else {
            continue;
        };
        match summary {
            Some(sm) => sm.add(&st.facts),
            None => *summary = Some(CallSummary::new(st.call_id, &st.facts)),
        }
    }
    let mut out = HashMap::new();
    for call_id in calls {
        if let Some((old, Some(summary))) = summaries.remove(call_id) {
            let text = encode(&summary)?;
            out.insert(*call_id, (old, summary, text));
        }
    }
    Ok(out)
}

/// A call's steps as (seq, JSON), in sequence order.
pub(super) fn steps(s: &RedisStore, call_id: &str) -> Result<Vec<(u64, String)>, StoreError> {
    let key = s.key(&["calls:s:", call_id]);
    let all: HashMap<String, String> = s.pool.read(|c| redis::cmd("HGETALL").arg(&key).query(c))?;
    let mut out = all
        .into_iter()
        .map(|(seq, json)| Ok((seq.parse().map_err(|_| shape("a step number"))?, json)))
        .collect::<Result<Vec<(u64, String)>, StoreError>>()?;
    out.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// The summaries of `call_ids`, in the same order.
pub(super) fn summaries(
    s: &RedisStore,
    call_ids: &[&str],
) -> Result<Vec<Option<CallSummary>>, StoreError> {
    if call_ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = call_ids.iter().map(|c| s.key(&["calls:c:", c])).collect();
    let texts: Vec<Option<String>> = s.pool.read(|c| redis::cmd("MGET").arg(&keys).query(c))?;
    texts
        .into_iter()
        .map(|t| t.as_deref().map(decode).transpose())
        .collect()
}

/// Visits the summaries of calls whose last step is at or after `since_ms`, newest first.
pub(super) fn scan(
    s: &RedisStore,
    since_ms: i64,
    visit: &mut dyn FnMut(CallSummary) -> bool,
) -> Result<(), StoreError> {
    let index = s.key(&["calls:by_last"]);
    let mut offset = 0;
    loop {
        let members: Vec<String> = s.pool.read(|c| {
            redis::cmd("ZREVRANGEBYSCORE")
                .arg(&index)
                .arg("+inf")
                .arg(since_ms)
                .arg("LIMIT")
                .arg(offset)
                .arg(count(SCAN_PAGE))
                .query(c)
        })?;
        let ids: Vec<&str> = members.iter().filter_map(|m| m.get(21..)).collect();
        for summary in summaries(s, &ids)?.into_iter().flatten() {
            if !visit(summary) {
                return Ok(());
            }
        }
        if members.len() < SCAN_PAGE {
            return Ok(());
        }
        offset += SCAN_PAGE;
    }
}

/// Removes up to `max` calls whose last step is before `before_ms`, with their steps.
pub(super) fn expire(s: &RedisStore, before_ms: i64, max: usize) -> Result<usize, StoreError> {
    if max == 0 {
        return Ok(0);
    }
    s.pool.run(|c| {
        EXPIRE
            .arg(&s.prefix)
            .arg(before(before_ms))
            .arg(count(max))
            .invoke(c)
    })
}

#[cfg(test)]
mod tests {
    use crate::store::{ExchangeLog, StepFacts, StepRecord};

    #[test]
    fn two_nodes_appending_steps_of_one_call_lose_none() {
        let (server, first) = crate::store::redis_temp_store();
        let settings = crate::store::RedisSettings {
            url: server.url(),
            prefix: "test:".into(),
            op_timeout: std::time::Duration::from_secs(5),
            pool_size: 4,
        };
        let second = crate::store::RedisStore::open(&settings).unwrap();
        let nodes: [&dyn ExchangeLog; 2] = [first.as_ref(), &second];
        std::thread::scope(|scope| {
            for node in nodes {
                scope.spawn(move || {
                    for _ in 0..25 {
                        let seq = node.calls_reserve(1).unwrap();
                        let step = StepRecord {
                            call_id: "shared",
                            facts: StepFacts {
                                seq,
                                at_ms: 1_000 + seq as i64,
                                flow: "f",
                                outcome: "tree",
                                status: 200,
                            },
                            json: format!("{{\"seq\":{seq}}}").into(),
                        };
                        node.calls_append(&[step]).unwrap();
                    }
                });
            }
        });
        let summary = second.calls_summaries(&["shared"]).unwrap()[0]
            .clone()
            .unwrap();
        assert_eq!((summary.steps, summary.last_seq), (50, 49));
        assert_eq!(first.calls_steps("shared").unwrap().len(), 50);
        let mut listed = 0;
        first
            .calls_scan(i64::MIN, &mut |_| {
                listed += 1;
                true
            })
            .unwrap();
        assert_eq!(listed, 1, "one index entry for the call");
    }
}
