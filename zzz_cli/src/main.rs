//! The `zzz` command line.
fn main() {}
