//! Transports: how frames reach a [`SocketState`].
//!
//! [`run`] is the one per-connection loop shared by every transport: it reads client frames,
//! handles mailbox events (broadcasts, app messages), writes queued frames, and closes the
//! connection on a protocol close or when the client stays silent past
//! [`SocketConfig::timeout`](super::SocketConfig::timeout). The WebSocket transport is in
//! [`websocket`], the LongPoll fallback in [`longpoll`]; the in-process test client in
//! [`crate::channels::testing`] uses the same loop over memory channels.
//!
//! ```no_run
//! # use zzz::channels::{SocketEndpoint, UserSocket, transport::websocket};
//! # async fn serve<S: UserSocket>(endpoint: SocketEndpoint<S>, parts: http::request::Parts,
//! #     io: tokio::net::TcpStream) {
//! // In an HTTP server, for a GET /socket/websocket upgrade request:
//! match websocket::upgrade(&endpoint, &parts, None).await {
//!     Ok(upgrade) => {
//!         let _response = upgrade.response(); // send this 101, then on the upgraded stream:
//!         upgrade.serve(io).await;
//!     }
//!     Err(_rejection) => { /* send the 400/403 response */ }
//! }
//! # }
//! ```

pub(crate) mod direct;
pub mod longpoll;
pub mod websocket;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::message::Frame;
use super::socket::{CloseReason, SocketEvent, SocketState, UserSocket};

/// What a transport read from the client.
#[derive(Debug)]
pub enum Incoming {
    /// A data frame.
    Frame(Frame),
    /// Traffic that is not a data frame (ping, pong); keeps the connection alive.
    Activity,
    /// The client closed the connection or it broke.
    Closed,
    /// The client broke the rules of the transport (e.g. a message over the size limit):
    /// close with this reason.
    Violation(CloseReason),
}

/// A bidirectional frame transport for one connection.
pub trait Transport: Send {
    /// The next thing from the client. Must be cancel-safe.
    fn recv(&mut self) -> impl Future<Output = Incoming> + Send;
    /// Write frames; `false` when the connection is gone.
    fn send(&mut self, frames: Vec<Frame>) -> impl Future<Output = bool> + Send;
    /// Close the connection with a code and reason.
    fn close(&mut self, reason: CloseReason) -> impl Future<Output = ()> + Send;
}

/// Send a close, giving up after `write_timeout` (a client that does not read cannot hold
/// the connection open).
async fn close<T: Transport>(
    transport: &mut T,
    reason: CloseReason,
    write_timeout: std::time::Duration,
) {
    let _ = tokio::time::timeout(write_timeout, transport.close(reason)).await;
}

/// The connection's mailbox: a plain channel, or the [`direct::Lane`] that also lets
/// broadcasts bypass the task while it is idle.
enum Mailbox {
    Channel(mpsc::UnboundedReceiver<SocketEvent>),
    Lane(Arc<direct::Lane>),
}

impl Mailbox {
    /// An event without waiting.
    fn try_event(&mut self) -> Option<SocketEvent> {
        match self {
            Mailbox::Channel(rx) => rx.try_recv().ok(),
            Mailbox::Lane(lane) => lane.try_event(),
        }
    }

    /// The next event (or, with a lane, pending bytes to flush). While it waits, a lane
    /// lets broadcasts go straight to the socket.
    async fn next(&mut self) -> Option<direct::Wake> {
        match self {
            Mailbox::Channel(rx) => rx.recv().await.map(direct::Wake::Event),
            Mailbox::Lane(lane) => std::future::poll_fn(|cx| lane.poll_event(cx)).await,
        }
    }

    /// The task handles something: no direct writes meanwhile.
    fn busy(&self) {
        if let Mailbox::Lane(lane) = self {
            lane.close_gate();
        }
    }
}

/// What the connection's task woke up for.
enum Next {
    Incoming(Incoming),
    Mail(Option<direct::Wake>),
    Drain,
    Idle,
}

