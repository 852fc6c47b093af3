//! Direct delivery: a broadcast written to the socket by whoever publishes it.
//!
//! Without it every delivered broadcast wakes the connection's task, which takes the event
//! from its mailbox, frames it and writes it. For a WebSocket over plain TCP served by
//! [`crate::server::Server`], the connection instead shares its TCP stream with a [`Lane`]:
//! the PubSub subscriber of a joined, non-intercepting channel writes the broadcast's
//! pre-framed bytes (encoded once per broadcast) straight to the socket with one
//! non-blocking `send`, and the task is not woken at all.
//!
//! Ordering and framing stay exactly as with the mailbox:
//! - The lane's *gate* is open only while the task is idle — it has written everything it
//!   queued, its mailbox is empty and nothing is left over from an earlier write. The task
//!   closes the gate whenever it wakes up for anything (it reads client bytes, takes a
//!   mailbox event, a timer fires), and reopens it only by finding its mailbox empty again.
//!   Whatever cannot go directly (gate closed, mailbox not empty, socket buffer full) goes
//!   to the mailbox as before, behind everything queued earlier.
//! - Every write to the socket, the task's own included (replies, pushes, pongs, closes),
//!   goes through the lane's lock, and bytes a short write could not send are kept in the
//!   lane and sent before anything else, so frames never interleave. A direct write that is
//!   cut short wakes the task to push the rest out under
//!   [`SocketConfig::write_timeout`](crate::channels::SocketConfig::write_timeout), as for
//!   any client that stops reading.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::channels::socket::SocketEvent;

/// Bytes the task may leave unsent in the lane before its writes wait for the socket.
const PENDING_LIMIT: usize = 64 * 1024;

/// One connection's shared writer and mailbox; see the [module docs](self).
pub(crate) struct Lane {
    stream: Arc<TcpStream>,
    state: Mutex<LaneState>,
}

struct LaneState {
    /// The connection's mailbox, read by the task through [`Lane::poll_event`].
    rx: mpsc::UnboundedReceiver<SocketEvent>,
    /// Direct writes allowed: the task is idle and has nothing queued.
    open: bool,
    /// Accepted but unsent bytes; always the head of what goes out next.
    pending: Vec<u8>,
    /// A direct write left bytes in `pending`: the task must push them out.
    flush: bool,
    /// The task's waker, to wake it for `flush`.
    waker: Option<Waker>,
}

/// What woke the connection's task.
pub(crate) enum Wake {
    /// A mailbox event.
    Event(SocketEvent),
    /// Bytes are waiting in the lane: write them out.
    Flush,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Lane {
    /// A lane over `stream`, taking over the connection's mailbox.
    pub(crate) fn new(stream: Arc<TcpStream>, rx: mpsc::UnboundedReceiver<SocketEvent>) -> Lane {
        Lane {
            stream,
            state: Mutex::new(LaneState {
                rx,
                open: false,
                pending: Vec::new(),
                flush: false,
                waker: None,
            }),
        }
    }

    /// Start loading the lane's lock and state (see [`crate::pubsub::prefetch`]); computes
    /// the address only, reads nothing.
    pub(crate) fn prefetch(&self) {
        crate::pubsub::prefetch((&raw const self.state).cast::<u8>());
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write one complete frame straight to the socket if the gate is open. `false` when it
    /// must go through the mailbox instead (nothing was written then).
    pub(crate) fn try_deliver(&self, frame: &[u8]) -> bool {
        let mut st = self.lock();
        if !st.open || !st.pending.is_empty() || !st.rx.is_empty() {
            return false;
        }
        match self.stream.try_write(frame) {
            Ok(n) if n == frame.len() => true,
            Ok(n) => {
                // The rest goes before anything else; the task pushes it out.
                st.pending.extend_from_slice(&frame[n..]);
                st.open = false;
                st.flush = true;
                if let Some(waker) = st.waker.take() {
                    waker.wake();
                }
                true
            }
            // Socket buffer full or broken: the task handles it (and notices the error).
            Err(_) => false,
        }
    }

    /// The task is about to handle something: no direct writes until it is idle again.
    pub(crate) fn close_gate(&self) {
        self.lock().open = false;
    }

    /// A mailbox event without waiting (does not open the gate).
    pub(crate) fn try_event(&self) -> Option<SocketEvent> {
        let mut st = self.lock();
        let event = st.rx.try_recv().ok();
        if event.is_some() {
            st.open = false;
        }
        event
    }

    /// The next thing for the task; while there is none the gate is open.
    pub(crate) fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Option<Wake>> {
        let mut st = self.lock();
        if st.flush || !st.pending.is_empty() {
            st.flush = false;
            st.open = false;
            return Poll::Ready(Some(Wake::Flush));
        }
        match st.rx.poll_recv(cx) {
            Poll::Ready(event) => {
                st.open = false;
                Poll::Ready(event.map(Wake::Event))
            }
            Poll::Pending => {
                st.open = true;
                if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    st.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// Send what is pending; `Ok` whether or not all of it went.
    fn send_pending(&self, st: &mut LaneState) -> io::Result<()> {
        while !st.pending.is_empty() {
            match self.stream.try_write(&st.pending) {
                Ok(n) => {
                    st.pending.drain(..n);
                }
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        if st.pending.capacity() > PENDING_LIMIT {
            st.pending = Vec::new();
        }
        Ok(())
    }

    /// The task's write: after anything pending; what the socket does not take now is kept
    /// (up to [`PENDING_LIMIT`], then it waits).
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            {
                let mut st = self.lock();
                self.send_pending(&mut st)?;
                if st.pending.is_empty() {
                    match self.stream.try_write(buf) {
                        Ok(n) => {
                            st.pending.extend_from_slice(&buf[n..]);
                            return Poll::Ready(Ok(buf.len()));
                        }
                        Err(e) if would_block(&e) => {}
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                if st.pending.len() < PENDING_LIMIT {
                    st.pending.extend_from_slice(buf);
                    return Poll::Ready(Ok(buf.len()));
                }
            }
            ready!(self.stream.poll_write_ready(cx))?;
        }
    }

    /// Wait until nothing is pending.
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            {
                let mut st = self.lock();
                self.send_pending(&mut st)?;
                if st.pending.is_empty() {
                    return Poll::Ready(Ok(()));
                }
            }
            ready!(self.stream.poll_write_ready(cx))?;
        }
    }
}

/// The stream the WebSocket protocol runs on when its connection has a [`Lane`]: reads come
/// from the upgraded connection (which may hold bytes read before the upgrade) and close
/// the gate; writes go through the lane.
pub(crate) struct LaneIo<R> {
    read: R,
    lane: Arc<Lane>,
}

impl<R> LaneIo<R> {
    /// `read` (the upgraded connection) with its writes going through `lane`.
    pub(crate) fn new(read: R, lane: Arc<Lane>) -> LaneIo<R> {
        LaneIo { read, lane }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LaneIo<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.read).poll_read(cx, buf);
        if result.is_ready() {
            // Client bytes are about to be handled (a join, a close…): no direct writes
            // until the task is idle again.
            this.lane.close_gate();
        }
        result
    }
}

impl<R: AsyncWrite + Unpin> AsyncWrite for LaneIo<R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.lane.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.lane.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.lane.poll_flush(cx))?;
        Pin::new(&mut this.read).poll_shutdown(cx)
    }
}
