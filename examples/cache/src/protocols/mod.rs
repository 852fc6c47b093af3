//! The four protocols, and what they share: the [`Gate`] plug each scope pipes
//! through (timing, authentication), reading and writing artifacts with the upstream
//! cache in the loop, and [`CacheError`], rendered as each protocol's clients expect.

pub mod bazel;
pub mod generic;
pub mod nx;
pub mod turbo;

use std::time::Instant;

use zzz::plugs::halt_with;
use zzz::{Body, Conn, HeaderValue, IntoResponse, Plug, Response, StatusCode, header};

use crate::Cache;
use crate::auth::{AuthError, Principal};
use crate::keys::KeyError;
use crate::metrics::Protocol;
use crate::storage::{Entry, PutError, PutOptions};
use crate::upstream::Fetched;

/// Headers stored with an artifact and sent back with it.
pub const META_HEADERS: [&str; 2] = ["x-artifact-duration", "x-artifact-tag"];

/// The plug in front of each protocol's routes: times the request for the latency
/// histogram, counts error answers, and authenticates the client (assigning its
/// [`Principal`], or answering 401 in the protocol's format).
#[derive(Debug, Clone, Copy)]
pub struct Gate(pub Protocol);

impl Plug for Gate {
    async fn call(&self, mut conn: Conn) -> Conn {
        let protocol = self.0;
        let cache = conn.state::<Cache>().cloned().expect("the endpoint has the Cache state");
        let started = Instant::now();
        let metrics = cache.clone();
        conn.register_before_send(move |response| {
            metrics.metrics.observe(protocol, started.elapsed());
            let status = response.status();
            if (status.is_client_error() && status != StatusCode::NOT_FOUND) || status.is_server_error() {
                metrics.metrics.error(protocol);
            }
        });
        match cache.auth.authenticate(&conn) {
            Ok(principal) => {
                conn.assign(principal);
                conn
            }
            Err(err) => halt_with(conn, CacheError::auth(protocol, err)),
        }
    }
}

