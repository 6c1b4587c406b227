//! The contract every store backend meets, written once against the domain traits: every
//! operation, the input rules, expiries, concurrent increments, ordering, the queue's leases
//! and the journals' compare-and-set. A backend passes it by calling [`contract_tests!`] with
//! an expression that gives a fresh, empty store (and whatever must outlive it); the embedded
//! and Redis backends do at the end of this file (Redis on a `redis-server` each test starts),
//! and so does the embedded backend's scratch store, which never syncs a commit.

use serde_json::json;

use super::{
    CallDetails, CallSummary, JournalWrite, KvUsage, Recording, RecordingQuery, StepFacts,
    StepRecord, Store, StoreError,
};
use crate::callflow::RecordingFormat;

/// The cxKV namespace the kv contract writes in.
const NS: &str = "flow:test";

/// Defines one `#[test]` per contract function, each on a fresh store from `$make`, an
/// expression giving `(guard, store)`: the guard (e.g. a temporary folder) outlives the store.
macro_rules! contract_tests {
    ($make:expr) => {
        contract_tests!(@each $make;
            kv_set_get_delete_strings_and_objects, kv_ttl_expires_at_now_ms,
            kv_expired_rows_are_gone_after_later_writes,
            kv_incr_counts_from_zero_and_rejects_non_integers, kv_incr_window_is_fixed_at_creation,
            kv_concurrent_incr_loses_nothing, kv_keys_are_sorted_limited_and_usage_counts_bytes,
            kv_namespaces_never_see_each_other, kv_bad_keys_and_values_are_refused_with_the_rule,
            us_put_get_delete, us_areas_are_separate_and_lists_sorted,
            us_put_many_is_one_all_or_nothing_upsert,
            us_bad_areas_keys_and_values_are_refused_with_the_rule,
            queue_push_due_done, queue_retry_reschedules_and_counts,
            queue_dead_letters_are_kept_for_inspection, queue_unknown_ids_and_bad_input_are_refused,
            queue_the_pending_bound_counts_bytes_stored_and_frees_them_when_taken,
            queue_an_event_is_taken_once_per_flow_and_call_until_its_mark_expires,
            queue_a_claim_leases_events_until_the_lease_runs_out,
            queue_concurrent_claims_never_share_an_event,
            rec_put_replaces_and_reindexes, rec_listings_filter_order_and_limit,
            rec_bad_ids_are_refused,
            calls_reserve_hands_out_each_number_once, calls_steps_and_summaries_keep_order,
            calls_expiry_removes_whole_calls_whose_last_step_is_older_than_the_cut_off,
            journals_compare_and_set_on_the_version, journals_expire, ping_answers
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (_guard, store) = $make;
                $crate::store::contract::$name(store.as_ref());
            }
        )*
    };
}

/// Contract: kv set get delete strings and objects.
pub fn kv_set_get_delete_strings_and_objects(s: &dyn Store) {
    assert_eq!(s.kv_get(NS, "missing", 0).unwrap(), None);
    s.kv_set(NS, "greeting", &json!("hello"), None, 0).unwrap();
    s.kv_set(NS, "caller", &json!({"name": "Ann", "n": 2}), None, 0)
        .unwrap();
    assert_eq!(s.kv_get(NS, "greeting", 0).unwrap(), Some(json!("hello")));
    assert_eq!(
        s.kv_get(NS, "caller", 0).unwrap(),
        Some(json!({"name": "Ann", "n": 2}))
    );
    s.kv_set(NS, "greeting", &json!("bye"), None, 0).unwrap();
    assert_eq!(s.kv_get(NS, "greeting", 0).unwrap(), Some(json!("bye")));
    assert!(s.kv_delete(NS, "greeting").unwrap());
    assert!(!s.kv_delete(NS, "greeting").unwrap());
    assert_eq!(s.kv_get(NS, "greeting", 0).unwrap(), None);
}

/// Contract: kv ttl expires at now ms.
pub fn kv_ttl_expires_at_now_ms(s: &dyn Store) {
    s.kv_set(NS, "otp", &json!("1234"), Some(1_000), 10_000)
        .unwrap();
    assert_eq!(s.kv_get(NS, "otp", 10_999).unwrap(), Some(json!("1234")));
    assert_eq!(s.kv_get(NS, "otp", 11_000).unwrap(), None);
    assert_eq!(s.kv_keys(NS, 10_999, 10).unwrap(), vec!["otp"]);
    assert!(s.kv_keys(NS, 11_000, 10).unwrap().is_empty());
    assert_eq!(s.kv_usage(NS, 11_000).unwrap().keys, 0);
    // Setting again without a TTL clears the expiry.
    s.kv_set(NS, "otp", &json!("5678"), None, 10_500).unwrap();
    assert_eq!(s.kv_get(NS, "otp", i64::MAX).unwrap(), Some(json!("5678")));
    // A TTL of 0 means no expiry, as in scripts.
    s.kv_set(NS, "forever", &json!(1), Some(0), 0).unwrap();
    assert_eq!(s.kv_get(NS, "forever", i64::MAX).unwrap(), Some(json!(1)));
    // A huge TTL saturates instead of overflowing.
    s.kv_set(NS, "long", &json!(1), Some(u64::MAX), 5).unwrap();
    assert_eq!(s.kv_get(NS, "long", i64::MAX - 1).unwrap(), Some(json!(1)));
}

