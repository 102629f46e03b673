//! In-process tests of the scan engine and what feeds it: config loading,
//! rules, modules, Lua, the milter session policy over an in-memory
//! stream, the fuzz regressions, and the import graph of `src/`.
//!
//! One binary for all of them: each test binary links the whole crate, and
//! linking, not the tests, dominated `cargo test`.
#[path = "../rules/common.rs"]
mod common;
#[path = "../rules/modules/golden.rs"]
mod golden;
#[path = "../rules/engine/harness.rs"]
mod harness;

mod config_load;
mod config_ucl;
mod fuzz_regressions;
mod layers;
mod lua_api;
mod lua_rules;
mod lua_shipped;
mod message_charsets;
mod scan_corpus;
mod scan_engine_behaviour;
mod scan_engine_golden;
mod scan_engine_parse;
mod scan_expr;
mod scan_modules_corpus;
mod scan_modules_golden;
mod scan_rules;
mod scan_verdict;
mod session_policy;
