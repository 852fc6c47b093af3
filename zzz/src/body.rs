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
