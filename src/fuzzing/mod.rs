//! Entry points for the fuzz targets in `fuzz/` and for the regression
//! tests that replay what they found (`tests/fuzz_regressions.rs`). Not an
//! API: each takes arbitrary bytes, drives one input surface of the daemon
//! the way a client or an admin would reach it, and may only return; a
//! panic, an abort or a hang is a finding.
//!
//! Each surface is built once per process (the shipped configuration, the
//! pipeline, a runtime), so an input costs only its own work.
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::config::ucl::{self, Source, Vars};
use crate::config::{load_tree, LoadOptions};
use crate::http::{HttpSettings, Role, ScanContext, Shared};
use crate::message::Envelope;
use crate::milter::SessionSettings;
use crate::scan::{LocalScanner, Pipeline};
use crate::verdict::{Placement, ScanOptions};

/// The fixed Lua rule of [`lua_task`]: it calls every task method and
/// library function with arguments taken from the input, so the fuzzer
/// explores the API's Rust side, never LuaJIT's compiler.
pub const TASK_API_SCRIPT: &str = include_str!("task_api.lua");

/// UCL text through the parser (includes see an empty file system) and
/// every resulting scalar through the atom typer.
pub fn ucl(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars = Vars::new([
        ("CONFDIR".to_string(), "/conf".to_string()),
        ("LOCAL_CONFDIR".to_string(), "/local".to_string()),
    ]);
    if let Ok(doc) = ucl::parse_text(&NoFiles, vars, "/conf/fuzz.conf", text) {
        walk_atoms(&doc.value);
    }
}

/// A file system with nothing in it: includes resolve to "missing".
struct NoFiles;

impl Source for NoFiles {
    fn read(&self, _path: &str) -> std::io::Result<Option<String>> {
        Ok(None)
    }
    fn list(&self, _dir: &str) -> std::io::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

fn walk_atoms(v: &Value) {
    match v {
        Value::String(s) => {
            let _ = ucl::type_atom(s);
        }
        Value::Array(a) => a.iter().for_each(walk_atoms),
        Value::Object(o) => o.values().for_each(walk_atoms),
        _ => {}
    }
}

/// The bytes as a message through the shipped rules, every rule evaluated.
pub fn scan(data: &[u8]) {
    let v = shipped().scan_with(
        &Envelope::default(),
        data,
        ScanOptions {
            pass_all: true,
            ..ScanOptions::default()
        },
    );
    assert!(v.score.is_finite(), "score {}", v.score);
}

/// Input = arguments, a NUL byte, the message. The arguments (split at
/// byte 31 by the script) travel as the envelope's HELO; the first two also
/// become the envelope sender and recipient.
pub fn lua_task(data: &[u8]) {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    let pipeline = PIPELINE.get_or_init(task_api_pipeline);
    let (args, message) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let args = String::from_utf8_lossy(args).into_owned();
    let mut fields = args.split('\x1f');
    let env = Envelope {
        from: fields.next().map(str::to_string),
        rcpts: fields.next().map(str::to_string).into_iter().collect(),
        helo: Some(args.clone()),
        ..Envelope::default()
    };
    let v = pipeline.scan(&env, message);
    assert!(v.score.is_finite(), "score {}", v.score);
}

fn task_api_pipeline() -> Pipeline {
    let path =
        std::env::temp_dir().join(format!("sluice-fuzz-task-api-{}.lua", std::process::id()));
    std::fs::write(&path, TASK_API_SCRIPT).expect("writing the task API script");
    let tree = serde_json::json!({ "lua": [path.display().to_string()] });
    let p = Pipeline::from_config(&tree).expect("the task API script loads");
    let _ = std::fs::remove_file(&path);
    p
}

/// One connection to the scan listener (first byte even) or the
/// controller (odd), the rest being what the client sends before it
/// half-closes. Goes through the listener's own dispatch: legacy
/// `RSPAMC`/`SPAMC` or HTTP/1.1 via hyper. Returns what the server sent.
pub fn http(data: &[u8]) -> Vec<u8> {
    static RT: OnceLock<Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    });
    // Built before the empty input returns, so that the target's start
    // (which passes an empty input) builds the shipped pipeline.
    http_shared();
    let Some((&which, request)) = data.split_first() else {
        return Vec::new();
    };
    let role = if which % 2 == 0 {
        Role::Scan
    } else {
        Role::Controller
    };
    rt.block_on(exchange(role, request))
}

