//! The `zzz` command line. `zzz --help` lists the commands; `zzz COMMAND --help`
//! explains one.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod dev;
mod names;
mod render;

/// zzz: the Phoenix-style web framework for Rust.
#[derive(Parser)]
#[command(
    name = "zzz",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Get started:\n    zzz new my_app && cd my_app && zzz server\n\nSee 'zzz help <command>' for more information on a specific command."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new app: endpoint, router, a page, a JSON API, a channel, a database, tests.
    New(commands::new::Args),
    /// Generate code in an app: migration, model, controller, resource, channel, job.
    #[command(subcommand, after_help = GEN_EXAMPLES)]
    Gen(commands::generate::Gen),
    /// Run pending migrations (all, `--step N` or `--to VERSION`).
    Migrate(commands::db::MigrateArgs),
    /// Roll back applied migrations (the last one, `--step N` or `--to VERSION`).
    Rollback(commands::db::RollbackArgs),
    /// Show each migration's state (up or down), like `mix ecto.migrations`.
    Migrations(commands::db::StatusArgs),
    /// Create, drop or reset (drop, create, migrate) the app's database.
    Db(commands::db::DbArgs),
    /// Print an app's routes (helper, verb, path, handler), like `mix phx.routes`.
    Routes(commands::routes::Args),
    /// Run the app for development: rebuild and restart on change, live reload.
    Server(commands::server::Args),
    /// Write an app's OpenAPI spec without starting its server.
    Openapi(commands::openapi::Args),
}

const GEN_EXAMPLES: &str = "Examples (inside an app made by `zzz new`):
    zzz gen resource Post posts title:string body:text views:integer --json
    zzz gen resource Note notes body:string done:boolean --html
    zzz gen model Comment comments body:text post_id:references:posts
    zzz gen migration add_slug_to_posts
    zzz gen controller Pages about contact
    zzz gen channel Chat
    zzz gen job SendEmail

Each generator writes its files, edits the app at its `// zzz:` marker comments
(modules, routes, migrations, tests) and prints what is left to do.";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::New(args) => commands::new::run(args),
        Command::Gen(generator) => commands::generate::run(generator),
        Command::Migrate(args) => commands::db::migrate(args),
        Command::Rollback(args) => commands::db::rollback(args),
        Command::Migrations(args) => commands::db::status(args),
        Command::Db(args) => commands::db::db(args),
        Command::Openapi(args) => commands::openapi::run(args),
        Command::Routes(args) => commands::routes::run(args),
        Command::Server(args) => commands::server::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
