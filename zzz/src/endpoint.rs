//! [`Endpoint`]: the application as one [`tower_service::Service`].
//!
//! The endpoint owns the router, the plugs that run before it (for every request,
//! routed or not), the application state and the request limits. zzz's
//! [`Server`](crate::server) serves it; [`TestClient`](crate::test::TestClient)
//! drives it in-process; any tower layer can wrap it.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode, header};

use crate::body::{Body, BoxError};
use crate::conn::{Conn, Shared};
use crate::plug::{Pipeline, Plug};
use crate::response::{IntoResponse, Response, error_response};
use crate::router::Router;

/// The application: plugs before the router, the router, state and limits.
///
/// Under `zzz server` (environment variable `ZZZ_LIVE_RELOAD` set when the
/// endpoint is built) it also serves [live reload](crate::live_reload).
///
/// ```
/// use zzz::{Endpoint, Pipeline};
///
/// zzz::router! {
///     pub AppRouter;
///     get "/" => index;
/// }
///
/// async fn index() -> &'static str { "Hello" }
///
/// #[derive(Clone)]
/// struct Config { name: &'static str }
///
/// let endpoint = Endpoint::new(AppRouter::new())
///     .state(Config { name: "demo" })
///     .max_body_bytes(1_000_000);
/// ```
pub struct Endpoint<R> {
    inner: Arc<Inner<R>>,
}

struct Inner<R> {
    router: R,
    plugs: Pipeline,
    shared: Arc<Shared>,
    request_ids: bool,
    /// Dev only: `ZZZ_LIVE_RELOAD` was set when the endpoint was built.
    live_reload: bool,
}

impl<R> Clone for Endpoint<R> {
    fn clone(&self) -> Self {
        Endpoint { inner: self.inner.clone() }
    }
}

impl<R: Router> Endpoint<R> {
    /// An endpoint serving `router`, with default limits, request ids on and no state.
    pub fn new(router: R) -> Endpoint<R> {
        Endpoint {
            inner: Arc::new(Inner {
                router,
                plugs: Pipeline::new(),
                shared: Arc::new(Shared::default()),
                request_ids: true,
                live_reload: crate::live_reload::enabled_by_env(),
            }),
        }
    }

    fn configure(&mut self) -> &mut Inner<R> {
        Arc::get_mut(&mut self.inner).expect("configure an Endpoint before cloning it or serving it")
    }

