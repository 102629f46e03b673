//! systemd readiness (`Type=notify`): one datagram per state change to the
//! socket named in `$NOTIFY_SOCKET`. Outside systemd the variable is unset
//! and every call is a no-op, so the same binary runs in the foreground.
//!
//! The protocol is a few `KEY=VALUE` lines on a unix datagram socket; a
//! socket name starting with `@` is in the abstract namespace.
use std::io;
use std::os::unix::net::UnixDatagram;

/// The socket systemd listens on, if any.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// The states sluice reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Listeners are bound and serving.
    Ready,
    /// SIGHUP: a reload is in progress; `Ready` follows when it is done.
    Reloading,
    /// SIGTERM/SIGINT: draining.
    Stopping,
}

impl State {
    /// The datagram; `status` is the free text `systemctl status` shows.
    fn message(self, status: &str) -> String {
        let key = match self {
            State::Ready => "READY=1",
            State::Reloading => "RELOADING=1",
            State::Stopping => "STOPPING=1",
        };
        // STATUS is one line; a newline would start another assignment.
        format!("{key}\nSTATUS={}", status.replace('\n', " "))
    }
}

/// Tells the supervisor about `state`, with a status line. Returns
/// `Ok(false)` when not run under a supervisor that asked for notifications.
pub fn notify(state: State, status: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os(NOTIFY_SOCKET) else {
        return Ok(false);
    };
    let path = path.to_string_lossy().into_owned();
    send(&path, &state.message(status))?;
    Ok(true)
}

/// Sends one notification datagram to `path` (a filesystem path or `@name`).
pub fn send(path: &str, message: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(message.as_bytes(), &addr)?;
    } else {
        sock.send_to(message.as_bytes(), path)?;
    }
    Ok(())
}

/// Writes the PID file (`--pid-file`) and removes it when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: std::path::PathBuf,
}

impl PidFile {
    pub fn create(path: &std::path::Path) -> io::Result<PidFile> {
        std::fs::write(path, format!("{}\n", std::process::id()))?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), &State::Ready.message("a\nb")).unwrap();
        let mut buf = [0u8; 128];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=a b");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("sluice-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abs = UnixDatagram::bind_addr(&addr).unwrap();
        send(&format!("@{name}"), &State::Stopping.message("draining")).unwrap();
        let n = abs.recv(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"STOPPING=1\n"));
    }

    #[test]
    fn pid_file_is_written_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sluice.pid");
        {
            let _p = PidFile::create(&path).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.trim(), std::process::id().to_string());
        }
        assert!(!path.exists());
    }
}
