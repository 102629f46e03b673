//! The `sluice` binary: parse the command line and hand over to the library.
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use sluice::cli::{
    BenchCommand, Cli, Command, ConfigArgs, EvalBayesArgs, LearnArgs, RescoreArgs, ScanArgs,
};
use sluice::stats::{self, Class, Stats};
use sluice::verdict::checkv2;
use sluice::{bench, cli, config, daemon, eval_bayes, rescore, scan};

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
        Command::Manpage(args) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match &args.dir {
                Some(dir) => {
                    for page in sluice::manpage::write_all(&cmd, dir)
                        .with_context(|| format!("writing man pages into {}", dir.display()))?
                    {
                        println!("{}", page.display());
                    }
                }
                None => std::io::stdout().write_all(&sluice::manpage::render(&cmd)?)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let controller = sluice::status::Controller::new(
                &args.controller,
                args.password.as_deref(),
                args.ca_file.as_deref(),
            )?;
            let report = controller.stat()?;
            if args.json {
                println!("{}", report.raw);
            } else {
                print!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reload(args) => reload(&args),
        Command::Configtest(args) => configtest(&args),
        Command::Configdump(args) => {
            print!("{}", config::configdump(&args.load_options())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Milter(a)) => {
            let opts = bench::BenchOptions::from(&a);
            let report =
                runtime()?.block_on(bench::milter::bench_milter_with_progress(&opts, !a.quiet))?;
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
        Command::Rescore(args) => rescore(&args),
        Command::DkimKeygen(args) => dkim_keygen(&args),
        Command::Pw(args) => pw(&args),
        Command::Fuzzy(cli::FuzzyCommand::Hashes(args)) => fuzzy_hashes(&args),
        Command::Fuzzy(cmd) => sluice::fuzzy_cli::run(cmd),
    }
}

fn fuzzy_hashes(args: &cli::FuzzyHashArgs) -> Result<ExitCode> {
    use scan::fuzzy::{hashes, Algorithm, HashKind, HashPolicy, RuleKeys};
    let algorithm = Algorithm::parse(&args.algorithm)
        .with_context(|| format!("unknown algorithm {:?}", args.algorithm))?;
    let globs: Vec<&str> = args.mime_types.iter().map(String::as_str).collect();
    let policy = HashPolicy {
        keys: RuleKeys::new(
            args.fuzzy_key.as_deref(),
            args.fuzzy_shingles_key.as_deref(),
        ),
        algorithm,
        min_length: args.min_length,
        min_bytes: args.min_bytes,
        mime_types: Some(hashes::globs(&globs).context("--mime-types")?),
        ..HashPolicy::default()
    };
    let parser = sluice::message::parser();
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let parsed = sluice::message::parsed::Parsed::parse(&parser, raw.into());
        if args.words {
            for (i, words) in hashes::message_words(parsed.view()).iter().enumerate() {
                write!(out, "{}\t{i}\t", file.display())?;
                out.write_all(&words.join(&b' '))?;
                writeln!(out)?;
            }
            continue;
        }
        for h in hashes::message_hashes(parsed.view(), &policy) {
            let kind = match h.kind {
                HashKind::Text => "txt",
                HashKind::ShortText => "short",
                HashKind::Image { .. } => "img",
                HashKind::Binary => "bin",
            };
            let hex = data_encoding::HEXLOWER.encode(&h.digest);
            let sh = h
                .shingles
                .map(|s| s.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            writeln!(out, "{}\t{kind}\t{hex}\t{sh}", file.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
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

fn reload(args: &cli::ReloadArgs) -> Result<ExitCode> {
    let pid = match (&args.pid, &args.pid_file) {
        (Some(pid), _) => *pid,
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("reading {}", file.display()))?
            .trim()
            .parse()
            .with_context(|| format!("{} holds no process id", file.display()))?,
        (None, None) => anyhow::bail!("give --pid PID or --pid-file FILE"),
    };
    let address = match &args.controller {
        Some(a) => Some(a.clone()),
        None => controller_address(&config::Config::load(&args.config.load_options())?),
    };
    let controller = address
        .map(|a| sluice::status::Controller::new(&a, None, args.ca_file.as_deref()))
        .transpose()?;
    let timeout = std::time::Duration::from_secs(args.timeout);
    match sluice::reload::reload(pid, controller.as_ref(), timeout)? {
        sluice::reload::Outcome::Reloaded => println!("configuration reloaded"),
        sluice::reload::Outcome::Unconfirmed => println!("SIGHUP sent; result not confirmed"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The configured controller as `sluice status` addresses it: its first TCP listener (a
/// wildcard address asked on loopback), `https://` when it has a certificate.
fn controller_address(cfg: &config::Config) -> Option<String> {
    let c = &cfg.http.controller;
    if !c.enabled {
        return None;
    }
    let sa = c.bind_socket.iter().find_map(|a| match a {
        config::ListenAddr::Tcp(sa) => Some(*sa),
        config::ListenAddr::Unix(_) => None,
    })?;
    let ip = match sa.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let scheme = if c.tls.is_some() { "https" } else { "http" };
    Some(format!(
        "{scheme}://{}",
        std::net::SocketAddr::new(ip, sa.port())
    ))
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
    // fuzzy_check asks its storages, as the daemon's scans do.
    let fuzzy = scan::fuzzy::check::FuzzyChecks::from_section(cfg.tree.get("fuzzy_check"))
        .context("fuzzy_check")?;
    let fuzzy_budget = fuzzy
        .as_ref()
        .map(|f| f.budget(cfg.milter.session.scan_timeout));
    let rt = (auth.is_some() || fuzzy.is_some())
        .then(runtime)
        .transpose()?;
    let settings = match &args.settings_id {
        Some(id) => Some(pipeline.settings_profile(id).with_context(|| {
            format!("--settings-id {id:?}: no such profile in the `settings` section")
        })?),
        None => None,
    };
    let stdin_count = args.files.iter().filter(|f| ScanArgs::is_stdin(f)).count();
    anyhow::ensure!(
        stdin_count <= 1,
        "`-` (standard input) can be given only once"
    );
    let bar = sluice::progress::bar(args.files.len() as u64, !args.quiet && args.files.len() > 1);
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let (raw, name) = read_message(file)?;
        let raw = bytes::Bytes::from(raw);
        // One parse for the lists' facts and the pipeline.
        let reads = fuzzy.is_some() || auth.as_ref().is_some_and(|a| a.reads_message());
        let parsed = reads.then(|| pipeline.parse(raw.clone()));
        let auth_parsed = parsed
            .as_ref()
            .filter(|_| auth.as_ref().is_some_and(|a| a.reads_message()));
        let mut found = match (&auth, &rt, auth_parsed) {
            (Some(checks), Some(rt), Some(p)) => rt.block_on(checks.run_parsed(&env, p.view())),
            (Some(checks), Some(rt), None) => rt.block_on(checks.run(&env, &raw)),
            _ => scan::auth::AuthOutcome::default(),
        };
        if let (Some(f), Some(budget), Some(rt), Some(p)) = (&fuzzy, fuzzy_budget, &rt, &parsed) {
            let prepared = f.prepare(p.view(), env.client_ip);
            if !prepared.is_empty() {
                found.fuzzy = rt.block_on(f.check(prepared, std::time::Instant::now() + budget));
            }
        }
        let opts = scan::ScanOptions {
            settings: settings.clone(),
            ..Default::default()
        };
        let text = if args.explain {
            let (scanned, trace) = match &parsed {
                Some(p) => pipeline.explain_parsed(&env, p, opts, &found),
                None => pipeline.explain_authenticated(&env, &raw, opts, &found),
            };
            let verdict = scanned.learned_by(bayes.as_deref());
            scan::explain::render(&pipeline, &verdict, &trace, &name)
        } else {
            let scanned = match &parsed {
                Some(p) => pipeline.scan_parsed(&env, p, opts, &found),
                None => pipeline.scan_authenticated(&env, &raw, opts, &found),
            };
            let verdict = scanned.learned_by(bayes.as_deref());
            if args.json {
                let mut line = serde_json::to_string(&checkv2::to_reply(&verdict))?;
                line.push('\n');
                line
            } else {
                scan::report::text_report(&verdict, &name)
            }
        };
        bar.suspend(|| out.write_all(text.as_bytes()))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(ExitCode::SUCCESS)
}

/// A message file's bytes and the name the report gives it; `-` is standard input.
fn read_message(file: &std::path::Path) -> Result<(Vec<u8>, String)> {
    if ScanArgs::is_stdin(file) {
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut raw)
            .context("reading the message from standard input")?;
        return Ok((raw, "stdin".to_string()));
    }
    let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    Ok((raw, file.display().to_string()))
}

fn learn(args: &LearnArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        !args.spam.is_empty() || !args.ham.is_empty(),
        "nothing to learn: give --spam PATH... and/or --ham PATH..."
    );
    let cfg = config::Config::load(&args.config.load_options())?;
    let mut items = stats::learn::collect(&args.spam, Class::Spam)?;
    items.extend(stats::learn::collect(&args.ham, Class::Ham)?);
    let progress = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut stats = match Stats::from_config(cfg.bayes.as_ref()) {
        Ok(Some(s)) => s,
        Ok(None) => return Err(stats::StatsError::Disabled.into()),
        Err(stats::StatsError::Store(stats::StoreError::Locked { path })) => {
            return learn_through_daemon(&cfg, &path, &items, progress);
        }
        Err(e) => return Err(e.into()),
    };
    let summary = stats::learn::learn_items(&stats, &items, progress)?;
    if let Some(s) = std::sync::Arc::get_mut(&mut stats) {
        s.compact()?;
    }
    println!("{summary}");
    print_stat(&stats.stat()?);
    Ok(ExitCode::SUCCESS)
}

/// The store is held by the running daemon: learn through its controller.
fn learn_through_daemon(
    cfg: &config::Config,
    path: &str,
    items: &[stats::learn::Item],
    progress: bool,
) -> Result<ExitCode> {
    let ctl = sluice::via_controller::Controller::from_config(cfg)
        .with_context(|| format!("{path} is held by a running sluice, and its controller"))?;
    eprintln!(
        "{path} is held by a running sluice: learning through its controller at {}",
        ctl.addr
    );
    let summary = sluice::via_controller::learn_items(&ctl, items, progress)
        .with_context(|| format!("learning through the controller at {}", ctl.addr))?;
    println!("{summary}");
    Ok(if summary.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn stat(args: &ConfigArgs) -> Result<ExitCode> {
    let cfg = config::Config::load(&args.load_options())?;
    let stat = match Stats::from_config(cfg.bayes.as_ref()) {
        Ok(Some(s)) => s.stat()?,
        Ok(None) => return Err(stats::StatsError::Disabled.into()),
        Err(stats::StatsError::Store(stats::StoreError::Locked { path })) => {
            let mut stat = sluice::via_controller::Controller::from_config(&cfg)
                .and_then(|c| c.stat())
                .with_context(|| {
                    format!("{path} is held by a running sluice, and its controller")
                })?;
            stat.location = format!("{path} (held by the running daemon)");
            stat
        }
        Err(e) => return Err(e.into()),
    };
    print_stat(&stat);
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
        "Store: {} {} ({} bytes, {:.1} MiB)",
        s.backend,
        s.location,
        s.size_bytes,
        s.size_bytes as f64 / f64::from(1u32 << 20)
    );
}

fn eval_bayes(args: &EvalBayesArgs) -> Result<ExitCode> {
    let cfg = config::Config::load(&args.config.load_options())?;
    let mut items = stats::learn::collect(&args.spam, Class::Spam)?;
    items.extend(stats::learn::collect(&args.ham, Class::Ham)?);
    let (scores, rows) = eval_bayes::evaluate(&cfg, &items, args.folds, !args.quiet)?;
    print!("{}", eval_bayes::render(&rows, args.folds));
    let alone = eval_bayes::bayes_alone(&items, &scores);
    print!("{}", eval_bayes::render_bayes_alone(&alone));
    Ok(ExitCode::SUCCESS)
}

fn rescore(args: &RescoreArgs) -> Result<ExitCode> {
    let cfg = config::Config::load(&args.config.load_options())?;
    let mut items = stats::learn::collect(&args.spam, Class::Spam)?;
    items.extend(stats::learn::collect(&args.ham, Class::Ham)?);
    let opts = rescore::cv::Options {
        folds: args.folds,
        max_fp: args.max_fp,
        min_hits: args.min_hits,
        progress: !args.quiet,
        neural: args.neural,
    };
    let out = rescore::cv::run(&cfg, &items, &opts)?;
    print!("{}", rescore::render(&out, &opts));
    if let Some(path) = &args.out {
        let sources = args
            .spam
            .iter()
            .map(|p| format!("spam {}", p.display()))
            .chain(args.ham.iter().map(|p| format!("ham {}", p.display())))
            .collect::<Vec<_>>()
            .join(", ");
        let header = rescore::file_header(&out, &opts, &sources);
        let text = rescore::weights::render(&out.table, &out.weights, &header);
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("weights written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
