//! [`ApiConfig`], the spec assembled from a router, and the handlers that serve it
//! and Swagger UI.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use utoipa::openapi::path::{HttpMethod, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{Components, Info, OpenApi, Paths};

use super::operation::OperationDoc;
use crate::response::{IntoResponse, Redirect, Response, error_response};
use crate::{Body, Conn};

/// Settings of a router's OpenAPI document: info, servers, security schemes, and
/// whether the spec and Swagger UI are served.
///
/// ```
/// use zzz::openapi::ApiConfig;
///
/// let config = ApiConfig::new("Hello API", "1.0.0")
///     .description("Greetings over HTTP")
///     .server("http://localhost:4000")
///     .bearer_auth("bearer");
/// ```
#[derive(Clone)]
pub struct ApiConfig {
    pub(crate) info: Info,
    pub(crate) servers: Vec<Server>,
    pub(crate) schemes: BTreeMap<String, SecurityScheme>,
    pub(crate) enabled: bool,
}

impl ApiConfig {
    /// A config with a title and version. Serving is on, except when `ZZZ_ENV` is
    /// `prod` (see [`serve_in_prod`](ApiConfig::serve_in_prod)).
    pub fn new(title: &str, version: &str) -> ApiConfig {
        let prod = std::env::var("ZZZ_ENV").is_ok_and(|env| env == "prod");
        ApiConfig { info: Info::new(title, version), servers: Vec::new(), schemes: BTreeMap::new(), enabled: !prod }
    }

    /// The API's description (Markdown).
    pub fn description(mut self, description: &str) -> ApiConfig {
        self.info.description = Some(description.to_owned());
        self
    }

    /// Adds a server URL.
    pub fn server(mut self, url: &str) -> ApiConfig {
        self.servers.push(Server::new(url));
        self
    }

    /// Declares an HTTP bearer-token scheme named `name` (routes refer to it with `security = ["name"]`).
    pub fn bearer_auth(mut self, name: &str) -> ApiConfig {
        self.schemes.insert(name.to_owned(), SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        self
    }

    /// Declares an HTTP Basic scheme named `name`.
    pub fn basic_auth(mut self, name: &str) -> ApiConfig {
        self.schemes.insert(name.to_owned(), SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        self
    }

    /// Declares an API key sent in the header `header`, named `name`.
    pub fn api_key_header(mut self, name: &str, header: &str) -> ApiConfig {
        self.schemes.insert(name.to_owned(), SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(header))));
        self
    }

    /// Serves the spec and Swagger UI in production too (off by default there).
    pub fn serve_in_prod(mut self, on: bool) -> ApiConfig {
        if on {
            self.enabled = true;
        }
        self
    }

    /// Turns serving on or off, whatever the environment.
    pub fn serving(mut self, on: bool) -> ApiConfig {
        self.enabled = on;
        self
    }

