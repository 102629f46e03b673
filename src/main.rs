//! The `sluice` binary: parse the command line and hand over to the library.
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use sluice::cli::{BenchCommand, Cli, Command, ConfigArgs, EvalBayesArgs, LearnArgs, ScanArgs};
use sluice::stats::{self, Class, Stats};
use sluice::verdict::checkv2;
use sluice::{bench, cli, config, daemon, eval_bayes, scan};

/// A scan allocates and frees many small objects (header values, words,
/// Lua strings) on the scan threads; with mimalloc the corpus scans with
/// fewer instructions and less CPU than with glibc malloc
/// (`docs/performance.md`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run` installs the configured logging itself, once the config is read.
    if !matches!(cli.command, Command::Run(_)) {
        init_logging();
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(args) => {
            let opts = daemon::RunOptions {
                load: args.config.load_options(),
                milter: args.milter,
                http: args.http,
                controller: args.controller,
                pid_file: args.pid_file,
                install_logging: true,
            };
            daemon::runtime()
                .context("starting the async runtime")?
                .block_on(daemon::run(opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(args) => scan_files(&args),
        Command::Manpage => {
            print!(
                "{}",
                sluice::manpage::render(&<Cli as clap::CommandFactory>::command())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let report = sluice::status::fetch(&args.controller, args.password.as_deref())?;
            if args.json {
                println!("{}", report.raw);
            } else {
                print!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Configtest(args) => configtest(&args),
        Command::Configdump(args) => {
            print!("{}", config::configdump(&args.load_options())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Milter(a)) => {
            let report =
                runtime()?.block_on(bench::bench_milter(&bench::BenchOptions::from(&a)))?;
            if a.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
            // Lost or malformed replies make the run fail, for scripts.
            Ok(if report.protocol_errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Learn(args) => learn(&args),
        Command::Stat(args) => stat(&args),
        Command::EvalBayes(args) => eval_bayes(&args),
        Command::DkimKeygen(args) => dkim_keygen(&args),
        Command::Pw(args) => pw(&args),
    }
}

fn pw(args: &cli::PwArgs) -> Result<ExitCode> {
    use sluice::http::controller::password::{self, Kdf, Stored};
    if args.list {
        println!("pbkdf2: PBKDF2-blake2b - CPU intensive KDF using blake2b hash function");
        println!("catena: Catena-Butterfly - CPU and memory intensive KDF");
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = std::io::stdin().lines();
    let mut next_line = |what: &str| -> Result<String> {
        match lines.next() {
            Some(line) => Ok(line.with_context(|| format!("pw: reading the {what}"))?),
            None => anyhow::bail!("pw: no {what} on stdin"),
        }
    };
    let first = match &args.password {
        Some(p) => p.clone(),
        None => next_line(if args.check { "hash" } else { "password" })?,
    };
    if args.check {
        if let Stored::Plain(_) | Stored::Broken(_) = Stored::parse(&first) {
            anyhow::bail!("pw: invalid password format: expected $1$SALT$KEY or $2$SALT$KEY");
        }
        let given = next_line("password")?;
        let ok = password::verify(&first, &given);
        if !args.quiet {
            println!("password {}", if ok { "correct" } else { "incorrect" });
        }
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if first.is_empty() {
        anyhow::bail!("pw: invalid password: empty");
    }
    let kdf = Kdf::from_name(&args.kdf).context("pw: unknown type")?;
    println!("{}", password::encrypt(kdf, &first));
    Ok(ExitCode::SUCCESS)
}

fn dkim_keygen(args: &cli::DkimKeygenArgs) -> Result<ExitCode> {
    use sluice::sign::keygen::{self, KeyType};
    if args.domain.is_empty() || args.selector.is_empty() {
        anyhow::bail!("dkim-keygen: -d DOMAIN and -s SELECTOR must not be empty");
    }
    let key_type = match args.key_type {
        cli::KeygenType::Rsa => KeyType::Rsa,
        cli::KeygenType::Ed25519 => KeyType::Ed25519,
    };
    let generated = keygen::generate(key_type, args.bits)?;
    match &args.privkey {
        Some(path) => keygen::write_private(path, &generated.private_pem)?,
        None => print!("{}", generated.private_pem),
    }
    print!("{}", keygen::txt_record(&args.selector, &generated));
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn configtest(args: &ConfigArgs) -> Result<ExitCode> {
    let opts = daemon::RunOptions {
        load: args.load_options(),
        ..Default::default()
    };
    // Built on the daemon's runtime: upstream blocks are built as `run` builds them.
    let warnings = daemon::runtime()
        .context("starting the async runtime")?
        .block_on(async { daemon::check(&opts) })?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    println!("syntax OK");
    Ok(ExitCode::SUCCESS)
}

fn scan_files(args: &ScanArgs) -> Result<ExitCode> {
    let cfg = config::Config::load(&args.config.load_options())?;
    let bayes = Stats::open_existing(cfg.bayes.as_ref()).unwrap_or_else(|e| {
        eprintln!("warning: scanning without Bayes: {e}");
        None
    });
    let pipeline = scan::Pipeline::new(&cfg.rules)
        .context("rules")?
        .with_stats(bayes.clone());
    let env = args.envelope.envelope();
    // The checks run only for an envelope given on the command line (they need its address).
    let auth = if args.envelope.given() {
        daemon::auth_checks(&cfg)?
    } else {
        None
    };
    let rt = auth.as_ref().map(|_| runtime()).transpose()?;
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let found = match (&auth, &rt) {
            (Some(checks), Some(rt)) => rt.block_on(checks.run(&env, &raw)),
            _ => scan::auth::AuthOutcome::default(),
        };
        if args.explain {
            let (scanned, trace) = pipeline.explain_authenticated(&env, &raw, &found);
            let verdict = scanned.learned_by(bayes.as_deref());
            let name = file.display().to_string();
            write!(
                out,
                "{}",
                scan::explain::render(&pipeline, &verdict, &trace, &name)
            )?;
            continue;
        }
        let verdict = pipeline
            .scan_authenticated(&env, &raw, scan::ScanOptions::default(), &found)
            .learned_by(bayes.as_deref());
        if args.json {
            let reply = checkv2::to_reply(&verdict);
            serde_json::to_writer(&mut out, &reply)?;
            writeln!(out)?;
        } else {
            write!(
                out,
                "{}",
                scan::report::text_report(&verdict, &file.display().to_string())
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open_stats(args: &ConfigArgs) -> Result<std::sync::Arc<Stats>> {
    let cfg = config::Config::load(&args.load_options())?;
    Stats::from_config(cfg.bayes.as_ref())?.ok_or_else(|| stats::StatsError::Disabled.into())
}

fn learn(args: &LearnArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        !args.spam.is_empty() || !args.ham.is_empty(),
        "nothing to learn: give --spam PATH... and/or --ham PATH..."
    );
    let stats = open_stats(&args.config)?;
    let mut items = stats::learn::collect(&args.spam, Class::Spam)?;
    items.extend(stats::learn::collect(&args.ham, Class::Ham)?);
    let progress = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let summary = stats::learn::learn_items(&stats, &items, progress)?;
    println!("{summary}");
    print_stat(&stats.stat()?);
    Ok(ExitCode::SUCCESS)
}

fn stat(args: &ConfigArgs) -> Result<ExitCode> {
    print_stat(&open_stats(args)?.stat()?);
    Ok(ExitCode::SUCCESS)
}

fn print_stat(s: &stats::StoreStat) {
    println!("Statfile: BAYES_SPAM, learned: {} messages", s.learns.spam);
    println!("Statfile: BAYES_HAM, learned: {} messages", s.learns.ham);
    println!(
        "Tokens: {}; users with own statistics: {}",
        s.tokens, s.users
    );
    println!(
        "Store: {} {} ({} bytes)",
        s.backend, s.location, s.size_bytes
    );
}

fn eval_bayes(args: &EvalBayesArgs) -> Result<ExitCode> {
    let cfg = config::Config::load(&args.config.load_options())?;
    let mut items = stats::learn::collect(&args.spam, Class::Spam)?;
    items.extend(stats::learn::collect(&args.ham, Class::Ham)?);
    let (scores, rows) = eval_bayes::evaluate(&cfg, &items, args.folds)?;
    print!("{}", eval_bayes::render(&rows, args.folds));
    let alone = eval_bayes::bayes_alone(&items, &scores);
    print!("{}", eval_bayes::render_bayes_alone(&alone));
    Ok(ExitCode::SUCCESS)
}
