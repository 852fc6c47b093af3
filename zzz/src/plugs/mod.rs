//! The browser and API plugs: what Phoenix apps get from Plug and Phoenix.
//!
//! Every plug here is a [`Plug`](crate::Plug) (or a tower layer) usable in any
//! pipeline or on the endpoint, and every per-request value is an extractor.
//!
//! | Phoenix / Plug | zzz | does the work |
//! |---|---|---|
//! | `Plug.Parsers` | [`Parsers`], [`Form`], [`BodyParams`] | serde_json, form_urlencoded, multer + tempfile |
//! | `fetch_cookies` | [`Cookies`], [`SignedCookies`], [`PrivateCookies`] | `cookie` (HMAC-SHA256, AES-256-GCM), ring (PBKDF2) |
//! | `Plug.Session` + `fetch_flash` | [`CookieSession`], [`Session`], [`Flash`] | `cookie` |
//! | `protect_from_forgery` | [`CsrfProtection`], [`CsrfToken`] | zzz |
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

pub mod cookies;
pub mod csrf;
#[cfg(feature = "multipart")]
mod multipart;
pub mod params;
pub mod parsers;
pub mod session;

pub use cookies::{Cookie, Cookies, Key, PrivateCookies, SameSite, SecretKeyBase, SignedCookies};
pub use csrf::{CsrfProtection, CsrfToken, OnInvalidCsrf};
pub use params::{Param, Upload};
pub use parsers::{BodyParams, Form, Parsers};
pub use session::{CookieSession, Flash, Session, SessionProtection};
