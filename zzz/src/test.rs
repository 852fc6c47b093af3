//! [`TestClient`]: drive an endpoint in-process, without a socket.
//!
//! ```
//! use zzz::{Endpoint, test::TestClient};
//!
//! zzz::router! {
//!     pub AppRouter;
//!     get "/" => index;
//! }
//! async fn index() -> &'static str { "Hello" }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let client = TestClient::new(Endpoint::new(AppRouter::new()));
//! client.get("/").await.assert_status(200).assert_text("Hello");
//! client.get("/nope").await.assert_status(404);
//! # });
//! ```
//!
//! A client made with [`TestClient::with_cookies`] keeps the cookies responses set
//! and sends them back, as a browser does, so sessions work across requests.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::body::Body;
use crate::endpoint::Endpoint;
use crate::response::Response;
use crate::router::Router;

type HandleFn = dyn Fn(http::Request<Body>) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync;

/// Sends requests to an endpoint in-process and checks the responses.
#[derive(Clone)]
pub struct TestClient {
    handle: Arc<HandleFn>,
    jar: Option<CookieJar>,
}

/// The test client's cookies, `(name, value)` in the order they were set.
type CookieJar = Arc<Mutex<Vec<(String, String)>>>;

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestClient")
    }
}

impl TestClient {
    /// A client for `endpoint`.
    pub fn new<R: Router>(endpoint: Endpoint<R>) -> TestClient {
        TestClient {
            handle: Arc::new(move |request| {
                let endpoint = endpoint.clone();
                Box::pin(async move { endpoint.handle(request).await })
            }),
            jar: None,
        }
    }

    /// The same client with a cookie jar: cookies set by responses (`Set-Cookie`) are
    /// kept and sent back in the `Cookie` header of later requests; a cookie set with
    /// `Max-Age=0` or an expiry in the past is removed. A request that sets its own
    /// `Cookie` header sends that instead. Clones of the client share the jar.
    ///
    /// ```
    /// use zzz::{Conn, Endpoint, HeaderValue, test::TestClient};
    ///
    /// zzz::router! {
    ///     pub AppRouter;
    ///     get "/set" => set;
    ///     get "/echo" => echo;
    /// }
    /// async fn set(mut conn: Conn) -> Conn {
    ///     conn.put_resp_header(zzz::header::SET_COOKIE, HeaderValue::from_static("theme=dark; Path=/"));
    ///     conn
    /// }
    /// async fn echo(conn: Conn) -> String {
    ///     conn.header("cookie").unwrap_or("none").to_owned()
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let client = TestClient::new(Endpoint::new(AppRouter::new())).with_cookies();
    /// client.get("/set").await.assert_status(200);
    /// assert_eq!(client.cookie("theme").as_deref(), Some("dark"));
    /// client.get("/echo").await.assert_text("theme=dark");
    /// # });
    /// ```
    pub fn with_cookies(mut self) -> TestClient {
        self.jar = Some(Arc::new(Mutex::new(Vec::new())));
        self
    }

