//! Shared helpers for the scan tests: the shipped config as a tree, corpus
//! paths, and a pipeline built from them. Each test binary uses a subset.
#![allow(dead_code)]
use std::path::PathBuf;

use serde_json::Value;
use sluice::config::{load_tree, LoadOptions};
use sluice::scan::Pipeline;

pub fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The shipped configuration as the daemon loads it, through the real UCL
/// loader; the admin layer points at an empty folder so that nothing on the
/// machine running the tests changes the result.
pub fn shipped_tree() -> Value {
    let empty = std::env::temp_dir().join("sluice-tests-no-local-confdir");
    let opts = LoadOptions {
        config_file: None,
        vars: vec![("LOCAL_CONFDIR".into(), empty.display().to_string())],
    };
    let mut tree = load_tree(&opts).expect("shipped configuration loads");
    // Golden cases list every symbol, so every rule must run: without
    // `pass_all` the engine skips rules that cannot change the action.
    tree["options"]["pass_all"] = serde_json::Value::Bool(true);
    tree
}

pub fn shipped_pipeline() -> Pipeline {
    Pipeline::from_config(&shipped_tree()).expect("shipped rules compile")
}

/// The shared corpus: `$SLUICE_CORPUS`, else `shared/corpus` beside the
/// checkout. Missing corpus is a failure, never a skip.
pub fn corpus_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("SLUICE_CORPUS").map(PathBuf::from),
        std::env::var_os("SHARED").map(|s| PathBuf::from(s).join("corpus")),
        Some(repo_file("../shared/corpus")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("labels.tsv").is_file())
        .expect(
            "corpus not found: set SHARED to the shared folder (or SLUICE_CORPUS to its corpus)",
        )
}