/// Contract: kv expired rows are gone after later writes.
pub fn kv_expired_rows_are_gone_after_later_writes(s: &dyn Store) {
    s.kv_set(NS, "old", &json!("x"), Some(10), 0).unwrap();
    s.kv_set(NS, "other", &json!("y"), None, 100).unwrap();
    // The sweep removed the row, so there is nothing left to delete.
    assert!(!s.kv_delete(NS, "old").unwrap());
    assert!(s.kv_delete(NS, "other").unwrap());
}

/// Contract: kv incr counts from zero and rejects non integers.
pub fn kv_incr_counts_from_zero_and_rejects_non_integers(s: &dyn Store) {
    assert_eq!(s.kv_incr(NS, "n", 1, None, 0).unwrap(), 1);
    assert_eq!(s.kv_incr(NS, "n", 5, None, 0).unwrap(), 6);
    assert_eq!(s.kv_incr(NS, "n", -10, None, 0).unwrap(), -4);
    assert_eq!(s.kv_get(NS, "n", 0).unwrap(), Some(json!(-4)));
    s.kv_set(NS, "name", &json!("Ann"), None, 0).unwrap();
    let err = s.kv_incr(NS, "name", 1, None, 0).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)));
    assert!(err.to_string().contains("not an integer"), "{err}");
    // The failed incr changed nothing.
    assert_eq!(s.kv_get(NS, "name", 0).unwrap(), Some(json!("Ann")));
    s.kv_set(NS, "big", &json!(i64::MAX), None, 0).unwrap();
    let err = s.kv_incr(NS, "big", 1, None, 0).unwrap_err();
    assert!(err.to_string().contains("overflow"), "{err}");
}

/// Contract: kv incr window is fixed at creation.
pub fn kv_incr_window_is_fixed_at_creation(s: &dyn Store) {
    assert_eq!(s.kv_incr(NS, "calls", 1, Some(1_000), 0).unwrap(), 1);
    // A later TTL does not push the window out (EXPIRE NX).
    assert_eq!(s.kv_incr(NS, "calls", 1, Some(1_000), 600).unwrap(), 2);
    assert_eq!(s.kv_incr(NS, "calls", 1, Some(1_000), 999).unwrap(), 3);
    assert_eq!(s.kv_get(NS, "calls", 999).unwrap(), Some(json!(3)));
    // At 1000 the window is over: a new one starts at 0 and runs to 2000.
    assert_eq!(s.kv_get(NS, "calls", 1_000).unwrap(), None);
    assert_eq!(s.kv_incr(NS, "calls", 1, Some(1_000), 1_000).unwrap(), 1);
    assert_eq!(s.kv_incr(NS, "calls", 1, Some(1_000), 1_999).unwrap(), 2);
    assert_eq!(s.kv_incr(NS, "calls", 1, Some(1_000), 2_000).unwrap(), 1);
    // Without a TTL the counter never expires, and an expired non-integer restarts at 0.
    s.kv_set(NS, "tmp", &json!("text"), Some(5), 0).unwrap();
    assert_eq!(s.kv_incr(NS, "tmp", 2, None, 5).unwrap(), 2);
    assert_eq!(s.kv_get(NS, "tmp", i64::MAX).unwrap(), Some(json!(2)));
}

/// Contract: kv concurrent incr loses nothing.
pub fn kv_concurrent_incr_loses_nothing(s: &dyn Store) {
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..200 {
                    s.kv_incr(NS, "hits", 1, Some(3_600_000), 0).unwrap();
                }
            });
        }
    });
    assert_eq!(s.kv_get(NS, "hits", 0).unwrap(), Some(json!(1600)));
}

/// Contract: kv keys are sorted limited and usage counts bytes.
pub fn kv_keys_are_sorted_limited_and_usage_counts_bytes(s: &dyn Store) {
    for key in ["b", "a", "c"] {
        s.kv_set(NS, key, &json!("xy"), None, 0).unwrap();
    }
    s.kv_set(NS, "gone", &json!("z"), Some(1), 0).unwrap();
    assert_eq!(s.kv_keys(NS, 10, 10).unwrap(), vec!["a", "b", "c"]);
    assert_eq!(s.kv_keys(NS, 10, 2).unwrap(), vec!["a", "b"]);
    assert!(s.kv_keys(NS, 10, 0).unwrap().is_empty());
    // Each live entry: a 1-byte key and `"xy"` (4 bytes of JSON).
    assert_eq!(s.kv_usage(NS, 10).unwrap(), KvUsage { keys: 3, bytes: 15 });
}

