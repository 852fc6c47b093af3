//! [`Conn`]: one request and the response being built for it, as `Plug.Conn` in Phoenix.
//!
//! A conn travels through the endpoint's plugs, the router and the pipeline of the
//! matched route, and finally reaches the handler. Every step may read the request,
//! add typed [assigns](Conn::assign), set response headers and status, or
//! [halt](Conn::halt) so nothing after it runs.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};

use crate::body::{Body, BodyReadError};
use crate::response::{IntoResponse, Response};

/// Settings and application state shared by every conn of one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) state: Extensions,
    pub(crate) max_body_bytes: usize,
}

/// The default request body limit: 8 MB, as `Plug.Parsers` for JSON and multipart.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8_000_000;

impl Default for Shared {
    fn default() -> Self {
        Shared { state: Extensions::new(), max_body_bytes: DEFAULT_MAX_BODY_BYTES }
    }
}

fn default_shared() -> Arc<Shared> {
    static DEFAULT: OnceLock<Arc<Shared>> = OnceLock::new();
    DEFAULT.get_or_init(|| Arc::new(Shared::default())).clone()
}

/// A path parameter captured by the router: its name and its byte range in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawParam {
    pub(crate) name: &'static str,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// A callback run on the response just before it is sent: see
/// [`Conn::register_before_send`].
pub type BeforeSend = Box<dyn FnOnce(&mut Response) + Send + 'static>;

/// One request and the response being built for it.
///
/// Handlers may take a `Conn` as their last argument and return it; plugs always
/// take and return one.
///
/// ```
/// use zzz::{Conn, StatusCode};
///
/// async fn require_api_key(mut conn: Conn) -> Conn {
///     if conn.header("x-api-key") != Some("secret") {
///         conn.send_resp(StatusCode::UNAUTHORIZED, "missing or wrong x-api-key header");
///         conn.halt();
///     }
///     conn
/// }
/// ```
pub struct Conn {
    // Boxed so that moving a conn through plugs, futures and handlers copies one
    // pointer instead of ~500 bytes (measured with callgrind: the moves were the
    // largest per-request cost over bare hyper).
    pub(crate) inner: Box<ConnInner>,
}

/// The fields of a [`Conn`], behind one allocation.
pub(crate) struct ConnInner {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) extensions: Extensions,
    pub(crate) body: Option<Body>,
    pub(crate) params: Vec<RawParam>,
    pub(crate) path_offset: usize,
    pub(crate) assigns: Extensions,
    pub(crate) status: Option<StatusCode>,
    pub(crate) resp_headers: HeaderMap,
    pub(crate) resp_body: Body,
    pub(crate) halted: bool,
    pub(crate) shared: Arc<Shared>,
    pub(crate) body_limit: Option<usize>,
    pub(crate) request_id: Option<HeaderValue>,
    pub(crate) before_send: BeforeSendList,
}

/// The before-send callbacks of one request, shared so that whoever runs the handler
/// also sees the callbacks its extractors register.
pub(crate) type BeforeSendList = Arc<std::sync::Mutex<Vec<BeforeSend>>>;

impl Conn {
    /// Makes a conn from a request, with default settings (8 MB body limit, no state).
    ///
    /// Endpoints make their conns themselves; this is for unit-testing plugs.
    pub fn from_request(request: http::Request<Body>) -> Conn {
        Conn::with_shared(request, default_shared())
    }

    pub(crate) fn with_shared(request: http::Request<Body>, shared: Arc<Shared>) -> Conn {
        let (parts, body) = request.into_parts();
        Conn { inner: Box::new(ConnInner {
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            extensions: parts.extensions,
            body: Some(body),
            params: Vec::new(),
            path_offset: 0,
            assigns: Extensions::new(),
            status: None,
            resp_headers: HeaderMap::new(),
            resp_body: Body::empty(),
            halted: false,
            shared,
            body_limit: None,
            request_id: None,
            before_send: BeforeSendList::default(),
        }) }
    }

