//! The cache server's integration tests, in one binary (one link step): every protocol
//! route over real sockets, credentials, and the real turbo and nx clients.

mod auth;
mod clients;
mod common;
mod protocols;