/// Contract: kv namespaces never see each other.
pub fn kv_namespaces_never_see_each_other(s: &dyn Store) {
    let (a, b) = ("flow:a", "flow:b");
    s.kv_set(a, "k", &json!("a's"), None, 0).unwrap();
    s.kv_set(b, "k", &json!("b's"), Some(10), 0).unwrap();
    s.kv_set("flow:a/sub", "other", &json!(1), None, 0).unwrap();
    assert_eq!(s.kv_get(a, "k", 0).unwrap(), Some(json!("a's")));
    assert_eq!(s.kv_get(b, "k", 0).unwrap(), Some(json!("b's")));
    assert_eq!(s.kv_keys(a, 0, 10).unwrap(), vec!["k"]);
    assert_eq!(s.kv_usage(a, 0).unwrap().keys, 1);
    assert_eq!(s.kv_incr("flow:c", "k", 1, None, 0).unwrap(), 1);
    // b's key expires and is swept by a write in another namespace; a's stays.
    s.kv_set(a, "later", &json!(2), None, 20).unwrap();
    assert!(!s.kv_delete(b, "k").unwrap());
    assert!(s.kv_delete(a, "k").unwrap());
    assert_eq!(s.kv_keys(a, 20, 10).unwrap(), vec!["later"]);
    assert!(
        s.kv_get("", "k", 0).is_err(),
        "an empty namespace is refused"
    );
}

/// Contract: kv bad keys and values are refused with the rule.
pub fn kv_bad_keys_and_values_are_refused_with_the_rule(s: &dyn Store) {
    let long = "k".repeat(1025);
    for key in ["", long.as_str()] {
        for err in [
            s.kv_get(NS, key, 0).unwrap_err(),
            s.kv_set(NS, key, &json!(1), None, 0).unwrap_err(),
            s.kv_delete(NS, key).unwrap_err(),
            s.kv_incr(NS, key, 1, None, 0).unwrap_err(),
        ] {
            assert!(matches!(err, StoreError::Invalid(_)));
            assert!(err.to_string().contains("1 to 1024 bytes"), "{err}");
        }
    }
    let huge = json!("x".repeat(1024 * 1024));
    let err = s.kv_set(NS, "k", &huge, None, 0).unwrap_err();
    assert!(err.to_string().contains("at most 1048576 bytes"), "{err}");
    assert_eq!(s.kv_get(NS, "k", 0).unwrap(), None);
    // Keys are database keys, never paths: anything within the length limit is fine.
    s.kv_set(NS, "../../etc/passwd\0", &json!(1), None, 0)
        .unwrap();
    assert_eq!(
        s.kv_get(NS, "../../etc/passwd\0", 0).unwrap(),
        Some(json!(1))
    );
}

/// Contract: us put get delete.
pub fn us_put_get_delete(s: &dyn Store) {
    assert_eq!(s.us_get("dnc", "+15550100").unwrap(), None);
    assert!(s.us_put("dnc", "+15550100", &json!(true)).unwrap());
    assert!(!s
        .us_put("dnc", "+15550100", &json!({"reason": "asked"}))
        .unwrap());
    assert_eq!(
        s.us_get("dnc", "+15550100").unwrap(),
        Some(json!({"reason": "asked"}))
    );
    assert!(s.us_delete("dnc", "+15550100").unwrap());
    assert!(!s.us_delete("dnc", "+15550100").unwrap());
    assert_eq!(s.us_get("dnc", "+15550100").unwrap(), None);
}

