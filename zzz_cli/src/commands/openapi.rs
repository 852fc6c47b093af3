//! `zzz openapi [--output FILE] [-p PACKAGE] [--bin NAME]`: builds the app and runs it
//! with `ZZZ_OPENAPI_OUTPUT` set, so it writes its spec and exits before serving
//! (the app's `main` calls `zzz::openapi::export_if_requested`).

use std::path::PathBuf;

use super::app::{AppArgs, run_to_file, run_with, stdout_target};

/// Options of `zzz openapi`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to write the spec (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    app: AppArgs,
}

/// Runs the command.
pub fn run(args: Args) -> Result<(), String> {
    const VAR: &str = "ZZZ_OPENAPI_OUTPUT";
    match &args.output {
        Some(path) => {
            let written = run_to_file(&args.app, VAR, path, "zzz::openapi::export_if_requested")?;
            eprintln!("wrote {} ({written} bytes)", path.display());
            Ok(())
        }
        None => run_with(&args.app, VAR, &stdout_target()),
    }
}
