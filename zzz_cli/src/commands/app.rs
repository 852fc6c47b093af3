//! Running the user's app in "introspection" mode: `cargo run` with environment
//! variables that make the app do one thing (write its OpenAPI spec or route table, run
//! a database task) and exit before serving.

use std::ffi::OsString;
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

/// What `ZZZ_LISTEN_FD` is set to while the app runs for a task: an app whose `main`
/// ignores the request and goes on to serve fails at once, naming the variable, instead
/// of serving forever.
const NO_SERVER: &str = "none: the zzz command ran the app for a task, and its main did not handle it before serving";

/// Runs the app (`cargo run --quiet`) with the given environment variables.
pub fn run_app(app: &AppArgs, env: &[(&str, OsString)]) -> Result<(), String> {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["run", "--quiet"]);
    if let Some(package) = &app.package {
        cargo.args(["--package", package]);
    }
    if let Some(bin) = &app.bin {
        cargo.args(["--bin", bin]);
    }
    cargo.env("ZZZ_LISTEN_FD", NO_SERVER);
    for (name, value) in env {
        cargo.env(name, value);
    }
    let status = cargo.status().map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`cargo run` for the app failed ({status})")) }
}

/// Runs the app with `var` set to `target` (a file path, or `-` for its standard output).
pub fn run_with(app: &AppArgs, var: &str, target: &Path) -> Result<(), String> {
    run_app(app, &[(var, target.as_os_str().to_owned())])
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

/// A file in the temp directory named for this process, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// `zzz-<what>-<pid>` in the temp directory (not created).
    pub fn new(what: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("zzz-{what}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `-` as a path: the app's standard output.
pub fn stdout_target() -> PathBuf {
    PathBuf::from("-")
}
