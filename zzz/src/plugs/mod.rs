//! The browser and API plugs: what Phoenix apps get from Plug and Phoenix.
//!
//! Every plug here is a [`Plug`](crate::Plug) (or a tower layer) usable in any
//! pipeline or on the endpoint, and every per-request value is an extractor.
//!
//! | Phoenix / Plug | zzz | does the work |
//! |---|---|---|
//! | `Plug.Parsers`, `conn.params` | [`Parsers`], [`Form`], [`BodyParams`], [`MergedParams`] | serde_json, form_urlencoded, multer + tempfile |
//! | `Plug.Parsers`' `:length` per scope | [`BodyLimit`] | zzz |
//! | `fetch_cookies` | [`Cookies`], [`SignedCookies`], [`PrivateCookies`] | `cookie` (HMAC-SHA256, AES-256-GCM), ring (PBKDF2) |
//! | `Plug.Session` + `fetch_flash` | [`CookieSession`], [`Session`], [`Flash`] | `cookie` |
//! | `protect_from_forgery` | [`CsrfProtection`], [`CsrfToken`] | zzz |
//! | `Plug.Static` | [`Static`] | tower-http `ServeDir` (+ zzz ETags, cache headers, path checks) |
//! | compression, CORS | [`layers::compression()`], [`layers::cors`] | tower-http |
//! | `Plug.RequestId` | the endpoint ([`Endpoint::request_ids`](crate::Endpoint::request_ids)) | zzz |
//! | `Plug.Logger`, `Plug.Telemetry` | [`Logger`], [`Telemetry`] | tracing |
//! | `put_secure_browser_headers` | [`SecureHeaders`] | zzz |
//! | `Plug.MethodOverride` | [`MethodOverride`] | zzz |
//! | `accepts` | [`Accepts`], [`Format`] | zzz |
//! | `Plug.BasicAuth`, bearer tokens | [`BasicAuth`], [`BearerToken`], [`RequireBasicAuth`], [`RequireBearer`] | zzz |
//! | JWT (Guardian, Joken) | [`Jwt`], [`JwtVerifier`], [`RequireJwt`] | jsonwebtoken (ring) |
//! | rate limiting (Hammer, PlugAttack) | [`RateLimit`] | zzz's token bucket |
//!
//! A typical browser stack, in Phoenix's order:
//!
//! ```
//! use zzz::Pipeline;
//! use zzz::plugs::{CookieSession, CsrfProtection, Parsers, SecretKeyBase};
//!
//! let browser = Pipeline::new()
//!     .plug(Parsers::new())
//!     .plug(CookieSession::new().secret(&SecretKeyBase::generate()))
//!     .plug(CsrfProtection::new());
//! ```
#![doc = include_str!("../../docs/plugs.md")]

pub mod auth;
pub mod body_limit;
pub mod cookies;
pub mod csrf;
pub mod headers;
#[cfg(feature = "jwt")]
pub mod jwt;
pub mod layers;
#[cfg(feature = "multipart")]
mod multipart;
pub mod params;
pub mod observe;
pub mod parsers;
pub mod rate_limit;
pub mod session;
#[cfg(feature = "static-files")]
pub mod static_files;

pub use cookies::{Cookie, Cookies, Key, PrivateCookies, SameSite, SecretKeyBase, SignedCookies};
pub use csrf::{CsrfProtection, CsrfToken, OnInvalidCsrf};
pub use params::{Param, Upload};
pub use parsers::{BodyParams, Form, MergedParams, Parsers};
pub use session::{CookieSession, Flash, Session, SessionProtection};
pub use body_limit::BodyLimit;
pub use auth::{AuthRejection, BasicAuth, BearerToken, RequireBasicAuth, RequireBearer};
pub use headers::{Accepts, Format, MethodOverride, SecureHeaders};
#[cfg(feature = "jwt")]
pub use jwt::{Jwt, JwtClaims, JwtKey, JwtVerifier, RequireJwt};
pub use observe::{LogFormat, Logger, Telemetry, TelemetryEvent};
pub use rate_limit::RateLimit;
#[cfg(feature = "static-files")]
pub use static_files::Static;

/// Halts a conn with a ready response: its status, headers and body become the conn's,
/// and nothing after the calling plug runs. For plugs that refuse a request with an
/// extractor's rejection or any other [`IntoResponse`](crate::IntoResponse).
///
/// ```
/// use zzz::{Conn, StatusCode};
/// use zzz::plugs::halt_with;
///
/// async fn maintenance(conn: Conn) -> Conn {
///     halt_with(conn, (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance"))
/// }
/// ```
pub fn halt_with(mut conn: crate::Conn, response: impl crate::IntoResponse) -> crate::Conn {
    let (parts, body) = response.into_response().into_parts();
    for (name, value) in parts.headers.iter() {
        conn.put_resp_header(name.clone(), value.clone());
    }
    conn.send_resp(parts.status, body).halt();
    conn
}
