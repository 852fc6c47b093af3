//! askama templates as responses, the page context templates need (flash, CSRF
//! token, request path), and error pages.
//!
//! askama compiles templates into Rust at build time and escapes HTML by default
//! (`{{ user_input }}` is safe; `{{ trusted_html|safe }}` is not escaped). Layouts are
//! askama's `{% extends "layouts/root.html" %}` and `{% block %}`: a root layout, and
//! per-controller layouts that extend it; partials are `{% include %}`, components are
//! `{% macro %}`s. Path helpers are plain functions, callable from a template:
//! `{{ crate::AppRouter::note_path(note.id) }}`.
//!
//! ```
//! use zzz::template::askama::Template;
//! use zzz::template::{Page, PageContext};
//!
//! zzz::router! { pub AppRouter; get "/notes" => index, as: notes; }
//!
//! // Usually `#[template(path = "notes/index.html")]`, a file under `templates/` that
//! // starts with `{% extends "layouts/app.html" %}`.
//! #[derive(Template)]
//! #[template(askama = zzz::template::askama, ext = "html", source = r#"
//!   {% if let Some(info) = ctx.flash("info") %}<p class="flash">{{ info }}</p>{% endif %}
//!   <form method="post" action="{{ AppRouter::notes_path() }}">
//!     {{ ctx.csrf_input()|safe }}
//!     <input name="body"><button>Add</button>
//!   </form>
//!   <ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>"#)]
//! struct NotesIndex { ctx: PageContext, notes: Vec<String> }
//!
//! async fn index(ctx: PageContext) -> Page<NotesIndex> {
//!     Page(NotesIndex { ctx, notes: vec!["<escaped>".into()] })
//! }
//! ```

use std::cell::RefCell;
use std::sync::{Arc, Once};

use http::{HeaderValue, StatusCode, header};

pub use askama;

use crate::body::Body;
use crate::conn::Conn;
use crate::extract::FromConnParts;
use crate::plug::Plug;
use crate::plugs::{CsrfToken, Flash};
use crate::response::{IntoResponse, Response, error_response};
use crate::html::escape;

/// A template as a response: rendered, `200 OK`, `text/html; charset=utf-8`. A
/// rendering error is a 500 naming the template type. Pair it with a status for
/// other codes: `(StatusCode::NOT_FOUND, Page(t))`.
#[derive(Debug, Clone)]
pub struct Page<T>(pub T);

impl<T: askama::Template> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        match self.0.render() {
            Ok(html) => {
                let mut response = Response::new(Body::from(html));
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
                response
            }
            Err(err) => error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("rendering template `{}` failed: {err}", std::any::type_name::<T>()),
            ),
        }
    }
}

/// What every page template needs from the request: flash messages, a masked CSRF
/// token (when the session plug ran), the request path and id.
#[derive(Debug, Clone, Default)]
pub struct PageContext {
    /// Flash messages as `(kind, message)`.
    pub flash: Vec<(String, String)>,
    /// The masked CSRF token (empty without a session).
    pub csrf_token: String,
    /// The request path.
    pub path: String,
    /// The request id, if any.
    pub request_id: Option<String>,
}

impl PageContext {
    /// The context of a conn.
    pub fn from_conn(conn: &Conn) -> PageContext {
        PageContext {
            flash: Flash::from_conn(conn).map(|f| f.all()).unwrap_or_default(),
            csrf_token: CsrfToken::from_conn(conn).map(|t| t.value().to_owned()).unwrap_or_default(),
            path: conn.path().to_owned(),
            request_id: conn.request_id().map(str::to_owned),
        }
    }

    /// The flash message of a kind.
    pub fn flash(&self, kind: &str) -> Option<&str> {
        self.flash.iter().find(|(k, _)| k == kind).map(|(_, m)| m.as_str())
    }

    /// The hidden form field with the CSRF token (use with `|safe`; the token is
    /// base64url and needs no escaping).
    pub fn csrf_input(&self) -> String {
        format!(r#"<input type="hidden" name="_csrf_token" value="{}">"#, self.csrf_token)
    }

    /// A `<meta name="csrf-token">` tag for scripts that send `x-csrf-token`.
    pub fn csrf_meta(&self) -> String {
        format!(r#"<meta name="csrf-token" content="{}">"#, self.csrf_token)
    }
}

impl FromConnParts for PageContext {
    type Rejection = std::convert::Infallible;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, Self::Rejection> {
        Ok(PageContext::from_conn(conn))
    }
}

// ----- error pages -----

/// What an error page is rendered from.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// The status.
    pub status: StatusCode,
    /// The error message (what the plain-text error said).
    pub message: String,
    /// Request method.
    pub method: String,
    /// Request path and query.
    pub uri: String,
    /// Request headers (debug pages show them).
    pub headers: Vec<(String, String)>,
    /// The request id, if any.
    pub request_id: Option<String>,
    /// The panic message and backtrace, when the request panicked in debug mode.
    pub backtrace: Option<String>,
}

type Renderer = Arc<dyn Fn(&ErrorInfo) -> Option<String> + Send + Sync>;

/// Renders error responses (4xx and 5xx with zzz's plain-text messages) as HTML pages
/// for clients that accept HTML; API clients keep the plain text.
///
/// In production ([`ErrorPages::new`]) the page shows the status and, for 4xx, the
/// message; a 500 never shows internals. In development ([`ErrorPages::debug`]) it shows
/// the error, the request (method, path, headers) and, for a panic, its backtrace. Give
/// your own templates with [`render_with`](ErrorPages::render_with).
///
/// ```
/// use askama::Template;
/// use zzz::Endpoint;
/// use zzz::template::{ErrorInfo, ErrorPages};
///
/// #[derive(Template)]
/// #[template(source = "<h1>{{ status }}</h1><p>{{ message }}</p>", ext = "html")]
/// struct ErrorPage { status: u16, message: String }
///
/// zzz::router! { pub AppRouter; get "/" => index; }
/// async fn index() -> &'static str { "home" }
///
/// let dev = std::env::var("ZZZ_ENV").map_or(true, |env| env == "dev");
/// let pages = if dev { ErrorPages::debug() } else { ErrorPages::new() }
///     .render_with(|info: &ErrorInfo| {
///         ErrorPage { status: info.status.as_u16(), message: info.message.clone() }.render().ok()
///     });
/// let endpoint = Endpoint::new(AppRouter::new()).plug(pages);
/// ```
#[derive(Clone)]
pub struct ErrorPages {
    debug: bool,
    renderer: Option<Renderer>,
}

impl std::fmt::Debug for ErrorPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorPages").field("debug", &self.debug).finish_non_exhaustive()
    }
}

