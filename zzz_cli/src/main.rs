//! The `zzz` command line. `zzz --help` lists the commands; `zzz COMMAND --help`
//! explains one.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

/// zzz: the Phoenix-style web framework for Rust.
#[derive(Parser)]
#[command(name = "zzz", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write an app's OpenAPI spec without starting its server.
    Openapi(commands::openapi::Args),
    /// Print an app's routes (helper, verb, path, handler), like `mix phx.routes`.
    Routes(commands::routes::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Openapi(args) => commands::openapi::run(args),
        Command::Routes(args) => commands::routes::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
