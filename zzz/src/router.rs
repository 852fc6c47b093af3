//! Routers: what [`router!`](crate::router!) generates, and the route table.
//!
//! The router macro compiles a route list into a type implementing [`Router`]: plain
//! matching code over the path's segments (a trie unrolled into nested `match`es, no
//! route table walked at runtime), the pipelines each scope pipes through, and a typed
//! path helper per named route.
#![doc = include_str!("../docs/router.md")]

use std::future::Future;

use crate::conn::Conn;
use crate::response::Response;

/// A compiled router. Implemented by the types [`router!`](crate::router!) generates;
/// an endpoint serves one.
pub trait Router: Send + Sync + 'static {
    /// Matches the conn's path and method, runs the route's pipeline and handler.
    /// Unknown path → 404; known path with another method → 405 with `Allow`;
    /// `HEAD` is served by the `GET` route; `OPTIONS` is answered with `Allow`.
    fn call(&self, conn: Conn) -> impl Future<Output = Response> + Send;

    /// The route table, in declaration order (for `zzz routes` and OpenAPI).
    fn routes(&self) -> &'static [RouteInfo];
}

/// One row of the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// `GET`, `POST`…, `*` for any method (forwards), `WS` for socket mounts.
    pub verb: &'static str,
    /// The full path pattern, like `/api/users/:id`.
    pub path: &'static str,
    /// The path helper's name (`user_path`), if the route is named.
    pub helper: Option<&'static str>,
    /// The handler as written in the router (`users::show`), or the forwarded router.
    pub handler: &'static str,
    /// The pipelines the route pipes through, outermost first.
    pub pipelines: &'static [&'static str],
}

