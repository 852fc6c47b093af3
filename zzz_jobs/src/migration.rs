//! The `zzz_jobs` and `zzz_peers` tables, as zzz_db migrations.

use zzz_db::migration::Migration;
use zzz_db::{Dialect, Migrator, Repo};

use crate::error::JobsError;

/// The version of the migration that creates the jobs tables. Applications that run
/// their own [`Migrator`] append [`migrations()`] to their list; the version is an
/// early timestamp so it sorts before application migrations.
pub const MIGRATION_VERSION: i64 = 19_700_101_000_001;

const PG_UP: &[&str] = &[
    "CREATE TABLE zzz_jobs (
        id BIGSERIAL PRIMARY KEY,
        state TEXT NOT NULL DEFAULT 'available'
            CHECK (state IN ('scheduled', 'available', 'executing', 'retryable', 'completed', 'discarded', 'cancelled')),
        queue TEXT NOT NULL DEFAULT 'default' CHECK (char_length(queue) > 0),
        worker TEXT NOT NULL CHECK (char_length(worker) > 0),
        args JSONB NOT NULL DEFAULT '{}',
        meta JSONB NOT NULL DEFAULT '{}',
        tags TEXT[] NOT NULL DEFAULT '{}',
        errors JSONB[] NOT NULL DEFAULT '{}',
        attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
        attempted_by TEXT[] NOT NULL DEFAULT '{}',
        max_attempts INTEGER NOT NULL DEFAULT 20 CHECK (max_attempts > 0),
        priority INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 9),
        inserted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        scheduled_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        attempted_at TIMESTAMPTZ,
        completed_at TIMESTAMPTZ,
        discarded_at TIMESTAMPTZ,
        cancelled_at TIMESTAMPTZ,
        unique_key TEXT
    )",
    "CREATE INDEX zzz_jobs_state_queue_priority_scheduled_at_id_index ON zzz_jobs (state, queue, priority, scheduled_at, id)",
    "CREATE INDEX zzz_jobs_args_index ON zzz_jobs USING gin (args)",
    "CREATE INDEX zzz_jobs_meta_index ON zzz_jobs USING gin (meta)",
    "CREATE TABLE zzz_peers (
        name TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )",
    "CREATE FUNCTION zzz_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       PERFORM pg_notify('zzz_jobs_available', json_build_object('schema', TG_TABLE_SCHEMA, 'queue', q.queue)::text)
         FROM (SELECT DISTINCT queue FROM inserted_jobs WHERE state = 'available') AS q;
       RETURN NULL;
     END $$",
    "CREATE TRIGGER zzz_jobs_notify AFTER INSERT ON zzz_jobs REFERENCING NEW TABLE AS inserted_jobs
       FOR EACH STATEMENT EXECUTE FUNCTION zzz_jobs_notify()",
];

const PG_DOWN: &[&str] = &["DROP TABLE zzz_peers", "DROP TABLE zzz_jobs", "DROP FUNCTION zzz_jobs_notify()"];

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE zzz_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        state TEXT NOT NULL DEFAULT 'available'
            CHECK (state IN ('scheduled', 'available', 'executing', 'retryable', 'completed', 'discarded', 'cancelled')),
        queue TEXT NOT NULL DEFAULT 'default' CHECK (length(queue) > 0),
        worker TEXT NOT NULL CHECK (length(worker) > 0),
        args TEXT NOT NULL DEFAULT '{}',
        meta TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '[]',
        errors TEXT NOT NULL DEFAULT '[]',
        attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
        attempted_by TEXT NOT NULL DEFAULT '[]',
        max_attempts INTEGER NOT NULL DEFAULT 20 CHECK (max_attempts > 0),
        priority INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 9),
        inserted_at TEXT NOT NULL,
        scheduled_at TEXT NOT NULL,
        attempted_at TEXT,
        completed_at TEXT,
        discarded_at TEXT,
        cancelled_at TEXT,
        unique_key TEXT
    )",
    "CREATE INDEX zzz_jobs_state_queue_priority_scheduled_at_id_index ON zzz_jobs (state, queue, priority, scheduled_at, id)",
    "CREATE TABLE zzz_peers (
        name TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        started_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )",
];

const SQLITE_DOWN: &[&str] = &["DROP TABLE zzz_peers", "DROP TABLE zzz_jobs"];

/// The migrations that create the jobs tables (`zzz_jobs`, `zzz_peers`, and on
/// Postgres the insert-notify trigger), for an application's [`Migrator`].
pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(MIGRATION_VERSION, "create_zzz_jobs", |m| {
            for s in PG_UP {
                m.execute_for(Dialect::Postgres, s);
            }
            for s in SQLITE_UP {
                m.execute_for(Dialect::Sqlite, s);
            }
        })
        .down(|m| {
            for s in PG_DOWN {
                m.execute_for(Dialect::Postgres, s);
            }
            for s in SQLITE_DOWN {
                m.execute_for(Dialect::Sqlite, s);
            }
        }),
    ]
}

/// Run the jobs migrations on `repo` (idempotent).
pub async fn migrate(repo: &Repo) -> Result<(), JobsError> {
    Migrator::new(migrations()).run(repo).await?;
    Ok(())
}
