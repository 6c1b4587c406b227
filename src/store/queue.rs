//! The post-call event queue: end-of-call events stored durably until a flow's `postCall`
//! has run them, retried with backoff, dead-lettered when they keep failing.
//!
//! Delivery is at least once. A worker *claims* due events with a lease: a claimed event is
//! not due for anyone else until `lease_until_ms`, and then it is due again, so an event whose
//! worker died is run by another. A worker whose lease ran out may still finish it, so a
//! `postCall` can run twice for one event: it gets the event's id to tell.

use serde_json::Value;

use super::validate::{check_key, encode_value};
use super::StoreError;

/// An end-of-call event waiting to run a flow's postCall.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueuedEvent {
    /// Queue id, increasing in push order and never reused.
    pub id: u64,
    /// The flow whose postCall handles it.
    pub flow: String,
    /// The event as the PBX sent it.
    pub event: Value,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is next due as scheduled (Unix ms); a lease holds it back until the lease ends.
    pub next_at_ms: i64,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was pushed (Unix ms).
    pub received_at_ms: i64,
    /// The worker that claimed it last, while its lease runs or after it ran out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// When the last claim's lease ends (Unix ms): until then no other worker may claim it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until_ms: Option<i64>,
}

impl QueuedEvent {
    /// When the event is due: its schedule, or the end of its lease when that is later.
    pub fn due_at_ms(&self) -> i64 {
        self.lease_until_ms
            .map_or(self.next_at_ms, |lease| lease.max(self.next_at_ms))
    }
}

/// The post-call queue. Callers use the checked methods; backends implement the `raw_` ones
/// (and the rest, which take no input a rule applies to). Every change is durable before a
/// method returns: "none may be lost" once accepted.
pub trait EventQueue: Send + Sync {
    /// Queues an event for `flow`, due at `now_ms`. Refuses it with [`StoreError::QueueFull`]
    /// when the pending events would pass `max_pending_bytes`.
    fn event_push(
        &self,
        flow: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<u64, StoreError> {
        check_key("flow name", flow)?;
        encode_value(event)?;
        self.raw_event_push(flow, event, now_ms, max_pending_bytes)
    }
    /// Queues the event of `call_id` for `flow` like [`EventQueue::event_push`], unless one
    /// was already taken for that flow and call (then `None`, nothing stored): the check and
    /// the mark are one step, so a repeated delivery is never queued twice.
    fn event_push_once(
        &self,
        flow: &str,
        call_id: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<Option<u64>, StoreError> {
        check_key("flow name", flow)?;
        check_key("call id", call_id)?;
        encode_value(event)?;
        self.raw_event_push_once(flow, call_id, event, now_ms, max_pending_bytes)
    }
    /// Claims up to `limit` due events for `worker` (soonest due first, ties oldest first): each
    /// is leased to it until `now_ms + lease_ms`, and due again for anyone after that.
    fn events_claim(
        &self,
        worker: &str,
        now_ms: i64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<QueuedEvent>, StoreError> {
        check_key("worker name", worker)?;
        let until = now_ms.saturating_add(i64::try_from(lease_ms).unwrap_or(i64::MAX));
        self.raw_events_claim(worker, now_ms, until, limit)
    }

    /// Backend side of [`EventQueue::event_push`].
    fn raw_event_push(
        &self,
        flow: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<u64, StoreError>;
    /// Backend side of [`EventQueue::event_push_once`]: the taken-mark of (flow, call id) is
    /// checked and written in the same atomic step as the push.
    fn raw_event_push_once(
        &self,
        flow: &str,
        call_id: &str,
        event: &Value,
        now_ms: i64,
        max_pending_bytes: u64,
    ) -> Result<Option<u64>, StoreError>;
    /// Backend side of [`EventQueue::events_claim`], leasing until `until_ms`.
    fn raw_events_claim(
        &self,
        worker: &str,
        now_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<QueuedEvent>, StoreError>;
    /// Gives a claimed event back untouched (no attempt counted, its lease ended): due again
    /// on its schedule. No error when it is already gone.
    fn event_release(&self, id: u64) -> Result<(), StoreError>;
    /// Removes up to `max` taken-marks written before `before_ms`; returns how many.
    fn events_expire_taken(&self, before_ms: i64, max: usize) -> Result<usize, StoreError>;
    /// Pending events due at `now_ms` (scheduled by then and not leased past it), soonest
    /// due first (ties: oldest first); reads only, claims nothing.
    fn events_due(&self, now_ms: i64, limit: usize) -> Result<Vec<QueuedEvent>, StoreError>;
    /// Removes a handled event, by id (no error when it is already gone).
    fn event_done(&self, id: u64) -> Result<(), StoreError>;
    /// Records a failed attempt (attempts += 1), ends its lease and sets when to try again.
    fn event_retry(&self, id: u64, next_at_ms: i64, error: &str) -> Result<(), StoreError>;
    /// Records a final failed attempt and moves the event to the dead letters at `now_ms`.
    fn event_dead(&self, id: u64, error: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Removes up to `max` dead letters that went dead before `before_ms`; returns how many.
    fn events_expire_dead(&self, before_ms: i64, max: usize) -> Result<usize, StoreError>;
    /// Bytes of the pending events, as the queue's bound counts them.
    fn events_pending_bytes(&self) -> Result<u64, StoreError>;
    /// Dead-lettered events, oldest first, at most `limit`.
    fn events_dead(&self, limit: usize) -> Result<Vec<QueuedEvent>, StoreError>;
    /// Number of queued (not dead) events, leased or not.
    fn events_pending(&self) -> Result<u64, StoreError>;
}
