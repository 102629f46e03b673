//! The one way the tests start `sluice run`: a private folder for the
//! admin's config (`$LOCAL_CONFDIR`) and, where asked, the Bayes store
//! (`$DBDIR`), listeners on command-line overrides, and the daemon's log
//! kept where the test can read it. The daemon types of the other support
//! modules ([`super::daemon::Daemon`], [`super::http::Sluice`],
//! [`super::ops::OpsDaemon`]) are views over what this starts.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A `sluice run` about to start.
pub struct Launch {
    dir: tempfile::TempDir,
    args: Vec<String>,
    command: Command,
}

/// Where the daemon's stderr goes.
pub enum Stderr {
    /// Read line by line into memory by a thread of the test.
    Lines,
    /// Written to this file (relative to the private folder).
    File(&'static str),
}

/// The log of a started daemon.
#[derive(Clone)]
pub enum Log {
    Lines(Arc<Mutex<Vec<String>>>),
    File(PathBuf),
}

impl Log {
    /// Every line so far, once the log has been quiet for a moment: the
    /// daemon writes its log from a thread of its own and the test reads it
    /// in another, so a line about a request can land just after its reply.
    /// For assertions on what was (or was not) logged; polling loops use
    /// [`Log::lines`].
    pub fn settled_lines(&self) -> Vec<String> {
        let quiet = std::time::Duration::from_millis(100);
        let step = std::time::Duration::from_millis(25);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut lines = self.lines();
        let mut since = std::time::Instant::now();
        while since.elapsed() < quiet && std::time::Instant::now() < deadline {
            std::thread::sleep(step);
            let now = self.lines();
            if now.len() != lines.len() {
                lines = now;
                since = std::time::Instant::now();
            }
        }
        lines
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Log::Lines(l) => l.lock().unwrap().clone(),
            Log::File(p) => std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect(),
        }
    }
}

/// A started daemon: the process, its private folder and its log.
pub struct Started {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub log: Log,
}

impl Launch {
    /// `sluice run` with a fresh private folder and nothing else yet.
    pub fn new() -> Launch {
        Launch {
            dir: tempfile::tempdir().expect("tempdir"),
            args: vec!["run".into()],
            command: Command::new(crate::support::sluice_bin()),
        }
    }

    /// The private folder (`$DIR` in file contents means this path).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `rel` under the private folder, `$DIR` replaced by
    /// the folder's path when `expand` is set.
    pub fn file(&mut self, rel: &str, text: &str, expand: bool) -> &mut Launch {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = if expand {
            text.replace("$DIR", &self.dir.path().display().to_string())
        } else {
            text.to_string()
        };
        std::fs::write(path, text).unwrap();
        self
    }

    /// Creates `rel` (a folder) under the private folder.
    pub fn folder(&mut self, rel: &str) -> &mut Launch {
        std::fs::create_dir_all(self.dir.path().join(rel)).unwrap();
        self
    }

    pub fn arg(&mut self, arg: impl Into<String>) -> &mut Launch {
        self.args.push(arg.into());
        self
    }

    pub fn args<S: Into<String>>(&mut self, args: impl IntoIterator<Item = S>) -> &mut Launch {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--var NAME=<private folder>` for each name (`DBDIR`, `LOCAL_CONFDIR`).
    pub fn vars_here(&mut self, names: &[&str]) -> &mut Launch {
        for name in names {
            let value = format!("{name}={}", self.dir.path().display());
            self.args(["--var".to_string(), value]);
        }
        self
    }

    /// Sets (`Some`) or removes (`None`) an environment variable.
    pub fn env(&mut self, name: &str, value: Option<&std::ffi::OsStr>) -> &mut Launch {
        match value {
            Some(v) => self.command.env(name, v),
            None => self.command.env_remove(name),
        };
        self
    }

    /// Starts the daemon; stdout is discarded.
    pub fn spawn(mut self, stderr: Stderr) -> Started {
        self.command.args(&self.args).stdout(Stdio::null());
        let log = match stderr {
            Stderr::Lines => {
                self.command.stderr(Stdio::piped());
                Log::Lines(Arc::new(Mutex::new(Vec::new())))
            }
            Stderr::File(rel) => {
                let path = self.dir.path().join(rel);
                let file = std::fs::File::create(&path).unwrap();
                self.command.stderr(Stdio::from(file));
                Log::File(path)
            }
        };
        let mut child = self.command.spawn().expect("spawn sluice");
        if let Log::Lines(sink) = &log {
            let stderr = child.stderr.take().unwrap();
            let sink = sink.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Started {
            child,
            dir: self.dir,
            log,
        }
    }
}
