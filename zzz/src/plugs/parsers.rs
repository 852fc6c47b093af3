//! Body parsers, as `Plug.Parsers`: JSON, urlencoded forms with nested keys, and
//! multipart with file uploads streamed to temporary files.
//!
//! [`Parsers`] reads the body once, by its `Content-Type`, and assigns the result as
//! [`BodyParams`]; handlers take it with [`Form<T>`] (typed) or
//! `Assign<BodyParams>` (the tree). Limits default to Plug's: 8 MB for JSON and
//! multipart, 1 MB for urlencoded. Multipart parsing is done by the `multer` crate;
//! temporary files by `tempfile`.
//!
//! ```
//! use serde::Deserialize;
//! use zzz::Pipeline;
//! use zzz::plugs::{Form, Parsers};
//!
//! let pipeline = Pipeline::new().plug(Parsers::new().urlencoded_limit(64 * 1024));
//!
//! #[derive(Deserialize)]
//! struct User { name: String, tags: Vec<String> }
//! #[derive(Deserialize)]
//! struct Signup { user: User }
//!
//! // POST body `user[name]=ann&user[tags][]=admin`
//! async fn create(Form(signup): Form<Signup>) -> String {
//!     format!("{} {:?}", signup.user.name, signup.user.tags)
//! }
//! ```

use std::sync::Arc;

use http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::params::{Param, decode_urlencoded, from_params};
use crate::body::BodyReadError;
use crate::conn::Conn;
use crate::extract::FromConnParts;
use crate::plug::Plug;
use crate::response::{IntoResponse, Response, error_response};

/// Plug's default limit for JSON and multipart bodies: 8 MB.
pub const DEFAULT_JSON_LIMIT: usize = 8_000_000;
/// Plug's default limit for multipart bodies: 8 MB.
pub const DEFAULT_MULTIPART_LIMIT: usize = 8_000_000;
/// Plug's default limit for urlencoded bodies: 1 MB.
pub const DEFAULT_URLENCODED_LIMIT: usize = 1_000_000;

/// The parsed request body, assigned by [`Parsers`].
#[derive(Debug, Clone)]
pub enum BodyParams {
    /// A JSON body. A document that is not an object is under `"_json"`, as in Plug.
    Json(Arc<serde_json::Value>),
    /// A urlencoded or multipart body, as a nested tree (see [`Param`]).
    Form(Arc<Param>),
}

impl BodyParams {
    /// The body as JSON (a form tree converted, files as objects).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            BodyParams::Json(value) => (**value).clone(),
            BodyParams::Form(tree) => tree.to_json(),
        }
    }

    /// A top-level field as text, when it is plain text (or a JSON string).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self {
            BodyParams::Json(value) => value.get(key).and_then(|v| v.as_str()),
            BodyParams::Form(tree) => tree.get(key).and_then(Param::as_str),
        }
    }

    /// A top-level field of a form body.
    pub fn get(&self, key: &str) -> Option<&Param> {
        match self {
            BodyParams::Form(tree) => tree.get(key),
            BodyParams::Json(_) => None,
        }
    }

    /// Deserializes the body into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, FormRejection> {
        match self {
            BodyParams::Json(value) => serde_path_to_error::deserialize(&**value).map_err(|err| {
                let path = err.path().to_string();
                FormRejection::Data { field: (path != ".").then_some(path), message: err.into_inner().to_string() }
            }),
            BodyParams::Form(tree) => {
                from_params(tree).map_err(|(field, message)| FormRejection::Data { field, message })
            }
        }
    }
}

/// Why [`Parsers`] refused a body. Each variant has its status; all answer in plain
/// text naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseRejection {
    /// 413: the body is over the limit for its kind.
    TooLarge {
        /// `JSON`, `urlencoded` or `multipart`.
        kind: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// 413: one uploaded file is over the per-file limit.
    FileTooLarge {
        /// The multipart field name.
        field: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: a content type the parsers do not accept (only when
    /// [`Parsers::pass_unknown`] is off).
    UnsupportedMediaType {
        /// What the client sent.
        found: String,
    },
    /// 400: invalid JSON, with its position.
    InvalidJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser found.
        message: String,
    },
    /// 400: a malformed urlencoded body (bad nested key).
    InvalidUrlencoded(String),
    /// 400: a malformed multipart body.
    InvalidMultipart(String),
    /// 400: the body could not be read (client went away); 500 if a temporary file
    /// could not be written.
    Io {
        /// The status to answer.
        status: StatusCode,
        /// What failed.
        message: String,
    },
}

impl ParseRejection {
    /// The status to answer.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseRejection::TooLarge { .. } | ParseRejection::FileTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ParseRejection::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ParseRejection::InvalidJson { .. }
            | ParseRejection::InvalidUrlencoded(_)
            | ParseRejection::InvalidMultipart(_) => StatusCode::BAD_REQUEST,
            ParseRejection::Io { status, .. } => *status,
        }
    }

    fn from_read(kind: &'static str, err: BodyReadError) -> ParseRejection {
        match err {
            BodyReadError::TooLarge { limit } => ParseRejection::TooLarge { kind, limit },
            BodyReadError::Io(message) => ParseRejection::Io { status: StatusCode::BAD_REQUEST, message },
        }
    }
}

