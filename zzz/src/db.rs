//! zzz_db errors as responses (feature `db`): a handler can return
//! `Result<Json<T>, zzz_db::Error>` and each failure answers as a JSON API expects.
//!
//! | error | status | body |
//! |---|---|---|
//! | `Error::Changeset` (validation or constraint errors) | 422 | `{"errors": {"field": ["message", …]}}` |
//! | `Error::NotFound` | 404 | text naming the table and lookup |
//! | `Error::Stale` | 409 | text naming the table and id |
//! | `Error::Connect`, `Error::Pool` | 503 | text |
//! | anything else | 500 | a generic text; the details go to the log |
//!
//! ```
//! use zzz::Json;
//!
//! async fn create(repo: zzz::State<zzz_db::Repo>) -> Result<Json<serde_json::Value>, zzz_db::Error> {
//!     # let _ = repo;
//!     Err(zzz_db::Error::Pool("the pool is closed".into()))
//! }
//! ```
//!
//! With the `openapi` feature the same errors are documented as these responses.

use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::body::Body;
use crate::response::{IntoResponse, Response, error_response};

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut response = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

impl IntoResponse for zzz_db::Errors {
    /// 422 with `{"errors": {"field": ["message", …]}}`, as Phoenix's JSON changeset views.
    fn into_response(self) -> Response {
        tracing::info!(status = 422, errors = %self.to_json(), "changeset rejected");
        json_response(StatusCode::UNPROCESSABLE_ENTITY, &json!({ "errors": self.to_json() }))
    }
}

impl IntoResponse for zzz_db::Error {
    fn into_response(self) -> Response {
        use zzz_db::Error;
        match self {
            Error::Changeset(err) => err.errors.into_response(),
            Error::NotFound(err) => error_response(StatusCode::NOT_FOUND, err.to_string()),
            Error::Stale(err) => error_response(StatusCode::CONFLICT, err.to_string()),
            Error::Connect(err) => {
                tracing::error!(%err, "database unavailable");
                error_response(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable".into())
            }
            Error::Pool(err) => {
                tracing::error!(%err, "database pool failure");
                error_response(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable".into())
            }
            other => {
                tracing::error!(err = %other, "database error");
                let mut response = "Internal Server Error".into_response();
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        }
    }
}

#[cfg(feature = "openapi")]
mod docs {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;

    use crate::openapi::{OperationDoc, OperationOutput};

    /// `{"errors": {"<field>": ["<message>", …]}}`.
    fn changeset_errors_schema() -> RefOr<Schema> {
        let messages = ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String));
        let fields = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(messages))
            .description(Some("Each invalid field with its messages, as Ecto's traverse_errors"));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("errors", fields)
            .required("errors")
            .build()
            .into()
    }

    impl OperationOutput for zzz_db::Errors {
        fn document(op: &mut OperationDoc) {
            op.add_response("422", "The changeset was invalid", Some(("application/json", changeset_errors_schema())));
        }
    }

    impl OperationOutput for zzz_db::Error {
        fn document(op: &mut OperationDoc) {
            <zzz_db::Errors as OperationOutput>::document(op);
            op.add_text_error(404, "No such record");
            op.add_text_error(409, "The record changed or was deleted meanwhile");
            op.add_text_error(503, "The database is unavailable");
        }
    }

}
