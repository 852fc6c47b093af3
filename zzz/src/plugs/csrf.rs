//! CSRF protection (`Plug.CSRFProtection`): a token per session, masked anew each
//! time it is rendered, checked on `POST`, `PUT`, `PATCH` and `DELETE` from the
//! `_csrf_token` form field or the `x-csrf-token` header.
//!
//! ```
//! use zzz::{Html, Pipeline};
//! use zzz::plugs::{CookieSession, CsrfProtection, CsrfToken, Parsers, SecretKeyBase};
//!
//! let browser = Pipeline::new()
//!     .plug(Parsers::new())
//!     .plug(CookieSession::new().secret(&SecretKeyBase::generate()))
//!     .plug(CsrfProtection::new());
//!
//! async fn form(csrf: CsrfToken) -> Html<String> {
//!     Html(format!(
//!         r#"<form method="post" action="/notes">{}<input name="body"><button>Save</button></form>"#,
//!         csrf.hidden_input()
//!     ))
//! }
//! ```

use base64::Engine;
use http::{Method, StatusCode};

use super::cookies::{constant_time_eq, random_bytes};
use super::parsers::{BodyParams, Parsers};
use super::session::{CSRF_KEY, MissingSession, Session};
use crate::conn::Conn;
use crate::extract::FromConnParts;
use crate::plug::Plug;
use crate::response::{IntoResponse, Response, error_response};

const TOKEN_BYTES: usize = 18;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The form field the token is read from.
pub const CSRF_FIELD: &str = "_csrf_token";
/// The header the token is read from.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Why [`CsrfProtection`] refused a request: 403 with a message that says what to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrfRejection {
    /// No token in the form nor the header.
    Missing,
    /// A token was sent but does not belong to this session (forged, stale after a
    /// new session, or mangled).
    Invalid,
    /// The session plug did not run before CSRF protection (500: an app bug).
    NoSession,
}

impl CsrfRejection {
    /// 403, or 500 for a missing session plug.
    pub fn status(&self) -> StatusCode {
        match self {
            CsrfRejection::NoSession => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

impl std::fmt::Display for CsrfRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsrfRejection::Missing => write!(
                f,
                "missing CSRF token: send the form field \"{CSRF_FIELD}\" or the \"{CSRF_HEADER}\" header with the token of the page"
            ),
            CsrfRejection::Invalid => write!(
                f,
                "invalid CSRF token: the \"{CSRF_FIELD}\" field or \"{CSRF_HEADER}\" header does not match this session; reload the page and try again"
            ),
            CsrfRejection::NoSession => {
                f.write_str("CSRF protection needs the session: plug `zzz::plugs::CookieSession` before `CsrfProtection`")
            }
        }
    }
}

impl std::error::Error for CsrfRejection {}

impl IntoResponse for CsrfRejection {
    fn into_response(self) -> Response {
        error_response(self.status(), self.to_string())
    }
}

/// What to do with a request whose token is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalidCsrf {
    /// Halt with 403 (the default).
    Forbid,
    /// Clear the session and let the request go on (Plug's `with: :clear_session`),
    /// so it runs as if the user were logged out.
    ClearSession,
}

/// The CSRF protection plug. Needs [`CookieSession`](super::CookieSession) before it.
/// `GET`, `HEAD` and `OPTIONS` pass; other methods need the session's token.
///
/// When no body parser ran, it parses urlencoded and multipart bodies itself (with
/// [`Parsers`]' default limits) to find the `_csrf_token` field.
#[derive(Debug, Clone)]
pub struct CsrfProtection {
    on_invalid: OnInvalidCsrf,
}

impl Default for CsrfProtection {
    fn default() -> Self {
        CsrfProtection::new()
    }
}

impl CsrfProtection {
    /// Refuses bad tokens with 403.
    pub fn new() -> CsrfProtection {
        CsrfProtection { on_invalid: OnInvalidCsrf::Forbid }
    }

    /// What to do on a bad token.
    pub fn on_invalid(mut self, on_invalid: OnInvalidCsrf) -> CsrfProtection {
        self.on_invalid = on_invalid;
        self
    }

