//! # zzz
//!
//! A Phoenix-style web framework for Rust.

pub mod server;
pub use server::{ConnectInfo, Server, ServerConfig, Shutdown};
#[cfg(feature = "tls")]
pub use server::{TlsConfig, TlsError};