async fn exchange(role: Role, request: &[u8]) -> Vec<u8> {
    let (client, server) = tokio::io::duplex(1 << 20);
    let server = Watched::new(server);
    let progress = server.progress.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let serve = async {
        crate::http::serve_stream(server, role, http_shared(), stop_rx).await;
        progress.finished.store(true, Ordering::Relaxed);
    };
    let (mut rd, mut wr) = tokio::io::split(client);
    let write = async {
        let _ = wr.write_all(request).await;
        // Half-closing at once would make hyper drop the requests in
        // flight; wait until the server has taken every byte and gone
        // quiet, as a client waits for its replies.
        until_quiet(&progress).await;
        let _ = wr.shutdown().await;
    };
    let mut replies = Vec::new();
    let talk = async {
        let _ = tokio::join!(write, rd.read_to_end(&mut replies));
    };
    tokio::join!(serve, talk);
    drop(stop_tx);
    replies
}

/// Polls left to the server (it runs in this same task) before it counts
/// as quiet: it is waiting for input and has made no progress in as many.
const QUIET_POLLS: u32 = 8;
/// Bound on the wait, so a server that keeps busy still gets its EOF.
const MAX_POLLS: u32 = 10_000;

/// Returns once the server is quiet or has closed the connection.
async fn until_quiet(p: &Progress) {
    let mut last = p.events();
    let mut still = 0;
    for _ in 0..MAX_POLLS {
        tokio::task::yield_now().await;
        if p.finished.load(Ordering::Relaxed) {
            return;
        }
        let now = p.events();
        still = if now == last && p.starved() {
            still + 1
        } else {
            0
        };
        if still >= QUIET_POLLS {
            return;
        }
        last = now;
    }
}

/// What the server side of the connection has done: reads and writes that
/// moved bytes, whether its last read found nothing to read, and whether it
/// is done with the connection.
#[derive(Default)]
struct Progress {
    events: AtomicU64,
    starved: AtomicBool,
    finished: AtomicBool,
}

impl Progress {
    fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
    /// Waiting for input, with no inflation of its body running elsewhere.
    fn starved(&self) -> bool {
        self.starved.load(Ordering::Relaxed) && !crate::http::body::inflating()
    }
}

/// The server's end of the connection, recording [`Progress`].
struct Watched<S> {
    inner: S,
    progress: Arc<Progress>,
}

impl<S> Watched<S> {
    fn new(inner: S) -> Self {
        Watched {
            inner,
            progress: Arc::default(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let p = &self.progress;
        p.starved.store(r.is_pending(), Ordering::Relaxed);
        if buf.filled().len() > before {
            p.events.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.progress.events.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn http_shared() -> Arc<Shared> {
    static SHARED: OnceLock<(Arc<Shared>, watch::Sender<Arc<ScanContext>>)> = OnceLock::new();
    let (shared, _) = SHARED.get_or_init(|| {
        let tree = shipped_tree();
        let http = HttpSettings::from_tree(&tree, &mut Vec::new()).expect("shipped http settings");
        // Scans run here, as on a milter session thread, not on the pool.
        let ctx = Arc::new(ScanContext {
            scanner: Arc::new(LocalScanner::new(Arc::clone(shipped()))),
            scan_timeout: SessionSettings::default().scan_timeout,
            placement: Placement::Inline,
        });
        let (tx, rx) = watch::channel(ctx);
        let shared = Arc::new(Shared::new(rx, &http, None));
        (shared, tx)
    });
    shared.clone()
}

/// The shipped configuration; the admin layer points at a folder that does
/// not exist, so nothing on the machine changes it.
fn shipped_tree() -> Value {
    let opts = LoadOptions {
        config_file: None,
        vars: vec![("LOCAL_CONFDIR".into(), "/nonexistent/sluice-fuzz".into())],
    };
    load_tree(&opts).expect("the shipped configuration loads")
}

fn shipped() -> &'static Arc<Pipeline> {
    static PIPELINE: OnceLock<Arc<Pipeline>> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        Arc::new(Pipeline::from_config(&shipped_tree()).expect("shipped rules compile"))
    })
}
