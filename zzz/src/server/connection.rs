//! Driving one accepted connection: TLS handshake, hyper's HTTP/1 + HTTP/2
//! connection, and the timers hyper does not provide (first-request deadline,
//! keep-alive idle timeout) plus graceful close on server shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper::server::conn::http1;
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until};

use super::config::ServerConfig;
use super::io::{ServerIo, Transport};
use super::service::{Activity, Adapter, ConnectInfo};
use super::shutdown::Shutdown;

/// How long a connection accepted just before shutdown may take to send its first
/// request (capped by `header_read_timeout`); it is served, then closed.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// How often such a connection is checked for its first request.
const FIRST_REQUEST_POLL: Duration = Duration::from_millis(5);

/// The HTTP versions spoken, with their settings.
enum Protocols {
    /// HTTP/1 and HTTP/2, told apart by the connection preface.
    Auto(auto::Builder<TokioExecutor>),
    /// HTTP/1 only.
    Http1(http1::Builder),
}

/// Everything shared by the connections of one `serve` call.
pub(crate) struct ConnContext {
    protocols: Protocols,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    local: SocketAddr,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl ConnContext {
    pub(crate) fn new(
        config: &ServerConfig,
        local: SocketAddr,
        #[cfg(feature = "tls")] tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> ConnContext {
        let max_header_bytes = config.effective_max_header_bytes();
        let protocols = if config.http2 {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .header_read_timeout(config.header_read_timeout)
                .max_buf_size(max_header_bytes);
            let max_header_list = u32::try_from(max_header_bytes).unwrap_or(u32::MAX);
            builder.http2().timer(TokioTimer::new()).max_header_list_size(max_header_list);
            Protocols::Auto(builder)
        } else {
            // auto::Builder::http1_only is ignored for upgradeable connections,
            // so HTTP/1-only serving uses hyper's HTTP/1 builder directly.
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .keep_alive(true)
                .header_read_timeout(config.header_read_timeout)
                .max_buf_size(max_header_bytes)
                .max_header_size(max_header_bytes);
            Protocols::Http1(builder)
        };
        ConnContext {
            protocols,
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            local,
            #[cfg(feature = "tls")]
            tls,
        }
    }

    fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.tls.is_some()
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }
}

/// Serves one connection until it closes, errors, times out, or finishes its
/// graceful close after `shutdown` fires. Never panics on client misbehaviour;
/// failures are logged at debug level (they are the client's, not the server's).
pub(crate) async fn serve_connection<S, B>(
    ctx: Arc<ConnContext>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    svc: S,
    shutdown: Shutdown,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let accepted_at = Instant::now();
    let first_request_deadline = accepted_at + ctx.header_read_timeout;
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }

    let transport = match tls_handshake(&ctx, stream, peer, first_request_deadline, &shutdown).await {
        Some(t) => t,
        None => return,
    };
    let info = ConnectInfo { peer, local: ctx.local, tls: ctx.is_tls() };
    let activity = Activity::new();
    let (io, share) = ServerIo::new(transport, slot);
    let io = TokioIo::new(io);
    let svc = Adapter::new(svc, info, activity.clone(), shutdown.clone(), share);
    match &ctx.protocols {
        Protocols::Auto(builder) => {
            let conn = builder.serve_connection_with_upgrades(io, svc);
            drive(&ctx, conn, |c| c.graceful_shutdown(), peer, &activity, first_request_deadline, &shutdown).await
        }
        Protocols::Http1(builder) => {
            let conn = builder.serve_connection(io, svc).with_upgrades();
            drive(&ctx, conn, |c| c.graceful_shutdown(), peer, &activity, first_request_deadline, &shutdown).await
        }
    }
}

