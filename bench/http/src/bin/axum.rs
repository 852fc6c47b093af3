//! axum with its router.

use axum::{Json, Router, routing::get};
use bench_http::{HELLO, Message, port};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(|| async { HELLO }))
        .route("/json", get(|| async { Json(Message { message: HELLO }) }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port())).await?;
    axum::serve(listener, app).await
}
