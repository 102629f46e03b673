//! Command-line interface. Every subcommand that reads the configuration
//! takes `-c FILE` and `--var NAME=VALUE`, as Rspamd's tools do.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::bench::cli::BenchCommand;
use crate::config::{ListenAddr, LoadOptions};

/// A milter-first mail filter for Postfix and Sendmail, compatible with
/// Rspamd's configuration and protocol.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: milter listener(s) and the in-process scanner.
    ///
    /// Without -c, the shipped configuration is used (milter on
    /// inet:127.0.0.1:11332). Logs go where the `logging` section says
    /// (stderr by default). Under systemd (`Type=notify`) readiness, reloads
    /// and shutdown are reported through $NOTIFY_SOCKET. SIGHUP reloads the
    /// configuration and rebinds listeners whose configured address changed
    /// (command-line addresses stay), SIGUSR1 reopens the log file,
    /// SIGTERM/SIGINT drain and exit.
    Run(RunArgs),
    /// Scan message files offline and print the verdict.
    ///
    /// `-` as a file reads the message from standard input. With an envelope (--ip, --helo, --from, --rcpt, --user, --hostname) the SPF, DKIM,
    /// DMARC and ARC checks run first, as in the daemon, on the nameservers of
    /// `options.dns.nameserver` (without one set they are off); without an envelope no DNS
    /// query is made.
    Scan(ScanArgs),
    /// Reload a running daemon and wait for the result (systemd's ExecReload).
    ///
    /// Sends SIGHUP to the daemon and waits until its controller's /metrics counts the reload,
    /// exiting non-zero if the reload failed (the daemon then keeps its running configuration)
    /// or did not finish in time. The controller's address comes from the configuration
    /// (worker "controller") unless --controller gives it; when it cannot be reached the signal
    /// is sent without waiting.
    Reload(ReloadArgs),
    /// Check the configuration; exits non-zero on errors.
    ///
    /// Builds everything `run` builds before binding (logging, Bayes store
    /// settings, rules and Lua scripts, upstream blocks, listener addresses)
    /// and fails where `run` would, naming the file and line. Warnings (keys
    /// or local.d files sluice does not use) go to stderr.
    Configtest(ConfigArgs),
    /// Print the merged configuration.
    Configdump(ConfigArgs),
    /// Show a running daemon's state.
    ///
    /// Asks the controller for /stat (over TLS with an https:// address) and prints the
    /// essentials: uptime, messages by action, milter sessions, HTTP connections.
    Status(StatusArgs),
    /// Load tools.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print the man page (roff), or write every page with --dir.
    ///
    /// Generated from the same definitions as --help: `sluice manpage > sluice.1; man -l
    /// sluice.1`. sluice(1) lists the subcommands; each has its own page (sluice-run(1),
    /// sluice-scan(1), ...), which --dir writes too.
    Manpage(ManpageArgs),
    /// Learn messages into the Bayes statistics (directories, Maildirs, mboxes, files).
    ///
    /// While `sluice run` holds the embedded store, the messages go through
    /// its controller (`/learnspam`, `/learnham`; address and password from
    /// the same configuration).
    Learn(LearnArgs),
    /// Show the Bayes statistics: learned messages per class, tokens, store size.
    ///
    /// While `sluice run` holds the embedded store, the figures come from
    /// its controller's `/stat`.
    Stat(ConfigArgs),
    /// k-fold cross-validation of the scan with and without Bayes.
    EvalBayes(EvalBayesArgs),
    /// Fit the rule weights to a labelled mail store and write them as local.d/groups.conf.
    ///
    /// Scans the store per fold (Bayes trained on the training folds), fits the weights on the
    /// training folds (L2 pull towards the configured weights, no rule changes sign, rarely seen
    /// rules keep theirs), scans each test fold again with its fitted weights, and prints spam
    /// recall and ham flagged at every action threshold before and after, with spam recall at 0,
    /// 1, 3 and 9 ham flagged. The weights fitted on the whole store go to --out, in Rspamd's
    /// local.d/groups.conf form; review it, copy it to $LOCAL_CONFDIR/local.d/ and reload.
    Rescore(RescoreArgs),
    /// Generate a DKIM key pair and print its DNS TXT record.
    ///
    /// Output as `rspamadm dkim_keygen`: the private key (PEM, PKCS#8)
    /// unless -k writes it to a file (mode 0600), then the TXT record of
    /// `SELECTOR._domainkey` in the domain's zone. The key goes where
    /// `dkim_signing.path` expects it (by default
    /// `/var/lib/sluice/dkim/DOMAIN.SELECTOR.key`).
    DkimKeygen(DkimKeygenArgs),
    /// Hash a controller password, as `rspamadm pw` does.
    ///
    /// Prints `$2$SALT$KEY` (Catena, the default) or `$1$SALT$KEY`
    /// (`-t pbkdf2`) for `password` / `enable_password` in
    /// worker-controller.inc; Rspamd accepts the same hashes. Without -p
    /// the password is the first line of stdin. With --check, checks a password
    /// (read from stdin) against the hash given with -p, and exits 1 when
    /// it does not match.
    Pw(PwArgs),
    /// Fuzzy hashes: print a message's hashes as Rspamd computes them.
    #[command(subcommand)]
    Fuzzy(FuzzyCommand),
}

