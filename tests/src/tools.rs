//! Real clients the tests drive, installed on first use (never assumed): Python tools
//! from PyPI in a virtualenv under `target/`, and Debian's Chromium.
//!
//! Installs are serialized across test processes with `flock`, so parallel tests
//! share one install.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's `target/zzz-tools` directory.
pub fn tools_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("zzz-tools");
    std::fs::create_dir_all(&dir).expect("create target/zzz-tools");
    dir
}

/// The pinned Python tools the tests use.
pub const PYTHON_TOOLS: &[&str] = &["openapi-spec-validator==0.9.0", "schemathesis==4.32.5"];

/// Runs `script` under an exclusive lock named `lock`, failing the test with its output.
fn locked_shell(lock: &str, script: &str) {
    let lock_file = tools_dir().join(format!("{lock}.lock"));
    let output = Command::new("flock")
        .arg(&lock_file)
        .args(["sh", "-c", script])
        .output()
        .unwrap_or_else(|e| panic!("running flock failed ({e}); is util-linux installed?"));
    assert!(
        output.status.success(),
        "installing test tools failed: {script}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The path of a command from the test virtualenv, installing the tools first if needed.
pub fn python_tool(name: &str) -> PathBuf {
    let venv = tools_dir().join("pyenv");
    let marker = venv.join(format!("installed-{}", PYTHON_TOOLS.join("+").replace(['=', '<', '>'], "_")));
    if !marker.exists() {
        let script = format!(
            "set -e; [ -f '{marker}' ] && exit 0; python3 -m venv '{venv}'; '{venv}/bin/pip' install -q {tools}; touch '{marker}'",
            marker = marker.display(),
            venv = venv.display(),
            tools = PYTHON_TOOLS.join(" "),
        );
        locked_shell("pyenv", &script);
    }
    let tool = venv.join("bin").join(name);
    assert!(tool.exists(), "{} is not in the test virtualenv", tool.display());
    tool
}

/// Debian's Chromium, installed with apt-get when missing.
pub fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        locked_shell(
            "chromium",
            "set -e; [ -x /usr/bin/chromium ] && exit 0; \
             if [ \"$(id -u)\" != 0 ]; then echo 'Chromium is missing: apt-get install chromium (needs root)' >&2; exit 1; fi; \
             apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null",
        );
    }
    path
}

/// Chromium's flags for a headless run on this machine: no sandbox (root), no GPU,
/// and no background traffic (the network is closed), in a fresh profile.
pub fn chromium_command(profile: &Path) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd
}
