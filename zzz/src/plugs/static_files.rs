//! Static files (`Plug.Static`): tower-http's `ServeDir` does the serving (`Range`,
//! `Last-Modified`/`If-Modified-Since`, precompressed `.gz`/`.br` variants, content
//! types); zzz adds size+mtime `ETag`s with `If-None-Match` → 304, long cache headers
//! for digested files and `?vsn=` requests, strict path checks (no `..`, encoded or
//! not), and passing requests for files that do not exist on to the router.
//!
//! ```
//! use zzz::{Endpoint, Pipeline};
//! use zzz::plugs::Static;
//!
//! zzz::router! { pub AppRouter; get "/" => index; }
//! async fn index() -> &'static str { "home" }
//!
//! let endpoint = Endpoint::new(AppRouter::new())
//!     .plug(Static::new("/assets", "priv/static").gzip(true).brotli(true));
//! ```

use std::path::{Path as FsPath, PathBuf};
use std::time::UNIX_EPOCH;

use http::{HeaderValue, Method, StatusCode, header};
use tower_http::services::ServeDir;
use tower_service::Service;

use crate::body::Body;
use crate::conn::Conn;
use crate::plug::Plug;
use crate::response::{Response, error_response};

/// The cache header for digested files and `?vsn=` requests: a year, immutable.
pub const LONG_CACHE: &str = "public, max-age=31536000, immutable";

/// Serves files under a directory at a URL prefix. `GET` and `HEAD` only; other
/// methods, and paths with no file, pass on to what comes next.
///
/// A path with a `..` or `.` segment, a backslash, a NUL or a colon — percent-encoded
/// or not — is refused with 400, never looked up.
#[derive(Clone)]
pub struct Static {
    at: String,
    root: PathBuf,
    serve: ServeDir,
    gzip: bool,
    brotli: bool,
    etag_cache_control: HeaderValue,
}

impl std::fmt::Debug for Static {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Static").field("at", &self.at).field("root", &self.root).finish_non_exhaustive()
    }
}

impl Static {
    /// Serves `root` at the URL prefix `at` (`"/"` for the site root).
    pub fn new(at: &str, root: impl AsRef<FsPath>) -> Static {
        let root = root.as_ref().to_path_buf();
        let at = format!("/{}", at.trim_matches('/'));
        Static {
            serve: ServeDir::new(&root).append_index_html_on_directories(false),
            at,
            root,
            gzip: false,
            brotli: false,
            etag_cache_control: HeaderValue::from_static("public"),
        }
    }

    /// Serves `file.gz` instead of `file` to clients that accept gzip, when it exists.
    pub fn gzip(mut self, on: bool) -> Static {
        self.gzip = on;
        self.rebuild();
        self
    }

    /// Serves `file.br` instead of `file` to clients that accept brotli, when it exists.
    pub fn brotli(mut self, on: bool) -> Static {
        self.brotli = on;
        self.rebuild();
        self
    }

    /// The `Cache-Control` of files that are not digested (default `public`: clients
    /// revalidate with the ETag).
    pub fn cache_control(mut self, value: &'static str) -> Static {
        self.etag_cache_control = HeaderValue::from_static(value);
        self
    }

    fn rebuild(&mut self) {
        let mut serve = ServeDir::new(&self.root).append_index_html_on_directories(false);
        if self.gzip {
            serve = serve.precompressed_gzip();
        }
        if self.brotli {
            serve = serve.precompressed_br();
        }
        self.serve = serve;
    }

    /// The path under the prefix, decoded and checked: `Ok(None)` when the request is
    /// not under the prefix, `Err` when the path is not acceptable.
    fn relative_segments(&self, path: &str) -> Result<Option<Vec<String>>, String> {
        let rest = if self.at == "/" {
            path
        } else if let Some(rest) = path.strip_prefix(self.at.as_str()) {
            if !(rest.is_empty() || rest.starts_with('/')) {
                return Ok(None);
            }
            rest
        } else {
            return Ok(None);
        };
        let mut segments = Vec::new();
        for raw in rest.split('/').filter(|s| !s.is_empty()) {
            let decoded = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| format!("path segment {raw:?} is not valid UTF-8"))?;
            if decoded == ".." || decoded == "." {
                return Err(format!("path segment {raw:?} is a relative directory"));
            }
            if decoded.contains(['/', '\\', '\0', ':']) {
                return Err(format!("path segment {raw:?} contains a separator, NUL or colon"));
            }
            segments.push(decoded.into_owned());
        }
        Ok(Some(segments))
    }
}

/// Whether a file name looks digested by an asset pipeline: `app-<32 hex>.css`.
fn is_digested(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    match stem.rsplit_once('-') {
        Some((_, digest)) => digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match.split(',').any(|tag| {
            let tag = tag.trim();
            tag.strip_prefix("W/").unwrap_or(tag) == etag
        })
}

impl Plug for Static {
    async fn call(&self, conn: Conn) -> Conn {
        if !matches!(*conn.method(), Method::GET | Method::HEAD) {
            return conn;
        }
        let segments = match self.relative_segments(conn.path()) {
            Ok(Some(segments)) if !segments.is_empty() => segments,
            Ok(_) => return conn,
            Err(message) => {
                let response = error_response(StatusCode::BAD_REQUEST, format!("invalid static file path: {message}"));
                return super::halt_with(conn, response);
            }
        };
        let mut file = self.root.clone();
        for segment in &segments {
            file.push(segment);
        }
        let Ok(meta) = tokio::fs::metadata(&file).await else { return conn };
        if !meta.is_file() {
            return conn;
        }
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
        let etag = format!("\"{:x}-{:x}\"", meta.len(), mtime);
        let long_cache = conn.query_string().split('&').any(|kv| kv.starts_with("vsn="))
            || segments.last().is_some_and(|name| is_digested(name));
        let cache_control = if long_cache { HeaderValue::from_static(LONG_CACHE) } else { self.etag_cache_control.clone() };

        if conn.header(header::IF_NONE_MATCH).is_some_and(|inm| etag_matches(inm, &etag)) {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header"));
            response.headers_mut().insert(header::CACHE_CONTROL, cache_control);
            return super::halt_with(conn, response);
        }

        // Hand ServeDir the path relative to the root, already checked.
        let mut uri = String::new();
        for segment in &segments {
            uri.push('/');
            uri.push_str(&percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string());
        }
        let mut request = http::Request::new(());
        *request.method_mut() = conn.method().clone();
        *request.uri_mut() = match uri.parse() {
            Ok(uri) => uri,
            Err(_) => return conn,
        };
        for name in [header::RANGE, header::IF_RANGE, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE, header::ACCEPT_ENCODING] {
            if let Some(value) = conn.headers().get(&name) {
                request.headers_mut().insert(name, value.clone());
            }
        }
        let mut serve = self.serve.clone();
        let response = match serve.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if response.status() == StatusCode::NOT_FOUND {
            return conn;
        }
        let mut response = response.map(Body::new);
        let encoded = response.headers().get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let etag = match encoded {
            Some(encoding) => format!("\"{:x}-{:x}-{encoding}\"", meta.len(), mtime),
            None => etag,
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header"));
        headers.insert(header::CACHE_CONTROL, cache_control);
        if self.gzip || self.brotli {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        super::halt_with(conn, response)
    }
}
