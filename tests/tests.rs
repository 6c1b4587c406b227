//! The integration tests, as one binary: each file beside this one is a module of it, so the crate
//! is linked once for all of them (ripgrep's layout). Helpers shared by several modules live in
//! `common`, `hardening_support` and `recordings_support`.
//!
//! Run one file's tests with `cargo test --test integration MODULE::`.

mod common;
mod hardening_support;
mod recordings_support;

mod auth;
mod bad_input;
mod calls;
mod class5;
mod cli;
mod console_call;
mod flows_api;
mod fuzz_corpus;
mod hardening_bodies;
mod hardening_bulkheads;
mod hardening_crash;
mod hardening_events;
mod hardening_memory;
mod hardening_secrets;
mod hardening_small;
mod hardening_tenants;
mod kazoo_encoding;
mod kazoo_urls;
mod metrics;
mod openapi;
mod parser_props;
mod recordings;
mod recordings_robust;
mod request_line;
mod rule_conditions;
mod rule_files;
mod sandbox_builtins;
mod scenarios;
mod script_api;
mod script_fetch;
mod script_limits;
mod script_reload;
mod script_run_events;
mod script_shipped;
mod script_state;
mod shipped_flows;
mod sim_call;
mod store_memory;
mod store_redis;
mod store_redis_nodes;
mod store_redis_outage;
mod templates;
mod time_rules;
mod ui_browser;
mod webhooks;
