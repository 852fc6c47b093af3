//! [`Body`]: the one body type for requests and responses.
//!
//! A body is empty, a single buffer, hyper's incoming stream, or any boxed
//! [`http_body::Body`]. The first three never allocate beyond their data, so the
//! common cases (`"Hello"`, JSON, an incoming upload) stay cheap.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

/// The boxed error type bodies report.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type Boxed = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A request or response body.
///
/// Build one from text, bytes or JSON through `From`, from a stream with
/// [`Body::from_stream`], or wrap any [`http_body::Body`] with [`Body::new`].
pub struct Body(Inner);

enum Inner {
    Empty,
    Full(Option<Bytes>),
    Incoming(hyper::body::Incoming),
    Boxed(Boxed),
}

impl Body {
    /// An empty body (`Content-Length: 0`).
    pub const fn empty() -> Body {
        Body(Inner::Empty)
    }

    /// Wraps any body. Hyper's own incoming body is kept without boxing.
    pub fn new<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut slot = Some(body);
        if let Some(incoming) =
            (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<hyper::body::Incoming>>()
        {
            return Body(Inner::Incoming(incoming.take().expect("slot is filled")));
        }
        if let Some(body) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Body>>() {
            return body.take().expect("slot is filled");
        }
        let body = slot.take().expect("slot is filled");
        Body(Inner::Boxed(body.map_err(Into::into).boxed_unsync()))
    }

    /// A streaming body: each item of the stream is sent as one chunk
    /// (`Transfer-Encoding: chunked` on HTTP/1.1). An `Err` item aborts the response.
    pub fn from_stream<S, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        use futures_util::TryStreamExt;
        let frames = stream.map_ok(Frame::data).map_err(Into::into);
        Body(Inner::Boxed(http_body_util::StreamBody::new(frames).boxed_unsync()))
    }

    /// A file's contents as a body of exactly `len` bytes (from the file's current
    /// position). The file is read on tokio's blocking pool in 512 KiB chunks, the next
    /// chunk while the previous one is being sent, so memory stays flat (two chunks)
    /// whatever the size, and the exact length gives a `Content-Length` header (HEAD
    /// answers carry it too). A file shorter than `len` aborts the response rather than
    /// sending a truncated body as complete. Must be polled inside a tokio runtime.
    ///
    /// ```no_run
    /// # fn f() -> std::io::Result<zzz::Body> {
    /// let file = std::fs::File::open("artifact.bin")?;
    /// let len = file.metadata()?.len();
    /// Ok(zzz::Body::from_file(file, len))
    /// # }
    /// ```
    pub fn from_file(file: std::fs::File, len: u64) -> Body {
        if len == 0 {
            return Body::empty();
        }
        Body(Inner::Boxed(FileBody { file: Some(file), unrequested: len, remaining: len, next: None }.boxed_unsync()))
    }

    /// Reads the whole body into memory, failing once more than `limit` bytes arrive.
    ///
    /// The limit is enforced while reading, so a chunked body with no
    /// `Content-Length` is cut off as soon as it passes the limit.
    pub async fn collect_limited(self, limit: usize) -> Result<Bytes, BodyReadError> {
        match self.0 {
            Inner::Empty => Ok(Bytes::new()),
            Inner::Full(bytes) => {
                let bytes = bytes.unwrap_or_default();
                if bytes.len() > limit {
                    return Err(BodyReadError::TooLarge { limit });
                }
                Ok(bytes)
            }
            other => {
                let limited = http_body_util::Limited::new(Body(other), limit);
                match limited.collect().await {
                    Ok(collected) => Ok(collected.to_bytes()),
                    Err(err) => {
                        if err.is::<http_body_util::LengthLimitError>() {
                            Err(BodyReadError::TooLarge { limit })
                        } else {
                            Err(BodyReadError::Io(err.to_string()))
                        }
                    }
                }
            }
        }
    }

    /// Whether this body is known to be empty without reading it.
    pub fn is_known_empty(&self) -> bool {
        http_body::Body::is_end_stream(self)
    }

    /// The bytes of a body held in memory (built from text, bytes or JSON and not
    /// yet polled); `None` for empty, streamed and incoming bodies.
    pub fn full_bytes(&self) -> Option<&Bytes> {
        match &self.0 {
            Inner::Full(bytes) => bytes.as_ref(),
            _ => None,
        }
    }
}

/// Why reading a request body failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyReadError {
    /// More than `limit` bytes arrived.
    TooLarge {
        /// The limit that was passed, in bytes.
        limit: usize,
    },
    /// The connection failed or the client stopped sending mid-body.
    Io(String),
}

