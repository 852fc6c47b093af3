//! Procedural macros for zzz. Use them through the `zzz` and `zzz_db` crates, which re-export them.
