//! The HTTP server: accepts TCP (and TLS) connections and serves any
//! `tower_service::Service` over HTTP/1.1 and HTTP/2 with hyper.
//!
//! What it does for every app, with safe defaults from [`ServerConfig`]:
//!
//! - HTTP/1.0 and 1.1 (keep-alive, chunked bodies, `Expect: 100-continue`,
//!   upgrades such as WebSocket), HTTP/2 with prior knowledge (h2c) and over
//!   TLS through ALPN;
//! - limits: request head size (431 over it), time to send the request head
//!   (slowloris clients are dropped), keep-alive idle time, concurrent
//!   connections (extra ones wait to be accepted);
//! - graceful shutdown on SIGINT/SIGTERM or [`Shutdown::trigger`]: stop
//!   accepting, let in-flight requests finish within
//!   [`ServerConfig::shutdown_grace`], then return;
//! - a [`ConnectInfo`] (peer and local address, TLS or not) and the server's
//!   [`Shutdown`] handle in every request's extensions;
//! - a panic while handling a request becomes a `500` for that request only;
//!   a misbehaving client only ever loses its own connection.
//!
//! # Example
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::future::{Ready, ready};
//! use std::task::{Context, Poll};
//!
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use hyper::body::Incoming;
//! use zzz::server::{ConnectInfo, Server, ServerConfig};
//!
//! #[derive(Clone)]
//! struct Hello;
//!
//! impl tower_service::Service<Request<Incoming>> for Hello {
//!     type Response = Response<Full<Bytes>>;
//!     type Error = Infallible;
//!     type Future = Ready<Result<Self::Response, Infallible>>;
//!
//!     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
//!         Poll::Ready(Ok(()))
//!     }
//!
//!     fn call(&mut self, req: Request<Incoming>) -> Self::Future {
//!         let peer = req.extensions().get::<ConnectInfo>().unwrap().peer;
//!         ready(Ok(Response::new(Full::from(format!("hello, {peer}\n")))))
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let config = ServerConfig::from_env()?; // PORT, ZZZ_* overrides
//!     let server = Server::from_env_or_bind(config)?;
//!     println!("listening on http://{}", server.local_addr());
//!     server.serve(Hello).await // until SIGINT/SIGTERM, then drains
//! }
//! ```

mod config;
mod connection;
pub(crate) mod io;
mod listener;
mod service;
mod shutdown;
#[cfg(feature = "tls")]
mod tls;

pub use config::{MIN_HEADER_BYTES, ServerConfig, ServerConfigError};
pub use listener::LISTEN_FD_VAR;
pub use service::ConnectInfo;
pub use shutdown::Shutdown;
#[cfg(feature = "tls")]
pub use tls::{SelfSignedCert, TlsConfig, TlsError};

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use connection::{ConnContext, serve_connection};
use listener::AcceptError;

/// A bound HTTP server, ready to serve one service.
///
/// Created bound ([`Server::bind`], [`Server::from_std_listener`],
/// [`Server::from_env_or_bind`]) so [`Server::local_addr`] is known — port 0
/// included — before serving starts. See the [module docs](self) for an example.
pub struct Server {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    config: ServerConfig,
    shutdown: Shutdown,
    #[cfg(feature = "tls")]
    tls: Option<TlsConfig>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Server");
        d.field("local_addr", &self.local_addr).field("config", &self.config);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.finish()
    }
}

impl Server {
    /// Binds a TCP listener on `addr` now (port 0 picks a free port; see
    /// [`Server::local_addr`]). Nothing is accepted until [`Server::serve`].
    ///
    /// # Errors
    /// The bind failure (address in use, permission denied, …), with a message
    /// naming `addr`.
    pub fn bind(addr: SocketAddr, config: ServerConfig) -> std::io::Result<Server> {
        Self::from_std_listener(listener::bind(addr)?, config)
    }

