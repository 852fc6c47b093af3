{{zzz:only db}}
//! The database's history, oldest first: one module per migration. `zzz gen migration`,
//! `zzz gen model` and `zzz gen resource` add them at the markers; `zzz migrate` runs the
//! pending ones, `zzz rollback` undoes the last, `zzz migrations` lists their state.

use zzz_db::Migration;

// zzz:migration-mods

/// Every migration of the app.
pub fn all() -> Vec<Migration> {
    vec![
        // zzz:migrations
    ]
}
