//! `sluice manpage`: a section-1 man page in roff, generated from the clap
//! definitions so `--help` and the page never disagree. The few sections
//! clap does not know (signals, files, exit status) are written here.
use std::fmt::Write;

use clap::{Arg, Command};

/// The whole page for `cmd` (the top-level `sluice` command).
pub fn render(cmd: &Command) -> String {
    // Building resolves each argument's arity, which tells flags from options.
    let mut cmd = cmd.clone();
    cmd.build();
    let cmd = &cmd;
    let mut out = String::new();
    let name = cmd.get_name();
    let version = cmd.get_version().unwrap_or("");
    let _ = writeln!(
        out,
        ".TH {} 1 \"\" \"{name} {version}\" \"User Commands\"",
        name.to_uppercase()
    );
    section(&mut out, "NAME");
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let summary = first_line(&about);
    let summary = summary
        .strip_prefix(&format!("{name}: "))
        .unwrap_or(summary);
    let _ = writeln!(out, "{name} \\- {}", escape(summary));
    section(&mut out, "SYNOPSIS");
    let _ = writeln!(out, ".B {name}\n.I COMMAND\n[\\fIOPTIONS\\fR]");
    section(&mut out, "DESCRIPTION");
    paragraphs(&mut out, &about);
    section(&mut out, "COMMANDS");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        subcommand(&mut out, &format!("{name} {}", sub.get_name()), sub);
    }
    out.push_str(STATIC_SECTIONS);
    out
}

fn subcommand(out: &mut String, path: &str, cmd: &Command) {
    let _ = writeln!(out, ".SS \"{}\"", escape(path));
    let help = cmd
        .get_long_about()
        .or(cmd.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    paragraphs(out, &help);
    let positionals: Vec<&Arg> = cmd.get_positionals().collect();
    if !positionals.is_empty() {
        let names: Vec<String> = positionals.iter().map(|a| arg_value_name(a)).collect();
        let _ = writeln!(out, ".PP\nArguments: \\fI{}\\fR", escape(&names.join(" ")));
    }
    for arg in cmd.get_arguments().filter(|a| !a.is_positional()) {
        option(out, arg);
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        subcommand(out, &format!("{path} {}", sub.get_name()), sub);
    }
}

fn option(out: &mut String, arg: &Arg) {
    let builtin = matches!(
        arg.get_action(),
        clap::ArgAction::Help
            | clap::ArgAction::HelpShort
            | clap::ArgAction::HelpLong
            | clap::ArgAction::Version
    );
    if arg.is_hide_set() || builtin {
        return;
    }
    let mut flags = Vec::new();
    if let Some(s) = arg.get_short() {
        flags.push(format!("\\fB\\-{s}\\fR"));
    }
    if let Some(l) = arg.get_long() {
        flags.push(format!("\\fB\\-\\-{}\\fR", escape(l)));
    }
    let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values())
        && !matches!(
            arg.get_action(),
            clap::ArgAction::SetTrue | clap::ArgAction::SetFalse | clap::ArgAction::Count
        );
    let value = if takes_value {
        format!(" \\fI{}\\fR", escape(&arg_value_name(arg)))
    } else {
        String::new()
    };
    let _ = writeln!(out, ".TP\n{}{value}", flags.join(", "));
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let _ = writeln!(out, "{}", escape(&help.replace('\n', " ")));
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() {
        let _ = writeln!(out, "(default: {})", escape(&defaults.join(", ")));
    }
}

fn arg_value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase())
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, ".SH {title}");
}

/// Blank-line separated paragraphs, each a `.PP`.
fn paragraphs(out: &mut String, text: &str) {
    for p in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let _ = writeln!(out, ".PP\n{}", escape(&p.replace('\n', " ")));
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Backslashes and leading dots or quotes would be read as roff requests.
fn escape(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    match s.chars().next() {
        Some('.') | Some('\'') => format!("\\&{s}"),
        _ => s,
    }
}

const STATIC_SECTIONS: &str = r#".SH SIGNALS
.TP
.B SIGHUP
Re-read and validate the whole configuration and rules. If anything is
invalid the running configuration stays and the reason is logged; otherwise
new sessions use the new one while sessions in flight finish on the old.
.TP
.BR SIGTERM ", " SIGINT
Stop accepting, let sessions in flight finish their message within the grace
period (\fBshutdown_grace\fR in \fIlocal.d/worker-proxy.inc\fR, 30s), answer a
message still unfinished after it with tempfail, then exit 0.
.TP
.B SIGUSR1
Reopen the log file (after logrotate renamed it).
.SH ENVIRONMENT
.TP
.B SLUICE_LOG
Log filter directives (for example \fBdebug\fR), replacing \fBlogging.level\fR.
.TP
.B NOTIFY_SOCKET
Set by systemd for \fBType=notify\fR services: sluice reports READY, RELOADING
and STOPPING there.
.SH FILES
.TP
.I /etc/sluice/sluice.conf
Main configuration (Rspamd's UCL format and layout).
.TP
.I /etc/sluice/local.d/, /etc/sluice/override.d/
Local changes, merged into or replacing the shipped sections, as with Rspamd.
.SH EXIT STATUS
0 on success; 1 on configuration, startup or I/O errors; 2 when
\fBbench milter\fR saw protocol errors.
.SH SEE ALSO
.BR postconf (5),
.BR rspamd (8)
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn page_covers_every_subcommand_and_option() {
        let page = render(&crate::cli::Cli::command());
        assert!(page.starts_with(".TH SLUICE 1"), "{page}");
        for sub in [
            "sluice run",
            "sluice scan",
            "sluice status",
            "sluice bench milter",
        ] {
            assert!(page.contains(&format!(".SS \"{sub}\"")), "{sub} missing");
        }
        assert!(
            page.contains("\\fB\\-\\-pid\\-file\\fR \\fIFILE\\fR"),
            "{page}"
        );
        assert!(page.contains("\\fB\\-c\\fR, \\fB\\-\\-config\\fR \\fIFILE\\fR"));
        assert!(page.contains(".SH SIGNALS"));
        // No line may start a roff request by accident.
        for line in page.lines() {
            assert!(!line.starts_with(".."), "{line}");
        }
    }

    #[test]
    fn escape_neutralises_roff() {
        assert_eq!(escape(".so /etc/passwd"), "\\&.so /etc/passwd");
        assert_eq!(escape("a\\b-c"), "a\\eb\\-c");
    }
}