/// Contract: us areas are separate and lists sorted.
pub fn us_areas_are_separate_and_lists_sorted(s: &dyn Store) {
    // Areas that are prefixes of each other must not bleed into one another.
    for (area, key) in [
        ("dnc", "3"),
        ("dnc", "1"),
        ("dnc", "2"),
        ("dn", "9"),
        ("dnc-extra", "0"),
        ("dnc_2", "0"),
    ] {
        s.us_put(area, key, &json!(key)).unwrap();
    }
    let keys = |area: &str, limit| -> Vec<String> {
        s.us_list(area, limit)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(keys("dnc", 10), ["1", "2", "3"]);
    assert_eq!(keys("dnc", 2), ["1", "2"]);
    assert!(keys("dnc", 0).is_empty());
    assert_eq!(keys("dn", 10), ["9"]);
    assert_eq!(keys("dnc-extra", 10), ["0"]);
    assert!(keys("empty", 10).is_empty());
    assert_eq!(s.us_get("dn", "1").unwrap(), None);
    assert_eq!(
        s.us_list("dnc", 1).unwrap(),
        vec![("1".to_string(), json!("1"))]
    );
}

/// Contract: us put many is one all or nothing upsert.
pub fn us_put_many_is_one_all_or_nothing_upsert(s: &dyn Store) {
    s.us_put("vip", "a", &json!(1)).unwrap();
    let entries = vec![
        ("a".to_string(), json!(2)),
        ("b".to_string(), json!(3)),
        ("c".to_string(), json!(4)),
    ];
    assert_eq!(s.us_put_many("vip", &entries).unwrap(), 2);
    assert_eq!(s.us_get("vip", "a").unwrap(), Some(json!(2)));
    assert_eq!(s.us_list("vip", 10).unwrap().len(), 3);
    // One bad key refuses the whole batch.
    let bad = vec![("d".to_string(), json!(5)), (String::new(), json!(6))];
    assert!(matches!(
        s.us_put_many("vip", &bad),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(s.us_get("vip", "d").unwrap(), None);
}

/// Contract: us bad areas keys and values are refused with the rule.
pub fn us_bad_areas_keys_and_values_are_refused_with_the_rule(s: &dyn Store) {
    let long_area = "a".repeat(65);
    for area in [
        "",
        "no spaces",
        "../x",
        "a/b",
        "dnc.csv",
        long_area.as_str(),
    ] {
        for err in [
            s.us_get(area, "k").unwrap_err(),
            s.us_put(area, "k", &json!(1)).unwrap_err(),
            s.us_delete(area, "k").unwrap_err(),
            s.us_list(area, 10).unwrap_err(),
        ] {
            assert!(matches!(err, StoreError::Invalid(_)));
            assert!(err.to_string().contains("1 to 64 characters"), "{err}");
        }
    }
    let err = s.us_put("dnc", &"k".repeat(1025), &json!(1)).unwrap_err();
    assert!(err
        .to_string()
        .contains("userspace key must be 1 to 1024 bytes"));
    let err = s.us_get("dnc", "").unwrap_err();
    assert!(err.to_string().contains("userspace key"), "{err}");
    let huge = json!({"note": "x".repeat(1024 * 1024)});
    let err = s.us_put("dnc", "k", &huge).unwrap_err();
    assert!(err.to_string().contains("at most 1048576 bytes"), "{err}");
}

/// Contract: queue push due done.
pub fn queue_push_due_done(s: &dyn Store) {
    assert_eq!(s.events_pending().unwrap(), 0);
    let a = s
        .event_push("sales", &json!({"call_id": "a"}), 1_000, u64::MAX)
        .unwrap();
    let b = s
        .event_push("support", &json!({"call_id": "b"}), 2_000, u64::MAX)
        .unwrap();
    assert!(b > a);
    assert_eq!(s.events_pending().unwrap(), 2);
    assert!(s.events_due(999, 10).unwrap().is_empty());
    let due = s.events_due(2_000, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].id, a);
    assert_eq!(due[0].flow, "sales");
    assert_eq!(due[0].event, json!({"call_id": "a"}));
    assert_eq!(due[0].attempts, 0);
    assert_eq!(due[0].next_at_ms, 1_000);
    assert_eq!(due[0].received_at_ms, 1_000);
    assert_eq!(due[0].last_error, None);
    assert_eq!(s.events_due(2_000, 1).unwrap().len(), 1);
    assert!(s.events_due(2_000, 0).unwrap().is_empty());
    s.event_done(a).unwrap();
    s.event_done(a).unwrap(); // a repeated done is harmless
    assert_eq!(s.events_pending().unwrap(), 1);
    assert_eq!(s.events_due(2_000, 10).unwrap()[0].id, b);
    // Ids are never reused, even once the newest event is gone.
    s.event_done(b).unwrap();
    let c = s.event_push("sales", &json!({}), 3_000, u64::MAX).unwrap();
    assert!(c > b);
}

/// Contract: queue retry reschedules and counts.
pub fn queue_retry_reschedules_and_counts(s: &dyn Store) {
    let first = s.event_push("f", &json!(1), 0, u64::MAX).unwrap();
    let second = s.event_push("f", &json!(2), 0, u64::MAX).unwrap();
    s.event_retry(first, 5_000, "postCall threw: boom").unwrap();
    let due = s.events_due(4_999, 10).unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), [second]);
    s.event_retry(first, 6_000, "timeout").unwrap();
    assert!(s
        .events_due(5_999, 10)
        .unwrap()
        .iter()
        .all(|e| e.id != first));
    let due = s.events_due(6_000, 10).unwrap();
    // Soonest due first: `second` has been due since 0.
    assert_eq!(
        due.iter().map(|e| e.id).collect::<Vec<_>>(),
        [second, first]
    );
    assert_eq!(due[1].attempts, 2);
    assert_eq!(due[1].next_at_ms, 6_000);
    assert_eq!(due[1].received_at_ms, 0);
    assert_eq!(due[1].last_error.as_deref(), Some("timeout"));
    assert_eq!(s.events_pending().unwrap(), 2);
    // Long errors are kept bounded.
    s.event_retry(first, 7_000, &"é".repeat(5_000)).unwrap();
    let kept = s.events_due(7_000, 10).unwrap()[1]
        .last_error
        .clone()
        .unwrap();
    assert!(kept.len() <= 4096 && kept.starts_with('é'));
}

/// Contract: queue dead letters are kept for inspection.
pub fn queue_dead_letters_are_kept_for_inspection(s: &dyn Store) {
    let id = s
        .event_push("f", &json!({"call_id": "x"}), 10, u64::MAX)
        .unwrap();
    let other = s
        .event_push("f", &json!({"call_id": "y"}), 10, u64::MAX)
        .unwrap();
    s.event_retry(id, 20, "first failure").unwrap();
    s.event_dead(id, "gave up", 0).unwrap();
    assert_eq!(s.events_pending().unwrap(), 1);
    assert_eq!(
        s.events_due(i64::MAX, 10)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        [other]
    );
    let dead = s.events_dead(10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].event, json!({"call_id": "x"}));
    assert_eq!(dead[0].last_error.as_deref(), Some("gave up"));
    s.event_dead(other, "no postCall", 0).unwrap();
    assert_eq!(s.events_dead(10).unwrap().len(), 2);
    assert_eq!(s.events_dead(1).unwrap()[0].id, id);
    assert_eq!(s.events_pending().unwrap(), 0);
}

