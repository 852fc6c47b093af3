//! # zzz_db
//!
//! An Ecto-like data layer on sqlx (SQLite and Postgres).
