//! Golden engine tests: each `tests/rules/engine/*.test` file is one config
//! and its cases (see `rules/engine/harness.rs` for the format).
use crate::harness;

macro_rules! golden {
    ($($test:ident => $file:literal, $min:literal;)*) => {$(
        #[test]
        fn $test() {
            let n = harness::run_file($file);
            assert!(n >= $min, "{} has only {n} cases", $file);
        }
    )*};
}

golden! {
    scoring => "scoring.test", 6;
    regexp_types => "regexp_types.test", 12;
    functions => "functions.test", 10;
    composites => "composites.test", 10;
    multimap => "multimap.test", 10;
    force_actions => "force_actions.test", 6;
}

/// Every `.test` file in the folder is listed above.
#[test]
fn every_golden_file_is_run() {
    let listed = [
        "composites.test",
        "force_actions.test",
        "functions.test",
        "multimap.test",
        "regexp_types.test",
        "scoring.test",
    ];
    for e in std::fs::read_dir(harness::engine_dir()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".test") {
            assert!(listed.contains(&name.as_str()), "{name} is not run");
        }
    }
}
