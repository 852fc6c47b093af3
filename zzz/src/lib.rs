//! # zzz
//!
//! A Phoenix-style web framework for Rust.