/// Contract: queue unknown ids and bad input are refused.
pub fn queue_unknown_ids_and_bad_input_are_refused(s: &dyn Store) {
    assert!(matches!(
        s.event_retry(42, 0, "e"),
        Err(StoreError::NoSuchEvent(42))
    ));
    let err = s.event_dead(42, "e", 0).unwrap_err();
    assert!(
        err.to_string().contains("no queued event with id 42"),
        "{err}"
    );
    s.event_done(42).unwrap();
    let err = s.event_push("", &json!({}), 0, u64::MAX).unwrap_err();
    assert!(err
        .to_string()
        .contains("flow name must be 1 to 1024 bytes"));
    let huge = json!({"body": "x".repeat(1024 * 1024)});
    let err = s.event_push("f", &huge, 0, u64::MAX).unwrap_err();
    assert!(err.to_string().contains("at most 1048576 bytes"), "{err}");
    assert_eq!(s.events_pending().unwrap(), 0);
}

/// Contract: queue the pending bound counts bytes stored and frees them when taken.
pub fn queue_the_pending_bound_counts_bytes_stored_and_frees_them_when_taken(s: &dyn Store) {
    let event = json!({"pad": "x".repeat(200)});
    let first = s.event_push("f", &event, 0, 600).unwrap();
    let one = s.events_pending_bytes().unwrap();
    assert!(one > 200 && one < 300, "{one}");
    s.event_push("f", &event, 0, 600).unwrap();
    let err = s.event_push("f", &event, 0, 600).unwrap_err();
    assert!(
        matches!(err, StoreError::QueueFull { limit: 600, .. }),
        "{err}"
    );
    assert_eq!(
        s.events_pending().unwrap(),
        2,
        "a refused event is not stored"
    );
    // Done, retried and dead events give their bytes back (a retry keeps its new size).
    s.event_done(first).unwrap();
    assert_eq!(s.events_pending_bytes().unwrap(), one);
    let third = s.event_push("f", &event, 0, 600).unwrap();
    s.event_retry(third, 5, "e").unwrap();
    s.event_dead(third, "gave up", 7).unwrap();
    assert_eq!(s.events_pending_bytes().unwrap(), one);
    // Dead letters expire by when they died.
    assert_eq!(s.events_expire_dead(7, 10).unwrap(), 0);
    assert_eq!(s.events_expire_dead(8, 10).unwrap(), 1);
    assert!(s.events_dead(10).unwrap().is_empty());
}

/// Contract: queue an event is taken once per flow and call until its mark expires.
pub fn queue_an_event_is_taken_once_per_flow_and_call_until_its_mark_expires(s: &dyn Store) {
    let event = json!({"call_id": "c"});
    let first = s
        .event_push_once("f", "c", &event, 1_000, u64::MAX)
        .unwrap();
    assert!(first.is_some());
    assert_eq!(
        s.event_push_once("f", "c", &event, 2_000, u64::MAX)
            .unwrap(),
        None
    );
    assert!(s
        .event_push_once("g", "c", &event, 2_000, u64::MAX)
        .unwrap()
        .is_some());
    assert_eq!(s.events_pending().unwrap(), 2);
    // Handled events keep their mark: a late repeat is still a repeat.
    s.event_done(first.unwrap()).unwrap();
    assert_eq!(
        s.event_push_once("f", "c", &event, 3_000, u64::MAX)
            .unwrap(),
        None
    );
    // A refused push leaves no mark.
    assert!(s.event_push_once("h", "c", &event, 3_000, 1).is_err());
    assert!(s
        .event_push_once("h", "c", &event, 3_000, u64::MAX)
        .unwrap()
        .is_some());
    assert_eq!(s.events_expire_taken(1_000, 10).unwrap(), 0);
    assert_eq!(s.events_expire_taken(2_001, 10).unwrap(), 2);
    assert!(s
        .event_push_once("f", "c", &event, 4_000, u64::MAX)
        .unwrap()
        .is_some());
}

