//! One module per `zzz` command, and the shared way of running the user's app.

pub mod app;
pub mod db;
pub mod generate;
pub mod new;
pub mod openapi;
pub mod routes;
pub mod server;
