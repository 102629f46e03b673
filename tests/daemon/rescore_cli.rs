//! `sluice rescore` on a small labelled set of the shared corpus: the
//! report has the per-threshold and the ROC-style tables before and after,
//! the written `local.d/groups.conf` keeps every rule's sign, `sluice
//! configtest` loads it, and a running daemon applies it on reload.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::http::{corpus, get, Sluice};

/// The first `n` messages of a corpus class, read in place.
fn files(class: &str, n: usize) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus(class))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.truncate(n);
    v
}

fn vars(dir: &Path) -> Vec<String> {
    ["LOCAL_CONFDIR", "DBDIR"]
        .iter()
        .flat_map(|v| ["--var".to_string(), format!("{v}={}", dir.display())])
        .collect()
}

/// `"SYM" { weight = W; } # shipped S` lines: name -> (W, S).
fn written(text: &str) -> BTreeMap<String, (f64, f64)> {
    text.lines()
        .filter(|l| l.contains("{ weight = "))
        .map(|l| {
            let name = l.split('"').nth(1).unwrap().to_string();
            let num = |after: &str, end: char| -> f64 {
                let rest = l.split(after).nth(1).unwrap();
                rest.split(end).next().unwrap().trim().parse().unwrap()
            };
            (name, (num("weight = ", ';'), num("# shipped ", '\n')))
        })
        .collect()
}

/// Weights as the controller's `/symbols` lists them.
fn weights(s: &Sluice) -> BTreeMap<String, f64> {
    let r = get(s.controller, "/symbols", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .map(|r| {
            (
                r["symbol"].as_str().unwrap().to_string(),
                r["weight"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn rescore_reports_writes_a_loadable_file_and_reload_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("groups.conf");
    let run = Command::new(crate::support::sluice_bin())
        .args(["rescore", "--quiet", "--folds", "3", "--min-hits", "2"])
        .args(["--max-fp", "0.05", "--out"])
        .arg(&out)
        .args(vars(dir.path()))
        .arg("--spam")
        .args(files("spam", 24))
        .arg("--ham")
        .args(files("ham", 24))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("3-fold cross-validation over 24 spam and 24 ham"),
        "{stdout}"
    );
    for variant in ["baseline", "rescored"] {
        for action in ["greylist", "add header", "reject"] {
            assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with(variant) && l.contains(action)),
                "no {variant} row at {action}:\n{stdout}"
            );
        }
        // The ROC-style row: four percentages.
        let roc = stdout
            .lines()
            .filter(|l| l.starts_with(variant))
            .find(|l| !l.contains("add header") && !l.contains("greylist") && !l.contains("reject"))
            .unwrap_or_else(|| panic!("no ROC row for {variant}:\n{stdout}"));
        assert_eq!(roc.matches('%').count(), 4, "{roc}");
    }
    assert!(stdout.contains("<= 9 ham"), "{stdout}");
    assert!(
        stdout.contains("thresholds for ham flagged under 5.00%"),
        "{stdout}"
    );

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("# Rule weights fitted by `sluice rescore` to 24 spam and 24 ham"),
        "{text}"
    );
    let fitted = written(&text);
    assert!(!fitted.is_empty(), "no weight changed:\n{text}\n{stdout}");
    for (name, (w, shipped)) in &fitted {
        assert!(*shipped != 0.0, "{name}: a weight-0 rule was fitted");
        assert!(w * shipped >= 0.0, "{name}: {shipped} became {w}");
    }

    // configtest loads it from local.d.
    std::fs::create_dir_all(dir.path().join("local.d")).unwrap();
    std::fs::copy(&out, dir.path().join("local.d/groups.conf")).unwrap();
    let check = Command::new(crate::support::sluice_bin())
        .arg("configtest")
        .args(vars(dir.path()))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // A running daemon takes it on reload.
    let s = Sluice::start(&[]);
    let before = weights(&s);
    // The file notes shipped weights with two decimals.
    let near = |a: Option<&f64>, b: f64| a.is_some_and(|a| (a - b).abs() <= 0.005);
    for (name, (_, shipped)) in &fitted {
        assert!(
            near(before.get(name), *shipped),
            "{name}: {:?}",
            before.get(name)
        );
    }
    std::fs::create_dir_all(s.path("local.d")).unwrap();
    std::fs::copy(&out, s.path("local.d/groups.conf")).unwrap();
    s.hup();
    let mut s = s;
    s.wait_log("configuration reloaded");
    let after = weights(&s);
    for (name, (w, _)) in &fitted {
        assert!(near(after.get(name), *w), "{name}: {:?}", after.get(name));
    }
}