/// Contract: a claim leases due events; a second claim is refused while the lease runs, the
/// event is claimable again after it, and done, retry and dead go by id whoever holds it.
pub fn queue_a_claim_leases_events_until_the_lease_runs_out(s: &dyn Store) {
    let a = s
        .event_push("f", &json!({"n": 1}), 1_000, u64::MAX)
        .unwrap();
    let b = s
        .event_push("f", &json!({"n": 2}), 1_000, u64::MAX)
        .unwrap();
    assert!(
        s.events_claim("w1", 999, 5_000, 10).unwrap().is_empty(),
        "not due yet"
    );
    let claimed = s.events_claim("w1", 1_000, 5_000, 1).unwrap();
    assert_eq!(claimed.len(), 1, "at most `limit`");
    assert_eq!(claimed[0].id, a, "soonest due, then oldest, first");
    assert_eq!(claimed[0].claimed_by.as_deref(), Some("w1"));
    assert_eq!(claimed[0].lease_until_ms, Some(6_000));
    assert_eq!(claimed[0].attempts, 0, "a claim is not an attempt");
    assert_eq!(claimed[0].due_at_ms(), 6_000);
    // While the lease runs, `a` is nobody else's; `b` still is.
    let other = s.events_claim("w2", 2_000, 50_000, 10).unwrap();
    assert_eq!(other.iter().map(|e| e.id).collect::<Vec<_>>(), [b]);
    assert!(s.events_claim("w2", 5_999, 5_000, 10).unwrap().is_empty());
    assert!(
        s.events_due(5_999, 10).unwrap().is_empty(),
        "leased events are not due"
    );
    assert_eq!(
        s.events_pending().unwrap(),
        2,
        "leased events are still pending"
    );
    // The lease ran out (w1 died, say): w2 may take `a` over.
    let again = s.events_claim("w2", 6_000, 5_000, 10).unwrap();
    assert_eq!(again.iter().map(|e| e.id).collect::<Vec<_>>(), [a]);
    assert_eq!(again[0].claimed_by.as_deref(), Some("w2"));
    assert_eq!(again[0].lease_until_ms, Some(11_000));
    // A retry ends the lease: due on its new schedule, not the lease's end.
    s.event_retry(a, 7_000, "boom").unwrap();
    let due = s.events_due(7_000, 10).unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), [a]);
    assert_eq!((due[0].attempts, due[0].lease_until_ms), (1, None));
    // A release gives an event back untouched, due on its schedule at once.
    let claimed = s.events_claim("w1", 7_000, 60_000, 10).unwrap();
    assert_eq!(claimed.len(), 1);
    s.event_release(a).unwrap();
    let due = s.events_due(7_000, 10).unwrap();
    assert_eq!(
        (due[0].id, due[0].attempts, due[0].next_at_ms),
        (a, 1, 7_000)
    );
    s.event_release(999).unwrap();
    // Done and dead go by id, leased or not.
    s.events_claim("w1", 7_000, 60_000, 10).unwrap();
    s.event_done(a).unwrap();
    s.event_dead(b, "gave up", 8_000).unwrap();
    assert_eq!(s.events_pending().unwrap(), 0);
    assert_eq!(s.events_dead(10).unwrap()[0].id, b);
    assert!(s.events_claim("", 0, 1, 1).is_err(), "a worker has a name");
}

/// Contract: workers claiming at once never get the same event while its lease runs.
pub fn queue_concurrent_claims_never_share_an_event(s: &dyn Store) {
    for n in 0..40 {
        s.event_push("f", &json!({ "n": n }), 0, u64::MAX).unwrap();
    }
    let claimed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for w in 0..4 {
            let claimed = &claimed;
            // Bounded: a backend that leases nothing would hand the same events out forever.
            scope.spawn(move || {
                for _ in 0..40 {
                    let got = s.events_claim(&format!("w{w}"), 10, 60_000, 3).unwrap();
                    if got.is_empty() {
                        break;
                    }
                    claimed
                        .lock()
                        .unwrap()
                        .extend(got.into_iter().map(|e| e.id));
                }
            });
        }
    });
    let mut ids = claimed.into_inner().unwrap();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (40, 40));
}

fn rec(id: &str, account: &str, call: &str, at: i64) -> Recording {
    Recording {
        id: id.into(),
        details: CallDetails {
            call_id: call.into(),
            account_id: account.into(),
            from: "1000".into(),
            ..CallDetails::default()
        },
        size: 10,
        sha256: "ab".repeat(32),
        format: RecordingFormat::Mp3,
        format_ok: true,
        received_at_ms: at,
        path: format!("{account}/2026-01-01/{id}.mp3"),
    }
}

fn query() -> RecordingQuery {
    RecordingQuery {
        call_id: None,
        account_id: None,
        since_ms: None,
        until_ms: None,
        limit: 100,
    }
}

fn ids(recs: Vec<Recording>) -> Vec<String> {
    recs.into_iter().map(|r| r.id).collect()
}

/// Contract: a put replaces a recording's metadata and its place in the listings.
pub fn rec_put_replaces_and_reindexes(s: &dyn Store) {
    assert_eq!(s.rec_put(&rec("a", "acc1", "c1", 10)).unwrap(), None);
    let newer = Recording {
        size: 99,
        ..rec("a", "acc1", "c1", 20)
    };
    let old = s.rec_put(&newer).unwrap().unwrap();
    assert_eq!(old.received_at_ms, 10);
    assert_eq!(s.rec_get("a").unwrap(), Some(newer.clone()));
    // The old time is no longer indexed: one entry, at the new time.
    let q = RecordingQuery {
        until_ms: Some(15),
        ..query()
    };
    assert!(s.rec_list(&q).unwrap().is_empty());
    assert_eq!(ids(s.rec_list(&query()).unwrap()), ["a"]);
    assert_eq!(s.rec_delete("a").unwrap(), Some(newer));
    assert_eq!(s.rec_delete("a").unwrap(), None);
    assert!(s.rec_list(&query()).unwrap().is_empty());
}

