//! The controller's web pages: the files of `static_dir` (Rspamd's WebUI,
//! for one) when it is set, else sluice's own dashboard compiled into the
//! binary ([`dashboard`]). Pages need no password, as in Rspamd: the
//! pages ask for one and send it with their API requests.
pub mod dashboard;
pub mod files;
pub mod mime;

use std::path::PathBuf;

use hyper::Method;

use super::reply::{self, Domain, Reply};

/// Where the controller's pages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ui {
    /// The dashboard compiled into the binary.
    Embedded,
    /// Files under this directory (`static_dir`).
    Dir(PathBuf),
}

impl Ui {
    pub fn new(static_dir: Option<PathBuf>) -> Ui {
        static_dir.map_or(Ui::Embedded, Ui::Dir)
    }
}

/// Answers a request for a page: `GET` or `HEAD` of a path that is not a
/// controller command (hyper sends no body for `HEAD`).
pub async fn serve(ui: &Ui, method: &Method, path: &str) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return reply::error(404, "invalid command", Domain::None);
    }
    match ui {
        Ui::Embedded => match dashboard::asset(path) {
            Some(a) => reply::bytes(200, a.content_type, a.body.into()),
            None => reply::error(404, "not found", Domain::None),
        },
        Ui::Dir(root) => match files::read(root, path).await {
            Ok(f) => reply::bytes(200, f.content_type, f.body.into()),
            Err(e) => reply::error(e.status(), &e.to_string(), Domain::None),
        },
    }
}