/// A request's error, rendered for its protocol: Turborepo gets its JSON error body
/// (`{"error":{"code":…,"message":…}}`), the others plain text; a 401 carries the
/// challenge its clients understand (Basic for Gradle and Bazel, Bearer otherwise).
#[derive(Debug)]
pub struct CacheError {
    protocol: Protocol,
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl CacheError {
    /// An error with a status, a machine-readable code and a message.
    pub fn new(protocol: Protocol, status: StatusCode, code: &'static str, message: impl Into<String>) -> CacheError {
        CacheError { protocol, status, code, message: message.into() }
    }

    /// 400 for a key the protocol does not accept.
    pub fn key(protocol: Protocol, err: KeyError) -> CacheError {
        CacheError::new(protocol, StatusCode::BAD_REQUEST, "bad_request", err.to_string())
    }

    /// 401 or 403.
    pub fn auth(protocol: Protocol, err: AuthError) -> CacheError {
        match err {
            AuthError::Unauthenticated(m) => CacheError::new(protocol, StatusCode::UNAUTHORIZED, "unauthorized", m),
            AuthError::Forbidden(m) => CacheError::new(protocol, StatusCode::FORBIDDEN, "forbidden", m),
        }
    }

    /// 404: a miss.
    pub fn miss(protocol: Protocol, key: &str) -> CacheError {
        CacheError::new(protocol, StatusCode::NOT_FOUND, "not_found", format!("no artifact for {key}"))
    }

    /// 500 for a disk error.
    pub fn io(protocol: Protocol, err: std::io::Error) -> CacheError {
        CacheError::new(protocol, StatusCode::INTERNAL_SERVER_ERROR, "internal_error", format!("storage error: {err}"))
    }

    /// The status of a failed PUT.
    pub fn put(protocol: Protocol, err: PutError) -> CacheError {
        let (status, code) = match &err {
            PutError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            PutError::Aborted(_) => (StatusCode::BAD_REQUEST, "upload_aborted"),
            PutError::DigestMismatch { .. } => (StatusCode::BAD_REQUEST, "digest_mismatch"),
            PutError::Exists => (StatusCode::CONFLICT, "conflict"),
            PutError::Io(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        };
        CacheError::new(protocol, status, code, err.to_string())
    }
}

impl IntoResponse for CacheError {
    fn into_response(self) -> Response {
        let protocol = self.protocol.name();
        if self.status.is_server_error() {
            tracing::error!(protocol, status = self.status.as_u16(), message = %self.message, "request failed");
        } else if self.status == StatusCode::NOT_FOUND {
            tracing::debug!(protocol, message = %self.message, "miss");
        } else {
            tracing::info!(protocol, status = self.status.as_u16(), message = %self.message, "request refused");
        }
        let mut response = if self.protocol == Protocol::Turbo {
            let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
            (self.status, zzz::Json(body)).into_response()
        } else {
            (self.status, format!("{}\n", self.message)).into_response()
        };
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = match self.protocol {
                Protocol::Generic | Protocol::Bazel => "Basic realm=\"cache\"",
                Protocol::Nx | Protocol::Turbo => "Bearer realm=\"cache\"",
            };
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// What every handler starts from: the cache, the protocol and the client.
pub struct Ctx {
    /// The cache.
    pub cache: Cache,
    /// The protocol of the route.
    pub protocol: Protocol,
    /// The authenticated client.
    pub principal: Principal,
}

impl Ctx {
    /// The context of a conn that passed its [`Gate`].
    pub fn of(conn: &Conn, protocol: Protocol) -> Ctx {
        let cache = conn.state::<Cache>().cloned().expect("the endpoint has the Cache state");
        let principal = conn.assigns::<Principal>().cloned().expect("the Gate plug assigned the principal");
        Ctx { cache, protocol, principal }
    }

    /// 400 for a bad key.
    pub fn bad_key(&self, err: KeyError) -> CacheError {
        CacheError::key(self.protocol, err)
    }

    /// Checks the client may read or write in `namespace`.
    pub fn allow(&self, namespace: &str, write: bool) -> Result<(), CacheError> {
        self.principal.allow(namespace, write).map_err(|e| CacheError::auth(self.protocol, e))
    }

    /// Reads an artifact (only its headers for HEAD): from the store, else from the
    /// upstream cache (stored locally on the way for GET; a HEAD only asks upstream
    /// whether it has it, so answering it never waits for a download). `None` is a miss.
    pub async fn read(&self, origin: Origin, key: &str, head: bool) -> Result<Option<Response>, CacheError> {
        let metrics = &self.cache.metrics;
        if head {
            if let Some(entry) = self.cache.store.peek(key) {
                metrics.hit(self.protocol, 0);
                return Ok(Some(artifact_response(Body::empty(), entry.size, &entry.meta)));
            }
            if let Some(found) = self.probe_upstream(&origin).await {
                metrics.hit(self.protocol, 0);
                return Ok(Some(artifact_response(Body::empty(), found.len.unwrap_or(0), &meta_of(&found.headers))));
            }
            metrics.miss(self.protocol);
            return Ok(None);
        }
        if let Some(artifact) = self.cache.store.get(key).await.map_err(|e| CacheError::io(self.protocol, e))? {
            metrics.hit(self.protocol, if head { 0 } else { artifact.size });
            let body = if head { Body::empty() } else { artifact.body };
            return Ok(Some(artifact_response(body, artifact.size, &artifact.meta)));
        }
        if self.fill_from_upstream(&origin, key).await
            && let Some(artifact) = self.cache.store.get(key).await.map_err(|e| CacheError::io(self.protocol, e))?
        {
            metrics.hit(self.protocol, artifact.size);
            return Ok(Some(artifact_response(artifact.body, artifact.size, &artifact.meta)));
        }
        metrics.miss(self.protocol);
        Ok(None)
    }

    /// Asks upstream (HEAD) whether it has a missing artifact.
    async fn probe_upstream(&self, origin: &Origin) -> Option<Fetched> {
        let upstream = self.cache.upstream.as_ref()?;
        let path = origin.path.as_str();
        match upstream.probe(path, origin.auth.as_ref()).await {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(path, error = %err, "upstream HEAD failed; answering as a miss");
                None
            }
        }
    }

    /// Fetches a missing artifact from upstream into the store; whether it is there now.
    async fn fill_from_upstream(&self, origin: &Origin, key: &str) -> bool {
        let Some(upstream) = &self.cache.upstream else { return false };
        let path = origin.path.as_str();
        let fetched = match upstream.fetch(path, origin.auth.as_ref()).await {
            Ok(Some(fetched)) => fetched,
            Ok(None) => return false,
            Err(err) => {
                self.cache.metrics.upstream_fetch(false);
                tracing::warn!(path, error = %err, "upstream fetch failed; answering as a miss");
                return false;
            }
        };
        let meta = meta_of(&fetched.headers);
        let options = PutOptions { meta, declared_len: fetched.len, ..PutOptions::default() };
        match self.cache.store.put(key, fetched.body, options).await {
            Ok(_) => {
                self.cache.metrics.upstream_fetch(true);
                true
            }
            Err(err) => {
                self.cache.metrics.upstream_fetch(false);
                tracing::warn!(path, error = %err, "could not store an artifact fetched from upstream");
                false
            }
        }
    }

    /// Stores the request body under `key`, then writes it through to upstream.
    pub async fn write(&self, mut conn: Conn, key: &str, mut options: PutOptions) -> Result<Entry, CacheError> {
        options.declared_len = conn.header(header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
        let body = conn.take_body().unwrap_or_default();
        let origin = Origin::of(&conn);
        drop(conn);
        let entry = self.cache.store.put(key, body, options).await.map_err(|e| CacheError::put(self.protocol, e))?;
        self.cache.metrics.put(self.protocol, entry.size);
        if let Some(upstream) = &self.cache.upstream {
            let path = origin.path.as_str();
            match self.cache.store.read(key, false).await {
                Ok(Some(artifact)) => {
                    match upstream.push(path, origin.auth.as_ref(), artifact.body, artifact.size, &artifact.meta).await {
                        Ok(status) if status.is_success() || status == StatusCode::CONFLICT => {}
                        Ok(status) => tracing::warn!(path, %status, "upstream refused a write-through"),
                        Err(err) => tracing::warn!(path, error = %err, "write-through to upstream failed"),
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(path, error = %err, "could not reopen an artifact for write-through"),
            }
        }
        Ok(entry)
    }
}

/// The artifact headers kept with an artifact, taken from a response's headers.
fn meta_of(headers: &zzz::HeaderMap) -> Vec<(String, String)> {
    META_HEADERS
        .iter()
        .filter_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()).map(|v| (name.to_string(), v.to_owned())))
        .collect()
}

/// Where a request came from, for the upstream: its path and query, and its
/// `Authorization` (taken out of the conn so no borrow of it lives across an await).
pub struct Origin {
    /// Path and query as sent.
    pub path: String,
    /// The client's credentials.
    pub auth: Option<HeaderValue>,
}

impl Origin {
    /// The origin of a request.
    pub fn of(conn: &Conn) -> Origin {
        Origin {
            path: conn.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            auth: conn.headers().get(header::AUTHORIZATION).cloned(),
        }
    }
}

/// A 200 with an artifact's body, length and stored headers.
pub fn artifact_response(body: Body, size: u64, meta: &[(String, String)]) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    for (name, value) in meta {
        if let (Ok(name), Ok(value)) = (header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
    response
}