/// Contract: listings filter by call, account and time, newest first, at most `limit`.
pub fn rec_listings_filter_order_and_limit(s: &dyn Store) {
    for r in [
        rec("r1", "acc1", "c1", 100),
        rec("r2", "acc1", "c2", 200),
        rec("r3", "acc2", "c1", 300),
        rec("r4", "acc1", "c1", 400),
        rec("r5", "acc10", "c10", 500),
    ] {
        s.rec_put(&r).unwrap();
    }
    let list = |q: RecordingQuery| ids(s.rec_list(&q).unwrap());
    assert_eq!(list(query()), ["r5", "r4", "r3", "r2", "r1"]);
    assert_eq!(
        list(RecordingQuery {
            limit: 2,
            ..query()
        }),
        ["r5", "r4"]
    );
    assert!(list(RecordingQuery {
        limit: 0,
        ..query()
    })
    .is_empty());
    let acc1 = || RecordingQuery {
        account_id: Some("acc1".into()),
        ..query()
    };
    assert_eq!(list(acc1()), ["r4", "r2", "r1"]);
    assert_eq!(
        list(RecordingQuery {
            since_ms: Some(200),
            until_ms: Some(400),
            ..acc1()
        }),
        ["r2"]
    );
    let c1 = || RecordingQuery {
        call_id: Some("c1".into()),
        ..query()
    };
    assert_eq!(list(c1()), ["r4", "r3", "r1"]);
    assert_eq!(list(RecordingQuery { limit: 1, ..c1() }), ["r4"]);
    assert_eq!(
        list(RecordingQuery {
            account_id: Some("acc2".into()),
            ..c1()
        }),
        ["r3"]
    );
    assert_eq!(
        list(RecordingQuery {
            since_ms: Some(300),
            ..query()
        }),
        ["r5", "r4", "r3"]
    );
    assert!(list(RecordingQuery {
        since_ms: Some(300),
        until_ms: Some(300),
        ..query()
    })
    .is_empty());
    assert!(list(RecordingQuery {
        call_id: Some("c".into()),
        ..query()
    })
    .is_empty());
}

/// Contract: recording ids meet the key rule.
pub fn rec_bad_ids_are_refused(s: &dyn Store) {
    for err in [
        s.rec_put(&rec("", "acc1", "c1", 10)).unwrap_err(),
        s.rec_get("").unwrap_err(),
        s.rec_delete(&"i".repeat(1025)).unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
        assert!(err
            .to_string()
            .contains("recording id must be 1 to 1024 bytes"));
    }
}

fn step(call_id: &'static str, seq: u64, at_ms: i64, flow: &'static str) -> StepRecord<'static> {
    StepRecord {
        call_id,
        facts: StepFacts {
            seq,
            at_ms,
            flow,
            outcome: "tree",
            status: 200,
        },
        json: format!("{{\"step\":0,\"seq\":{seq}}}").into(),
    }
}

fn listed(s: &dyn Store, since_ms: i64) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    s.calls_scan(since_ms, &mut |c: CallSummary| {
        out.push((c.call_id, c.steps));
        true
    })
    .unwrap();
    out
}

/// Contract: sequence numbers are handed out once each, in blocks, from every thread.
pub fn calls_reserve_hands_out_each_number_once(s: &dyn Store) {
    assert_eq!(s.calls_reserve(0).unwrap(), 0, "an empty log starts at 0");
    assert_eq!(s.calls_reserve(3).unwrap(), 0);
    assert_eq!(s.calls_reserve(0).unwrap(), 3, "0 takes none");
    assert_eq!(s.calls_reserve(1).unwrap(), 3);
    // A step stored with a number past the counter moves it on.
    s.calls_append(&[step("a", 10, 100, "f")]).unwrap();
    assert_eq!(s.calls_reserve(2).unwrap(), 11);
    let firsts = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..25 {
                    let first = s.calls_reserve(2).unwrap();
                    firsts.lock().unwrap().push(first);
                }
            });
        }
    });
    let mut firsts = firsts.into_inner().unwrap();
    firsts.sort_unstable();
    assert_eq!(firsts, (0..100).map(|i| 13 + 2 * i).collect::<Vec<u64>>());
}

/// Contract: a call's steps come back in sequence order, and its summary follows its last step.
pub fn calls_steps_and_summaries_keep_order(s: &dyn Store) {
    s.calls_append(&[step("a", 0, 100, "f"), step("b", 1, 200, "g")])
        .unwrap();
    // A later batch moves `a` to the front.
    s.calls_append(&[step("a", 7, 300, "g")]).unwrap();
    assert_eq!(listed(s, i64::MIN), [("a".into(), 2), ("b".into(), 1)]);
    assert_eq!(listed(s, 250), [("a".into(), 2)]);
    let steps = s.calls_steps("a").unwrap();
    assert_eq!(
        steps.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [0, 7]
    );
    assert_eq!(steps[1].1, "{\"step\":0,\"seq\":7}");
    assert!(s.calls_steps("nobody").unwrap().is_empty());
    let found = s.calls_summaries(&["b", "nobody", "a"]).unwrap();
    assert_eq!(found[0].as_ref().unwrap().flows, ["g"]);
    assert!(found[1].is_none());
    let a = found[2].as_ref().unwrap();
    assert_eq!((a.first_at_ms, a.last_at_ms, a.last_seq), (100, 300, 7));
    assert_eq!(a.flows, ["f", "g"]);
    assert_eq!((a.flow.as_str(), a.steps), ("g", 2));
}

