//! Tests against a real `sluice run` process: milter, HTTP, controller,
//! forward mode, operations (signals, logs, rebinding) and the Lua sandbox
//! as a running daemon meets them.
//!
//! One binary for all of them: each test binary links the whole crate, and
//! linking, not the tests, dominated `cargo test`.
#[path = "../support/mod.rs"]
mod support;

mod auth_dns;
mod config_check;
mod controller_api;
mod forward_mirror;
mod forward_pool;
mod forward_rcpts;
mod forward_sluice_pool;
mod forward_tls;
mod fuzzy_check;
mod http_access;
mod http_controller;
mod http_drain;
mod http_hostile;
mod http_learn;
mod http_legacy;
mod http_limits;
mod http_logins;
mod http_scan;
mod http_settings;
mod http_tls;
mod http_ui;
mod lua_hostile;
mod lua_reload;
mod milter_e2e;
mod milter_hostile;
mod milter_limits;
mod neural;
mod ops_lifecycle;
mod ops_log;
mod ops_rebind;
mod ops_reload;
mod rescore_cli;
mod sign_outbound;
mod stats_learn_cli;
mod stats_outage;