impl std::fmt::Display for ParseRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseRejection::TooLarge { kind, limit } => {
                write!(f, "{kind} request body is larger than the limit of {limit} bytes")
            }
            ParseRejection::FileTooLarge { field, limit } => {
                write!(f, "uploaded file in field \"{field}\" is larger than the limit of {limit} bytes")
            }
            ParseRejection::UnsupportedMediaType { found } => write!(
                f,
                "unsupported request content type `{found}`; expected application/json, \
                 application/x-www-form-urlencoded or multipart/form-data"
            ),
            ParseRejection::InvalidJson { line, column, message } => {
                write!(f, "invalid JSON at line {line} column {column}: {message}")
            }
            ParseRejection::InvalidUrlencoded(message) => write!(f, "invalid urlencoded body: {message}"),
            ParseRejection::InvalidMultipart(message) => write!(f, "invalid multipart body: {message}"),
            ParseRejection::Io { message, .. } => write!(f, "could not read the request body: {message}"),
        }
    }
}

impl std::error::Error for ParseRejection {}

impl IntoResponse for ParseRejection {
    fn into_response(self) -> Response {
        error_response(self.status(), self.to_string())
    }
}

/// The body parser plug (`Plug.Parsers`): JSON, urlencoded and multipart.
///
/// Runs only when the request has a body with a `Content-Type`; on success it assigns
/// [`BodyParams`], on failure it halts with the [`ParseRejection`]'s status and message.
/// Other content types pass through untouched (the handler may read the body itself),
/// unless [`pass_unknown(false)`](Parsers::pass_unknown) makes them a 415.
///
/// Each kind's limit is also capped by the endpoint's own body limit.
///
/// ```
/// use zzz::plugs::Parsers;
/// let parsers = Parsers::new()
///     .json_limit(1_000_000)
///     .multipart_limit(50_000_000)
///     .file_limit(20_000_000)
///     .pass_unknown(false);
/// ```
#[derive(Debug, Clone)]
pub struct Parsers {
    json_limit: usize,
    urlencoded_limit: usize,
    multipart_limit: usize,
    file_limit: usize,
    pass_unknown: bool,
    upload_dir: Option<Arc<std::path::Path>>,
}

impl Default for Parsers {
    fn default() -> Self {
        Parsers::new()
    }
}

impl Parsers {
    /// All three parsers with Plug's limits; unknown content types pass.
    pub fn new() -> Parsers {
        Parsers {
            json_limit: DEFAULT_JSON_LIMIT,
            urlencoded_limit: DEFAULT_URLENCODED_LIMIT,
            multipart_limit: DEFAULT_MULTIPART_LIMIT,
            file_limit: DEFAULT_MULTIPART_LIMIT,
            pass_unknown: true,
            upload_dir: None,
        }
    }

    /// The JSON body limit in bytes (default 8 MB).
    pub fn json_limit(mut self, bytes: usize) -> Parsers {
        self.json_limit = bytes;
        self
    }

    /// The urlencoded body limit in bytes (default 1 MB).
    pub fn urlencoded_limit(mut self, bytes: usize) -> Parsers {
        self.urlencoded_limit = bytes;
        self
    }

    /// The whole multipart body limit in bytes (default 8 MB).
    pub fn multipart_limit(mut self, bytes: usize) -> Parsers {
        self.multipart_limit = bytes;
        self
    }

    /// The limit for one uploaded file in bytes (default 8 MB).
    pub fn file_limit(mut self, bytes: usize) -> Parsers {
        self.file_limit = bytes;
        self
    }

    /// Where uploaded files are written (default: the system's temporary directory).
    pub fn upload_dir(mut self, dir: impl AsRef<std::path::Path>) -> Parsers {
        self.upload_dir = Some(dir.as_ref().into());
        self
    }

    /// Whether bodies of other content types pass untouched (default `true`, as
    /// Phoenix's `pass: ["*/*"]`); `false` answers them 415.
    pub fn pass_unknown(mut self, pass: bool) -> Parsers {
        self.pass_unknown = pass;
        self
    }