/// Formats a route table as `mix phx.routes` does: helper, verb, path, handler,
/// in aligned columns.
pub fn format_routes(routes: &[RouteInfo]) -> String {
    let helper_width = routes.iter().map(|r| r.helper.map_or(0, str::len)).max().unwrap_or(0);
    let verb_width = routes.iter().map(|r| r.verb.len()).max().unwrap_or(0);
    let path_width = routes.iter().map(|r| r.path.len()).max().unwrap_or(0);
    let mut out = String::new();
    for route in routes {
        let line = format!(
            "{:>hw$}  {:<vw$}  {:<pw$}  {}",
            route.helper.unwrap_or(""),
            route.verb,
            route.path,
            route.handler,
            hw = helper_width,
            vw = verb_width,
            pw = path_width
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The environment variable `zzz routes` sets to ask an app for its route table.
pub const ROUTES_EXPORT_VAR: &str = "ZZZ_ROUTES_OUTPUT";

/// Writes the router's table (as [`format_routes`] prints it) to the file named by
/// `ZZZ_ROUTES_OUTPUT` (`-` for standard output) and returns `Ok(true)` when that variable
/// is set, so `main` can return before starting the server. This is how `zzz routes`
/// prints an app's routes without serving it.
///
/// ```no_run
/// # zzz::router! { pub AppRouter; get "/" => index; }
/// # async fn index() -> &'static str { "" }
/// fn main() -> std::io::Result<()> {
///     if zzz::router::export_routes_if_requested(&AppRouter::new())? {
///         return Ok(());
///     }
///     // … start the server
///     Ok(())
/// }
/// ```
pub fn export_routes_if_requested<R: Router>(router: &R) -> std::io::Result<bool> {
    let Some(target) = std::env::var_os(ROUTES_EXPORT_VAR) else { return Ok(false) };
    let table = format_routes(router.routes());
    if target == "-" {
        use std::io::Write;
        std::io::stdout().lock().write_all(table.as_bytes())?;
    } else {
        std::fs::write(&target, table).map_err(|e| {
            std::io::Error::new(e.kind(), format!("writing the route table to {}: {e}", std::path::Path::new(&target).display()))
        })?;
    }
    Ok(true)
}

/// Support code for [`router!`](crate::router!)'s output. Not a public API.
#[doc(hidden)]
pub mod __private {
    use http::{HeaderValue, StatusCode, header};

    use crate::conn::Conn;
    use crate::handler::Handler;
    use crate::plug::Pipeline;
    use crate::response::{IntoResponse, Response, error_response};

    pub use super::{RouteInfo, Router};
    pub use http::Method;

    /// The next non-empty segment at or after `pos`: its byte range.
    #[inline]
    pub fn next_segment(path: &str, pos: usize) -> Option<(usize, usize)> {
        let bytes = path.as_bytes();
        let mut start = pos;
        while start < bytes.len() && bytes[start] == b'/' {
            start += 1;
        }
        if start >= bytes.len() {
            return None;
        }
        let end = match memchr_slash(&bytes[start..]) {
            Some(i) => start + i,
            None => bytes.len(),
        };
        Some((start, end))
    }

    #[inline]
    fn memchr_slash(bytes: &[u8]) -> Option<usize> {
        bytes.iter().position(|&b| b == b'/')
    }

    /// Where a wildcard's capture starts: after any slashes at `pos`.
    #[inline]
    pub fn rest_start(path: &str, pos: usize) -> usize {
        let bytes = path.as_bytes();
        let mut start = pos;
        while start < bytes.len() && bytes[start] == b'/' {
            start += 1;
        }
        start
    }

    /// Records the matched route's parameters on the conn.
    #[inline]
    pub fn set_params(conn: &mut Conn, names: &'static [&'static str], ranges: &[(u32, u32)]) {
        if !names.is_empty() {
            conn.set_params(names, ranges);
        }
    }

    /// Runs a pipeline, then the handler.
    #[inline]
    pub async fn dispatch<H, A>(pipeline: &Pipeline, conn: Conn, handler: H) -> Response
    where
        H: Handler<A>,
        A: 'static,
    {
        if pipeline.is_empty() {
            return call_handler(handler, conn).await;
        }
        pipeline.run(conn, move |conn| call_handler(handler, conn)).await
    }

    /// Calls a handler, then adds the response headers plugs set on the conn (the
    /// handler's own headers win) and runs the conn's before-send callbacks.
    pub async fn call_handler<H, A>(handler: H, mut conn: Conn) -> Response
    where
        H: Handler<A>,
    {
        let pending = conn.take_resp_headers();
        let before_send = conn.before_send_list();
        let mut response = handler.call(conn).await;
        if !pending.is_empty() {
            let headers = response.headers_mut();
            let mut last = None;
            for (name, value) in pending {
                if let Some(name) = name {
                    last = Some(name);
                }
                let name = last.clone().expect("the first header has a name");
                if !headers.contains_key(&name) {
                    headers.insert(name, value);
                }
            }
        }
        crate::conn::run_before_send_list(&before_send, &mut response);
        response
    }

    /// Hands the conn to a forwarded router, which matches what follows the prefix.
    pub async fn forward<R: Router>(router: &std::sync::Arc<R>, pipeline: &Pipeline, mut conn: Conn, consumed: usize) -> Response {
        conn.inner.path_offset += consumed;
        if pipeline.is_empty() {
            return router.call(conn).await;
        }
        let router = router.clone();
        pipeline.run(conn, move |conn| async move { router.call(conn).await }).await
    }

    /// The 404 for a path no route matches (Phoenix's `NoRouteError` message).
    pub fn not_found(conn: Conn) -> Response {
        error_response(StatusCode::NOT_FOUND, format!("no route found for {} {}", conn.method(), conn.path()))
    }

    /// The answer for a known path requested with a method it does not have:
    /// `OPTIONS` gets 204 with `Allow`, anything else 405 with `Allow`.
    pub fn method_not_allowed(conn: Conn, allow: &'static str) -> Response {
        let mut response = if conn.method() == Method::OPTIONS {
            StatusCode::NO_CONTENT.into_response()
        } else {
            error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {} is not allowed for {} (allowed: {allow})", conn.method(), conn.path()),
            )
        };
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        response
    }

    /// Percent-encodes one path segment for a path helper.
    pub fn encode_segment(out: &mut String, value: &dyn std::fmt::Display) {
        use std::fmt::Write;
        let text = value.to_string();
        let _ = write!(out, "{}", percent_encoding::utf8_percent_encode(&text, SEGMENT));
    }

    /// Percent-encodes a wildcard capture for a path helper (slashes kept).
    pub fn encode_wildcard(out: &mut String, value: &dyn std::fmt::Display) {
        use std::fmt::Write;
        let text = value.to_string();
        let _ = write!(out, "{}", percent_encoding::utf8_percent_encode(text.trim_start_matches('/'), WILDCARD));
    }

    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}')
        .add(b'/').add(b'%');
    const WILDCARD: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}').add(b'%');
}