    /// Whether the spec and Swagger UI routes answer (they answer 404 when not).
    pub fn is_serving(&self) -> bool {
        self.enabled
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("title", &self.info.title)
            .field("version", &self.info.version)
            .field("schemes", &self.schemes.keys().collect::<Vec<_>>())
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Collects the operations of a router into an [`OpenApi`] document.
pub struct SpecBuilder {
    paths: Paths,
    schemas: BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    config: ApiConfig,
}

impl SpecBuilder {
    /// A builder for `config`'s document.
    pub fn new(config: &ApiConfig) -> SpecBuilder {
        SpecBuilder { paths: Paths::new(), schemas: BTreeMap::new(), config: config.clone() }
    }

    /// Adds a documented operation on `verb` (`GET`…) and a zzz path pattern
    /// (`/users/:id`, turned into `/users/{id}`).
    pub fn add(&mut self, verb: &str, pattern: &str, mut op: OperationDoc) {
        let Some(method) = http_method(verb) else { return };
        for (name, schema) in op.take_schemas() {
            self.schemas.entry(name).or_insert(schema);
        }
        if op.operation.responses.responses.is_empty() {
            op.add_response("default", "A response", None);
        }
        let path = openapi_path(pattern);
        let item = PathItem::new(method, op.operation);
        match self.paths.paths.get_mut(&path) {
            Some(existing) => existing.merge_operations(item),
            None => {
                self.paths.paths.insert(path, item);
            }
        }
    }

    /// The finished document (OpenAPI 3.1).
    pub fn build(self) -> OpenApi {
        let mut openapi = OpenApi::new(self.config.info, self.paths);
        if !self.config.servers.is_empty() {
            openapi.servers = Some(self.config.servers);
        }
        if !self.schemas.is_empty() || !self.config.schemes.is_empty() {
            let mut components = Components::new();
            components.schemas = self.schemas;
            for (name, scheme) in self.config.schemes {
                components.add_security_scheme(name, scheme);
            }
            openapi.components = Some(components);
        }
        openapi
    }
}

fn http_method(verb: &str) -> Option<HttpMethod> {
    Some(match verb {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        "HEAD" => HttpMethod::Head,
        "OPTIONS" => HttpMethod::Options,
        _ => return None,
    })
}

/// `/users/:id/*rest` → `/users/{id}/{rest}`.
pub fn openapi_path(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for segment in pattern.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if let Some(name) = segment.strip_prefix(':').or_else(|| segment.strip_prefix('*')) {
            out.push('{');
            out.push_str(name);
            out.push('}');
        } else {
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// A router that carries its OpenAPI document. The router macro implements it for
/// routers with an `openapi` item.
pub trait DocumentedRouter: Send + Sync + 'static {
    /// The settings given in the router's `openapi` item.
    fn api_config() -> &'static ApiConfig;
    /// The document, built once.
    fn openapi() -> &'static OpenApi;
    /// The document as JSON, serialized once.
    fn openapi_json() -> &'static Bytes;
    /// Where the spec is served.
    fn spec_path() -> &'static str;
    /// Where Swagger UI is served, if anywhere.
    fn docs_path() -> Option<&'static str>;
}

/// Serialises a document (used by the generated `openapi_json`).
pub fn to_json(openapi: &OpenApi) -> Bytes {
    Bytes::from(openapi.to_pretty_json().expect("an OpenAPI document serializes"))
}

/// The handler of the spec route: the document as JSON, or 404 when serving is off.
pub async fn serve_spec<R: DocumentedRouter>() -> Response {
    if !R::api_config().is_serving() {
        return error_response(StatusCode::NOT_FOUND, "the OpenAPI spec is not served in this environment".into());
    }
    let mut response = Response::new(Body::from(R::openapi_json().clone()));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The handler of the Swagger UI routes: its files, built into the binary
/// (utoipa-swagger-ui with the `vendored` feature: no download, works offline).
pub async fn serve_swagger_ui<R: DocumentedRouter>(conn: Conn) -> Response {
    let Some(base) = R::docs_path() else {
        return error_response(StatusCode::NOT_FOUND, "Swagger UI is not configured".into());
    };
    if !R::api_config().is_serving() {
        return error_response(StatusCode::NOT_FOUND, "Swagger UI is not served in this environment".into());
    }
    let path = conn.path();
    let tail = path.strip_prefix(base).unwrap_or("").trim_start_matches('/');
    if tail.is_empty() && !path.ends_with('/') {
        // Swagger UI's page loads its assets relative to the directory.
        return Redirect::to(&format!("{path}/")).into_response();
    }
    let config = Arc::new(utoipa_swagger_ui::Config::from(R::spec_path()));
    match utoipa_swagger_ui::serve(tail, config) {
        Ok(Some(file)) => {
            let mut response = Response::new(Body::from(file.bytes.into_owned()));
            if let Ok(value) = HeaderValue::from_str(&file.content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
        Ok(None) => error_response(StatusCode::NOT_FOUND, format!("no Swagger UI file {tail:?}")),
        Err(err) => error_response(StatusCode::INTERNAL_SERVER_ERROR, format!("Swagger UI failed: {err}")),
    }
}

/// The environment variable `zzz openapi` sets to ask an app for its spec.
pub const EXPORT_VAR: &str = "ZZZ_OPENAPI_OUTPUT";

/// Writes the router's spec to the file named by `ZZZ_OPENAPI_OUTPUT` (`-` for
/// standard output) and returns `Ok(true)` when that variable is set, so `main` can
/// return before starting the server. This is how `zzz openapi` gets an app's spec
/// without serving it.
///
/// ```no_run
/// # zzz::router! { pub AppRouter; openapi => zzz::openapi::ApiConfig::new("app", "1"); get "/" => index; }
/// # async fn index() -> &'static str { "" }
/// fn main() -> std::io::Result<()> {
///     if zzz::openapi::export_if_requested::<AppRouter>()? {
///         return Ok(());
///     }
///     // … start the server
///     Ok(())
/// }
/// ```
pub fn export_if_requested<R: DocumentedRouter>() -> std::io::Result<bool> {
    let Some(target) = std::env::var_os(EXPORT_VAR) else { return Ok(false) };
    let json = R::openapi_json();
    if target == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(json)?;
        out.write_all(b"\n")?;
    } else {
        std::fs::write(&target, json).map_err(|e| {
            std::io::Error::new(e.kind(), format!("writing the OpenAPI spec to {}: {e}", std::path::Path::new(&target).display()))
        })?;
    }
    Ok(true)
}