    /// Serves on a listener bound elsewhere, e.g. a socket handed over by a
    /// supervisor that keeps it open across app restarts. The listener must
    /// already be listening (as `std::net::TcpListener::bind` leaves it).
    ///
    /// # Errors
    /// If the listener is not a bound TCP socket or cannot be made non-blocking.
    pub fn from_std_listener(listener: std::net::TcpListener, config: ServerConfig) -> std::io::Result<Server> {
        let local_addr = listener::prepare(&listener)?;
        Ok(Server {
            listener,
            local_addr,
            config,
            shutdown: Shutdown::new(),
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Uses the listening socket inherited through `ZZZ_LISTEN_FD=<fd>` (see
    /// [`LISTEN_FD_VAR`]) when that variable is set, and binds `config.addr`
    /// otherwise. This is how an app runs under `zzz server`, which keeps the
    /// socket open across rebuilds so requests wait instead of failing.
    ///
    /// # Errors
    /// `InvalidInput` naming `ZZZ_LISTEN_FD` if its value is not the descriptor
    /// of a bound TCP socket (or on non-Unix systems); otherwise as [`Server::bind`].
    pub fn from_env_or_bind(config: ServerConfig) -> std::io::Result<Server> {
        match listener::from_listen_fd_env()? {
            Some(l) => {
                let server = Self::from_std_listener(l, config)?;
                tracing::debug!(addr = %server.local_addr, "using the listener inherited through {LISTEN_FD_VAR}");
                Ok(server)
            }
            None => Self::bind(config.addr, config),
        }
    }

    /// The address the server is listening on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The configuration the server will run with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Serves HTTPS instead of plain HTTP: every connection must complete a TLS
    /// handshake (within [`ServerConfig::header_read_timeout`]) before its first
    /// request. With [`ServerConfig::http2`] on, ALPN offers `h2` and `http/1.1`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// A handle on this server's shutdown: await [`Shutdown::requested`] to learn
    /// when the server starts shutting down, or call [`Shutdown::trigger`] to
    /// shut it down gracefully.
    pub fn shutdown_signal(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves `service` until SIGINT or SIGTERM (or [`Shutdown::trigger`]), then
    /// shuts down gracefully and returns.
    ///
    /// Each request reaches `service` with a [`ConnectInfo`] in its extensions;
    /// the service is cloned per connection and again per request.
    ///
    /// # Errors
    /// Only if the listener cannot be registered with tokio or becomes unusable
    /// (e.g. a handed-over socket that is not listening). Failures of single
    /// connections are logged and never end `serve`.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn serve<S, B>(self, service: S) -> std::io::Result<()>
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let signal = shutdown::os_signal();
        self.serve_with_shutdown(service, signal).await
    }

    /// Like [`Server::serve`], but shuts down when `signal` completes (or on
    /// [`Shutdown::trigger`]) instead of on OS signals.
    ///
    /// Shutdown sequence: the listener is closed at once (new connections are
    /// refused), every [`Shutdown::requested`] future completes, idle
    /// connections are closed, in-flight requests finish and their connections
    /// close (HTTP/1 responses finished from then on carry `connection: close`);
    /// a connection accepted but still without its first request gets up to 1 s
    /// (at most `header_read_timeout`) to send it, is answered, and closed;
    /// connections still open after [`ServerConfig::shutdown_grace`] are
    /// dropped. Then this returns. Every request also carries the server's
    /// [`Shutdown`] in its extensions, so long-lived responses (event streams,
    /// long polls) can end when it fires.
    ///
    /// Upgraded connections (WebSocket) left hyper when they were upgraded; their
    /// owners watch [`Shutdown::requested`] (see [`Server::shutdown_signal`]) and
    /// close them.
    ///
    /// # Errors
    /// As [`Server::serve`].
    pub async fn serve_with_shutdown<S, B, F>(self, service: S, signal: F) -> std::io::Result<()>
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: Future<Output = ()> + Send,
    {
        let Server { listener, local_addr, config, shutdown, #[cfg(feature = "tls")] tls } = self;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot register the listener on {local_addr}: {e}")))?;
        #[cfg(feature = "tls")]
        let is_tls = tls.is_some();
        #[cfg(not(feature = "tls"))]
        let is_tls = false;
        let ctx = Arc::new(ConnContext::new(
            &config,
            local_addr,
            #[cfg(feature = "tls")]
            tls.map(|t| t.acceptor(config.http2)),
        ));
        let slots = Arc::new(Semaphore::new(config.effective_max_connections()));
        let mut connections = JoinSet::new();
        let mut signal = std::pin::pin!(signal);
        let requested = shutdown.requested();
        let mut requested = std::pin::pin!(requested);
        let mut outcome = Ok(());
        // Accept failures for lack of resources come in storms: warn on the
        // first of a run, then stay at debug until an accept succeeds again.
        let mut resource_errors_in_a_row = 0u64;

        tracing::info!(addr = %local_addr, tls = is_tls, http2 = config.http2, "server listening");
        loop {
            tokio::select! {
                biased;
                _ = requested.as_mut() => break,
                _ = signal.as_mut() => {
                    shutdown.trigger();
                    break;
                }
                Some(done) = connections.join_next() => report_connection_end(done),
                accepted = accept(&listener, &slots) => match accepted {
                    Ok((stream, peer, slot)) => {
                        if resource_errors_in_a_row > 0 {
                            tracing::info!(failures = resource_errors_in_a_row, "accepting connections again");
                            resource_errors_in_a_row = 0;
                        }
                        connections.spawn(serve_connection(
                            ctx.clone(),
                            stream,
                            peer,
                            slot,
                            service.clone(),
                            shutdown.clone(),
                        ));
                    }
                    Err(e) => match listener::classify(&e) {
                        AcceptError::Connection => {
                            tracing::debug!(error = %e, "accepting a connection failed; continuing");
                        }
                        AcceptError::Resources(pause) => {
                            if resource_errors_in_a_row == 0 {
                                tracing::warn!(error = %e, "cannot accept connections (out of file descriptors or memory?); retrying every {pause:?}");
                            } else {
                                tracing::debug!(error = %e, "accept still failing");
                            }
                            resource_errors_in_a_row += 1;
                            tokio::time::sleep(pause).await;
                        }
                        AcceptError::Fatal => {
                            tracing::error!(addr = %local_addr, error = %e, "the listener failed; shutting down");
                            outcome = Err(std::io::Error::new(
                                e.kind(),
                                format!("the listener on {local_addr} cannot accept connections: {e}"),
                            ));
                            break;
                        }
                    },
                },
            }
        }

        // Stop accepting now; tell connections and subscribers.
        drop(listener);
        shutdown.trigger();
        let open = connections.len();
        tracing::info!(open_connections = open, grace = ?config.shutdown_grace, "shutting down: no longer accepting");
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while let Some(done) = connections.join_next().await {
                report_connection_end(done);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = connections.len(),
                grace = ?config.shutdown_grace,
                "shutdown grace period over; dropping the remaining connections"
            );
            connections.shutdown().await;
        }
        tracing::info!(addr = %local_addr, "server stopped");
        outcome
    }
}

/// Waits for a free connection slot, then for a connection.
async fn accept(
    listener: &tokio::net::TcpListener,
    slots: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = slots.clone().acquire_owned().await.expect("the connection semaphore is never closed");
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, slot))
}

fn report_connection_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "a connection task panicked; the server carries on");
    }
}
