//! The daemon's listeners, keyed by role and configured address, so that a
//! SIGHUP can open the new ones, retire the removed ones and leave the rest
//! alone: an unchanged listener keeps its socket (and, for port 0, its port).
//!
//! A reload binds every new address before it changes anything. If one
//! cannot be bound, the ones just bound are closed again and the reload
//! fails as a whole, so the running configuration never ends up half
//! applied. A retired listener stops accepting at once; sessions it already
//! accepted run to their end.
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use super::{DaemonError, RunOptions};
use crate::config::{ListenAddr, MilterSettings};
use crate::http::{HttpError, HttpListener, HttpSettings, Planned, Role, Shared};
use crate::server::{self, Bound, MilterServer};

/// Which protocol a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Milter,
    Http(Role),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Milter => "milter",
            Kind::Http(r) => r.name(),
        }
    }
}

/// A listener the configuration asks for.
pub struct Want {
    kind: Kind,
    addr: ListenAddr,
    /// The HTTP side's plan (TLS acceptor); `None` for milter.
    http: Option<Planned>,
}

/// Every listener the configuration asks for. A role given on the command
/// line (`--milter`, `--http`, `--controller`) keeps those addresses across
/// reloads: the command line wins over the files.
pub fn wanted(
    milter: &MilterSettings,
    http: &HttpSettings,
    opts: &RunOptions,
) -> Result<Vec<Want>, HttpError> {
    let milter_addrs = if opts.milter.is_empty() {
        &milter.bind_socket
    } else {
        &opts.milter
    };
    let mut out: Vec<Want> = milter_addrs
        .iter()
        .map(|a| Want {
            kind: Kind::Milter,
            addr: a.clone(),
            http: None,
        })
        .collect();
    for p in crate::http::planned(http, &opts.http, &opts.controller)? {
        out.push(Want {
            kind: Kind::Http(p.role),
            addr: p.addr.clone(),
            http: Some(p),
        });
    }
    Ok(out)
}

/// A listener bound by [`Listeners::open`], not yet serving.
pub struct Opened {
    kind: Kind,
    addr: ListenAddr,
    socket: Socket,
}

enum Socket {
    Milter(Bound),
    Http(HttpListener),
}

impl Socket {
    fn local(&self) -> String {
        match self {
            Socket::Milter(b) => b.local(),
            Socket::Http(l) => l.local(),
        }
    }

    fn cleanup(&self) {
        match self {
            Socket::Milter(b) => b.cleanup(),
            Socket::Http(l) => l.cleanup(),
        }
    }
}

async fn bind(w: &Want, mode: u32) -> Result<Socket, DaemonError> {
    match &w.http {
        None => {
            let b = server::bind(&w.addr, mode)
                .await
                .map_err(|e| taken(w.kind, e))?;
            info!("milter listening on {}", b.local());
            Ok(Socket::Milter(b))
        }
        Some(p) => match crate::http::bind(p).await {
            Ok(l) => Ok(Socket::Http(l)),
            Err(HttpError::Bind(e)) => Err(taken(w.kind, e)),
            Err(e) => Err(e.into()),
        },
    }
}

/// An address another process holds (Rspamd listens on the same default ports) becomes an
/// error that names the listener and where its address is chosen; other bind errors pass.
fn taken(kind: Kind, e: server::BindError) -> DaemonError {
    if e.source.kind() != std::io::ErrorKind::AddrInUse {
        return e.into();
    }
    let (file, flag) = match kind {
        Kind::Milter => ("worker-proxy.inc", "--milter"),
        Kind::Http(Role::Scan) => ("worker-normal.inc", "--http"),
        Kind::Http(Role::Controller) => ("worker-controller.inc", "--controller"),
    };
    DaemonError::AddrInUse {
        listener: kind.name(),
        addr: e.addr,
        file,
        flag,
    }
}

/// A serving listener.
struct Entry {
    kind: Kind,
    addr: ListenAddr,
    local: String,
    /// Flipping (or dropping) it retires the listener.
    retire: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The serving listeners and what a new one needs to start.
pub struct Listeners {
    entries: Vec<Entry>,
    milter: MilterServer,
    http: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
}

impl Listeners {
    pub fn new(
        milter: MilterServer,
        http: Arc<Shared>,
        shutdown: watch::Receiver<bool>,
    ) -> Listeners {
        Listeners {
            entries: Vec::new(),
            milter,
            http,
            shutdown,
        }
    }

    fn serving(&self, kind: Kind, addr: &ListenAddr) -> bool {
        self.entries
            .iter()
            .any(|e| e.kind == kind && &e.addr == addr)
    }

    /// Binds every wanted listener that is not serving yet. On error the
    /// ones bound here are closed again and nothing has changed. `mode`
    /// applies to new milter unix sockets.
    pub async fn open(&self, wants: &[Want], mode: u32) -> Result<Vec<Opened>, DaemonError> {
        let mut opened: Vec<Opened> = Vec::new();
        for w in wants.iter().filter(|w| !self.serving(w.kind, &w.addr)) {
            match bind(w, mode).await {
                Ok(socket) => opened.push(Opened {
                    kind: w.kind,
                    addr: w.addr.clone(),
                    socket,
                }),
                Err(e) => {
                    opened.iter().for_each(|o| o.socket.cleanup());
                    return Err(e);
                }
            }
        }
        Ok(opened)
    }

    /// Serves the `opened` listeners and retires those not in `wants`.
    pub fn apply(&mut self, wants: &[Want], opened: Vec<Opened>) {
        let (keep, gone): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| wants.iter().any(|w| w.kind == e.kind && w.addr == e.addr));
        self.entries = keep;
        for e in gone {
            info!(
                "{} no longer listening on {}; its sessions in flight finish",
                e.kind.name(),
                e.local
            );
            let _ = e.retire.send(true);
        }
        for o in opened {
            self.start(o);
        }
    }

    fn start(&mut self, o: Opened) {
        let (retire, retired) = watch::channel(false);
        let local = o.socket.local();
        let task = match o.socket {
            Socket::Milter(b) => self.milter.spawn(b, retired),
            Socket::Http(l) => {
                crate::http::spawn(l, self.http.clone(), self.shutdown.clone(), retired)
            }
        };
        self.entries.push(Entry {
            kind: o.kind,
            addr: o.addr,
            local,
            retire,
            task,
        });
    }

    /// The milter listeners' real addresses, for the status line.
    pub fn milter_locals(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.kind == Kind::Milter)
            .map(|e| e.local.clone())
            .collect()
    }

    /// After shutdown: waits for every accept loop to close its socket.
    pub async fn join(self) {
        for e in self.entries {
            let _ = e.task.await;
        }
    }
}