#[derive(Debug, Subcommand)]
pub enum FuzzyCommand {
    /// Add the files' hashes to the fuzzy storages of the configured rules
    /// (every writable rule whose fuzzy_map has the flag), as
    /// `rspamc fuzzy_add` does through a controller.
    Add(FuzzyLearnArgs),
    /// Delete the files' hashes from the storages (`rspamc fuzzy_del`).
    Del(FuzzyLearnArgs),
    /// Ask the storages about each file; prints the symbols found with
    /// their scores and options, as a scan would insert them.
    Check(FuzzyFilesArgs),
    /// Ask each rule's storage how many hashes it holds.
    Stat(ConfigArgs),
    /// Print each file's fuzzy hashes, one line each: the file, the kind
    /// (txt, short, img, bin), the digest in hex and, for texts, the 32
    /// shingles.
    Hashes(FuzzyHashArgs),
}

#[derive(Debug, Args)]
pub struct FuzzyLearnArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The flag (a number, or a fuzzy_map symbol such as FUZZY_DENIED).
    #[arg(short, long)]
    pub flag: String,
    /// The weight added (or removed).
    #[arg(short, long, default_value_t = 1)]
    pub weight: i32,
    /// Message files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FuzzyFilesArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Message files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FuzzyHashArgs {
    /// Word hash of the shingles: siphash, xxhash, mumhash or fasthash.
    #[arg(long, default_value = "siphash")]
    pub algorithm: String,
    /// The rule's `fuzzy_key` (default "rspamd").
    #[arg(long)]
    pub fuzzy_key: Option<String>,
    /// The rule's `fuzzy_shingles_key` (default "rspamd").
    #[arg(long)]
    pub fuzzy_shingles_key: Option<String>,
    /// Attachment types hashed (globs, comma-separated).
    #[arg(long, default_value = "application/*", value_delimiter = ',')]
    pub mime_types: Vec<String>,
    /// Fewest words for shingles (at least 32).
    #[arg(long, default_value_t = 64)]
    pub min_length: usize,
    /// Fewest bytes of a hashed part (texts: times 4).
    #[arg(long, default_value_t = 1024)]
    pub min_bytes: usize,
    /// Print each text part's words (as hashed: normalised and stemmed, or
    /// the bytes of a part Rspamd leaves unconverted) instead of the
    /// hashes: FILE, part index, the words.
    #[arg(long)]
    pub words: bool,
    /// Message files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PwArgs {
    /// Hash a password (the default).
    #[arg(short, long, conflicts_with = "check")]
    pub encrypt: bool,
    /// Check a password against the hash given with -p (rspamadm's `-c`;
    /// here `-c` is the config file, as in every other command).
    #[arg(long)]
    pub check: bool,
    /// No output with --check: the exit status says it.
    #[arg(short, long)]
    pub quiet: bool,
    /// The password (with --check: the hash); read from stdin when absent.
    #[arg(short, long)]
    pub password: Option<String>,
    /// Key derivation: catena or pbkdf2.
    #[arg(short = 't', long = "type", default_value = "catena", value_parser = ["catena", "pbkdf2"])]
    pub kdf: String,
    /// List the key derivations.
    #[arg(short, long)]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct DkimKeygenArgs {
    /// The signing domain (the record is published in its zone).
    #[arg(short, long)]
    pub domain: String,
    /// The selector.
    #[arg(short, long)]
    pub selector: String,
    /// RSA key size in bits.
    #[arg(short, long, default_value_t = 1024)]
    pub bits: usize,
    /// Key type.
    #[arg(short = 't', long = "type", value_enum, default_value_t = KeygenType::Rsa)]
    pub key_type: KeygenType,
    /// Write the private key to this file (mode 0600) instead of stdout.
    #[arg(short = 'k', long = "privkey", value_name = "KEYFILE")]
    pub privkey: Option<PathBuf>,
}

/// `-t` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeygenType {
    Rsa,
    Ed25519,
}