    /// The value of a cookie in the jar (`None` without a jar or without that cookie).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let jar = self.jar.as_ref()?.lock().expect("cookie jar lock");
        jar.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }

    /// Puts a cookie into the jar by hand (to send a forged or tampered value, say).
    /// Panics if the client has no jar: make it with [`with_cookies`](TestClient::with_cookies).
    pub fn put_cookie(&self, name: &str, value: &str) {
        let jar = self.jar.as_ref().expect("put_cookie needs a client made with `with_cookies()`");
        let mut jar = jar.lock().expect("cookie jar lock");
        jar.retain(|(n, _)| n != name);
        jar.push((name.to_owned(), value.to_owned()));
    }

    /// Empties the cookie jar (a new browser session).
    pub fn clear_cookies(&self) {
        if let Some(jar) = &self.jar {
            jar.lock().expect("cookie jar lock").clear();
        }
    }

    fn cookie_header(&self) -> Option<String> {
        let jar = self.jar.as_ref()?.lock().expect("cookie jar lock");
        if jar.is_empty() {
            return None;
        }
        Some(jar.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; "))
    }

    fn store_cookies(&self, headers: &HeaderMap) {
        let Some(jar) = &self.jar else { return };
        let mut jar = jar.lock().expect("cookie jar lock");
        for value in headers.get_all(header::SET_COOKIE) {
            let Some(parsed) = value.to_str().ok().and_then(|v| cookie::Cookie::parse(v.to_owned()).ok()) else {
                continue;
            };
            let expired = parsed.max_age().is_some_and(|age| age <= cookie::time::Duration::ZERO)
                || parsed.expires_datetime().is_some_and(|at| at <= cookie::time::OffsetDateTime::now_utc());
            jar.retain(|(n, _)| n != parsed.name());
            if !expired {
                jar.push((parsed.name().to_owned(), parsed.value().to_owned()));
            }
        }
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> TestRequest {
        TestRequest {
            client: self.clone(),
            builder: http::Request::builder().method(method).uri(path),
            body: Body::empty(),
        }
    }

    /// A `GET` request.
    pub fn get(&self, path: &str) -> TestRequest {
        self.request(Method::GET, path)
    }

    /// A `HEAD` request.
    pub fn head(&self, path: &str) -> TestRequest {
        self.request(Method::HEAD, path)
    }

    /// A `POST` request.
    pub fn post(&self, path: &str) -> TestRequest {
        self.request(Method::POST, path)
    }

    /// A `PUT` request.
    pub fn put(&self, path: &str) -> TestRequest {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` request.
    pub fn patch(&self, path: &str) -> TestRequest {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` request.
    pub fn delete(&self, path: &str) -> TestRequest {
        self.request(Method::DELETE, path)
    }

    /// An `OPTIONS` request.
    pub fn options(&self, path: &str) -> TestRequest {
        self.request(Method::OPTIONS, path)
    }
}

/// A request being built; `.await` it (or call [`send`](TestRequest::send)) to get
/// the [`TestResponse`].
#[must_use = "a test request does nothing until it is awaited"]
pub struct TestRequest {
    client: TestClient,
    builder: http::request::Builder,
    body: Body,
}

impl TestRequest {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> TestRequest {
        self.builder = self.builder.header(name, value);
        self
    }

    /// A raw body (no content type is set).
    pub fn body(mut self, body: impl Into<Body>) -> TestRequest {
        self.body = body.into();
        self
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json<T: Serialize>(self, value: &T) -> TestRequest {
        let bytes = serde_json::to_vec(value).expect("test JSON body serializes");
        self.header("content-type", "application/json").body(bytes)
    }

    /// A urlencoded form body with `Content-Type: application/x-www-form-urlencoded`.
    pub fn form<T: Serialize>(self, value: &T) -> TestRequest {
        let text = serde_urlencoded::to_string(value).expect("test form body serializes");
        self.header("content-type", "application/x-www-form-urlencoded").body(text)
    }

    /// Sends the request and reads the whole response.
    pub async fn send(mut self) -> TestResponse {
        let has_cookie = self.builder.headers_ref().is_some_and(|h| h.contains_key(header::COOKIE));
        if !has_cookie && let Some(cookies) = self.client.cookie_header() {
            self.builder = self.builder.header(header::COOKIE, cookies);
        }
        let request = self.builder.body(self.body).expect("test request is valid");
        let method = request.method().clone();
        let uri = request.uri().to_string();
        let response = (self.client.handle)(request).await;
        let (parts, body) = response.into_parts();
        self.client.store_cookies(&parts.headers);
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => panic!("reading the response body of {method} {uri} failed: {err}"),
        };
        TestResponse { request: format!("{method} {uri}"), status: parts.status, headers: parts.headers, body }
    }
}

impl IntoFuture for TestRequest {
    type Output = TestResponse;
    type IntoFuture = Pin<Box<dyn Future<Output = TestResponse> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A response, fully read, with assertions that show the request and body on failure.
#[derive(Debug, Clone)]
pub struct TestResponse {
    request: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// All headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body deserialized from JSON; panics with the body when it does not fit.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not the expected JSON ({e}): {}", self.request, self.text()))
    }

    /// Asserts the status.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &TestResponse {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}: expected status {status}, got {}; body: {}",
            self.request,
            self.status,
            self.text()
        );
        self
    }

    /// Asserts a header's value.
    #[track_caller]
    pub fn assert_header(&self, name: &str, value: &str) -> &TestResponse {
        assert_eq!(self.header(name), Some(value), "{}: header {name:?}; all headers: {:?}", self.request, self.headers);
        self
    }

    /// Asserts a header is absent.
    #[track_caller]
    pub fn assert_no_header(&self, name: &str) -> &TestResponse {
        assert!(self.header(name).is_none(), "{}: header {name:?} should be absent, is {:?}", self.request, self.header(name));
        self
    }

    /// Asserts the body text.
    #[track_caller]
    pub fn assert_text(&self, text: &str) -> &TestResponse {
        assert_eq!(self.text(), text, "{}: body", self.request);
        self
    }

    /// Asserts the body contains `needle`.
    #[track_caller]
    pub fn assert_text_contains(&self, needle: &str) -> &TestResponse {
        assert!(self.text().contains(needle), "{}: body should contain {needle:?}, is {:?}", self.request, self.text());
        self
    }

    /// Asserts the body is this JSON (compared as values, so key order and spacing don't matter).
    #[track_caller]
    pub fn assert_json(&self, expected: serde_json::Value) -> &TestResponse {
        let actual: serde_json::Value = self.json();
        assert_eq!(actual, expected, "{}: JSON body", self.request);
        self
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.header(header::CONTENT_TYPE.as_str())
    }
}

