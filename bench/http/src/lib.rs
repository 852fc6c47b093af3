//! Shared bits of the HTTP benchmark servers: the port and the response bodies.

/// The port to listen on: `PORT`, default 8080.
pub fn port() -> u16 {
    std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080)
}

/// The body of `GET /`.
pub const HELLO: &str = "Hello, World!";

/// The body of `GET /json`.
#[derive(serde::Serialize)]
pub struct Message {
    /// Always `Hello, World!`.
    pub message: &'static str,
}
