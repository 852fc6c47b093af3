//! Small request and response plugs: secure browser headers
//! (`put_secure_browser_headers`), method override (`Plug.MethodOverride`) and content
//! negotiation (`accepts`).

use http::{HeaderName, HeaderValue, Method, StatusCode, header};

use super::parsers::BodyParams;
use crate::conn::Conn;
use crate::extract::FromConnParts;
use crate::plug::Plug;
use crate::response::error_response;

/// Phoenix's secure browser headers, set on every response that passes (a handler's
/// own header of the same name wins):
///
/// | header | value |
/// |---|---|
/// | `content-security-policy` | `base-uri 'self'; frame-ancestors 'self';` |
/// | `referrer-policy` | `strict-origin-when-cross-origin` |
/// | `x-content-type-options` | `nosniff` |
/// | `x-frame-options` | `SAMEORIGIN` |
/// | `x-permitted-cross-domain-policies` | `none` |
///
/// ```
/// use zzz::Pipeline;
/// use zzz::plugs::SecureHeaders;
///
/// let browser = Pipeline::new().plug(
///     SecureHeaders::new()
///         .put("content-security-policy", "default-src 'self'")
///         .put("strict-transport-security", "max-age=31536000"),
/// );
/// ```
#[derive(Debug, Clone)]
pub struct SecureHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Default for SecureHeaders {
    fn default() -> Self {
        SecureHeaders::new()
    }
}

impl SecureHeaders {
    /// Phoenix's defaults.
    pub fn new() -> SecureHeaders {
        let defaults = [
            ("content-security-policy", "base-uri 'self'; frame-ancestors 'self';"),
            ("referrer-policy", "strict-origin-when-cross-origin"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "SAMEORIGIN"),
            ("x-permitted-cross-domain-policies", "none"),
        ];
        SecureHeaders {
            headers: defaults
                .into_iter()
                .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
                .collect(),
        }
    }

    /// Adds a header or replaces a default. Panics on an invalid name or value (a
    /// configuration bug, found at startup).
    pub fn put(mut self, name: &str, value: &str) -> SecureHeaders {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|_| panic!("invalid header name {name:?}"));
        let value = HeaderValue::from_str(value).unwrap_or_else(|_| panic!("invalid value for header {name}: {value:?}"));
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    /// Drops a default header.
    pub fn remove(mut self, name: &str) -> SecureHeaders {
        self.headers.retain(|(n, _)| !n.as_str().eq_ignore_ascii_case(name));
        self
    }
}

impl Plug for SecureHeaders {
    async fn call(&self, mut conn: Conn) -> Conn {
        let headers = conn.resp_headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        conn
    }
}

/// `Plug.MethodOverride`: a `POST` whose body has `_method` set to `PUT`, `PATCH` or
/// `DELETE` is routed as that method (HTML forms can only send GET and POST). Put it
/// on the endpoint, after [`Parsers`](super::Parsers) and before the router.
///
/// ```
/// use zzz::{Endpoint, Pipeline};
/// use zzz::plugs::{MethodOverride, Parsers};
///
/// zzz::router! { pub AppRouter; delete "/posts/:id" => delete_post; }
/// async fn delete_post() -> &'static str { "deleted" }
///
/// // <form method="post" action="/posts/1"><input type="hidden" name="_method" value="delete">
/// let endpoint = Endpoint::new(AppRouter::new())
///     .pipeline(Pipeline::new().plug(Parsers::new()).plug(MethodOverride));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MethodOverride;

impl Plug for MethodOverride {
    async fn call(&self, mut conn: Conn) -> Conn {
        if *conn.method() != Method::POST {
            return conn;
        }
        let wanted = conn.assigns::<BodyParams>().and_then(|p| p.get_str("_method")).map(|m| m.to_ascii_uppercase());
        match wanted.as_deref() {
            Some("PUT") => conn.set_method(Method::PUT),
            Some("PATCH") => conn.set_method(Method::PATCH),
            Some("DELETE") => conn.set_method(Method::DELETE),
            _ => {}
        }
        conn
    }
}

/// The format [`Accepts`] chose for the request (`"html"`, `"json"`…), assigned on
/// the conn and available as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format(pub String);

impl FromConnParts for Format {
    type Rejection = std::convert::Infallible;

    /// The chosen format, or `""` when no [`Accepts`] plug ran.
    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, Self::Rejection> {
        Ok(conn.assigns::<Format>().cloned().unwrap_or(Format(String::new())))
    }
}

/// Content negotiation (Phoenix's `accepts`): the request must accept one of the
/// formats, else 406. The `_format` query parameter wins over the `Accept` header; a
/// missing header or `*/*` takes the first format. The chosen one is assigned as
/// [`Format`].
///
/// Formats: `html`, `json`, `text`, `xml`, `csv`, `js`, `css`, `event-stream`, or a full
/// media type like `application/vnd.api+json`.
///
/// ```
/// use zzz::Pipeline;
/// use zzz::plugs::Accepts;
///
/// let browser = Pipeline::new().plug(Accepts::new(&["html"]));
/// let api = Pipeline::new().plug(Accepts::new(&["json"]));
/// ```
#[derive(Debug, Clone)]
pub struct Accepts {
    formats: Vec<(String, String)>,
}

fn mime_of(format: &str) -> String {
    match format {
        "html" => "text/html",
        "json" => "application/json",
        "text" => "text/plain",
        "xml" => "application/xml",
        "csv" => "text/csv",
        "js" => "application/javascript",
        "css" => "text/css",
        "event-stream" => "text/event-stream",
        other => other,
    }
    .to_owned()
}

impl Accepts {
    /// Accepts these formats, in order of preference.
    pub fn new(formats: &[&str]) -> Accepts {
        Accepts { formats: formats.iter().map(|f| (f.to_string(), mime_of(f))).collect() }
    }

    fn choose(&self, conn: &Conn) -> Option<String> {
        if let Some((_, format)) = conn.query_params().into_iter().find(|(k, _)| k == "_format") {
            return self.formats.iter().find(|(f, _)| *f == format).map(|(f, _)| f.clone());
        }
        let Some(accept) = conn.header(header::ACCEPT).filter(|a| !a.trim().is_empty()) else {
            return self.formats.first().map(|(f, _)| f.clone());
        };
        // Media ranges sorted by q (stable, so header order breaks ties).
        let mut ranges: Vec<(String, f32)> = accept
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let range = pieces.next()?.trim().to_ascii_lowercase();
                let q = pieces
                    .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                    .next()
                    .unwrap_or(1.0);
                (!range.is_empty() && q > 0.0).then_some((range, q))
            })
            .collect();
        ranges.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        for (range, _) in ranges {
            for (format, mime) in &self.formats {
                let (kind, _) = mime.split_once('/').unwrap_or((mime, ""));
                let matches = range == "*/*"
                    || range == *mime
                    || range.strip_suffix("/*").is_some_and(|k| k == kind);
                if matches {
                    return Some(format.clone());
                }
            }
        }
        None
    }
}

impl Plug for Accepts {
    async fn call(&self, mut conn: Conn) -> Conn {
        match self.choose(&conn) {
            Some(format) => {
                conn.assign(Format(format));
                conn
            }
            None => {
                let names: Vec<&str> = self.formats.iter().map(|(f, _)| f.as_str()).collect();
                let message = format!(
                    "no supported media type in the accept header ({:?}) or the _format parameter; expected one of {names:?}",
                    conn.header(header::ACCEPT).unwrap_or("")
                );
                super::halt_with(conn, error_response(StatusCode::NOT_ACCEPTABLE, message))
            }
        }
    }
}