    async fn parse(&self, conn: &mut Conn) -> Result<Option<BodyParams>, ParseRejection> {
        let Some(content_type) = conn.header(header::CONTENT_TYPE).map(str::to_owned) else {
            return Ok(None);
        };
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let endpoint_limit = conn.max_body_bytes();
        if is_json(&content_type) {
            let limit = self.json_limit.min(endpoint_limit);
            let bytes = read_limited(conn, limit).await.map_err(|e| ParseRejection::from_read("JSON", e))?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(BodyParams::Json(Arc::new(serde_json::Value::Object(Default::default())))));
            }
            let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|err| {
                let message = err.to_string();
                let message = message.rfind(" at line ").map_or(message.clone(), |i| message[..i].to_owned());
                ParseRejection::InvalidJson { line: err.line(), column: err.column(), message }
            })?;
            let value = if value.is_object() {
                value
            } else {
                serde_json::Value::Object([("_json".to_owned(), value)].into_iter().collect())
            };
            Ok(Some(BodyParams::Json(Arc::new(value))))
        } else if essence == "application/x-www-form-urlencoded" {
            let limit = self.urlencoded_limit.min(endpoint_limit);
            let bytes = read_limited(conn, limit).await.map_err(|e| ParseRejection::from_read("urlencoded", e))?;
            let tree = decode_urlencoded(&bytes).map_err(ParseRejection::InvalidUrlencoded)?;
            Ok(Some(BodyParams::Form(Arc::new(tree))))
        } else if essence == "multipart/form-data" {
            #[cfg(feature = "multipart")]
            {
                let limits = MultipartLimits {
                    total: self.multipart_limit.min(endpoint_limit),
                    file: self.file_limit,
                    dir: self.upload_dir.clone(),
                };
                super::multipart::parse_multipart(conn, &content_type, limits).await.map(Some)
            }
            #[cfg(not(feature = "multipart"))]
            {
                Err(ParseRejection::UnsupportedMediaType { found: format!("{content_type} (zzz built without its `multipart` feature)") })
            }
        } else if self.pass_unknown {
            Ok(None)
        } else {
            Err(ParseRejection::UnsupportedMediaType { found: content_type })
        }
    }
}

/// The limits a multipart parse runs under.
#[cfg(feature = "multipart")]
#[derive(Debug, Clone)]
pub(crate) struct MultipartLimits {
    pub(crate) total: usize,
    pub(crate) file: usize,
    pub(crate) dir: Option<Arc<std::path::Path>>,
}

async fn read_limited(conn: &mut Conn, limit: usize) -> Result<bytes::Bytes, BodyReadError> {
    match conn.take_body() {
        Some(body) => body.collect_limited(limit).await,
        None => Ok(bytes::Bytes::new()),
    }
}

impl Parsers {
    /// Parses the body and assigns [`BodyParams`] (nothing for an unknown content type
    /// that passes); a no-op when a parser already ran.
    pub(crate) async fn parse_into(&self, conn: &mut Conn) -> Result<(), ParseRejection> {
        if conn.assigns::<BodyParams>().is_some() {
            return Ok(());
        }
        if let Some(params) = self.parse(conn).await? {
            conn.assign(params);
        }
        Ok(())
    }
}

impl Plug for Parsers {
    async fn call(&self, mut conn: Conn) -> Conn {
        match self.parse_into(&mut conn).await {
            Ok(()) => conn,
            Err(rejection) => super::halt_with(conn, rejection.into_response()),
        }
    }
}

/// A form or JSON body deserialized into `T`, with nested keys.
///
/// Uses the [`BodyParams`] the [`Parsers`] plug assigned; without that plug it reads a
/// urlencoded body itself (1 MB limit). Text fields are parsed into numbers and
/// booleans as `T` asks; an empty field is `None` for an `Option`. A field that does
/// not fit is a 422 naming it.
///
/// ```
/// use serde::Deserialize;
/// use zzz::plugs::Form;
///
/// #[derive(Deserialize)]
/// struct Login { email: String, remember_me: Option<bool> }
///
/// async fn login(Form(form): Form<Login>) -> String {
///     format!("{} {:?}", form.email, form.remember_me)
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Form<T>(pub T);

/// Why [`Form`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormRejection {
    /// The body could not be parsed (see [`ParseRejection`]).
    Parse(ParseRejection),
    /// 415: no parsed body and the content type is not a urlencoded form.
    NotAForm {
        /// The content type the client sent, if any.
        found: Option<String>,
    },
    /// 422: the body does not fit the handler's type.
    Data {
        /// The offending field (`user.age`), when one field is to blame.
        field: Option<String>,
        /// What was wrong.
        message: String,
    },
}

