//! Responses: [`IntoResponse`] and the small types handlers return.
//!
//! A handler returns anything that implements [`IntoResponse`]: text, [`Html`],
//! [`Json`](crate::Json), bytes, a [`Body`] stream, a [`Redirect`], a [`StatusCode`],
//! a `(StatusCode, T)` pair, a `Result` of two responses, or the [`Conn`](crate::Conn) itself.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use crate::body::Body;

/// The response type of zzz: an [`http::Response`] with a zzz [`Body`].
pub type Response = http::Response<Body>;

/// Turns a value into a response. Implement it for your own error types so a
/// handler can return `Result<T, MyError>`.
///
/// ```
/// use zzz::{IntoResponse, Response, StatusCode};
///
/// enum AppError { NotFound(u64) }
///
/// impl IntoResponse for AppError {
///     fn into_response(self) -> Response {
///         match self {
///             AppError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no user with id {id}")).into_response(),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be turned into a response",
    label = "handlers must return a type that implements `IntoResponse`",
    note = "text, `Html`, `Json`, `Bytes`, `Body`, `Redirect`, `StatusCode`, `(StatusCode, T)`, `Result<T, E>` and `Conn` all do"
)]
pub trait IntoResponse {
    /// Makes the response.
    fn into_response(self) -> Response;
}

static TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
static TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
static OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");

fn with_content_type(body: Body, content_type: &HeaderValue) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(header::CONTENT_TYPE, content_type.clone());
    response
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(Body::empty())
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), &TEXT_PLAIN)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), &TEXT_PLAIN)
    }
}

impl IntoResponse for std::borrow::Cow<'static, str> {
    fn into_response(self) -> Response {
        match self {
            std::borrow::Cow::Borrowed(s) => s.into_response(),
            std::borrow::Cow::Owned(s) => s.into_response(),
        }
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), &OCTET_STREAM)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Bytes::from(self).into_response()
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response {
        Bytes::from_static(self).into_response()
    }
}

impl IntoResponse for StatusCode {
    /// An empty response with this status.
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self;
        response
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, http::HeaderMap, T) {
    fn into_response(self) -> Response {
        let mut response = self.2.into_response();
        *response.status_mut() = self.0;
        response.headers_mut().extend(self.1);
        response
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into_response(),
        }
    }
}

impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}

/// An HTML response (`text/html; charset=utf-8`).
///
/// ```
/// use zzz::Html;
/// async fn page() -> Html<&'static str> {
///     Html("<h1>Hello</h1>")
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Html<T>(pub T);

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        with_content_type(self.0.into(), &TEXT_HTML)
    }
}

/// A redirect to another location.
///
/// ```
/// use zzz::Redirect;
/// async fn old_home() -> Redirect {
///     Redirect::to("/")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Redirect {
    status: StatusCode,
    location: HeaderValue,
}

impl Redirect {
    /// `302 Found`, as Phoenix's `redirect(conn, to: path)`.
    pub fn to(location: &str) -> Redirect {
        Redirect::with_status(StatusCode::FOUND, location)
    }

    /// `303 See Other`: after a form POST, the browser follows with a GET.
    pub fn see_other(location: &str) -> Redirect {
        Redirect::with_status(StatusCode::SEE_OTHER, location)
    }

    /// `307 Temporary Redirect`: the client repeats the same method and body.
    pub fn temporary(location: &str) -> Redirect {
        Redirect::with_status(StatusCode::TEMPORARY_REDIRECT, location)
    }

    /// `308 Permanent Redirect`: as 307, and clients may remember it.
    pub fn permanent(location: &str) -> Redirect {
        Redirect::with_status(StatusCode::PERMANENT_REDIRECT, location)
    }

    fn with_status(status: StatusCode, location: &str) -> Redirect {
        // A location with bytes that are not valid in a header is percent-encoded
        // rather than rejected, so a redirect never panics.
        let location = HeaderValue::from_str(location).unwrap_or_else(|_| {
            let encoded = percent_encoding::utf8_percent_encode(location, percent_encoding::CONTROLS).to_string();
            HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static("/"))
        });
        Redirect { status, location }
    }
}

impl IntoResponse for Redirect {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.headers_mut().insert(header::LOCATION, self.location);
        response
    }
}

/// A plain-text error response used by every rejection and error page, logged once.
pub(crate) fn error_response(status: StatusCode, message: String) -> Response {
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), %message, "request failed");
    } else {
        tracing::info!(status = status.as_u16(), %message, "request rejected");
    }
    let mut response = with_content_type(Body::from(message), &TEXT_PLAIN);
    *response.status_mut() = status;
    response
}
