//! [`Json`]: JSON request bodies and responses.

use http::{HeaderValue, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::FromConn;
use super::rejection::{BodyRejection, JsonRejection};
use crate::body::Body;
use crate::conn::Conn;
use crate::response::{IntoResponse, Response, error_response};

/// A JSON body: as an extractor it reads and deserializes the request body; as a
/// return value it serializes `T` as the response body (`application/json`).
///
/// As an extractor it answers 415 when the `Content-Type` is not JSON, 413 over the
/// endpoint's body limit, 400 with line and column for invalid JSON, and 422 naming
/// the field when the JSON does not fit `T`. When the [`Parsers`](crate::plugs::Parsers)
/// plug already read the body, it decodes what the plug parsed.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use zzz::Json;
///
/// #[derive(Deserialize)]
/// struct NewUser { name: String }
///
/// #[derive(Serialize)]
/// struct User { id: u64, name: String }
///
/// async fn create(Json(new): Json<NewUser>) -> Json<User> {
///     Json(User { id: 1, name: new.name })
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

/// Whether a content type is JSON: `application/json` or any `application/*+json`.
pub(crate) fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else { return false };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json") || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

impl<T: DeserializeOwned + Send> FromConn for Json<T> {
    type Rejection = JsonRejection;

    async fn from_conn(mut conn: Conn) -> Result<Self, JsonRejection> {
        match conn.header(header::CONTENT_TYPE) {
            Some(ct) if is_json_content_type(ct) => {}
            other => {
                return Err(JsonRejection::UnsupportedContentType { found: other.map(str::to_owned) });
            }
        }
        // The body parser plug already read the body: decode what it parsed.
        if let Some(crate::plugs::BodyParams::Json(value)) = conn.assigns::<crate::plugs::BodyParams>() {
            return serde_path_to_error::deserialize(&**value).map(Json).map_err(|err| {
                let path = err.path().to_string();
                let message = strip_position(&err.into_inner().to_string());
                JsonRejection::Data { path, message }
            });
        }
        let bytes = conn.read_body().await.map_err(|e| JsonRejection::Body(BodyRejection::from(e)))?;
        decode_json(&bytes).map(Json)
    }
}

/// Decodes JSON into `T`, telling syntax errors (400) from data errors (422).
pub(crate) fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonRejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        json_error(path, inner)
    })?;
    deserializer.end().map_err(|e| json_error(".".into(), e))?;
    Ok(value)
}

fn json_error(path: String, err: serde_json::Error) -> JsonRejection {
    use serde_json::error::Category;
    let message = strip_position(&err.to_string());
    match err.classify() {
        Category::Data => JsonRejection::Data { path, message },
        Category::Syntax | Category::Eof | Category::Io => {
            JsonRejection::Syntax { line: err.line(), column: err.column(), message }
        }
    }
}

/// serde_json appends " at line L column C"; the rejection says it its own way.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(idx) => message[..idx].to_owned(),
        None => message.to_owned(),
    }
}

static APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut response = Response::new(Body::from(bytes));
                response.headers_mut().insert(header::CONTENT_TYPE, APPLICATION_JSON.clone());
                response
            }
            Err(err) => error_response(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not serialize the JSON response: {err}"),
            ),
        }
    }
}
