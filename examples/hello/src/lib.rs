//! # hello — the smallest zzz app
//!
//! Everything a zzz app has, in one screen: a router with a pipeline and a scope,
//! handlers that take typed extractors, and an endpoint. `main.rs` serves it;
//! `tests/hello.rs` drives it in-process with the test client.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zzz::openapi::ApiConfig;
use zzz::{Bytes, Conn, Endpoint, HeaderValue, Json, Path, Query, StatusCode};

zzz::router! {
    /// The routes of the hello app.
    pub HelloRouter;

    // A pipeline is a named list of plugs; scopes pipe through it.
    // The OpenAPI document of every route below, served as JSON, with Swagger UI.
    openapi "/api/openapi.json", docs: "/api/docs" => ApiConfig::new("hello", env!("CARGO_PKG_VERSION"))
        .description("The smallest zzz app.");

    pipeline api {
        plug put_pipeline_header;
    }

    get "/" => index, as: root, doc(summary = "Plain-text greeting", tags = ["greetings"]);
    get "/json" => json, doc(summary = "JSON greeting", tags = ["greetings"]);
    get "/users/:id" => show_user, as: user, doc(summary = "A user by integer id", tags = ["users"]);
    post "/echo" => echo, doc(summary = "The request body, byte for byte");
    get "/files/*path" => show_file_path, as: file, doc(summary = "The captured rest of the path");

    scope "/api", as: api {
        pipe_through [api];
        get "/slow" => slow, as: slow, doc(summary = "Waits `ms` milliseconds, then answers `done`");
    }
}

/// The endpoint: the router plus the defaults of every zzz app (request ids,
/// an 8 MB body limit).
pub fn endpoint() -> Endpoint<HelloRouter> {
    Endpoint::new(HelloRouter::new())
}

/// `GET /` → `Hello, World!` as text/plain.
async fn index() -> &'static str {
    "Hello, World!"
}

/// The body of `GET /json`.
#[derive(Serialize, ToSchema)]
struct Message {
    message: &'static str,
}

/// `GET /json` → `{"message":"Hello, World!"}`.
async fn json() -> Json<Message> {
    Json(Message { message: "Hello, World!" })
}

/// The body of `GET /users/:id`.
#[derive(Serialize, ToSchema)]
struct User {
    id: i64,
}

/// `GET /users/:id` → `{"id": id}`. A non-integer id never reaches this function:
/// the `Path` extractor answers 400 `path parameter "id": …`.
async fn show_user(Path(id): Path<i64>) -> Json<User> {
    Json(User { id })
}

/// `POST /echo` → the request body, byte for byte (chunked bodies too), up to the
/// endpoint's body limit (413 beyond it).
async fn echo(body: Bytes) -> Bytes {
    body
}

/// `GET /files/*path` → the captured rest of the path.
async fn show_file_path(Path(path): Path<String>) -> String {
    path
}

/// The query of `GET /api/slow`.
#[derive(Deserialize, IntoParams)]
struct Slow {
    /// How long to wait, in milliseconds (at most 1000).
    #[param(maximum = 1000)]
    ms: u64,
}

/// The longest `/api/slow` waits: long requests are for tests, not for tying up the server.
const MAX_SLOW_MS: u64 = 1_000;

/// `GET /api/slow?ms=N` → waits N ms, then `done`.
async fn slow(Query(Slow { ms }): Query<Slow>) -> Result<&'static str, (StatusCode, String)> {
    if ms > MAX_SLOW_MS {
        return Err((StatusCode::BAD_REQUEST, format!("query parameter \"ms\": {ms} is more than the maximum of {MAX_SLOW_MS}")));
    }
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok("done")
}

/// A plug of the `api` pipeline: tags responses with `x-pipeline: api`.
async fn put_pipeline_header(mut conn: Conn) -> Conn {
    conn.put_resp_header(zzz::HeaderName::from_static("x-pipeline"), HeaderValue::from_static("api"));
    conn
}