    /// Adds application state, available to handlers as [`State<T>`](crate::State)
    /// and to plugs as [`Conn::state`]. One value per type.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        let inner = self.configure();
        Arc::make_mut(&mut inner.shared).state.insert(value);
        self
    }

    /// Makes a socket endpoint available to the router's `socket "/path" => S;` mount
    /// (stored in the state as a [`SocketMount`](crate::channels::mount::SocketMount)).
    pub fn socket<S: crate::channels::UserSocket>(self, endpoint: crate::channels::SocketEndpoint<S>) -> Self {
        self.state(crate::channels::mount::SocketMount::new(endpoint))
    }

    /// Adds a plug that runs for every request, before routing.
    pub fn plug<P: Plug>(mut self, plug: P) -> Self {
        let inner = self.configure();
        inner.plugs = std::mem::take(&mut inner.plugs).plug(plug);
        self
    }

    /// Sets the pipeline run for every request, before routing.
    pub fn pipeline(mut self, pipeline: Pipeline) -> Self {
        self.configure().plugs = pipeline;
        self
    }

    /// The request body limit in bytes (default 8 MB). A request whose
    /// `Content-Length` is larger gets 413 at once; a chunked body is cut off with 413
    /// as soon as it passes the limit.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        let inner = self.configure();
        Arc::make_mut(&mut inner.shared).max_body_bytes = limit;
        self
    }

    /// Turns request ids on or off (default on): the client's `x-request-id` is kept
    /// when it is 20 to 200 visible ASCII characters, else one is generated; it is sent
    /// back in the response's `x-request-id` and logged with errors.
    pub fn request_ids(mut self, on: bool) -> Self {
        self.configure().request_ids = on;
        self
    }

    /// The router.
    pub fn router(&self) -> &R {
        &self.inner.router
    }

    /// Handles one request.
    pub async fn handle(&self, request: http::Request<Body>) -> Response {
        Self::handle_with(self.inner.clone(), request).await
    }

    async fn handle_with(inner: Arc<Inner<R>>, request: http::Request<Body>) -> Response {
        let live_reload = inner.live_reload;
        if live_reload && request.uri().path() == crate::live_reload::PATH && request.method() == Method::GET {
            let shutdown = request.extensions().get::<crate::server::Shutdown>().cloned();
            return crate::live_reload::events_response(crate::live_reload::boot_id(), shutdown);
        }
        let is_head = request.method() == Method::HEAD;
        let mut conn = Conn::with_shared(request, inner.shared.clone());
        let request_id = if inner.request_ids { Some(request_id_for(&conn)) } else { None };
        if let Some(id) = &request_id {
            conn.set_request_id(id.clone());
        }

        let mut response = if let Some(too_large) = check_content_length(&conn) {
            too_large
        } else {
            let callbacks = conn.before_send_list();
            let run = async move {
                if inner.plugs.is_empty() {
                    inner.router.call(conn).await
                } else {
                    let plugs = inner.plugs.clone();
                    plugs.run(conn, move |conn| async move { inner.router.call(conn).await }).await
                }
            };
            let mut response = match AssertUnwindSafe(run).catch_unwind().await {
                Ok(response) => response,
                Err(panic) => panic_response(panic, request_id.as_ref()),
            };
            // Callbacks not run yet: those of a request answered without a handler (a
            // 404, a tower layer that answered itself) or that panicked.
            crate::conn::run_before_send_list(&callbacks, &mut response);
            response
        };

        if let Some(id) = request_id {
            response.headers_mut().insert(REQUEST_ID.clone(), id);
        }
        if live_reload {
            crate::live_reload::inject_into(&mut response, crate::live_reload::boot_id());
        }
        if is_head {
            strip_body(&mut response);
        }
        response
    }
}

static REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

fn check_content_length(conn: &Conn) -> Option<Response> {
    let declared = conn.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse::<u64>().ok()?;
    let limit = conn.max_body_bytes();
    (declared > limit as u64).then(|| {
        let mut response = error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body of {declared} bytes is larger than the limit of {limit} bytes"),
        );
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    })
}

fn panic_response(panic: Box<dyn std::any::Any + Send>, request_id: Option<&HeaderValue>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    let id = request_id.and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::error!(request_id = id, panic = %message, "handler panicked; answering 500");
    let mut response = "Internal Server Error".into_response();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// A HEAD response keeps its headers (with the length the GET body would have)
/// and sends no body.
fn strip_body(response: &mut Response) {
    let exact = http_body::Body::size_hint(response.body()).exact();
    if let Some(len) = exact
        && !response.headers().contains_key(header::CONTENT_LENGTH)
    {
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    *response.body_mut() = Body::empty();
}

fn request_id_for(conn: &Conn) -> HeaderValue {
    if let Some(given) = conn.headers().get(&REQUEST_ID) {
        let bytes = given.as_bytes();
        if (20..=200).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_graphic()) {
            return given.clone();
        }
    }
    generate_request_id()
}

/// 20 URL-safe characters (120 random bits), from a per-thread generator seeded by
/// the OS-randomised hasher.
fn generate_request_id() -> HeaderValue {
    use std::cell::Cell;
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(std::thread::current().id()) | 1);
    }
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (a, b) = STATE.with(|s| {
        let next = || {
            // xorshift64*
            let mut x = s.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            s.set(x);
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        (next(), next())
    });
    let mut out = [0u8; 20];
    for (i, slot) in out.iter_mut().enumerate() {
        let bits = if i < 10 { a >> (i * 6) } else { b >> ((i - 10) * 6) };
        *slot = ALPHABET[(bits & 63) as usize];
    }
    HeaderValue::from_bytes(&out).expect("the alphabet is valid in headers")
}

impl<R, B> tower_service::Service<http::Request<B>> for Endpoint<R>
where
    R: Router,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(Self::handle_with(inner, request.map(Body::new)).await) })
    }
}
