//! `sluice fuzzy add|del|check|stat`: fuzzy_check's rules from the
//! configuration, used from the command line against their storages.
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sluice_proto::fuzzy::Op;

use crate::cli::{FuzzyCommand, FuzzyFilesArgs, FuzzyLearnArgs};
use crate::config::Config;
use crate::message::parsed::Parsed;
use crate::scan::fuzzy::check::{FuzzyChecks, LearnError};

/// How long one command waits for the storages.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one of the storage commands (`hashes` is the binary's own).
pub fn run(cmd: FuzzyCommand) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cmd {
        FuzzyCommand::Add(a) => rt.block_on(learn(&a, Op::Write)),
        FuzzyCommand::Del(a) => rt.block_on(learn(&a, Op::Del)),
        FuzzyCommand::Check(a) => rt.block_on(check(&a)),
        FuzzyCommand::Stat(c) => rt.block_on(stat(&checks(&c)?)),
        FuzzyCommand::Hashes(_) => bail!("`fuzzy hashes` is handled by the binary"),
    }
}

fn checks(config: &crate::cli::ConfigArgs) -> Result<FuzzyChecks> {
    let cfg = Config::load(&config.load_options())?;
    FuzzyChecks::from_section(cfg.tree.get("fuzzy_check"))?
        .context("no fuzzy_check rule is configured (rule \"NAME\" { servers = ...; })")
}

fn parse(file: &std::path::Path) -> Result<Parsed> {
    let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    Ok(Parsed::parse(&crate::message::parser(), raw.into()))
}

async fn learn(a: &FuzzyLearnArgs, op: Op) -> Result<ExitCode> {
    let checks = checks(&a.config)?;
    let flag = a
        .flag
        .parse::<u32>()
        .ok()
        .or_else(|| checks.flag_of_symbol(&a.flag))
        .with_context(|| format!("unknown flag {:?}", a.flag))?;
    let mut failed = 0;
    for file in &a.files {
        let parsed = parse(file)?;
        let deadline = Instant::now() + TIMEOUT;
        match checks
            .learn(parsed.view(), op, flag, a.weight, deadline)
            .await
        {
            Ok(hashes) => {
                println!("{}: {} hashes", file.display(), hashes.len());
                for h in hashes {
                    println!("  {h}");
                }
            }
            Err(e @ LearnError::NoContent(_)) => println!("{}: {e}", file.display()),
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn check(a: &FuzzyFilesArgs) -> Result<ExitCode> {
    let checks = checks(&a.config)?;
    for file in &a.files {
        let parsed = parse(file)?;
        let prepared = checks.prepare(parsed.view(), None);
        let hits = checks.check(prepared, Instant::now() + TIMEOUT).await;
        if hits.is_empty() {
            println!("{}: no match", file.display());
        }
        for h in hits {
            println!(
                "{}: {} ({:.2} of its weight) [{}]",
                file.display(),
                h.symbol,
                h.multiplier,
                h.option
            );
        }
    }
    let failures: u64 = checks.counters().iter().map(|c| c.snapshot().3).sum();
    if failures > 0 {
        bail!("{failures} fuzzy exchanges got no reply");
    }
    Ok(ExitCode::SUCCESS)
}

async fn stat(checks: &FuzzyChecks) -> Result<ExitCode> {
    let mut failed = false;
    for (rule, res) in checks.stat(Instant::now() + TIMEOUT).await {
        match res {
            Ok(rep) => println!("{rule}: {} hashes stored", rep.flag),
            Err(e) => {
                eprintln!("{rule}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
