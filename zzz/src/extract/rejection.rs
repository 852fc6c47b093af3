//! Why an extractor refused a request. Each failure is its own type with its status
//! and message; all of them answer in plain text and are logged once.

use http::StatusCode;

use crate::body::BodyReadError;
use crate::response::{IntoResponse, Response, error_response};

macro_rules! rejection_response {
    ($ty:ty) => {
        impl IntoResponse for $ty {
            fn into_response(self) -> Response {
                error_response(self.status(), self.to_string())
            }
        }
        impl std::error::Error for $ty {}
    };
}

/// A path parameter could not be turned into the handler's type.
///
/// Status 400. Message: `path parameter "id": invalid digit found in string` — it
/// names the parameter and what was wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRejection {
    pub(crate) param: Option<String>,
    pub(crate) message: String,
}

impl PathRejection {
    /// The name of the offending parameter, when one parameter is to blame.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The status of this rejection: 400 Bad Request.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl std::fmt::Display for PathRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.param {
            Some(param) => write!(f, "path parameter \"{param}\": {}", self.message),
            None => write!(f, "path parameters: {}", self.message),
        }
    }
}
rejection_response!(PathRejection);

/// The query string could not be turned into the handler's type.
///
/// Status 400. Message: `query parameter "page": invalid digit found in string`,
/// or `query string: missing field "page"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRejection {
    pub(crate) param: Option<String>,
    pub(crate) message: String,
}

impl QueryRejection {
    /// The name of the offending parameter, when one parameter is to blame.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The status of this rejection: 400 Bad Request.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl std::fmt::Display for QueryRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.param {
            Some(param) => write!(f, "query parameter \"{param}\": {}", self.message),
            None => write!(f, "query string: {}", self.message),
        }
    }
}
rejection_response!(QueryRejection);

/// The request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRejection {
    /// 413: the body is larger than the endpoint's limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 400: the client stopped sending or the connection failed mid-body.
    ReadFailed(String),
}

impl BodyRejection {
    /// 413 for a body over the limit, 400 for a body that could not be read.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyRejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyRejection::ReadFailed(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<BodyReadError> for BodyRejection {
    fn from(err: BodyReadError) -> Self {
        match err {
            BodyReadError::TooLarge { limit } => BodyRejection::TooLarge { limit },
            BodyReadError::Io(msg) => BodyRejection::ReadFailed(msg),
        }
    }
}

impl std::fmt::Display for BodyRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyRejection::TooLarge { limit } => write!(f, "request body is larger than the limit of {limit} bytes"),
            BodyRejection::ReadFailed(msg) => write!(f, "could not read the request body: {msg}"),
        }
    }
}
rejection_response!(BodyRejection);

/// The body could not be read as bytes: see [`BodyRejection`].
pub type BytesRejection = BodyRejection;

/// The body could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringRejection {
    /// The body could not be read (413 or 400).
    Body(BodyRejection),
    /// 400: the body is not valid UTF-8.
    InvalidUtf8 {
        /// The length of the valid prefix.
        valid_up_to: usize,
    },
}

impl StringRejection {
    /// The status of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            StringRejection::Body(body) => body.status(),
            StringRejection::InvalidUtf8 { .. } => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for StringRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StringRejection::Body(body) => body.fmt(f),
            StringRejection::InvalidUtf8 { valid_up_to } => {
                write!(f, "request body is not valid UTF-8 (invalid byte at offset {valid_up_to})")
            }
        }
    }
}
rejection_response!(StringRejection);

/// The JSON body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonRejection {
    /// 415: the request's `Content-Type` is not JSON.
    UnsupportedContentType {
        /// The content type the client sent, if any.
        found: Option<String>,
    },
    /// 400: the body is not valid JSON.
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser found.
        message: String,
    },
    /// 422: the JSON is valid but does not fit the handler's type.
    Data {
        /// The path of the offending field, like `user.tags[2]` (`.` for the whole document).
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The body could not be read (413 or 400).
    Body(BodyRejection),
}

impl JsonRejection {
    /// The status of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            JsonRejection::UnsupportedContentType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::Syntax { .. } => StatusCode::BAD_REQUEST,
            JsonRejection::Data { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            JsonRejection::Body(body) => body.status(),
        }
    }
}

impl std::fmt::Display for JsonRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonRejection::UnsupportedContentType { found: Some(found) } => {
                write!(f, "expected a request with `Content-Type: application/json`, found `{found}`")
            }
            JsonRejection::UnsupportedContentType { found: None } => {
                write!(f, "expected a request with `Content-Type: application/json`, found no content type")
            }
            JsonRejection::Syntax { line, column, message } => {
                write!(f, "invalid JSON at line {line} column {column}: {message}")
            }
            JsonRejection::Data { path, message } if path == "." => write!(f, "JSON body: {message}"),
            JsonRejection::Data { path, message } => write!(f, "JSON field \"{path}\": {message}"),
            JsonRejection::Body(body) => body.fmt(f),
        }
    }
}
rejection_response!(JsonRejection);

/// The handler asked for state or an assign that nobody provided: a bug in the app,
/// so a 500 whose log names the missing type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingExtension {
    pub(crate) what: &'static str,
    pub(crate) type_name: &'static str,
    pub(crate) hint: &'static str,
}

impl MissingExtension {
    /// The status of this rejection: 500 Internal Server Error.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl std::fmt::Display for MissingExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no {} of type `{}` ({})", self.what, self.type_name, self.hint)
    }
}
rejection_response!(MissingExtension);
