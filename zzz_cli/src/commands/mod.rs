//! One module per `zzz` command.

pub mod openapi;
