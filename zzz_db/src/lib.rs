#![doc = include_str!("../GUIDE.md")]
#![warn(missing_docs)]

extern crate self as zzz_db;

pub mod changeset;
mod conn;
pub mod error;
pub mod migration;
pub mod query;
pub mod repo;
pub mod schema;
pub mod sql;
pub mod tasks;
pub mod testing;
pub mod value;

pub use changeset::{Changeset, Errors, FieldError, Length, Number};
pub use error::{DbError, DbErrorKind, Error};
pub use migration::{Migration, Migrator};
pub use query::{All, Column, Expr, Lock, Query, Typed, bind, count_all, exists, fragment, fragment_as};
pub use repo::{Multi, MultiError, MultiResults, OnConflict, RawExecutor, RawHandle, Repo, RepoConfig, Set, Tx};
pub use schema::{Association, Relation, RelationKind, Schema, Through};
pub use sql::Dialect;
pub use value::{Assoc, AutoGenerate, CastError, DbEnum, FieldType, IntoValue, Json, Row, Value};
pub use zzz_macros::Schema;

#[doc(hidden)]
pub use serde_json;