#[derive(Debug, Args)]
pub struct LearnArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Spam: directories, Maildirs, mbox files or message files.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub spam: Vec<PathBuf>,
    /// Ham: directories, Maildirs, mbox files or message files.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub ham: Vec<PathBuf>,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EvalBayesArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Number of folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Spam: directories, Maildirs, mbox files or message files.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub spam: Vec<PathBuf>,
    /// Ham: directories, Maildirs, mbox files or message files.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub ham: Vec<PathBuf>,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RescoreArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Spam: directories, Maildirs, mbox files or message files.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub spam: Vec<PathBuf>,
    /// Ham: directories, Maildirs, mbox files or message files.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub ham: Vec<PathBuf>,
    /// Number of folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Also propose "add header" and "reject" thresholds that keep the share of ham flagged
    /// under RATE (a fraction: 0.004 is 0.4%), and fit for that rate: how much more a ham
    /// weighs in the fit than a spam is chosen by inner cross-validation, where the spam
    /// recall at RATE is highest.
    #[arg(long, value_name = "RATE")]
    pub max_fp: Option<f64>,
    /// A rule must fire in this many training messages to be fitted.
    #[arg(long, default_value_t = crate::rescore::fit::DEFAULT_MIN_HITS)]
    pub min_hits: usize,
    /// Write the fitted weights here (local.d/groups.conf form).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also evaluate the neural module: per fold a network trained on the training folds'
    /// symbols, NEURAL_SPAM / NEURAL_HAM weights fitted on its held-out outputs ("neural"),
    /// and with every weight fitted ("both", whose weights --out then writes).
    #[arg(long)]
    pub neural: bool,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ConfigArgs {
    /// Main configuration file (default: the shipped configuration).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Set a configuration variable (CONFDIR, LOCAL_CONFDIR, DBDIR, ...).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

impl ConfigArgs {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            config_file: self.config.clone(),
            vars: self.vars.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Milter listen address, replacing the configured ones (repeatable):
    /// inet:HOST:PORT, inet:[::1]:PORT, unix:/path. Port 0 picks a free port.
    #[arg(long = "milter", value_name = "ADDR")]
    pub milter: Vec<ListenAddr>,
    /// Rspamd protocol scan listener (normal worker; /checkv2), replacing the
    /// configured ones (repeatable). Default 127.0.0.1:11333.
    #[arg(long = "http", value_name = "ADDR")]
    pub http: Vec<ListenAddr>,
    /// Rspamd controller listener (/stat, /symbols, /metrics, ...), replacing
    /// the configured ones (repeatable). Default 127.0.0.1:11334.
    #[arg(long = "controller", value_name = "ADDR")]
    pub controller: Vec<ListenAddr>,
    /// Write the daemon's PID to FILE once it serves; removed on exit.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The daemon's process id (systemd: `--pid $MAINPID`).
    #[arg(
        long,
        value_name = "PID",
        required_unless_present = "pid_file",
        conflicts_with = "pid_file"
    )]
    pub pid: Option<i32>,
    /// Read the daemon's process id from this file (`run --pid-file`).
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// The controller's address, as `sluice status --controller` takes it (default: the
    /// configured controller).
    #[arg(long, value_name = "ADDRESS")]
    pub controller: Option<String>,
    /// With an https:// controller: trust the certificates in this PEM file.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Longest wait for the result, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ManpageArgs {
    /// Write sluice.1 and a page per subcommand (sluice-run.1, ...) into this directory
    /// instead of printing sluice.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The controller's address: HOST:PORT or http://HOST:PORT, or https://HOST:PORT for a
    /// controller with `ssl_cert`/`ssl_key` set.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:11334")]
    pub controller: String,
    /// With https://: trust the certificates in this PEM file (default: the system's store).
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// The controller password, sent as Rspamd's `Password` header.
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Print the controller's JSON reply unchanged.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print Rspamd's /checkv2 JSON reply instead of text.
    #[arg(long, conflicts_with = "explain")]
    pub json: bool,
    /// Show every symbol with its options and weight, and every rule with
    /// the time it took (and the rules skipped by the early stop).
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub envelope: EnvelopeArgs,
    /// Scan with the `settings` profile of this ID, as Rspamd's `Settings-ID` header selects it
    /// (an unknown ID is an error).
    #[arg(long = "settings-id", value_name = "ID")]
    pub settings_id: Option<String>,
    /// No progress bar over several files (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
    /// Message files (RFC 5322); `-` reads one message from standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl ScanArgs {
    /// Whether a file argument is `-`, standard input.
    pub fn is_stdin(file: &std::path::Path) -> bool {
        file.as_os_str() == "-"
    }
}