    // ----- request -----

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.inner.method
    }

    /// The request URI as sent (path and query, still percent-encoded).
    pub fn uri(&self) -> &Uri {
        &self.inner.uri
    }

    /// The full request path, still percent-encoded.
    pub fn path(&self) -> &str {
        self.inner.uri.path()
    }

    /// The part of the path the current router matches on: the full path, minus
    /// the prefix of a `forward` that led here.
    pub fn routing_path(&self) -> &str {
        &self.inner.uri.path()[self.inner.path_offset..]
    }

    /// The raw query string, without the `?`, or `""`.
    pub fn query_string(&self) -> &str {
        self.inner.uri.query().unwrap_or("")
    }

    /// The HTTP version of the request.
    pub fn version(&self) -> Version {
        self.inner.version
    }

    /// All request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// Mutable access to the request headers (for plugs that rewrite requests).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.inner.headers
    }

    /// The first value of a request header, if present and valid UTF-8.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.inner.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Overrides the request method (used by method-override plugs).
    pub fn set_method(&mut self, method: Method) {
        self.inner.method = method;
    }

    /// Request extensions: values the server or tower layers attached to the request
    /// (for example the peer address).
    pub fn extensions(&self) -> &Extensions {
        &self.inner.extensions
    }

    /// Mutable request extensions.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.inner.extensions
    }

    /// How the client reached the server: peer and local address, TLS or not.
    /// `None` for requests that did not come through [`Server`](crate::Server)
    /// (the test client, for example).
    pub fn connect_info(&self) -> Option<&crate::server::ConnectInfo> {
        self.inner.extensions.get::<crate::server::ConnectInfo>()
    }

    /// The client's address (the TCP peer), when the request came through the server.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.connect_info().map(|info| info.peer)
    }

    /// A path parameter by name, percent-decoded (`None` if the route has no such parameter).
    pub fn path_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.inner.params.iter().find(|p| p.name == name).map(|p| decode(self.raw_param(p)))
    }

    /// All path parameters in route order, percent-decoded.
    pub fn path_params(&self) -> impl Iterator<Item = (&'static str, Cow<'_, str>)> + '_ {
        self.inner.params.iter().map(|p| (p.name, decode(self.raw_param(p))))
    }

    pub(crate) fn raw_param(&self, p: &RawParam) -> &str {
        &self.inner.uri.path()[p.start as usize..p.end as usize]
    }

    /// The query string decoded into `(name, value)` pairs, in order.
    pub fn query_params(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query_string().as_bytes()).into_owned().collect()
    }

    /// Path and query parameters merged, as Phoenix's `conn.inner.params`: path parameters
    /// win over query parameters of the same name.
    pub fn params(&self) -> Params {
        let mut pairs: Vec<(String, String)> =
            self.path_params().map(|(k, v)| (k.to_owned(), v.into_owned())).collect();
        for (k, v) in self.query_params() {
            if !pairs.iter().any(|(name, _)| *name == k) {
                pairs.push((k, v));
            }
        }
        Params(pairs)
    }

    /// Takes the request body out of the conn (`None` if it was already taken).
    pub fn take_body(&mut self) -> Option<Body> {
        self.inner.body.take()
    }

    /// Reads the whole request body, enforcing this request's body limit
    /// (see [`max_body_bytes`](Conn::max_body_bytes)).
    ///
    /// A second call returns an empty buffer: the body is read once.
    pub async fn read_body(&mut self) -> Result<Bytes, BodyReadError> {
        let limit = self.max_body_bytes();
        match self.inner.body.take() {
            Some(body) => body.collect_limited(limit).await,
            None => Ok(Bytes::new()),
        }
    }

    /// This request's body limit in bytes: the endpoint's
    /// ([`Endpoint::max_body_bytes`](crate::Endpoint::max_body_bytes)) unless a plug
    /// lowered it with [`put_max_body_bytes`](Conn::put_max_body_bytes). Every body
    /// extractor and parser reads under it.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.body_limit.unwrap_or(self.inner.shared.max_body_bytes)
    }

    /// Lowers this request's body limit (a value above the endpoint's limit is capped
    /// to it: the endpoint already refused larger declared bodies before routing). See
    /// [`BodyLimit`](crate::plugs::BodyLimit) for the plug that does this per scope.
    pub fn put_max_body_bytes(&mut self, limit: usize) -> &mut Conn {
        self.inner.body_limit = Some(limit.min(self.inner.shared.max_body_bytes));
        self
    }

    /// The request id: the client's `x-request-id` when it was valid, else one the
    /// endpoint generated. `None` when the endpoint's request ids are off.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_ref().and_then(|v| v.to_str().ok())
    }

    pub(crate) fn set_request_id(&mut self, id: HeaderValue) {
        self.inner.request_id = Some(id);
    }

    // ----- assigns and state -----

    /// Stores a typed value for later plugs and handlers (Phoenix's `assign`).
    /// One value per type: assigning again replaces it.
    pub fn assign<T: Clone + Send + Sync + 'static>(&mut self, value: T) -> &mut Conn {
        self.inner.assigns.insert(value);
        self
    }

    /// A value stored with [`assign`](Conn::assign).
    pub fn assigns<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.assigns.get::<T>()
    }

    /// Mutable access to an assigned value.
    pub fn assigns_mut<T: Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        self.inner.assigns.get_mut::<T>()
    }

    /// Removes an assigned value and returns it.
    pub fn take_assign<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.inner.assigns.remove::<T>()
    }

    /// Application state given to the endpoint with [`Endpoint::state`](crate::Endpoint::state).
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.shared.state.get::<T>()
    }

    // ----- response -----

    /// The response status set so far (`None` until a plug or handler sets one).
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// Sets the response status.
    pub fn put_status(&mut self, status: StatusCode) -> &mut Conn {
        self.inner.status = Some(status);
        self
    }

    /// Sets a response header, replacing any earlier value.
    ///
    /// Headers set by plugs are added to whatever the handler returns, unless the
    /// handler's response sets the same header itself.
    pub fn put_resp_header(&mut self, name: HeaderName, value: HeaderValue) -> &mut Conn {
        self.inner.resp_headers.insert(name, value);
        self
    }

    /// The response headers set so far.
    pub fn resp_headers(&self) -> &HeaderMap {
        &self.inner.resp_headers
    }

    /// Mutable response headers.
    pub fn resp_headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.inner.resp_headers
    }

    /// Sets the status and body of the response (Plug's `send_resp`, without sending:
    /// the response goes out when the conn is returned).
    pub fn send_resp(&mut self, status: StatusCode, body: impl Into<Body>) -> &mut Conn {
        self.inner.status = Some(status);
        self.inner.resp_body = body.into();
        self
    }

    /// Stops the pipeline: no later plug, nor the handler, runs. The response is
    /// whatever the conn holds (set it first with [`send_resp`](Conn::send_resp)).
    pub fn halt(&mut self) -> &mut Conn {
        self.inner.halted = true;
        self
    }

    /// Whether a plug halted this conn.
    pub fn halted(&self) -> bool {
        self.inner.halted
    }

    /// Registers a callback run on the final response just before it is sent, as
    /// Plug's `register_before_send`: whether the handler answered, a plug halted, or
    /// an extractor rejected the request. Callbacks run in reverse order of
    /// registration (the last registered runs first), each at most once.
    ///
    /// This is how a plug acts on what the handler did: a session plug writes its
    /// `Set-Cookie` header, a logger records the status.
    ///
    /// ```
    /// use zzz::{Conn, HeaderValue};
    ///
    /// async fn stamp_status(mut conn: Conn) -> Conn {
    ///     conn.register_before_send(|response| {
    ///         let status = response.status().as_u16().to_string();
    ///         response.headers_mut().insert("x-final-status", HeaderValue::from_str(&status).unwrap());
    ///     });
    ///     conn
    /// }
    /// ```
    pub fn register_before_send(&mut self, callback: impl FnOnce(&mut Response) + Send + 'static) -> &mut Conn {
        self.inner.before_send.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(callback));
        self
    }

    /// Takes the registered before-send callbacks out of the conn; whoever takes them
    /// must run them with [`run_before_send`].
    pub(crate) fn take_before_send(&mut self) -> Vec<BeforeSend> {
        std::mem::take(&mut *self.inner.before_send.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The conn's callback list itself: callbacks registered later (by the handler's
    /// extractors, after the conn is gone) land in it too.
    pub(crate) fn before_send_list(&self) -> BeforeSendList {
        self.inner.before_send.clone()
    }

    pub(crate) fn take_resp_headers(&mut self) -> HeaderMap {
        std::mem::take(&mut self.inner.resp_headers)
    }

    pub(crate) fn set_params(&mut self, names: &'static [&'static str], ranges: &[(u32, u32)]) {
        self.inner.params.reserve_exact(names.len());
        let base = self.inner.path_offset as u32;
        for (name, (start, end)) in names.iter().zip(ranges) {
            self.inner.params.push(RawParam { name, start: start + base, end: end + base });
        }
    }

    /// Splits the conn into a plain request (for tower layers) keeping the rest aside.
    pub(crate) fn into_request(self) -> http::Request<Body> {
        let this = *self.inner;
        let rest = ConnRest {
            params: this.params,
            path_offset: this.path_offset,
            assigns: this.assigns,
            status: this.status,
            resp_headers: this.resp_headers,
            resp_body: Arc::new(std::sync::Mutex::new(Some(this.resp_body))),
            halted: this.halted,
            shared: this.shared,
            body_limit: this.body_limit,
            request_id: this.request_id,
            before_send: this.before_send,
        };
        let mut builder = http::Request::builder().method(this.method).uri(this.uri).version(this.version);
        *builder.headers_mut().expect("builder is valid") = this.headers;
        let mut request = builder.body(this.body.unwrap_or_default()).expect("parts are valid");
        *request.extensions_mut() = this.extensions;
        request.extensions_mut().insert(rest);
        request
    }

    /// Rebuilds a conn from a request made by [`into_request`](Conn::into_request).
    pub(crate) fn from_layered_request(request: http::Request<Body>) -> Conn {
        let (mut parts, body) = request.into_parts();
        let rest = parts.extensions.remove::<ConnRest>();
        let mut conn = Conn::with_shared(http::Request::from_parts(parts, body), default_shared());
        if let Some(rest) = rest {
            conn.inner.params = rest.params;
            conn.inner.path_offset = rest.path_offset;
            conn.inner.assigns = rest.assigns;
            conn.inner.status = rest.status;
            conn.inner.resp_headers = rest.resp_headers;
            conn.inner.resp_body = rest.resp_body.lock().ok().and_then(|mut b| b.take()).unwrap_or_default();
            conn.inner.halted = rest.halted;
            conn.inner.shared = rest.shared;
            conn.inner.body_limit = rest.body_limit;
            conn.inner.request_id = rest.request_id;
            conn.inner.before_send = rest.before_send;
        }
        conn
    }
}

