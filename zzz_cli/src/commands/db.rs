//! The database commands: `zzz migrate`, `zzz rollback`, `zzz migrations` and
//! `zzz db create|drop|reset`. Migrations are Rust code compiled into the app, so each
//! command runs the app (`cargo run`) with `ZZZ_TASK` set; the app's `main` hands its
//! database URL and migrations to `zzz_db::tasks::run_if_requested`, which performs the
//! task, prints its report and exits. The database is the app's configured one
//! (`ZZZ_ENV`, `DATABASE_URL`).

use std::ffi::OsString;

use super::app::{AppArgs, TempFile, run_app};

/// Options of `zzz migrate`.
#[derive(clap::Args)]
pub struct MigrateArgs {
    /// Run only the next N pending migrations.
    #[arg(long, value_name = "N", conflicts_with = "to", value_parser = clap::value_parser!(u64).range(1..))]
    step: Option<u64>,
    /// Run the pending migrations up to this version (included).
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    #[command(flatten)]
    app: AppArgs,
}

/// Options of `zzz rollback`.
#[derive(clap::Args)]
pub struct RollbackArgs {
    /// Roll back the last N applied migrations (default 1).
    #[arg(long, value_name = "N", conflicts_with = "to", value_parser = clap::value_parser!(u64).range(1..))]
    step: Option<u64>,
    /// Roll back every migration down to this version, this one included.
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    #[command(flatten)]
    app: AppArgs,
}

/// Options of `zzz migrations`.
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    app: AppArgs,
}

/// Options of `zzz db`.
#[derive(clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    action: DbAction,
    #[command(flatten)]
    app: AppArgs,
}

#[derive(clap::Subcommand)]
enum DbAction {
    /// Create the database (Postgres: on the server; SQLite: the file).
    Create,
    /// Drop the database (Postgres: disconnecting its sessions; SQLite: remove the file).
    Drop,
    /// Drop, create and migrate.
    Reset,
}

/// Runs a task in the app and checks the app did run it.
fn run_task(app: &AppArgs, task: &str, step: Option<u64>, to: Option<i64>) -> Result<(), String> {
    let done = TempFile::new("task-done");
    let mut env: Vec<(&str, OsString)> = vec![("ZZZ_TASK", task.into()), ("ZZZ_TASK_DONE", done.0.clone().into_os_string())];
    if let Some(step) = step {
        env.push(("ZZZ_TASK_STEP", step.to_string().into()));
    }
    if let Some(to) = to {
        env.push(("ZZZ_TASK_TO", to.to_string().into()));
    }
    run_app(app, &env)?;
    if !done.0.exists() {
        return Err(format!(
            "the app did not run the `{task}` task: does its main call `zzz_db::tasks::run_if_requested` before serving?"
        ));
    }
    Ok(())
}

/// `zzz migrate`.
pub fn migrate(args: MigrateArgs) -> Result<(), String> {
    run_task(&args.app, "migrate", args.step, args.to)
}

/// `zzz rollback`.
pub fn rollback(args: RollbackArgs) -> Result<(), String> {
    run_task(&args.app, "rollback", args.step, args.to)
}

/// `zzz migrations`.
pub fn status(args: StatusArgs) -> Result<(), String> {
    run_task(&args.app, "migrations", None, None)
}

/// `zzz db create|drop|reset`.
pub fn db(args: DbArgs) -> Result<(), String> {
    let task = match args.action {
        DbAction::Create => "db.create",
        DbAction::Drop => "db.drop",
        DbAction::Reset => "db.reset",
    };
    run_task(&args.app, task, None, None)
}
