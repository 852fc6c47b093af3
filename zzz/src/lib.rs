//! # zzz
//!
//! A Phoenix-style web framework for Rust.

pub mod channels;
pub mod presence;
pub mod pubsub;
