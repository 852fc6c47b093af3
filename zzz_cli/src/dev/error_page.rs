//! The page `zzz server` serves itself while there is no app to hand the socket
//! to (the build failed, or the app exited): status 500, the compiler's output
//! (ANSI colours stripped, HTML-escaped) and the live reload script, so the
//! browser reloads once a fixed build is running.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::TcpListener;
use std::sync::Arc;
use std::task::{Context, Poll};

use zzz::http::{self, HeaderValue, Request, StatusCode, header};
use zzz::server::{Server, ServerConfig, Shutdown};
use zzz::{Body, Response};
use zzz::html::escape;

/// A page being served on the dev socket.
pub struct ErrorServer {
    shutdown: Shutdown,
}

impl ErrorServer {
    /// Serves `html` for every request on a duplicate of `listener` until
    /// [`ErrorServer::stop`].
    pub fn start(listener: &TcpListener, page: ErrorPage) -> Result<ErrorServer, String> {
        let listener = listener.try_clone().map_err(|e| format!("cannot share the listening socket: {e}"))?;
        // Short timeouts: nothing here is worth holding a connection for.
        let config = ServerConfig::default().idle_timeout(std::time::Duration::from_secs(5)).shutdown_grace(std::time::Duration::from_secs(2));
        let server = Server::from_std_listener(listener, config).map_err(|e| e.to_string())?;
        let shutdown = server.shutdown_signal();
        tokio::spawn(async move {
            if let Err(e) = server.serve_with_shutdown(page, std::future::pending()).await {
                eprintln!("zzz: serving the error page failed: {e}");
            }
        });
        Ok(ErrorServer { shutdown })
    }

    /// Stops accepting at once (the next app takes the socket over); requests in
    /// flight finish and the page's event streams end, which makes browsers reload.
    pub fn stop(self) {
        self.shutdown.trigger();
    }
}

/// The error page: a title, a one-line summary, and the detailed output.
#[derive(Clone)]
pub struct ErrorPage {
    html: Arc<String>,
    boot_id: Arc<String>,
}

impl ErrorPage {
    /// A page titled `title`, saying `summary`, showing `output` (cargo's output,
    /// colours allowed). `serial` tells pages apart, so a browser showing one
    /// page reloads when the next one replaces it.
    pub fn new(title: &str, summary: &str, output: &str, serial: u64) -> ErrorPage {
        let boot_id = format!("zzz-server-{}-{serial}", std::process::id());
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · zzz server</title>\
             <style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}h1{{color:#b00020;font-size:1.4rem}}\
             pre{{background:#1e1e1e;color:#eee;padding:1rem;overflow:auto;font-size:13px;line-height:1.4}}</style></head>\
             <body><h1>{title}</h1><p>{summary}</p><pre id=\"output\">{output}</pre>\
             <p>Waiting for a change: this page reloads by itself once the app is running again.</p></body></html>\n",
            title = escape(title),
            summary = escape(summary),
            output = escape(&strip_ansi(output)),
        );
        let html = zzz::live_reload::inject(html.as_bytes(), &boot_id);
        ErrorPage { html: Arc::new(String::from_utf8(html).expect("escaped text stays UTF-8")), boot_id: Arc::new(boot_id) }
    }

    fn respond<B>(&self, req: &Request<B>) -> Response {
        if req.uri().path() == zzz::live_reload::PATH && req.method() == http::Method::GET {
            return zzz::live_reload::events_response(&self.boot_id, req.extensions().get::<Shutdown>().cloned());
        }
        let mut response = Response::new(Body::from(self.html.as_str().to_owned()));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl<B> tower_service::Service<Request<B>> for ErrorPage {
    type Response = Response;
    type Error = Infallible;
    type Future = Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&req)))
    }
}


/// `text` without ANSI escape sequences (CSI `ESC [ … final` and two-byte `ESC x`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            // Parameters and intermediates, up to the final byte (@ to ~).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stripped_and_html_escaped() {
        let cargo = "\u{1b}[0m\u{1b}[1m\u{1b}[38;5;9merror[E0308]\u{1b}[0m: mismatched types <&str>";
        assert_eq!(strip_ansi(cargo), "error[E0308]: mismatched types <&str>");
        let page = ErrorPage::new("Compile error", "`cargo build` failed", cargo, 1);
        assert!(page.html.contains("error[E0308]: mismatched types &lt;&amp;str&gt;"));
        assert!(!page.html.contains('\u{1b}'));
        assert!(page.html.contains(zzz::live_reload::PATH));
        assert!(page.html.contains(page.boot_id.as_str()));
    }
}