impl std::fmt::Display for BodyReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyReadError::TooLarge { limit } => {
                write!(f, "request body is larger than the limit of {limit} bytes")
            }
            BodyReadError::Io(msg) => write!(f, "failed to read the request body: {msg}"),
        }
    }
}

impl std::error::Error for BodyReadError {}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Empty => f.write_str("Body::Empty"),
            Inner::Full(b) => write!(f, "Body::Full({} bytes)", b.as_ref().map_or(0, |b| b.len())),
            Inner::Incoming(_) => f.write_str("Body::Incoming"),
            Inner::Boxed(_) => f.write_str("Body::Stream"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        if bytes.is_empty() { Body::empty() } else { Body(Inner::Full(Some(bytes))) }
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::from(Bytes::from(s))
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::from(Bytes::from(v))
    }
}

impl From<&'static [u8]> for Body {
    fn from(v: &'static [u8]) -> Self {
        Body::from(Bytes::from_static(v))
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().0 {
            Inner::Empty => Poll::Ready(None),
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Incoming(incoming) => Pin::new(incoming).poll_frame(cx).map_err(Into::into),
            Inner::Boxed(boxed) => Pin::new(boxed).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Empty => true,
            Inner::Full(bytes) => bytes.is_none(),
            Inner::Incoming(incoming) => incoming.is_end_stream(),
            Inner::Boxed(boxed) => boxed.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Empty => SizeHint::with_exact(0),
            Inner::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Incoming(incoming) => incoming.size_hint(),
            Inner::Boxed(boxed) => boxed.size_hint(),
        }
    }
}

/// The body made by [`Body::from_file`].
struct FileBody {
    /// The file, when no read is in flight.
    file: Option<std::fs::File>,
    /// Bytes not asked of the file yet.
    unrequested: u64,
    /// Bytes not yielded yet.
    remaining: u64,
    /// The read in flight on the blocking pool.
    next: Option<tokio::task::JoinHandle<(std::fs::File, std::io::Result<Bytes>)>>,
}

/// Bytes per read: large enough that the hop to the blocking pool is rare next to the
/// copying, small enough that a download holds little memory (this, plus one chunk
/// read ahead).
const FILE_CHUNK: u64 = 512 * 1024;

impl FileBody {
    fn start_read(&mut self) {
        let Some(mut file) = self.file.take() else { return };
        // At least one byte, so a file that ended early is noticed (its read is empty).
        let want = self.unrequested.clamp(1, FILE_CHUNK) as usize;
        self.unrequested = self.unrequested.saturating_sub(want as u64);
        self.next = Some(tokio::task::spawn_blocking(move || {
            // Read into uninitialised capacity (no zeroing of the chunk first); stops
            // at `want` bytes or at the end of the file, retrying interrupted reads.
            let mut buf = Vec::with_capacity(want);
            let result = std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, want as u64), &mut buf);
            (file, result.map(|_| Bytes::from(buf)))
        }));
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        if this.next.is_none() {
            this.start_read();
        }
        let Some(next) = this.next.as_mut() else { return Poll::Ready(None) };
        let (file, result) = match std::future::Future::poll(Pin::new(next), cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(done)) => done,
            Poll::Ready(Err(join)) => {
                this.next = None;
                this.remaining = 0;
                return Poll::Ready(Some(Err(join.into())));
            }
        };
        this.next = None;
        this.file = Some(file);
        match result {
            Err(err) => {
                this.remaining = 0;
                Poll::Ready(Some(Err(err.into())))
            }
            Ok(chunk) if chunk.is_empty() => {
                let missing = this.remaining;
                this.remaining = 0;
                Poll::Ready(Some(Err(format!("the file ended {missing} bytes before its declared length").into())))
            }
            Ok(chunk) => {
                this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
                if this.remaining > 0 {
                    // Read ahead while this chunk is being sent.
                    this.start_read();
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_body_streams_its_declared_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let body = Body::from_file(file, data.len() as u64);
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(200_000));
        assert_eq!(body.collect_limited(usize::MAX).await.unwrap(), data);
        let empty = Body::from_file(std::fs::File::open(&path).unwrap(), 0);
        assert!(empty.is_known_empty());
    }

    #[tokio::test]
    async fn a_file_shorter_than_declared_is_an_error_not_a_short_body() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"short").unwrap();
        let body = Body::from_file(std::fs::File::open(&path).unwrap(), 10);
        assert!(matches!(body.collect_limited(usize::MAX).await, Err(BodyReadError::Io(m)) if m.contains("5 bytes before")));
    }
}
