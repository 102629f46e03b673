//! Shared helpers for the scan tests: the shipped config as a tree, corpus
//! paths, and a pipeline built from them. Each test binary uses a subset.
#![allow(dead_code)]
use std::path::PathBuf;

use serde_json::{json, Value};
use sluice::scan::Pipeline;

#[path = "ucl.rs"]
mod ucl;

pub fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `regexp` and `group` from `conf/rules/`, default actions.
pub fn shipped_tree() -> Value {
    let regexp = ucl::parse(&std::fs::read_to_string(repo_file("conf/rules/regexp.conf")).unwrap());
    let group = ucl::parse(&std::fs::read_to_string(repo_file("conf/rules/groups.conf")).unwrap());
    json!({ "regexp": regexp, "group": group })
}

pub fn shipped_pipeline() -> Pipeline {
    Pipeline::from_config(&shipped_tree()).expect("shipped rules compile")
}

/// The shared corpus: `$SLUICE_CORPUS`, else `shared/corpus` beside the
/// checkout. Missing corpus is a failure, never a skip.
pub fn corpus_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("SLUICE_CORPUS").map(PathBuf::from),
        Some(repo_file("../shared/corpus")),
        Some(PathBuf::from("/work/shared/corpus")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("labels.tsv").is_file())
        .expect("corpus not found: set SLUICE_CORPUS to the shared corpus folder")
}
