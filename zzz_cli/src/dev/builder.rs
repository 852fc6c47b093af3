//! Building the app with `cargo build`: cargo's progress and diagnostics stream
//! to the terminal as they come, and are kept for the error page; the path of
//! the built binary comes from cargo's JSON messages.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::commands::app::AppArgs;

/// How to build the app.
#[derive(Clone, Debug)]
pub struct BuildSpec {
    /// Package and binary selection.
    pub app: AppArgs,
    /// `--release`.
    pub release: bool,
}

/// A build that did not produce a binary to run.
#[derive(Debug)]
pub struct BuildFailure {
    /// One line saying what went wrong.
    pub summary: String,
    /// cargo's output (compiler diagnostics), possibly with ANSI colours.
    pub output: String,
}

/// Runs `cargo build` and returns the app's executable.
pub async fn build(spec: &BuildSpec) -> Result<PathBuf, BuildFailure> {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["build", "--message-format=json-render-diagnostics"]);
    if std::io::stderr().is_terminal() {
        // cargo's stderr is a pipe here: ask for colours and the progress bar anyway,
        // as `cargo build` in this terminal would show them.
        let width = terminal_width().unwrap_or(80);
        cargo.args(["--color=always", "--config", "term.progress.when=\"always\"", "--config"]);
        cargo.arg(format!("term.progress.width={width}"));
    } else {
        cargo.arg("--color=never");
    }
    if let Some(package) = &spec.app.package {
        cargo.args(["--package", package]);
    }
    if let Some(bin) = &spec.app.bin {
        cargo.args(["--bin", bin]);
    }
    if spec.release {
        cargo.arg("--release");
    }
    cargo.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null()).kill_on_drop(true);
    let failure = |summary: String| BuildFailure { summary, output: String::new() };
    let mut child = cargo.spawn().map_err(|e| failure(format!("could not run cargo: {e}")))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");

    // stderr: passed through to the terminal as it comes, and kept.
    let relay = async move {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stderr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut terminal = std::io::stderr().lock();
                    let _ = terminal.write_all(&buf[..n]);
                    let _ = terminal.flush();
                    kept.extend_from_slice(&buf[..n]);
                }
            }
        }
        without_progress(&String::from_utf8_lossy(&kept))
    };
    // stdout: cargo's JSON messages; the binaries it built (or found fresh).
    let artifacts = async move {
        let mut binaries: Vec<(String, PathBuf)> = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(bin) = binary_of(&line) {
                binaries.push(bin);
            }
        }
        binaries
    };
    let (output, binaries, status) = tokio::join!(relay, artifacts, child.wait());
    let status = status.map_err(|e| failure(format!("waiting for cargo failed: {e}")))?;
    if !status.success() {
        return Err(BuildFailure { summary: format!("`cargo build` failed ({status})"), output });
    }
    match binaries.as_slice() {
        [(_, exe)] => Ok(exe.clone()),
        [] => Err(BuildFailure {
            summary: "`cargo build` built no binary: is this an app's directory (a package with a `src/main.rs`)? \
                      In a workspace, pick the app with --package"
                .into(),
            output,
        }),
        several => {
            let names: Vec<&str> = several.iter().map(|(name, _)| name.as_str()).collect();
            Err(BuildFailure {
                summary: format!("`cargo build` built several binaries ({}): pick one with --bin or --package", names.join(", ")),
                output,
            })
        }
    }
}

/// The width of the terminal on standard error.
fn terminal_width() -> Option<u16> {
    // SAFETY: TIOCGWINSZ fills the winsize it is given; fd 2 stays open.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col)
}

/// What cargo printed, as the error page shows it: progress-bar redraws (lines
/// rewritten with `\r`) reduced to their last state, and the bar itself dropped.
pub fn without_progress(output: &str) -> String {
    let mut kept = String::with_capacity(output.len());
    for line in output.split_inclusive('\n') {
        let last = line.rsplit('\r').find(|part| !part.trim_end_matches('\n').is_empty()).unwrap_or("");
        let plain = super::error_page::strip_ansi(last);
        let redrawn = line.contains('\r');
        if (redrawn && plain.trim().is_empty()) || plain.trim_start().starts_with("Building [") {
            continue;
        }
        kept.push_str(last);
        if !last.ends_with('\n') {
            kept.push('\n');
        }
    }
    kept
}

/// The binary's name and path if `line` is cargo's message about a built binary.
fn binary_of(line: &str) -> Option<(String, PathBuf)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let is_bin = message["target"]["kind"].as_array()?.iter().any(|k| k == "bin");
    let exe = message["executable"].as_str()?;
    is_bin.then(|| (message["target"]["name"].as_str().unwrap_or("?").to_owned(), PathBuf::from(exe)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_binaries_in_cargo_messages() {
        let bin = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"app"},"executable":"/t/debug/app","fresh":true}"#;
        assert_eq!(binary_of(bin), Some(("app".into(), PathBuf::from("/t/debug/app"))));
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"app"},"executable":null}"#;
        assert_eq!(binary_of(lib), None);
        assert_eq!(binary_of(r#"{"reason":"build-finished","success":true}"#), None);
        assert_eq!(binary_of("not json"), None);
    }

    #[test]
    fn progress_bar_redraws_are_left_out_of_the_page() {
        let out = "   Compiling a v0.1.0\n\r    Building [==>   ] 1/3: a\r\x1b[K\rerror[E0308]: mismatched types\n  --> src/main.rs:1:1\n\n";
        assert_eq!(without_progress(out), "   Compiling a v0.1.0\nerror[E0308]: mismatched types\n  --> src/main.rs:1:1\n\n");
    }
}
