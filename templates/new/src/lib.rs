//! # {{zzz:app}}
//!
//! A zzz app. The request path: [`endpoint`] (plugs before the router) → [`router`]
//! (pipelines, routes) → [`controllers`].
{{zzz:if db}}
//! Data: [`repo`] connects the database, [`models`] hold the
//! schemas and changesets, [`migrations`] the schema's history.
{{zzz:end}}
{{zzz:if channels}}
//! Real time: [`channels`] (Phoenix channels, for the `phoenix` JavaScript client).
{{zzz:end}}

{{zzz:if channels}}
pub mod channels;
{{zzz:end}}
pub mod config;
pub mod controllers;
pub mod endpoint;
{{zzz:if db}}
pub mod migrations;
pub mod models;
pub mod repo;
{{zzz:end}}
pub mod router;
// zzz:modules (`zzz gen` adds modules above this line)

pub use endpoint::endpoint;
