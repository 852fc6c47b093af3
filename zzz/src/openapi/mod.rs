//! OpenAPI from the router: a route declared once gives the handler and its
//! documentation.
//!
//! A router with an `openapi` item documents every route (but `forward`s and routes
//! marked `doc(hidden)`):
//! - path parameters come from the route pattern, typed by the handler's `Path<T>`;
//! - query parameters from `Query<T>` (`T: utoipa::IntoParams`), the request body from
//!   `Json<T>` (`T: utoipa::ToSchema`), `String` or `Bytes`;
//! - responses from the return type (`Json<T>`, text, `Html`, `Result<T, E>`…) plus the
//!   4xx each extractor's rejection really sends;
//! - summary, description, tags, operation id, deprecation, security and extra
//!   responses from the route's `doc(...)`.
//!
//! ```
//! use serde::Serialize;
//! use zzz::openapi::{ApiConfig, utoipa::ToSchema};
//! use zzz::{Json, Path};
//!
//! zzz::router! {
//!     pub ApiRouter;
//!     openapi "/api/openapi.json", docs: "/api/docs" => ApiConfig::new("Users", "1.0.0").bearer_auth("bearer");
//!
//!     get "/users/:id" => show_user, as: user,
//!         doc(summary = "Show a user", tags = ["users"], security = ["bearer"], responses(404 = "No such user"));
//! }
//!
//! #[derive(Serialize, ToSchema)]
//! struct User { id: u64 }
//!
//! async fn show_user(Path(id): Path<u64>) -> Json<User> {
//!     Json(User { id })
//! }
//!
//! let spec = <ApiRouter as zzz::openapi::DocumentedRouter>::openapi();
//! assert!(spec.paths.paths.contains_key("/users/{id}"));
//! ```
//!
//! The spec is served as JSON at the `openapi` path (default `/api/openapi.json`) and
//! Swagger UI at `docs:` (from `utoipa-swagger-ui`, built in: no internet needed);
//! both answer 404 when `ZZZ_ENV=prod` unless [`ApiConfig::serve_in_prod`] is set.
//! The schemas are utoipa's: derive `utoipa::ToSchema` / `utoipa::IntoParams` on your
//! serde types (zzz re-exports [`utoipa`]).

mod impls;
mod operation;
mod spec;

pub use operation::{HandlerDoc, OperationDoc, OperationInput, OperationOutput, PathParamsDoc, document_handler};
pub use spec::{
    ApiConfig, DocumentedRouter, EXPORT_VAR, SpecBuilder, export_if_requested, openapi_path, serve_spec, serve_swagger_ui, to_json,
};
pub use utoipa;