/// Drive one connection until it ends, then run every channel's `terminate`.
///
/// `timeout` closes a silent client (1001 "heartbeat timeout"); `write_timeout` drops a client
/// that does not take its frames; [`SocketEndpoint::drain`](crate::channels::SocketEndpoint::drain)
/// closes it with 1012.
pub async fn run<S: UserSocket, T: Transport>(
    mut state: SocketState<S>,
    mut transport: T,
    timeout: std::time::Duration,
    write_timeout: std::time::Duration,
) {
    let mut mailbox = match state.lane() {
        Some(lane) => Mailbox::Lane(lane),
        None => match state.take_mailbox() {
            Some(rx) => Mailbox::Channel(rx),
            None => {
                tracing::error!("socket state already driven by another loop");
                return;
            }
        },
    };
    let idle = tokio::time::sleep(timeout);
    tokio::pin!(idle);
    let mut drain = state.drain_signal();
    if *drain.borrow_and_update() {
        close(
            &mut transport,
            CloseReason::new(1012, "server draining"),
            write_timeout,
        )
        .await;
        state.shutdown().await;
        return;
    }
    // Mailbox and client take turns: every other pass takes a waiting mailbox event before
    // looking at the client, and the client is always looked at before waiting.
    let mut mail_turn = false;
    loop {
        let out = state.take_output();
        if !out.is_empty() {
            match tokio::time::timeout(write_timeout, transport.send(out)).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    tracing::warn!(socket_id = ?state.id(), "dropping a client that did not read for {write_timeout:?}");
                    break;
                }
            }
        }
        if let Some(reason) = state.take_close() {
            close(&mut transport, reason, write_timeout).await;
            break;
        }
        mail_turn = !mail_turn;
        let waiting = if mail_turn { mailbox.try_event() } else { None };
        let next = match waiting {
            Some(event) => Next::Mail(Some(direct::Wake::Event(event))),
            // The mailbox is polled last: with a lane, polling it opens the gate, which
            // must only happen when nothing else is ready.
            None => tokio::select! {
                biased;
                incoming = transport.recv() => Next::Incoming(incoming),
                Ok(()) = drain.changed() => Next::Drain,
                () = &mut idle => Next::Idle,
                wake = mailbox.next() => Next::Mail(wake),
            },
        };
        mailbox.busy();
        match next {
            Next::Incoming(incoming) => match incoming {
                Incoming::Frame(frame) => {
                    idle.as_mut().reset(tokio::time::Instant::now() + timeout);
                    // boxed: keeps the per-connection task small (the protocol
                    // futures are only allocated while a frame is handled)
                    Box::pin(state.handle_frame(&frame)).await;
                }
                Incoming::Activity => idle.as_mut().reset(tokio::time::Instant::now() + timeout),
                Incoming::Closed => break,
                Incoming::Violation(reason) => {
                    tracing::warn!(code = reason.code, "closing socket: {}", reason.reason);
                    close(&mut transport, reason, write_timeout).await;
                    break;
                }
            },
            Next::Mail(Some(direct::Wake::Event(event))) => match event {
                SocketEvent::Broadcast(b) if state.fastlane(&b) => {}
                event => Box::pin(state.handle_event(event)).await,
            },
            Next::Mail(Some(direct::Wake::Flush)) => {
                // A direct write was cut short: push the rest out like any other write.
                match tokio::time::timeout(write_timeout, transport.send(Vec::new())).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(_) => {
                        tracing::warn!(socket_id = ?state.id(), "dropping a client that did not read for {write_timeout:?}");
                        break;
                    }
                }
            }
            // The state holds a sender: the mailbox never closes while it runs.
            Next::Mail(None) => break,
            Next::Drain => {
                close(&mut transport, CloseReason::new(1012, "server draining"), write_timeout).await;
                break;
            }
            Next::Idle => {
                tracing::info!(socket_id = ?state.id(), "closing socket: no message within {timeout:?}");
                close(&mut transport, CloseReason::new(1001, "heartbeat timeout"), write_timeout).await;
                break;
            }
        }
    }
    mailbox.busy();
    state.shutdown().await;
}
