//! `sluice manpage`: the man pages in roff, rendered by `clap_mangen` from
//! the clap definitions, so `--help` and the pages never disagree. As git's
//! are, there is one page per command: `sluice(1)` lists the subcommands and
//! carries the sections clap does not know (signals, environment, files,
//! exit status), written here; `sluice-run(1)`, `sluice-scan(1)`,
//! `sluice-bench-milter(1)` and the others hold each command's options.
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Command;
use clap_mangen::Man;

/// The main page, `sluice(1)`, for the top-level command `cmd`.
pub fn render(cmd: &Command) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Man::new(prepared(cmd)).render(&mut out)?;
    out.write_all(STATIC_SECTIONS.as_bytes())?;
    Ok(out)
}

/// Writes every page (`sluice.1`, `sluice-run.1`, ...) into `dir`; returns their paths.
pub fn write_all(cmd: &Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let cmd = prepared(cmd);
    std::fs::create_dir_all(dir)?;
    let main = dir.join(Man::new(cmd.clone()).get_filename());
    std::fs::write(&main, render(&cmd)?)?;
    let mut written = vec![main];
    for sub in visible(&cmd) {
        write_command(sub, dir, &mut written)?;
    }
    Ok(written)
}

fn write_command(cmd: &Command, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    written.push(Man::new(cmd.clone()).generate_to(dir)?);
    for sub in visible(cmd) {
        write_command(sub, dir, written)?;
    }
    Ok(())
}

/// Built (subcommands get their `sluice-run` display names) and without the
/// `help` subcommand, which needs no page.
fn prepared(cmd: &Command) -> Command {
    let mut cmd = cmd.clone().disable_help_subcommand(true);
    cmd.build();
    cmd
}

fn visible(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
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

    fn main_page() -> String {
        String::from_utf8(render(&crate::cli::Cli::command()).unwrap()).unwrap()
    }

    #[test]
    fn main_page_lists_every_subcommand_and_the_static_sections() {
        let page = main_page();
        assert!(page.contains("sluice \\- A milter"), "{page}");
        assert!(
            page.lines().any(|l| l.starts_with(".TH sluice 1")),
            "{page}"
        );
        for sub in ["run", "scan", "status", "bench", "manpage", "dkim-keygen"] {
            let plain = page.replace('\\', "");
            assert!(
                plain.contains(&format!("sluice-{sub}(1)")),
                "{sub} missing: {page}"
            );
        }
        for section in [".SH SIGNALS", ".SH FILES", ".SH EXIT STATUS"] {
            assert!(page.contains(section), "{section} missing");
        }
    }

    #[test]
    fn every_command_gets_a_page_with_its_options() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("man1");
        let pages = write_all(&crate::cli::Cli::command(), &dir).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "sluice.1",
            "sluice-run.1",
            "sluice-scan.1",
            "sluice-bench-milter.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let run = read("sluice-run.1");
        let plain = run.replace('\\', "");
        assert!(plain.contains("-pid-file") && plain.contains("-c"), "{run}");
        let bench = read("sluice-bench-milter.1").replace('\\', "");
        assert!(
            bench.contains("-j") && bench.contains("-concurrency"),
            "{bench}"
        );
        // Help text with a leading dot or quote must not become a roff request.
        for line in run.lines() {
            assert!(!line.starts_with(".."), "{line}");
        }
    }
}
