//! The control plane's black-box tests, in one binary (one link instead of five):
//! real sockets, the real binary, real clients.
//!
//! - [`agent_protocol`]: the agent's line protocol over raw TCP.
//! - [`api`]: the HTTP API on SQLite and Postgres; the binary on Postgres.
//! - [`end_to_end`]: two agents and a control plane, channels, lost agents, restarts.
//! - [`openapi`]: the spec validates and the server matches it (schemathesis).
//! - [`page`]: the live workloads page in headless Chromium.
//!
//! Processes started by the tests log to `target/tmp/control_plane-logs/`.

mod agent_protocol;
mod api;
mod end_to_end;
mod openapi;
mod page;
mod support;