/// The SMTP envelope of the scanned messages, as rspamc's flags and Rspamd's HTTP headers
/// give it. With any of them the authentication checks (SPF, DKIM, DMARC, ARC, on
/// `options.dns.nameserver`) run before the rules, as in the daemon.
#[derive(Debug, Clone, Default, Args)]
pub struct EnvelopeArgs {
    /// The client's address (Rspamd's `IP` header).
    #[arg(long, value_name = "ADDRESS")]
    pub ip: Option<std::net::IpAddr>,
    /// The HELO/EHLO name (`Helo`).
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,
    /// The MAIL FROM address (`From`).
    #[arg(long, value_name = "ADDRESS")]
    pub from: Option<String>,
    /// A recipient (`Rcpt`); repeat for several.
    #[arg(long, value_name = "ADDRESS")]
    pub rcpt: Vec<String>,
    /// The SMTP AUTH user (`User`): SPF, DKIM and DMARC skip authenticated mail.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The client's verified host name (`Hostname`).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
}

impl EnvelopeArgs {
    /// Whether any flag was given.
    pub fn given(&self) -> bool {
        self.ip.is_some()
            || self.helo.is_some()
            || self.from.is_some()
            || !self.rcpt.is_empty()
            || self.user.is_some()
            || self.hostname.is_some()
    }

    pub fn envelope(&self) -> crate::message::Envelope {
        crate::message::Envelope {
            client_ip: self.ip,
            client_name: self.hostname.clone(),
            helo: self.helo.clone(),
            from: self.from.clone(),
            rcpts: self.rcpt.clone(),
            user: self.user.clone(),
            ..Default::default()
        }
    }
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))?;
    if k.is_empty() {
        return Err("empty variable name".into());
    }
    Ok((k.to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand, nested ones included, with its path.
    fn all_commands(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let p = format!("{path} {}", sub.get_name());
            out.push((p.clone(), sub.clone()));
            all_commands(sub, &p, out);
        }
    }

    #[test]
    fn c_is_the_config_file_wherever_it_exists() {
        let mut cmds = Vec::new();
        all_commands(&Cli::command(), "sluice", &mut cmds);
        let mut with_config = 0;
        for (path, cmd) in &cmds {
            for arg in cmd.get_arguments() {
                if arg.get_short() == Some('c') {
                    assert_eq!(arg.get_long(), Some("config"), "{path}: -c is not --config");
                    with_config += 1;
                }
            }
        }
        assert!(with_config >= 5, "only {with_config} subcommands take -c");
    }

    #[test]
    fn every_option_and_argument_has_help() {
        let mut cmds = Vec::new();
        all_commands(&Cli::command(), "sluice", &mut cmds);
        for (path, cmd) in &cmds {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                assert!(
                    builtin || arg.get_help().is_some(),
                    "{path}: {} has no help text",
                    arg.get_id()
                );
            }
        }
    }

    #[test]
    fn scan_takes_stdin_and_a_settings_id() {
        let cli =
            Cli::try_parse_from(["sluice", "scan", "--settings-id", "outbound", "-"]).unwrap();
        let Command::Scan(args) = cli.command else {
            panic!("not scan")
        };
        assert_eq!(args.settings_id.as_deref(), Some("outbound"));
        assert!(ScanArgs::is_stdin(&args.files[0]));
        assert!(!ScanArgs::is_stdin(std::path::Path::new("./-")));
    }

    #[test]
    fn scan_takes_the_envelope_with_repeated_recipients() {
        let cli = Cli::try_parse_from([
            "sluice",
            "scan",
            "--ip",
            "192.0.2.1",
            "--helo",
            "mx.example.org",
            "--from",
            "a@example.org",
            "--rcpt",
            "b@example.net",
            "--rcpt",
            "c@example.net",
            "--user",
            "alice",
            "--hostname",
            "mx.example.org",
            "m.eml",
        ])
        .unwrap();
        let Command::Scan(args) = cli.command else {
            panic!("not scan")
        };
        assert!(args.envelope.given());
        let env = args.envelope.envelope();
        assert_eq!(env.client_ip, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(env.rcpts, ["b@example.net", "c@example.net"]);
        assert_eq!(env.user.as_deref(), Some("alice"));
        assert_eq!(env.client_name.as_deref(), Some("mx.example.org"));
        let bare = Cli::try_parse_from(["sluice", "scan", "m.eml"]).unwrap();
        let Command::Scan(args) = bare.command else {
            panic!("not scan")
        };
        assert!(!args.envelope.given());
        assert!(Cli::try_parse_from(["sluice", "scan", "--ip", "nowhere", "m.eml"]).is_err());
    }
}
