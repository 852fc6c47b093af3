//! [`BodyLimit`]: a smaller request body limit for one scope or pipeline.

use http::{HeaderValue, StatusCode, header};

use crate::conn::Conn;
use crate::plug::Plug;

/// Lowers the request body limit for the requests that pass through it, as
/// `Plug.Parsers`' per-parser `:length`.
///
/// The endpoint's limit ([`Endpoint::max_body_bytes`](crate::Endpoint::max_body_bytes))
/// is the largest body any route accepts; an app with a few upload routes sets it
/// high there and pipes its other scopes through a `BodyLimit`, so a JSON route can
/// never be made to buffer an upload-sized body. A declared `Content-Length` over the
/// limit is answered `413` at once (the body is never read); a chunked body is cut off
/// by the extractors and parsers, which all read under
/// [`Conn::max_body_bytes`].
///
/// ```
/// use zzz::Pipeline;
/// use zzz::plugs::BodyLimit;
///
/// // Uploads may be 10 GB (the endpoint's limit); the JSON API takes 64 KiB.
/// let api = Pipeline::new().plug(BodyLimit::new(64 * 1024));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    limit: usize,
}

impl BodyLimit {
    /// A limit of `bytes` (capped to the endpoint's limit).
    pub fn new(bytes: usize) -> BodyLimit {
        BodyLimit { limit: bytes }
    }
}

impl Plug for BodyLimit {
    async fn call(&self, mut conn: Conn) -> Conn {
        conn.put_max_body_bytes(self.limit);
        let limit = conn.max_body_bytes();
        let declared = conn.header(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if let Some(declared) = declared
            && declared > limit as u64
        {
            let message = format!("request body of {declared} bytes is larger than the limit of {limit} bytes");
            tracing::info!(status = 413, %message, "request rejected");
            conn.put_resp_header(header::CONNECTION, HeaderValue::from_static("close"));
            conn.send_resp(StatusCode::PAYLOAD_TOO_LARGE, message).halt();
        }
        conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IntoResponse;

    fn request(len: usize) -> Conn {
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-length", len)
            .body(crate::Body::from(vec![b'x'; len]))
            .unwrap();
        Conn::from_request(req)
    }

    #[tokio::test]
    async fn refuses_a_declared_length_over_the_limit() {
        let conn = BodyLimit::new(10).call(request(11)).await;
        assert!(conn.halted());
        assert_eq!(conn.into_response().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn extractors_read_under_the_lower_limit() {
        let mut conn = BodyLimit::new(10).call(request(10)).await;
        assert!(!conn.halted());
        assert_eq!(conn.max_body_bytes(), 10);
        assert_eq!(conn.read_body().await.unwrap().len(), 10);
    }

    #[tokio::test]
    async fn never_raises_the_endpoint_limit() {
        let mut conn = request(1);
        conn.put_max_body_bytes(usize::MAX);
        assert_eq!(conn.max_body_bytes(), crate::conn::DEFAULT_MAX_BODY_BYTES);
    }
}
