//! Rspamd's fuzzy storage worker (`worker "fuzzy"`): a UDP listener that
//! answers `fuzzy_check` clients, Rspamd's and sluice's, with the hashes
//! they added, plain or encrypted.
//!
//! Layout: [`settings`] reads the section; [`server`] decodes a datagram
//! (`sluice_proto::fuzzy`), applies `encrypted_only` and `allow_update`,
//! and answers from the [`backend`] (embedded redb file, or Redis in
//! Rspamd's layout); [`matching`] is the shingles vote; [`key_cache`] keeps
//! the shared keys of encrypted clients; [`replay`] keeps
//! one request's weight from being added twice.
//!
//! The storage runs on a thread of its own with its own event loop, so its
//! disk writes never stall milter I/O. It starts with `sluice run` when the
//! section enables it; changes to it take a restart.
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

pub mod backend;
pub mod key_cache;
pub mod matching;
pub mod metrics;
pub mod replay;
pub mod server;
pub mod settings;

pub use server::Storage;
pub use settings::{BackendSettings, StorageConfigError, StorageSettings};

use backend::{Backend, BackendError, Embedded, RedisBackend};

/// Why the storage did not start.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Config(#[from] StorageConfigError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("fuzzy storage: cannot bind udp:{addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("fuzzy storage: cannot start its thread: {0}")]
    Thread(std::io::Error),
}

/// The running storage; dropping it stops it.
#[derive(Debug)]
pub struct Running {
    pub storage: Arc<Storage>,
    pub local: Vec<SocketAddr>,
    stop: tokio_util::sync::CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the storage if `tree` enables it; `db_dir` holds the embedded file.
pub fn start(
    tree: &serde_json::Value,
    db_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<Running>, StorageError> {
    let Some(settings) = StorageSettings::from_tree(tree, db_dir, warnings)? else {
        return Ok(None);
    };
    launch(settings).map(Some)
}

/// Binds and serves `settings` (tests start a storage this way).
pub fn launch(settings: StorageSettings) -> Result<Running, StorageError> {
    let backend = match &settings.backend {
        BackendSettings::Embedded { path } => Backend::Embedded(Arc::new(Embedded::open(path)?)),
        BackendSettings::Redis { config, prefix } => Backend::Redis(RedisBackend::new(
            crate::redis::Client::new((**config).clone()),
            prefix.clone(),
        )),
    };
    let sockets = settings
        .bind
        .iter()
        .map(|&addr| {
            let bind = |e| StorageError::Bind { addr, source: e };
            let s = std::net::UdpSocket::bind(addr).map_err(bind)?;
            s.set_nonblocking(true).map_err(bind)?;
            Ok(s)
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    let local: Vec<SocketAddr> = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
    if settings.keypairs.is_empty() && settings.encrypted_only {
        warn!("fuzzy storage: encrypted_only without a keypair: every request is refused");
    }
    let storage = Arc::new(Storage::new(settings, backend));
    metrics::register(&storage);
    let stop = tokio_util::sync::CancellationToken::new();
    let (s, token) = (Arc::clone(&storage), stop.clone());
    let thread = std::thread::Builder::new()
        .name("fuzzy-storage".into())
        .spawn(move || run_thread(&s, sockets, &token))
        .map_err(StorageError::Thread)?;
    for addr in &local {
        info!("fuzzy storage listening on udp:{addr}");
    }
    Ok(Running {
        storage,
        local,
        stop,
        thread: Some(thread),
    })
}

fn run_thread(
    storage: &Arc<Storage>,
    sockets: Vec<std::net::UdpSocket>,
    stop: &tokio_util::sync::CancellationToken,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            warn!("fuzzy storage: no event loop: {e}");
            return;
        }
    };
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for s in sockets {
            match tokio::net::UdpSocket::from_std(s) {
                Ok(s) => {
                    tasks.spawn(server::serve(
                        Arc::clone(storage),
                        Arc::new(s),
                        stop.clone(),
                    ));
                }
                Err(e) => warn!("fuzzy storage: socket: {e}"),
            }
        }
        tasks.spawn(sweep(Arc::clone(storage), stop.clone()));
        while tasks.join_next().await.is_some() {}
    });
}

/// Every `sync`, renews the hashes hits found and drops expired ones.
async fn sweep(storage: Arc<Storage>, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(storage.settings.sync);
    tick.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match storage.sync().await {
            Ok((_, 0)) => {}
            Ok((_, n)) => info!("fuzzy storage: {n} expired hashes removed"),
            Err(e) => warn!("fuzzy storage: sync: {e}"),
        }
    }
}

#[cfg(test)]
mod tests;
