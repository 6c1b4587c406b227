//! pivotforge: a Kazoo pivot service. The PBX calls `/pivot/{flow}` on each call step; the flow
//! (a rule file or a script) answers with one schema-validated callflow tree. It also receives
//! the call recordings the PBX uploads (`/recordings`).
#![warn(missing_docs)]

pub mod auth;
pub mod callflow;
pub mod calls;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_error;
pub mod ctx_map;
pub mod digest;
pub mod engine;
pub mod events;
pub mod flow_name;
pub mod flows;
#[cfg(test)]
mod layout_test;
pub mod limits;
pub mod load_error;
pub mod logging;
pub mod metrics;
pub mod outcome;
pub mod readiness;
pub mod recordings;
pub mod reload;
pub mod request;
pub mod scenario;
pub mod scratch;
pub mod script;
pub mod secret;
pub mod server;
pub mod sim;
pub mod store;
pub mod webhook;
