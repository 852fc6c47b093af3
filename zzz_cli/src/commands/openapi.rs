//! `zzz openapi [--output FILE] [-p PACKAGE] [--bin NAME]`: builds the app and runs it
//! with `ZZZ_OPENAPI_OUTPUT` set, so it writes its spec and exits before serving
//! (the app's `main` calls `zzz::openapi::export_if_requested`).

use std::path::PathBuf;
use std::process::Command;

/// Options of `zzz openapi`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to write the spec (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The app's package, when the current directory is a workspace.
    #[arg(short, long, value_name = "PACKAGE")]
    package: Option<String>,
    /// The app's binary, when the package has several.
    #[arg(long, value_name = "NAME")]
    bin: Option<String>,
}

/// Runs the command.
pub fn run(args: Args) -> Result<(), String> {
    let target = match &args.output {
        Some(path) => std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?,
        None => PathBuf::from("-"),
    };
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["run", "--quiet"]);
    if let Some(package) = &args.package {
        cargo.args(["--package", package]);
    }
    if let Some(bin) = &args.bin {
        cargo.args(["--bin", bin]);
    }
    cargo.env("ZZZ_OPENAPI_OUTPUT", &target);
    let status = cargo.status().map_err(|e| format!("could not run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo run` for the app failed ({status})"));
    }
    if let Some(path) = &args.output {
        let written = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if written == 0 {
            return Err(format!(
                "the app did not write its spec to {}: does its main call `zzz::openapi::export_if_requested`?",
                path.display()
            ));
        }
        eprintln!("wrote {} ({written} bytes)", path.display());
    }
    Ok(())
}
