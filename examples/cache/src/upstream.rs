//! The upstream cache (`--upstream URL`): this server as an edge cache in front of
//! another cache server speaking the same protocols. A miss is fetched from upstream
//! with the same path and query, stored locally and served; a stored artifact is
//! written through to upstream.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use zzz::{Body, HeaderMap, HeaderValue, Method, StatusCode, header};

/// A connection pool to the upstream server.
pub struct Upstream {
    base: String,
    token: Option<HeaderValue>,
    client: Client<HttpConnector, Body>,
}

/// An artifact the upstream had.
pub struct Fetched {
    /// Its body, streamed.
    pub body: Body,
    /// Its declared length.
    pub len: Option<u64>,
    /// Its headers.
    pub headers: HeaderMap,
}

const TIMEOUT: Duration = Duration::from_secs(30);

impl Upstream {
    /// An upstream at `base` (`http://host:port`, optionally with a path prefix).
    pub fn new(base: &str, token: Option<&str>) -> Result<Upstream, String> {
        let probe: zzz::http::Uri = base.parse().map_err(|e| format!("--upstream {base:?}: {e}"))?;
        if probe.scheme_str() != Some("http") || probe.authority().is_none() {
            return Err(format!("--upstream {base:?} must be http://host:port"));
        }
        let token = match token {
            Some(t) => Some(HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| "--upstream-token has characters not allowed in a header")?),
            None => None,
        };
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Ok(Upstream { base: base.trim_end_matches('/').to_owned(), token, client })
    }

    fn request(&self, method: Method, path_and_query: &str, auth: Option<&HeaderValue>, body: Body) -> zzz::http::Request<Body> {
        let mut request = zzz::http::Request::builder().method(method).uri(format!("{}{}", self.base, path_and_query)).body(body).expect("a valid URI");
        if let Some(auth) = self.token.as_ref().or(auth) {
            request.headers_mut().insert(header::AUTHORIZATION, auth.clone());
        }
        request
    }

    /// `GET` from upstream: `Ok(None)` on its 404, an error on anything but 200.
    pub async fn fetch(&self, path_and_query: &str, auth: Option<&HeaderValue>) -> Result<Option<Fetched>, String> {
        self.ask(Method::GET, path_and_query, auth).await
    }

    /// `HEAD` at upstream: whether it has the artifact, with its length and headers
    /// (the body is empty). `Ok(None)` on its 404, an error on anything but 200.
    pub async fn probe(&self, path_and_query: &str, auth: Option<&HeaderValue>) -> Result<Option<Fetched>, String> {
        self.ask(Method::HEAD, path_and_query, auth).await
    }

    async fn ask(&self, method: Method, path_and_query: &str, auth: Option<&HeaderValue>) -> Result<Option<Fetched>, String> {
        let request = self.request(method, path_and_query, auth, Body::empty());
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| "upstream did not answer in time".to_owned())?
            .map_err(|e| format!("upstream request failed: {e}"))?;
        match response.status() {
            StatusCode::OK => {
                let (parts, body) = response.into_parts();
                let len = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
                Ok(Some(Fetched { body: Body::new(body), len, headers: parts.headers }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(format!("upstream answered {other}")),
        }
    }

    /// `PUT` to upstream; returns its status.
    pub async fn push(&self, path_and_query: &str, auth: Option<&HeaderValue>, body: Body, len: u64, headers: &[(String, String)]) -> Result<StatusCode, String> {
        let mut request = self.request(Method::PUT, path_and_query, auth, body);
        request.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        request.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                request.headers_mut().insert(name, value);
            }
        }
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| "upstream did not answer in time".to_owned())?
            .map_err(|e| format!("upstream request failed: {e}"))?;
        let status = response.status();
        // Drain the (small) answer so the connection goes back to the pool.
        let _ = response.into_body().collect().await;
        Ok(status)
    }
}
