//! [`Shutdown`]: the server's shutdown flag, and the OS signals that raise it.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable handle on one server's shutdown.
///
/// Get it from [`Server::shutdown_signal`](super::Server::shutdown_signal) before
/// serving. Long-lived work tied to the server (channel sockets, job runners,
/// upgraded connections) awaits [`Shutdown::requested`] to learn that the server is
/// going down and should finish up; anyone may call [`Shutdown::trigger`] to start
/// a graceful shutdown, exactly as SIGINT/SIGTERM do.
///
/// Once triggered it stays triggered.
///
/// ```
/// # async fn demo() {
/// let shutdown = zzz::server::Shutdown::new();
/// let watcher = shutdown.clone();
/// let job = tokio::spawn(async move {
///     watcher.requested().await;
///     "drained"
/// });
/// shutdown.trigger();
/// assert_eq!(job.await.unwrap(), "drained");
/// assert!(shutdown.is_requested());
/// # }
/// ```
#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    /// A new, not yet triggered, shutdown handle.
    pub fn new() -> Shutdown {
        Shutdown { tx: Arc::new(watch::Sender::new(false)) }
    }

    /// Completes once shutdown has been requested (immediately if it already was).
    ///
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn requested(&self) {
        let mut rx = self.tx.subscribe();
        // `wait_for` only fails when the sender is dropped; `self` holds it.
        let _ = rx.wait_for(|requested| *requested).await;
    }

    /// Whether shutdown has been requested.
    pub fn is_requested(&self) -> bool {
        *self.tx.borrow()
    }

    /// Requests shutdown: the server stops accepting, finishes in-flight requests
    /// within its grace period, and every [`Shutdown::requested`] future completes.
    /// Calling it again does nothing.
    pub fn trigger(&self) {
        self.tx.send_if_modified(|requested| !std::mem::replace(requested, true));
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown").field("requested", &self.is_requested()).finish()
    }
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are installed when this function is called, not when the future
/// is first polled, so a signal arriving right after the call is not lost. If a
/// handler cannot be installed the failure is logged and that signal is ignored.
pub(crate) fn os_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot install the {name} handler; {name} will not stop the server");
                None
            }
        };
        let mut int = listen(SignalKind::interrupt(), "SIGINT");
        let mut term = listen(SignalKind::terminate(), "SIGTERM");
        async move {
            tokio::select! {
                _ = recv(int.as_mut()) => tracing::info!("SIGINT received, shutting down"),
                _ = recv(term.as_mut()) => tracing::info!("SIGTERM received, shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!("Ctrl-C received, shutting down"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for Ctrl-C; only Shutdown::trigger stops the server");
                    std::future::pending::<()>().await
                }
            }
        }
    }
}

/// Waits for `signal`, or forever when its handler could not be installed.
#[cfg(unix)]
async fn recv(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
