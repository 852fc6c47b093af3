//! Running the user's app in "introspection" mode: `cargo run` with an environment
//! variable that makes the app write what was asked (its OpenAPI spec, its route
//! table) to a file and exit before serving.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Which app to run: the package and binary, when the directory holds several.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AppArgs {
    /// The app's package, when the current directory is a workspace.
    #[arg(short, long, value_name = "PACKAGE")]
    pub package: Option<String>,
    /// The app's binary, when the package has several.
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
}

/// Runs the app with `var` set to `target` (a file path, or `-` for its standard output).
pub fn run_with(app: &AppArgs, var: &str, target: &Path) -> Result<(), String> {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["run", "--quiet"]);
    if let Some(package) = &app.package {
        cargo.args(["--package", package]);
    }
    if let Some(bin) = &app.bin {
        cargo.args(["--bin", bin]);
    }
    cargo.env(var, target);
    let status = cargo.status().map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`cargo run` for the app failed ({status})")) }
}

/// Runs the app so it writes into a file, then checks the file is there and not empty.
pub fn run_to_file(app: &AppArgs, var: &str, output: &Path, hook: &str) -> Result<u64, String> {
    let target = std::path::absolute(output).map_err(|e| format!("{}: {e}", output.display()))?;
    let _ = std::fs::remove_file(&target);
    run_with(app, var, &target)?;
    let written = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    if written == 0 {
        return Err(format!("the app did not write {}: does its main call `{hook}`?", output.display()));
    }
    Ok(written)
}

/// `-` as a path: the app's standard output.
pub fn stdout_target() -> PathBuf {
    PathBuf::from("-")
}
