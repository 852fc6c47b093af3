//! Extractors: typed arguments of handlers.
//!
//! A handler is an `async fn` whose arguments are extractors. Each argument but the
//! last implements [`FromConnParts`] (it reads the conn without consuming the body);
//! the last may implement [`FromConn`] and take the whole conn, body included.
//!
//! ```
//! use serde::Deserialize;
//! use zzz::{Json, Path, Query};
//!
//! #[derive(Deserialize)]
//! struct Paging { page: Option<u32> }
//!
//! #[derive(Deserialize)]
//! struct NewComment { body: String }
//!
//! async fn create_comment(Path(post_id): Path<u64>, Query(paging): Query<Paging>, Json(new): Json<NewComment>) -> String {
//!     format!("post {post_id}, page {:?}: {}", paging.page, new.body)
//! }
//! ```
//!
//! When an extractor fails, the handler does not run: the extractor's rejection is
//! the response, a 4xx whose message names the parameter and what was wrong (see
//! [`rejection`]).

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use crate::conn::Conn;
use crate::response::IntoResponse;

mod json;
mod path;
mod query;
pub mod rejection;
mod state;

pub use json::Json;
pub use path::Path;
pub use query::Query;
pub use state::{Assign, State};

use rejection::{BytesRejection, StringRejection};

/// An extractor that reads the conn without taking its body. Any argument of a
/// handler may be one.
///
/// ```
/// use zzz::{Conn, FromConnParts, StatusCode};
///
/// /// The caller's API key, from the `x-api-key` header.
/// struct ApiKey(String);
///
/// impl FromConnParts for ApiKey {
///     type Rejection = (StatusCode, &'static str);
///
///     async fn from_conn_parts(conn: &mut Conn) -> Result<Self, Self::Rejection> {
///         conn.header("x-api-key")
///             .map(|key| ApiKey(key.to_owned()))
///             .ok_or((StatusCode::UNAUTHORIZED, "header \"x-api-key\" is missing"))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be extracted from a conn",
    note = "handler arguments must implement `FromConnParts`; only the last argument may implement `FromConn` (it takes the body)"
)]
pub trait FromConnParts: Sized {
    /// The response sent when extraction fails.
    type Rejection: IntoResponse;

    /// Extracts the value.
    fn from_conn_parts(conn: &mut Conn) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

/// An extractor that consumes the conn, body included. Only the last argument of a
/// handler may be one.
///
/// The `M` parameter lets every [`FromConnParts`] type be used as a `FromConn` too;
/// implementors leave it at its default.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be extracted from a conn",
    note = "the last handler argument must implement `FromConn` or `FromConnParts`"
)]
pub trait FromConn<M = private::ViaConn>: Sized {
    /// The response sent when extraction fails.
    type Rejection: IntoResponse;

    /// Extracts the value.
    fn from_conn(conn: Conn) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

/// Marker types that keep the two extractor traits coherent.
pub mod private {
    /// Marks a [`FromConn`](super::FromConn) impl of its own.
    #[derive(Debug, Clone, Copy)]
    pub enum ViaConn {}
    /// Marks a [`FromConn`](super::FromConn) impl that comes from [`FromConnParts`](super::FromConnParts).
    #[derive(Debug, Clone, Copy)]
    pub enum ViaParts {}
}

impl<T: FromConnParts + Send> FromConn<private::ViaParts> for T {
    type Rejection = <T as FromConnParts>::Rejection;

    async fn from_conn(mut conn: Conn) -> Result<Self, Self::Rejection> {
        T::from_conn_parts(&mut conn).await
    }
}

impl FromConn for Conn {
    type Rejection = Infallible;

    async fn from_conn(conn: Conn) -> Result<Self, Infallible> {
        Ok(conn)
    }
}

impl FromConnParts for Method {
    type Rejection = Infallible;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, Infallible> {
        Ok(conn.method().clone())
    }
}

impl FromConnParts for Uri {
    type Rejection = Infallible;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, Infallible> {
        Ok(conn.uri().clone())
    }
}

impl FromConnParts for HeaderMap {
    type Rejection = Infallible;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, Infallible> {
        Ok(conn.headers().clone())
    }
}

impl<T: FromConnParts + Send> FromConnParts for Option<T> {
    type Rejection = Infallible;

    /// `None` when the inner extractor rejects.
    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, Infallible> {
        Ok(T::from_conn_parts(conn).await.ok())
    }
}

impl FromConn for Bytes {
    type Rejection = BytesRejection;

    /// The whole body, up to the endpoint's body limit.
    async fn from_conn(mut conn: Conn) -> Result<Self, BytesRejection> {
        conn.read_body().await.map_err(BytesRejection::from)
    }
}

impl FromConn for String {
    type Rejection = StringRejection;

    /// The whole body as UTF-8 text, up to the endpoint's body limit.
    async fn from_conn(mut conn: Conn) -> Result<Self, StringRejection> {
        let bytes = conn.read_body().await.map_err(|e| StringRejection::Body(e.into()))?;
        String::from_utf8(bytes.to_vec()).map_err(|e| StringRejection::InvalidUtf8 { valid_up_to: e.utf8_error().valid_up_to() })
    }
}
