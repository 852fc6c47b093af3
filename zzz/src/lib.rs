//! # zzz
//!
//! A Phoenix-style web framework for Rust, on tokio and hyper.
//!
//! The request path reads like Phoenix's: a [`Server`](server) accepts connections and
//! hands each request to the [`Endpoint`]; the endpoint's plugs run, then the
//! [`router!`]-generated router matches the path, runs the [`Pipeline`] of the matched
//! scope, and calls the handler: an `async fn` whose arguments are
//! [extractors](extract) and whose result is anything [`IntoResponse`].
//!
//! ```no_run
//! use serde::Serialize;
//! use zzz::{Conn, Endpoint, HeaderValue, Json, Path};
//!
//! zzz::router! {
//!     /// The routes of this app.
//!     pub AppRouter;
//!
//!     pipeline api {
//!         plug put_api_header;
//!     }
//!
//!     get "/" => index, as: root;
//!
//!     scope "/api" {
//!         pipe_through [api];
//!         get "/users/:id" => show_user, as: user;
//!     }
//! }
//!
//! async fn index() -> &'static str {
//!     "Hello, World!"
//! }
//!
//! #[derive(Serialize)]
//! struct User { id: u64 }
//!
//! async fn show_user(Path(id): Path<u64>) -> Json<User> {
//!     Json(User { id })
//! }
//!
//! async fn put_api_header(mut conn: Conn) -> Conn {
//!     conn.put_resp_header("x-pipeline".parse().unwrap(), HeaderValue::from_static("api"));
//!     conn
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     // Typed path helpers: a wrong number of parameters does not compile.
//!     assert_eq!(AppRouter::user_path(42), "/api/users/42");
//!     let endpoint = Endpoint::new(AppRouter::new());
//!     zzz::Server::from_env_or_bind(zzz::ServerConfig::from_env()?)?
//!         .serve(endpoint)
//!         .await
//! }
//! ```
//!
//! Crates beside this one: `zzz_db` (Ecto-like data layer), `zzz_jobs` (Oban-like
//! jobs), `zzz_cli` (the `zzz` command).

#![warn(missing_docs)]

pub mod body;
pub mod channels;
pub mod config;
pub mod conn;
#[cfg(feature = "db")]
pub mod db;
pub mod endpoint;
pub mod extract;
pub mod handler;
pub mod html;
#[cfg(feature = "jobs")]
pub mod jobs;
pub mod live_reload;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod plug;
pub mod plugs;
pub mod presence;
pub mod pubsub;
pub mod response;
pub mod router;
pub mod server;
#[cfg(feature = "templates")]
pub mod template;
pub mod test;

pub use body::Body;
pub use bytes::Bytes;
pub use conn::{Conn, Params};
pub use endpoint::Endpoint;
pub use extract::{Assign, FromConn, FromConnParts, Json, Path, Query, State};
pub use handler::Handler;
pub use plug::{Pipeline, Plug};
pub use response::{Html, IntoResponse, Redirect, Response};
pub use router::{RouteInfo, Router};
pub use server::{ConnectInfo, Server, ServerConfig, Shutdown};
#[cfg(feature = "tls")]
pub use server::{TlsConfig, TlsError};

pub use http::{self, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

/// Compiles a route list into a router type. See the [`router`](mod@router) module for
/// the full syntax.
pub use zzz_macros::router;

#[doc(hidden)]
pub use router::__private;
