//! pivotforge: a Kazoo pivot service. The PBX calls `/pivot/{flow}` on each call step; the flow
//! (a rule file, later a script) answers with one schema-validated callflow tree.
#![warn(missing_docs)]

pub mod callflow;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod flows;
pub mod logging;
pub mod outcome;
pub mod request;
pub mod server;
