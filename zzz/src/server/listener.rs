//! Getting a listening socket (bind, hand-off from a supervisor) and telling
//! passing accept errors from fatal ones.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use super::config::ServerConfigError;

/// Environment variable through which a supervisor (e.g. `zzz server`'s
/// rebuild loop) hands an already listening socket to the app: the number of
/// an inherited file descriptor.
pub const LISTEN_FD_VAR: &str = "ZZZ_LISTEN_FD";

/// Binds a TCP listener on `addr`, with an error naming the address.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::AddrInUse { " (is another server running on this port?)" } else { "" };
        io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}{hint}"))
    })
}

/// Prepares a std listener for tokio and returns its local address.
pub(crate) fn prepare(listener: &TcpListener) -> io::Result<SocketAddr> {
    let addr = listener
        .local_addr()
        .map_err(|e| io::Error::new(e.kind(), format!("the listener handed to the server is not a bound TCP socket: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot make the listener on {addr} non-blocking: {e}")))?;
    Ok(addr)
}

/// The listener named by `ZZZ_LISTEN_FD`, if the variable is set.
///
/// # Errors
/// `InvalidInput` if the value is not a descriptor number, or the descriptor
/// is not a bound TCP socket (the descriptor is then left open, untouched).
pub(crate) fn from_listen_fd_env() -> io::Result<Option<TcpListener>> {
    let value = match std::env::var(LISTEN_FD_VAR) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => return Ok(None),
    };
    let bad = |expected: &'static str| -> io::Error {
        ServerConfigError { var: LISTEN_FD_VAR, value: value.clone(), expected }.into()
    };
    #[cfg(unix)]
    {
        use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
        let fd: RawFd = value
            .trim()
            .parse()
            .ok()
            .filter(|fd| *fd >= 0)
            .ok_or_else(|| bad("the number of an inherited listening socket's file descriptor"))?;
        // SAFETY: the supervisor that set ZZZ_LISTEN_FD hands us this descriptor
        // for our exclusive use. If it turns out not to be a socket we give it
        // back with `into_raw_fd` instead of closing it.
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        if listener.local_addr().is_err() {
            let _ = listener.into_raw_fd();
            return Err(bad("an open, bound TCP socket (the descriptor is not one)"));
        }
        // The inherited descriptor is not close-on-exec (it was inherited); a
        // duplicate is (std dups with F_DUPFD_CLOEXEC), so processes the app
        // starts do not hold the socket open.
        Ok(Some(listener.try_clone().unwrap_or(listener)))
    }
    #[cfg(not(unix))]
    {
        Err(bad("nothing: socket hand-off by descriptor is only supported on Unix"))
    }
}

/// What to do after `accept` failed.
pub(crate) enum AcceptError {
    /// The failed connection is gone; accept the next one at once.
    Connection,
    /// The process is out of a resource (descriptors, memory); wait a moment
    /// so the loop does not spin, then accept again.
    Resources(Duration),
    /// The listener itself is unusable; the server cannot go on.
    Fatal,
}

pub(crate) fn classify(e: &io::Error) -> AcceptError {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock | TimedOut
        | BrokenPipe | NotConnected | PermissionDenied => AcceptError::Connection,
        // EINVAL: the socket is not listening; EBADF/ENOTSOCK surface as Other/InvalidInput.
        InvalidInput => AcceptError::Fatal,
        _ if is_bad_descriptor(e) => AcceptError::Fatal,
        _ => AcceptError::Resources(Duration::from_millis(50)),
    }
}

fn is_bad_descriptor(e: &io::Error) -> bool {
    // EBADF (9) and ENOTSOCK (88 on Linux, 38 on the BSDs/macOS).
    #[cfg(target_os = "linux")]
    const CODES: &[i32] = &[9, 88];
    #[cfg(not(target_os = "linux"))]
    const CODES: &[i32] = &[9, 38];
    e.raw_os_error().is_some_and(|c| CODES.contains(&c))
}
