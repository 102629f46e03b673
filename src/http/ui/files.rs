//! Files of `static_dir`, read per request (an admin may update the UI
//! without a restart), with the path confined to the directory: `..`
//! segments, escaped or not, are refused before the file system is asked,
//! and a symbolic link that leads outside the directory is refused after
//! it is resolved.
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::mime;
use crate::http::query;

/// Largest file served: the UI's files are small, and a reply is built in
/// memory.
pub const MAX_FILE: u64 = 32 << 20;

/// Why a page was not served.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("bad path")]
    BadPath,
    #[error("path outside static_dir")]
    Outside,
    #[error("not found")]
    NotFound,
    #[error("file larger than {MAX_FILE} bytes")]
    TooLarge,
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

impl FileError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            FileError::BadPath => 400,
            FileError::Outside => 403,
            FileError::NotFound => 404,
            FileError::TooLarge | FileError::Io(_) => 500,
        }
    }
}

/// A file ready to send.
#[derive(Debug)]
pub struct File {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// The path under the root a URL path names, `index.html` for `/`;
/// refused when it has a NUL, a backslash or a `..` segment.
pub fn relative(url_path: &str) -> Result<PathBuf, FileError> {
    let bytes = query::decode_path(url_path);
    if bytes.iter().any(|b| *b == 0 || *b == b'\\') {
        return Err(FileError::BadPath);
    }
    let text = String::from_utf8(bytes).map_err(|_| FileError::BadPath)?;
    let mut rel = PathBuf::new();
    for seg in text.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(FileError::Outside),
            s => rel.push(s),
        }
    }
    if rel.as_os_str().is_empty() {
        rel.push("index.html");
    }
    Ok(rel)
}

/// Reads the file `url_path` names under `root`; a directory serves its
/// `index.html`.
pub async fn read(root: &Path, url_path: &str) -> Result<File, FileError> {
    let rel = relative(url_path)?;
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || read_blocking(&root, &rel))
        .await
        .map_err(|e| FileError::Io(std::io::Error::other(e)))?
}

fn read_blocking(root: &Path, rel: &Path) -> Result<File, FileError> {
    let root = canonical(root)?;
    let mut path = canonical(&root.join(rel))?;
    if path.is_dir() {
        path = canonical(&path.join("index.html"))?;
    }
    if !path.starts_with(&root) {
        return Err(FileError::Outside);
    }
    let meta = std::fs::metadata(&path)?;
    if !meta.is_file() {
        return Err(FileError::NotFound);
    }
    if meta.len() > MAX_FILE {
        return Err(FileError::TooLarge);
    }
    let body = std::fs::read(&path)?;
    let name = path.to_string_lossy();
    Ok(File {
        content_type: mime::content_type(&name),
        body,
    })
}

fn canonical(p: &Path) -> Result<PathBuf, FileError> {
    p.canonicalize().map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => FileError::NotFound,
        _ => FileError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let www = d.path().join("www");
        std::fs::create_dir_all(www.join("js/app")).unwrap();
        std::fs::create_dir_all(www.join("docs")).unwrap();
        std::fs::write(www.join("index.html"), "<html>root</html>").unwrap();
        std::fs::write(www.join("js/app/main.js"), "let x = 1;").unwrap();
        std::fs::write(www.join("docs/index.html"), "docs").unwrap();
        std::fs::write(d.path().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret.txt"), www.join("leak.txt")).unwrap();
        d
    }

    async fn get(d: &tempfile::TempDir, p: &str) -> Result<File, FileError> {
        read(&d.path().join("www"), p).await
    }

    #[tokio::test]
    async fn index_files_and_types() {
        let d = tree();
        for p in ["/", "", "/index.html", "//./index.html"] {
            let f = get(&d, p).await.unwrap();
            assert_eq!(f.body, b"<html>root</html>", "{p}");
            assert_eq!(f.content_type, "text/html; charset=utf-8");
        }
        let f = get(&d, "/js/app/main.js").await.unwrap();
        assert_eq!(f.body, b"let x = 1;");
        assert_eq!(f.content_type, "text/javascript; charset=utf-8");
        assert_eq!(get(&d, "/docs/").await.unwrap().body, b"docs");
        assert_eq!(
            get(&d, "/js/%61pp/main.js").await.unwrap().body,
            b"let x = 1;"
        );
    }

    #[tokio::test]
    async fn nothing_outside_the_directory() {
        let d = tree();
        for p in [
            "/../secret.txt",
            "/js/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/js/%2E%2E%2f%2e%2e%2fsecret.txt",
        ] {
            let e = get(&d, p).await.unwrap_err();
            assert!(matches!(e, FileError::Outside), "{p}: {e}");
            assert_eq!(e.status(), 403);
        }
        // A link out of the directory is refused once resolved.
        assert!(matches!(
            get(&d, "/leak.txt").await,
            Err(FileError::Outside)
        ));
        for p in ["/index.html%00.js", "/js\\..\\secret.txt", "/%ff"] {
            assert!(matches!(get(&d, p).await, Err(FileError::BadPath)), "{p}");
        }
    }

    #[tokio::test]
    async fn missing_files_and_directories() {
        let d = tree();
        assert!(matches!(
            get(&d, "/nope.js").await,
            Err(FileError::NotFound)
        ));
        assert!(matches!(get(&d, "/js/").await, Err(FileError::NotFound)));
        assert!(matches!(
            get(&d, "/index.html/x").await,
            Err(FileError::NotFound)
        ));
        let gone = read(&d.path().join("absent"), "/").await.unwrap_err();
        assert_eq!(gone.status(), 404);
    }
}