/// Polls `conn` to completion while running the connection's timers and
/// watching for server shutdown; `graceful` asks hyper to close it gracefully.
async fn drive<C, E>(
    ctx: &ConnContext,
    conn: C,
    graceful: impl Fn(Pin<&mut C>),
    peer: SocketAddr,
    activity: &Activity,
    first_request_deadline: Instant,
    shutdown: &Shutdown,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    let server_shutdown = shutdown.requested();
    let mut server_shutdown = std::pin::pin!(server_shutdown);

    // Set once hyper has been asked to close gracefully (server shutdown or idle).
    let mut closing = false;
    // After an idle close was requested, the connection gets this long to finish.
    let mut close_deadline: Option<Instant> = None;
    // Server shutdown reached a connection that has not sent its first request yet:
    // closing it now would drop a request the client may already have sent (it was
    // accepted before the listener closed), so it gets until then to send one.
    let mut first_request_wait: Option<Instant> = None;
    loop {
        let mut next_check = next_check(ctx, activity, first_request_deadline, closing, close_deadline);
        if first_request_wait.is_some() {
            next_check = next_check.min(Instant::now() + FIRST_REQUEST_POLL);
        }
        tokio::select! {
            biased;
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection closed with an error");
                }
                return;
            }
            _ = server_shutdown.as_mut(), if !closing && first_request_wait.is_none() => {
                if activity.started() == 0 {
                    first_request_wait = Some(Instant::now() + FIRST_REQUEST_GRACE.min(ctx.header_read_timeout));
                } else {
                    closing = true;
                    graceful(conn.as_mut());
                }
            }
            _ = sleep_until(next_check) => {
                let now = Instant::now();
                if let Some(wait) = first_request_wait
                    && !closing
                    && (activity.started() > 0 || now >= wait)
                {
                    // The request (if any) is being served; it is the connection's last.
                    closing = true;
                    graceful(conn.as_mut());
                    continue;
                }
                if close_deadline.is_some_and(|d| now >= d) {
                    tracing::debug!(%peer, "connection did not close after idle timeout; dropping it");
                    return;
                }
                if activity.started() == 0 && now >= first_request_deadline {
                    tracing::debug!(%peer, timeout = ?ctx.header_read_timeout, "no request received within header_read_timeout; dropping connection");
                    return;
                }
                if !closing && activity.active() == 0 && now >= idle_deadline(ctx, activity) {
                    tracing::debug!(%peer, timeout = ?ctx.idle_timeout, "connection idle; closing it");
                    closing = true;
                    close_deadline = Some(now + ctx.header_read_timeout);
                    graceful(conn.as_mut());
                }
            }
        }
    }
}

fn idle_deadline(ctx: &ConnContext, activity: &Activity) -> Instant {
    Instant::from_std(activity.idle_since()) + ctx.idle_timeout
}

/// The next moment one of the connection's timers may have expired.
fn next_check(
    ctx: &ConnContext,
    activity: &Activity,
    first_request_deadline: Instant,
    closing: bool,
    close_deadline: Option<Instant>,
) -> Instant {
    let now = Instant::now();
    let mut next = now + ctx.idle_timeout.max(Duration::from_millis(10));
    if activity.started() == 0 {
        next = next.min(first_request_deadline);
    }
    if !closing && activity.active() == 0 {
        next = next.min(idle_deadline(ctx, activity));
    }
    if let Some(d) = close_deadline {
        next = next.min(d);
    }
    next
}

/// Performs the TLS handshake when TLS is on. `None` when the connection should
/// be dropped (handshake failed, timed out, or the server is shutting down).
async fn tls_handshake(
    ctx: &ConnContext,
    stream: TcpStream,
    peer: SocketAddr,
    deadline: Instant,
    shutdown: &Shutdown,
) -> Option<Transport> {
    #[cfg(feature = "tls")]
    if let Some(acceptor) = &ctx.tls {
        return tokio::select! {
            res = tokio::time::timeout_at(deadline, acceptor.accept(stream)) => match res {
                Ok(Ok(tls)) => Some(Transport::Tls(Box::new(tls))),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, timeout = ?ctx.header_read_timeout, "TLS handshake not finished within header_read_timeout");
                    None
                }
            },
            _ = shutdown.requested() => None,
        };
    }
    let _ = (ctx, peer, deadline, shutdown);
    Some(Transport::Plain(stream))
}
