//! Where formatted lines go: stderr (with journald priorities under
//! systemd), a reopenable file, or the local syslog socket.
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use super::journal;
use super::syslog::SyslogSocket;
use super::{LogError, LogKind, LogSettings};

enum Target {
    /// `journal`: stderr is systemd's journal stream; lines carry `<N>`.
    Stderr {
        journal: bool,
    },
    File {
        path: PathBuf,
        file: Mutex<File>,
    },
    Syslog(SyslogSocket),
}

/// The shared output; cloned (as an `Arc`) into the subscriber and the
/// signal handler.
pub struct LogSink {
    target: Target,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl LogSink {
    pub fn open(settings: &LogSettings) -> Result<LogSink, LogError> {
        let target = match &settings.kind {
            LogKind::Console => Target::Stderr {
                journal: journal::stderr_is_journal(),
            },
            LogKind::File(path) => Target::File {
                path: path.clone(),
                file: Mutex::new(open_append(path)?),
            },
            LogKind::Syslog { socket, facility } => {
                Target::Syslog(SyslogSocket::connect(socket, *facility).map_err(|source| {
                    LogError::Syslog {
                        path: socket.clone(),
                        source,
                    }
                })?)
            }
        };
        Ok(LogSink { target })
    }

    pub fn reopen(&self) -> Result<(), LogError> {
        if let Target::File { path, file } = &self.target {
            let fresh = open_append(path)?;
            *file.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        match &self.target {
            Target::Stderr { journal: false } => "stderr".into(),
            Target::Stderr { journal: true } => "stderr (journald)".into(),
            Target::File { path, .. } => format!("file {}", path.display()),
            Target::Syslog(s) => format!("syslog {}", s.path().display()),
        }
    }

    /// Whether the receiver stamps each line with its own time (syslogd,
    /// journald), so the line needs none.
    pub fn stamps_time(&self) -> bool {
        matches!(
            self.target,
            Target::Stderr { journal: true } | Target::Syslog(_)
        )
    }

    /// Writes one formatted event in a single call.
    fn emit(&self, level: Level, line: &[u8]) {
        // A log line that cannot be written has nowhere else to go.
        let _ = match &self.target {
            Target::Stderr { journal: false } => io::stderr().lock().write_all(line),
            Target::Stderr { journal: true } => io::stderr()
                .lock()
                .write_all(&journal::prefixed(level, line)),
            Target::File { file, .. } => file
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(line),
            Target::Syslog(s) => {
                s.send(level, line);
                Ok(())
            }
        };
    }
}

fn open_append(path: &Path) -> Result<File, LogError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// The writer `tracing-subscriber` asks for once per event.
#[derive(Clone)]
pub struct SinkWriter {
    sink: std::sync::Arc<LogSink>,
}

impl From<std::sync::Arc<LogSink>> for SinkWriter {
    fn from(sink: std::sync::Arc<LogSink>) -> Self {
        SinkWriter { sink }
    }
}

/// Buffers one event and hands it over whole when dropped.
pub struct EventWriter {
    sink: std::sync::Arc<LogSink>,
    level: Level,
    buf: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.sink.emit(self.level, &self.buf);
        }
    }
}

impl<'a> MakeWriter<'a> for SinkWriter {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        self.writer(Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> EventWriter {
        self.writer(*meta.level())
    }
}

impl SinkWriter {
    fn writer(&self, level: Level) -> EventWriter {
        EventWriter {
            sink: self.sink.clone(),
            level,
            buf: Vec::with_capacity(256),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::syslog::syslog_datagram;
    use super::super::SyslogFacility;
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn facility_names() {
        assert_eq!(
            SyslogFacility::parse("LOG_MAIL"),
            Some(SyslogFacility::Mail)
        );
        assert_eq!(
            SyslogFacility::parse("local7"),
            Some(SyslogFacility::Local(7))
        );
        assert_eq!(SyslogFacility::parse("local8"), None);
        assert_eq!(SyslogFacility::parse("kern"), None);
    }

    #[test]
    fn datagram_carries_priority_and_tag() {
        let d = syslog_datagram(SyslogFacility::Mail, Level::WARN, b"hello\n");
        let want = format!("<20>sluice[{}]: hello", std::process::id());
        assert_eq!(String::from_utf8(d).unwrap(), want);
    }

    #[test]
    fn syslog_sink_sends_one_datagram_per_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let settings = LogSettings {
            kind: LogKind::Syslog {
                socket: path,
                facility: SyslogFacility::Local(3),
            },
            ..LogSettings::default()
        };
        let w = SinkWriter::from(std::sync::Arc::new(LogSink::open(&settings).unwrap()));
        {
            let mut e = w.writer(Level::ERROR);
            e.write_all(b"part one, ").unwrap();
            e.write_all(b"part two\n").unwrap();
        }
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]);
        assert!(got.starts_with("<155>sluice["), "{got}");
        assert!(got.ends_with("]: part one, part two"), "{got}");
    }

    #[test]
    fn reopen_follows_the_path_after_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sluice.log");
        let settings = LogSettings {
            kind: LogKind::File(path.clone()),
            ..LogSettings::default()
        };
        let sink = std::sync::Arc::new(LogSink::open(&settings).unwrap());
        sink.emit(Level::INFO, b"before\n");
        let rotated = dir.path().join("sluice.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        sink.emit(Level::INFO, b"still old\n");
        sink.reopen().unwrap();
        sink.emit(Level::INFO, b"after\n");
        assert_eq!(
            std::fs::read_to_string(&rotated).unwrap(),
            "before\nstill old\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
    }
}
