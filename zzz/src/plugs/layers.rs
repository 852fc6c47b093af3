//! Response compression and CORS: tower-http's layers, used in a pipeline with
//! [`Pipeline::layer`](crate::Pipeline::layer) (they wrap the rest of the pipeline and
//! the handler, so they see the response on its way out).
//!
//! ```
//! use zzz::{Endpoint, Pipeline, Method};
//! use zzz::plugs::layers::{compression, cors};
//!
//! zzz::router! { pub AppRouter; get "/" => index; }
//! async fn index() -> &'static str { "home" }
//!
//! let cors = cors::CorsLayer::new()
//!     .allow_origin(["https://app.example.com".parse().unwrap()])
//!     .allow_methods([Method::GET, Method::POST])
//!     .allow_headers([zzz::header::CONTENT_TYPE, zzz::header::AUTHORIZATION])
//!     .allow_credentials(true)
//!     .max_age(std::time::Duration::from_secs(600));
//! // On the endpoint, so preflight `OPTIONS` requests are answered before routing.
//! let endpoint = Endpoint::new(AppRouter::new())
//!     .pipeline(Pipeline::new().layer(cors).layer(compression()));
//! ```

/// CORS: tower-http's `cors` module (`CorsLayer`, `AllowOrigin`, `Any`…).
#[cfg(feature = "cors")]
pub use tower_http::cors;

/// Compression: tower-http's `compression` module (`CompressionLayer`, predicates, levels).
#[cfg(feature = "compression")]
pub use tower_http::compression;

/// gzip and brotli response compression, chosen by `Accept-Encoding`, for compressible
/// content types over 32 bytes (tower-http's defaults; images and already-encoded
/// responses are left alone).
#[cfg(feature = "compression")]
pub fn compression() -> tower_http::compression::CompressionLayer {
    tower_http::compression::CompressionLayer::new().gzip(true).br(true)
}
