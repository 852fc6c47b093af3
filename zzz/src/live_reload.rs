//! Live reload for development: browsers with a page open reload when the app
//! is rebuilt.
//!
//! `zzz server` (the dev loop) starts the app with `ZZZ_LIVE_RELOAD=1`. With that
//! variable set, and only then, every [`Endpoint`](crate::Endpoint):
//!
//! - injects a small script before `</body>` in `text/html` responses whose body is
//!   in memory and not compressed (streamed or `content-encoding`ed bodies are left
//!   alone; `content-length` is kept right);
//! - answers `GET /__zzz/live_reload` ([`PATH`]) with a Server-Sent Events stream
//!   whose first event is this process's [`boot_id`]; the stream ends when the
//!   server shuts down.
//!
//! The script carries the boot id of the process that rendered the page. When the
//! app is restarted its event stream ends, the browser reconnects (the connection
//! waits in the listening socket's queue while the new app starts), gets a
//! different boot id and reloads the page. `zzz server`'s compile-error page carries
//! the same script, so the browser also reloads when a fix lands.
//!
//! Without the variable nothing changes: no script, no reserved path. Apps need
//! no code for it.
//!
//! ```
//! let html = zzz::live_reload::inject(b"<html><body><p>hi</p></body></html>", "boot-1");
//! let html = String::from_utf8(html).unwrap();
//! assert!(html.contains("/__zzz/live_reload"));
//! assert!(html.ends_with("</script></body></html>"));
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use crate::body::Body;
use crate::response::Response;
use crate::server::Shutdown;

/// The environment variable that turns live reload on (`1`, `true`, `on` or `yes`).
pub const ENV_VAR: &str = "ZZZ_LIVE_RELOAD";

/// The path of the event stream the injected script listens to.
pub const PATH: &str = "/__zzz/live_reload";

/// How often an idle event stream sends a comment, so proxies keep it open.
const PING_EVERY: Duration = Duration::from_secs(15);

/// Whether [`ENV_VAR`] turns live reload on in this process.
pub fn enabled_by_env() -> bool {
    std::env::var(ENV_VAR).is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "on" | "yes"))
}

/// This process's boot id: different for every run of the app, the same for
/// all its responses.
pub fn boot_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos:x}", std::process::id())
    })
}

/// The `<script>` element that reloads the page once the server answering
/// [`PATH`] reports a boot id other than `boot_id` (the id of whoever rendered
/// the page). `boot_id` must be made of characters safe inside a JS string
/// (letters, digits, `-`, `_`); others are dropped.
pub fn script(boot_id: &str) -> String {
    let id: String = boot_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    format!(
        "<script data-zzz-live-reload>(function(){{var page=\"{id}\";function connect(){{\
         var events=new EventSource(\"{PATH}\");\
         events.onmessage=function(e){{if(e.data!==page){{events.close();location.reload();}}}};\
         events.onerror=function(){{if(events.readyState===EventSource.CLOSED){{setTimeout(connect,500);}}}};}}\
         connect();}})();</script>"
    )
}

/// `html` with [`script`] inserted before its last `</body>` (any case), or
/// appended when there is none.
pub fn inject(html: &[u8], boot_id: &str) -> Vec<u8> {
    let script = script(boot_id);
    let at = rfind_ignore_case(html, b"</body>").unwrap_or(html.len());
    let mut out = Vec::with_capacity(html.len() + script.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(script.as_bytes());
    out.extend_from_slice(&html[at..]);
    out
}

fn rfind_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=haystack.len().checked_sub(needle.len())?).rev().find(|&i| haystack[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// The Server-Sent Events response for [`PATH`]: a `retry` hint and one event
/// whose data is `boot_id`, then a comment every 15 s. The stream ends when
/// `shutdown` is requested (never without one), so a restarting server does not
/// wait on it and the browser reconnects to the new process.
pub fn events_response(boot_id: &str, shutdown: Option<Shutdown>) -> Response {
    use futures_util::{StreamExt, stream};
    let hello = Bytes::from(format!("retry: 300\ndata: {boot_id}\n\n"));
    let events = stream::once(async move { Ok::<_, std::convert::Infallible>(hello) }).chain(stream::unfold(
        shutdown,
        |shutdown| async move {
            let ended = async {
                match &shutdown {
                    Some(s) => s.requested().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = ended => None,
                _ = tokio::time::sleep(PING_EVERY) => Some((Ok(Bytes::from_static(b": ping\n\n")), shutdown)),
            }
        },
    ));
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Injects the script into `response` if it is an uncompressed HTML page held in
/// memory (see the [module docs](self)).
pub(crate) fn inject_into(response: &mut Response, boot_id: &str) {
    let headers = response.headers();
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if !is_html || headers.contains_key(header::CONTENT_ENCODING) || response.status() == StatusCode::NOT_MODIFIED {
        return;
    }
    let Some(html) = response.body().full_bytes() else { return };
    let injected = Bytes::from(inject(html, boot_id));
    let len = injected.len();
    *response.body_mut() = Body::from(injected);
    if response.headers().contains_key(header::CONTENT_LENGTH) {
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_before_the_last_body_end_tag_in_any_case() {
        let out = String::from_utf8(inject(b"<p>&lt;/body&gt;</p></BODY></html>", "a")).unwrap();
        assert!(out.starts_with("<p>&lt;/body&gt;</p><script data-zzz-live-reload>"));
        assert!(out.ends_with("</script></BODY></html>"));
    }

    #[test]
    fn is_appended_to_a_fragment() {
        let out = String::from_utf8(inject(b"<p>x</p>", "a")).unwrap();
        assert!(out.starts_with("<p>x</p><script"));
        assert!(out.ends_with("</script>"));
        assert_eq!(inject(b"", "a"), script("a").into_bytes());
    }

    #[test]
    fn the_boot_id_cannot_break_out_of_the_script() {
        let s = script("x\";alert(1);//</script>");
        assert!(s.contains("var page=\"xalert1script\""));
        assert_eq!(s.matches("</script>").count(), 1);
    }

    #[test]
    fn html_in_memory_is_injected_and_its_length_fixed() {
        let mut response = crate::Html("<body>hi</body>").into_response();
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(15));
        inject_into(&mut response, "b");
        let len: usize = response.headers()[header::CONTENT_LENGTH].to_str().unwrap().parse().unwrap();
        let body = response.body().full_bytes().unwrap();
        assert_eq!(len, body.len());
        assert!(body.starts_with(b"<body>hi<script"));
    }

    #[test]
    fn other_responses_are_left_alone() {
        let mut text = "</body>".into_response();
        inject_into(&mut text, "b");
        assert_eq!(text.body().full_bytes().unwrap().as_ref(), b"</body>");

        let mut gzipped = crate::Html("</body>").into_response();
        gzipped.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        inject_into(&mut gzipped, "b");
        assert_eq!(gzipped.body().full_bytes().unwrap().as_ref(), b"</body>");
    }

    use crate::IntoResponse;
}