impl FormRejection {
    /// The status to answer.
    pub fn status(&self) -> StatusCode {
        match self {
            FormRejection::Parse(p) => p.status(),
            FormRejection::NotAForm { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FormRejection::Data { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl std::fmt::Display for FormRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormRejection::Parse(p) => p.fmt(f),
            FormRejection::NotAForm { found: Some(found) } => write!(
                f,
                "expected a form body (`Content-Type: application/x-www-form-urlencoded`), found `{found}`"
            ),
            FormRejection::NotAForm { found: None } => {
                write!(f, "expected a form body (`Content-Type: application/x-www-form-urlencoded`), found no content type")
            }
            FormRejection::Data { field: Some(field), message } => write!(f, "form field \"{field}\": {message}"),
            FormRejection::Data { field: None, message } => write!(f, "form body: {message}"),
        }
    }
}

impl std::error::Error for FormRejection {}

impl IntoResponse for FormRejection {
    fn into_response(self) -> Response {
        error_response(self.status(), self.to_string())
    }
}

impl<T: DeserializeOwned + Send> FromConnParts for Form<T> {
    type Rejection = FormRejection;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, FormRejection> {
        if let Some(params) = conn.assigns::<BodyParams>() {
            return params.deserialize().map(Form);
        }
        let content_type = conn.header(header::CONTENT_TYPE).map(str::to_owned);
        let is_form = content_type.as_deref().is_some_and(|ct| {
            ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        if !is_form {
            return Err(FormRejection::NotAForm { found: content_type });
        }
        let limit = DEFAULT_URLENCODED_LIMIT.min(conn.max_body_bytes());
        let bytes = read_limited(conn, limit)
            .await
            .map_err(|e| FormRejection::Parse(ParseRejection::from_read("urlencoded", e)))?;
        let tree = decode_urlencoded(&bytes).map_err(|m| FormRejection::Parse(ParseRejection::InvalidUrlencoded(m)))?;
        let params = BodyParams::Form(Arc::new(tree));
        let value = params.deserialize().map(Form);
        conn.assign(params);
        value
    }
}

impl FromConnParts for BodyParams {
    type Rejection = std::convert::Infallible;

    /// The parsed body, or an empty form when nothing was parsed.
    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, Self::Rejection> {
        Ok(conn.assigns::<BodyParams>().cloned().unwrap_or_else(|| BodyParams::Form(Arc::new(Param::new_map()))))
    }
}

/// Whether a content type is JSON: `application/json` or any `application/*+json`.
pub(crate) fn is_json(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else { return false };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json") || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// All the request's parameters in one nested tree, as Phoenix's `conn.params`: the
/// query string (nested keys decoded as in forms), then the parsed body over it, then
/// the path parameters over both. Deserialized into `T` like [`Form`]; a JSON body's
/// numbers and booleans become text first, parsed back as `T` asks.
///
/// ```
/// use serde::Deserialize;
/// use zzz::plugs::MergedParams;
///
/// #[derive(Deserialize)]
/// struct Filter { status: Option<String>, limit: Option<u32> }
/// #[derive(Deserialize)]
/// struct Search { id: u64, filter: Filter }
///
/// // GET /projects/7/tasks?filter[status]=open&filter[limit]=20
/// async fn tasks(MergedParams(search): MergedParams<Search>) -> String {
///     format!("{} {:?} {:?}", search.id, search.filter.status, search.filter.limit)
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergedParams<T>(pub T);

fn json_to_param(value: &serde_json::Value) -> Param {
    use serde_json::Value;
    match value {
        Value::Null => Param::Str(String::new()),
        Value::Bool(b) => Param::Str(b.to_string()),
        Value::Number(n) => Param::Str(n.to_string()),
        Value::String(s) => Param::Str(s.clone()),
        Value::Array(items) => Param::List(items.iter().map(json_to_param).collect()),
        Value::Object(map) => Param::Map(map.iter().map(|(k, v)| (k.clone(), json_to_param(v))).collect()),
    }
}

impl MergedParams<()> {
    /// The merged tree of a conn.
    pub fn tree(conn: &Conn) -> Result<Param, FormRejection> {
        let mut tree = decode_urlencoded(conn.query_string().as_bytes())
            .map_err(|m| FormRejection::Parse(ParseRejection::InvalidUrlencoded(format!("query string: {m}"))))?;
        let Param::Map(map) = &mut tree else { unreachable!("decode_urlencoded makes a map") };
        match conn.assigns::<BodyParams>() {
            Some(BodyParams::Form(body)) => {
                if let Param::Map(body) = &**body {
                    map.extend(body.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            Some(BodyParams::Json(body)) => {
                if let Param::Map(body) = json_to_param(body) {
                    map.extend(body);
                }
            }
            None => {}
        }
        map.extend(conn.path_params().map(|(k, v)| (k.to_owned(), Param::Str(v.into_owned()))));
        Ok(tree)
    }
}

impl<T: DeserializeOwned + Send> FromConnParts for MergedParams<T> {
    type Rejection = FormRejection;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, FormRejection> {
        let tree = MergedParams::tree(conn)?;
        from_params(&tree).map(MergedParams).map_err(|(field, message)| FormRejection::Data { field, message })
    }
}