thread_local! {
    static LAST_PANIC_BACKTRACE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static PANIC_HOOK: Once = Once::new();

fn install_backtrace_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let backtrace = std::backtrace::Backtrace::force_capture();
            LAST_PANIC_BACKTRACE.with(|slot| *slot.borrow_mut() = Some(format!("{info}\n\n{backtrace}")));
            previous(info);
        }));
    });
}

impl ErrorPages {
    /// Production pages: status and (for 4xx) the message.
    pub fn new() -> ErrorPages {
        ErrorPages { debug: false, renderer: None }
    }

    /// Development pages: the error, the request and a panic's backtrace. Installs a
    /// panic hook (once per process, chained to the previous one) that records
    /// backtraces.
    pub fn debug() -> ErrorPages {
        install_backtrace_hook();
        ErrorPages { debug: true, renderer: None }
    }

    /// Renders pages with your own function (an askama template, say); `None` falls
    /// back to the built-in page.
    pub fn render_with(mut self, render: impl Fn(&ErrorInfo) -> Option<String> + Send + Sync + 'static) -> ErrorPages {
        self.renderer = Some(Arc::new(render));
        self
    }

    fn builtin(&self, info: &ErrorInfo) -> String {
        let title = format!("{} {}", info.status.as_u16(), info.status.canonical_reason().unwrap_or("Error"));
        let mut body = format!("<h1>{}</h1>", escape(&title));
        if self.debug {
            body.push_str(&format!("<pre class=\"message\">{}</pre>", escape(&info.message)));
            body.push_str(&format!("<h2>Request</h2><p><code>{} {}</code>", escape(&info.method), escape(&info.uri)));
            if let Some(id) = &info.request_id {
                body.push_str(&format!(" (request id <code>{}</code>)", escape(id)));
            }
            body.push_str("</p><table>");
            for (name, value) in &info.headers {
                body.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", escape(name), escape(value)));
            }
            body.push_str("</table>");
            if let Some(backtrace) = &info.backtrace {
                body.push_str(&format!("<h2>Backtrace</h2><pre class=\"backtrace\">{}</pre>", escape(backtrace)));
            }
        } else if info.status.is_client_error() {
            body.push_str(&format!("<p>{}</p>", escape(&info.message)));
        } else {
            body.push_str("<p>Something went wrong on our side. Please try again later.</p>");
        }
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{body}</body></html>",
            escape(&title)
        )
    }
}

impl Default for ErrorPages {
    fn default() -> Self {
        ErrorPages::new()
    }
}


fn accepts_html(conn: &Conn) -> bool {
    conn.header(header::ACCEPT).is_some_and(|accept| accept.contains("text/html"))
}

/// Reads a small body that is already in memory without waiting; `None` otherwise.
fn read_ready_body(body: &mut Body) -> Option<String> {
    use futures_util::FutureExt;
    use http_body_util::BodyExt;
    let exact = http_body::Body::size_hint(body).exact()?;
    if exact > 64 * 1024 {
        return None;
    }
    let mut out = Vec::with_capacity(exact as usize);
    loop {
        match body.frame().now_or_never()? {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Some(Err(_)) => return None,
        }
    }
    String::from_utf8(out).ok()
}

impl Plug for ErrorPages {
    async fn call(&self, mut conn: Conn) -> Conn {
        if !accepts_html(&conn) {
            return conn;
        }
        let pages = self.clone();
        let method = conn.method().to_string();
        let uri = conn.uri().to_string();
        let request_id = conn.request_id().map(str::to_owned);
        let headers: Vec<(String, String)> = if self.debug {
            conn.headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("<binary>").to_owned()))
                .filter(|(n, _)| n != "cookie" && n != "authorization")
                .collect()
        } else {
            Vec::new()
        };
        conn.register_before_send(move |response| {
            let status = response.status();
            let plain = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|ct| ct.as_bytes().starts_with(b"text/plain"));
            if !(status.is_client_error() || status.is_server_error()) || !plain {
                return;
            }
            let Some(message) = read_ready_body(response.body_mut()) else { return };
            let backtrace = if pages.debug && status.is_server_error() {
                LAST_PANIC_BACKTRACE.with(|slot| slot.borrow_mut().take())
            } else {
                None
            };
            let info = ErrorInfo { status, message, method, uri, headers, request_id, backtrace };
            let html = pages.renderer.as_ref().and_then(|render| render(&info)).unwrap_or_else(|| pages.builtin(&info));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            response.headers_mut().remove(header::CONTENT_LENGTH);
            *response.body_mut() = Body::from(html);
        });
        conn
    }
}