/// The parts of a conn that are not part of an HTTP request, carried through a tower
/// layer as a request extension.
#[derive(Clone)]
struct ConnRest {
    params: Vec<RawParam>,
    path_offset: usize,
    assigns: Extensions,
    status: Option<StatusCode>,
    resp_headers: HeaderMap,
    resp_body: Arc<std::sync::Mutex<Option<Body>>>,
    halted: bool,
    shared: Arc<Shared>,
    body_limit: Option<usize>,
    request_id: Option<HeaderValue>,
    before_send: BeforeSendList,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("method", &self.inner.method)
            .field("uri", &self.inner.uri)
            .field("params", &self.path_params().collect::<Vec<_>>())
            .field("status", &self.inner.status)
            .field("halted", &self.inner.halted)
            .finish_non_exhaustive()
    }
}

impl IntoResponse for Conn {
    /// The response the conn holds: its status (200 when none was set), response
    /// headers and body, after running its before-send callbacks.
    fn into_response(mut self) -> Response {
        let callbacks = self.take_before_send();
        let this = *self.inner;
        let mut response = Response::new(this.resp_body);
        *response.status_mut() = this.status.unwrap_or(StatusCode::OK);
        *response.headers_mut() = this.resp_headers;
        run_before_send(callbacks, &mut response);
        response
    }
}

/// Runs the callbacks in a list, including those registered while earlier ones ran.
pub(crate) fn run_before_send_list(list: &BeforeSendList, response: &mut Response) {
    loop {
        let callbacks = std::mem::take(&mut *list.lock().unwrap_or_else(|e| e.into_inner()));
        if callbacks.is_empty() {
            return;
        }
        run_before_send(callbacks, response);
    }
}

/// Runs before-send callbacks on a response, the last registered first.
pub(crate) fn run_before_send(callbacks: Vec<BeforeSend>, response: &mut Response) {
    for callback in callbacks.into_iter().rev() {
        callback(response);
    }
}

/// Path and query parameters merged, as returned by [`Conn::params`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// All `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Percent-decodes a path segment; invalid UTF-8 is replaced, never an error.
pub(crate) fn decode(raw: &str) -> Cow<'_, str> {
    if raw.contains('%') {
        percent_encoding::percent_decode_str(raw).decode_utf8_lossy()
    } else {
        Cow::Borrowed(raw)
    }
}
