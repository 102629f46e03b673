//! Command-line surface of `sluice bench milter`, kept here so that main.rs
//! only has to nest [`BenchCommand`] under its `bench` subcommand.
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{bench_milter, BenchError, BenchOptions, BenchReport};

/// `sluice bench <tool>`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Replay mail through a milter as Postfix would and report speed and verdicts.
    Milter(BenchMilterArgs),
}

/// `sluice bench milter --addr ADDR [-j N] [-n N] [--json] DIR...` (`-j` as make's jobs: `-c`
/// is the configuration file in every other subcommand).
#[derive(Debug, Args)]
pub struct BenchMilterArgs {
    /// Milter address: inet:HOST:PORT, HOST:PORT or unix:/path (loopback only).
    #[arg(long, default_value = "inet:127.0.0.1:11332")]
    pub addr: String,
    /// Concurrent milter connections.
    #[arg(short = 'j', long, default_value_t = 8)]
    pub concurrency: usize,
    /// Messages to send (cycling through the files); 0 = every file once.
    #[arg(short = 'n', long, default_value_t = 0)]
    pub count: usize,
    /// Messages per milter connection before it is closed and reopened.
    #[arg(long, default_value_t = 10)]
    pub per_connection: usize,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
    /// Directories of message files (one message per file), or single files.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

impl From<&BenchMilterArgs> for BenchOptions {
    fn from(a: &BenchMilterArgs) -> Self {
        BenchOptions {
            addr: a.addr.clone(),
            concurrency: a.concurrency,
            count: a.count,
            dirs: a.dirs.clone(),
            messages_per_connection: a.per_connection,
        }
    }
}

/// Runs a bench subcommand and returns the text to print on stdout.
pub async fn run(cmd: &BenchCommand) -> Result<String, BenchError> {
    match cmd {
        BenchCommand::Milter(args) => {
            let report: BenchReport = bench_milter(&BenchOptions::from(args)).await?;
            Ok(if args.json {
                report.to_json()
            } else {
                report.to_string()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Top {
        #[command(subcommand)]
        bench: BenchCommand,
    }

    #[test]
    fn parses_the_documented_command_line() {
        let t = Top::parse_from([
            "x", "milter", "--addr", "unix:/s", "-j", "3", "-n", "50", "--json", "a", "b",
        ]);
        let BenchCommand::Milter(a) = t.bench;
        let o = BenchOptions::from(&a);
        assert_eq!(
            (o.addr.as_str(), o.concurrency, o.count),
            ("unix:/s", 3, 50)
        );
        assert_eq!(o.dirs, [PathBuf::from("a"), PathBuf::from("b")]);
        assert!(a.json);
    }

    #[test]
    fn concurrency_is_j_not_c() {
        let t = Top::parse_from(["x", "milter", "--concurrency", "5", "a"]);
        let BenchCommand::Milter(a) = t.bench;
        assert_eq!(a.concurrency, 5);
        assert!(Top::try_parse_from(["x", "milter", "-c", "3", "a"]).is_err());
    }

    #[test]
    fn a_directory_is_required() {
        assert!(Top::try_parse_from(["x", "milter", "--addr", "127.0.0.1:1"]).is_err());
    }
}
