//! The byte stream of one accepted connection: plain TCP or TLS over TCP,
//! carrying the connection-limit slot it occupies.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

/// The transport under one connection.
pub(crate) enum Transport {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// An accepted connection's stream. It holds the connection's slot of
/// `max_connections`, so the slot is released only when the stream itself is
/// dropped — after an HTTP upgrade (WebSocket) that is when the upgraded
/// connection closes, not when hyper hands it over.
///
/// A plain TCP stream is kept in an `Arc` so that an upgraded WebSocket can
/// share it with the code that writes broadcasts straight to the socket
/// ([`StreamShare`]). While nobody else holds it (every plain HTTP
/// connection), reads and writes take tokio's own `TcpStream` paths.
pub(crate) struct ServerIo {
    io: Io,
    _slot: OwnedSemaphorePermit,
}

enum Io {
    Plain { stream: Arc<TcpStream>, share: Arc<StreamShare> },
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Hands an HTTP/1 connection's plain TCP stream to the upgrade that asked
/// for it. [`crate::server::service::Adapter`] marks a request carrying an
/// `Upgrade` header (`request`) and puts this in its extensions
/// ([`SharedStream`]); the stream publishes itself the next time hyper writes
/// to it (the `101 Switching Protocols` response), before hyper completes the
/// upgrade, so the upgraded connection's task can [`take`](Self::take) it.
#[derive(Debug, Default)]
pub(crate) struct StreamShare {
    wanted: AtomicBool,
    stream: Mutex<Option<Arc<TcpStream>>>,
}

impl StreamShare {
    /// Ask the stream to publish itself on its next write.
    pub(crate) fn request(&self) {
        self.wanted.store(true, Ordering::Release);
    }

    /// The published stream, once.
    pub(crate) fn take(&self) -> Option<Arc<TcpStream>> {
        self.stream.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn publish(&self, stream: &Arc<TcpStream>) {
        if self.wanted.load(Ordering::Relaxed) && self.wanted.swap(false, Ordering::AcqRel) {
            *self.stream.lock().unwrap_or_else(|e| e.into_inner()) = Some(stream.clone());
        }
    }
}

/// A request extension (upgrade requests on plain HTTP/1 connections only):
/// where the upgraded connection finds its TCP stream.
#[derive(Clone, Debug)]
pub(crate) struct SharedStream(pub(crate) Arc<StreamShare>);

impl ServerIo {
    /// The stream for `transport`; for plain TCP also the handle an upgrade
    /// takes the stream from.
    pub(crate) fn new(transport: Transport, slot: OwnedSemaphorePermit) -> (ServerIo, Option<Arc<StreamShare>>) {
        match transport {
            Transport::Plain(stream) => {
                let share = Arc::new(StreamShare::default());
                let io = Io::Plain { stream: Arc::new(stream), share: share.clone() };
                (ServerIo { io, _slot: slot }, Some(share))
            }
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => (ServerIo { io: Io::Tls(tls), _slot: slot }, None),
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Read from a stream shared with an upgraded connection's writer.
pub(crate) fn poll_read_shared(stream: &TcpStream, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    loop {
        ready!(stream.poll_read_ready(cx))?;
        match stream.try_read(buf.initialize_unfilled()) {
            Ok(n) => {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            Err(e) if would_block(&e) => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Write to a stream shared with an upgraded connection's writer.
pub(crate) fn poll_write_shared(stream: &TcpStream, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_write_ready(cx))?;
        match stream.try_write(buf) {
            Ok(n) => return Poll::Ready(Ok(n)),
            Err(e) if would_block(&e) => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

fn poll_write_vectored_shared(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_write_ready(cx))?;
        match stream.try_write_vectored(bufs) {
            Ok(n) => return Poll::Ready(Ok(n)),
            Err(e) if would_block(&e) => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Shut down the write side of a stream that may be shared.
pub(crate) fn shutdown_shared(stream: &TcpStream) -> io::Result<()> {
    match socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

impl AsyncRead for ServerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain { stream, .. } => match Arc::get_mut(stream) {
                Some(s) => Pin::new(s).poll_read(cx, buf),
                None => poll_read_shared(stream, cx, buf),
            },
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain { stream, share } => {
                share.publish(stream);
                match Arc::get_mut(stream) {
                    Some(s) => Pin::new(s).poll_write(cx, buf),
                    None => poll_write_shared(stream, cx, buf),
                }
            }
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain { stream, share } => {
                share.publish(stream);
                match Arc::get_mut(stream) {
                    Some(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                    None => poll_write_vectored_shared(stream, cx, bufs),
                }
            }
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain { stream, .. } => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain { stream, .. } => match Arc::get_mut(stream) {
                Some(s) => Pin::new(s).poll_flush(cx),
                None => Poll::Ready(Ok(())),
            },
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain { stream, .. } => match Arc::get_mut(stream) {
                Some(s) => Pin::new(s).poll_shutdown(cx),
                None => Poll::Ready(shutdown_shared(stream)),
            },
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