    fn check(&self, conn: &Conn) -> Result<(), CsrfRejection> {
        let session = Session::from_conn(conn).ok_or(CsrfRejection::NoSession)?;
        let sent = match conn.header(CSRF_HEADER) {
            Some(header) => Some(header),
            None => conn.assigns::<BodyParams>().and_then(|p| p.get_str(CSRF_FIELD)),
        };
        let sent = sent.ok_or(CsrfRejection::Missing)?;
        let expected = session.raw_get_string(CSRF_KEY).ok_or(CsrfRejection::Invalid)?;
        if valid_masked_token(sent, &expected) { Ok(()) } else { Err(CsrfRejection::Invalid) }
    }
}

impl Plug for CsrfProtection {
    async fn call(&self, mut conn: Conn) -> Conn {
        if matches!(*conn.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return conn;
        }
        if conn.header(CSRF_HEADER).is_none()
            && conn.assigns::<BodyParams>().is_none()
            && let Err(rejection) = Parsers::new().parse_into(&mut conn).await
        {
            return super::halt_with(conn, rejection.into_response());
        }
        match self.check(&conn) {
            Ok(()) => conn,
            Err(CsrfRejection::NoSession) => super::halt_with(conn, CsrfRejection::NoSession.into_response()),
            Err(rejection) => match self.on_invalid {
                OnInvalidCsrf::Forbid => super::halt_with(conn, rejection.into_response()),
                OnInvalidCsrf::ClearSession => {
                    if let Some(session) = Session::from_conn(&conn) {
                        session.clear();
                    }
                    conn
                }
            },
        }
    }
}

/// Masks a token: a fresh random mask, then the token XORed with it, in base64.
fn mask(token: &[u8]) -> String {
    let mask: [u8; TOKEN_BYTES] = random_bytes();
    let mut out = Vec::with_capacity(TOKEN_BYTES * 2);
    out.extend_from_slice(&mask);
    out.extend(token.iter().zip(mask.iter()).map(|(t, m)| t ^ m));
    B64.encode(out)
}

fn valid_masked_token(sent: &str, expected: &str) -> bool {
    let (Ok(sent), Ok(expected)) = (B64.decode(sent.trim()), B64.decode(expected)) else {
        return false;
    };
    if sent.len() != expected.len() * 2 {
        return false;
    }
    let (mask, masked) = sent.split_at(expected.len());
    let unmasked: Vec<u8> = masked.iter().zip(mask).map(|(a, b)| a ^ b).collect();
    constant_time_eq(&unmasked, &expected)
}

/// The session's CSRF token for a page, masked anew for this render (so it never
/// shows up the same twice, against BREACH). Made and stored in the session the first
/// time it is asked for.
///
/// ```
/// use zzz::Html;
/// use zzz::plugs::CsrfToken;
///
/// async fn page(csrf: CsrfToken) -> Html<String> {
///     Html(format!(r#"<meta name="csrf-token" content="{}">"#, csrf.value()))
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl CsrfToken {
    /// The token of a conn's session (needs [`CookieSession`](super::CookieSession)).
    pub fn from_conn(conn: &Conn) -> Option<CsrfToken> {
        let session = Session::from_conn(conn)?;
        Some(CsrfToken::for_session(&session))
    }

    /// The token of a session, masked.
    pub fn for_session(session: &Session) -> CsrfToken {
        let token = match session.raw_get_string(CSRF_KEY).and_then(|t| B64.decode(t).ok()) {
            Some(raw) if raw.len() == TOKEN_BYTES => raw,
            _ => {
                let raw: [u8; TOKEN_BYTES] = random_bytes();
                session.raw_put_string(CSRF_KEY, B64.encode(raw));
                raw.to_vec()
            }
        };
        CsrfToken(mask(&token))
    }

    /// The masked token, for a `<meta>` tag or the `x-csrf-token` header.
    pub fn value(&self) -> &str {
        &self.0
    }

    /// `<input type="hidden" name="_csrf_token" value="…">` for a form (the token is
    /// base64url, so it needs no escaping).
    pub fn hidden_input(&self) -> String {
        format!(r#"<input type="hidden" name="{CSRF_FIELD}" value="{}">"#, self.0)
    }
}

impl std::fmt::Display for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromConnParts for CsrfToken {
    type Rejection = MissingSession;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, MissingSession> {
        CsrfToken::from_conn(conn).ok_or(MissingSession)
    }
}