/// Contract: expiry removes whole calls whose last step is older than the cut-off.
pub fn calls_expiry_removes_whole_calls_whose_last_step_is_older_than_the_cut_off(s: &dyn Store) {
    s.calls_append(&[
        step("old", 0, 100, "f"),
        step("old", 1, 150, "f"),
        step("spans", 2, 120, "f"),
        step("spans", 3, 400, "f"),
        step("new", 4, 500, "f"),
    ])
    .unwrap();
    assert_eq!(s.calls_expire(200, 1000).unwrap(), 1);
    assert_eq!(
        listed(s, i64::MIN),
        [("new".into(), 1), ("spans".into(), 2)]
    );
    assert!(s.calls_steps("old").unwrap().is_empty());
    assert_eq!(s.calls_summaries(&["old"]).unwrap(), [None]);
    // Nothing more is that old; a bounded pass removes at most `max` calls.
    assert_eq!(s.calls_expire(200, 1000).unwrap(), 0);
    assert_eq!(s.calls_expire(i64::MAX, 1).unwrap(), 1);
    assert_eq!(s.calls_expire(i64::MAX, 1).unwrap(), 1);
    assert!(listed(s, i64::MIN).is_empty());
    assert!(s.calls_steps("spans").unwrap().is_empty());
    // The sequence survives expiry: no number is handed out twice.
    assert_eq!(s.calls_reserve(0).unwrap(), 5);
}

/// Contract: a journal write names the version it read and is refused when it moved on.
pub fn journals_compare_and_set_on_the_version(s: &dyn Store) {
    assert_eq!(s.journal_get("call-1", 0).unwrap(), None);
    let created = s
        .journal_put("call-1", &json!({"step": 1}), 0, None, 0)
        .unwrap();
    assert_eq!(created, JournalWrite::Written { version: 1 });
    // Two nodes read version 1; the first write wins, the second is told the version now.
    let first = s
        .journal_put("call-1", &json!({"step": 2}), 1, None, 0)
        .unwrap();
    assert_eq!(first, JournalWrite::Written { version: 2 });
    let second = s
        .journal_put("call-1", &json!({"step": 9}), 1, None, 0)
        .unwrap();
    assert_eq!(second, JournalWrite::Stale { current: 2 });
    let got = s.journal_get("call-1", 0).unwrap().unwrap();
    assert_eq!(
        (got.version, got.value, got.expires_at_ms),
        (2, json!({"step": 2}), None)
    );
    // Creating what exists is stale too; other keys are separate.
    assert_eq!(
        s.journal_put("call-1", &json!(0), 0, None, 0).unwrap(),
        JournalWrite::Stale { current: 2 }
    );
    assert_eq!(
        s.journal_put("call-2", &json!(0), 5, None, 0).unwrap(),
        JournalWrite::Stale { current: 0 }
    );
    // Concurrent writers of one version: exactly one wins.
    let wins = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for n in 0..8 {
            let wins = &wins;
            scope.spawn(move || {
                if let JournalWrite::Written { .. } =
                    s.journal_put("call-1", &json!(n), 2, None, 0).unwrap()
                {
                    wins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(wins.into_inner(), 1);
    assert_eq!(s.journal_get("call-1", 0).unwrap().unwrap().version, 3);
    for err in [
        s.journal_get("", 0).unwrap_err(),
        s.journal_put(&"k".repeat(1025), &json!(1), 0, None, 0)
            .unwrap_err(),
        s.journal_put("k", &json!("x".repeat(1024 * 1024)), 0, None, 0)
            .unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    }
}

/// Contract: a journal expires at its TTL (it reads as absent, and may be created anew) and
/// expiry removes it.
pub fn journals_expire(s: &dyn Store) {
    s.journal_put("j", &json!(1), 0, Some(1_000), 10_000)
        .unwrap();
    s.journal_put("kept", &json!(1), 0, None, 10_000).unwrap();
    let got = s.journal_get("j", 10_999).unwrap().unwrap();
    assert_eq!(got.expires_at_ms, Some(11_000));
    assert_eq!(s.journal_get("j", 11_000).unwrap(), None);
    // A write renews (or drops) the expiry.
    assert_eq!(
        s.journal_put("j", &json!(2), 1, Some(1_000), 10_500)
            .unwrap(),
        JournalWrite::Written { version: 2 }
    );
    assert!(s.journal_get("j", 11_000).unwrap().is_some());
    assert_eq!(s.journal_expire(11_499, 10).unwrap(), 0);
    assert_eq!(s.journal_expire(11_500, 10).unwrap(), 1);
    assert_eq!(s.journal_get("j", 0).unwrap(), None, "removed");
    assert_eq!(
        s.journal_expire(i64::MAX, 10).unwrap(),
        0,
        "no expiry, never removed"
    );
    // An expired journal is absent to writers too: creating it starts again at 1.
    s.journal_put("short", &json!(1), 0, Some(10), 0).unwrap();
    assert_eq!(
        s.journal_put("short", &json!(2), 0, None, 10).unwrap(),
        JournalWrite::Written { version: 1 }
    );
    assert_eq!(s.journal_get("kept", i64::MAX).unwrap().unwrap().version, 1);
}

/// Contract: a fresh store answers its liveness check and a flush.
pub fn ping_answers(s: &dyn Store) {
    s.ping().unwrap();
    s.flush().unwrap();
}

mod embedded {
    contract_tests!(crate::store::temp_store());
}

mod redis {
    contract_tests!(crate::store::redis_temp_store());
}

mod scratch {
    contract_tests!(crate::store::scratch_temp_store());
}
