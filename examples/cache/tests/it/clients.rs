//! The real clients, from npm (`tests/clients/package.json` + lockfile, installed by
//! [`install_clients`] under a lock): turbo and nx each build a two-package workspace twice with
//! their local cache cleared in between; the second run must be served by this
//! server. Turbo runs unsigned and signed (`x-artifact-tag` HMACs). One test, because
//! it is heavy.



use std::path::{Path, PathBuf};
use std::process::Command;

use cache::config::TokenConfig;
use cache::metrics::Protocol;
use crate::common::TestServer;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn require(tool: &str) {
    let ok = Command::new(tool).arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "`{tool}` is required for the real-client test but was not found on PATH; install Node.js and npm (apt-get install nodejs npm)");
}

/// Installs the clients once (under a file lock: other test processes may get here at
/// once) into a scratch directory under the target dir, from the committed
/// `package.json` + `package-lock.json`.
///
/// `npm install`, not `npm ci`: turbo and nx list every platform's binary as an optional
/// dependency, the registry this project builds against serves only the Linux ones, so
/// the lockfile can only hold those, and `npm ci` refuses a lockfile without the others.
/// `npm install` takes the locked versions and skips what it cannot use; it runs on a
/// copy, so the committed lockfile is never rewritten.
fn install_clients() -> PathBuf {
    require("node");
    require("npm");
    require("flock");
    let src = clients_dir();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache-clients");
    std::fs::create_dir_all(&dir).expect("create the clients' install directory");
    let script = r#"
        set -e
        if ! cmp -s "$SRC/package.json" package.json || ! cmp -s "$SRC/package-lock.json" package-lock.lock \
           || [ ! -x node_modules/.bin/turbo ] || [ ! -x node_modules/.bin/nx ]; then
            cp "$SRC/package.json" package.json
            cp "$SRC/package-lock.json" package-lock.json
            cp "$SRC/package-lock.json" package-lock.lock
            npm install --no-audit --no-fund
        fi
    "#;
    let out = Command::new("flock")
        .arg(dir.join(".npm-install.lock"))
        .args(["sh", "-c", script])
        .env("SRC", &src)
        .current_dir(&dir)
        .output()
        .expect("run npm install");
    assert!(
        out.status.success(),
        "npm install in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("node_modules")
}

/// A workspace with packages `a` and `b` (b depends on a), each writing `dist/out.txt`.
fn workspace(root: &Path, node_modules: &Path, turbo_signature: bool) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(root.join("package.json"), r#"{"name":"ws","private":true,"packageManager":"npm@10.8.2","workspaces":["packages/*"]}"#).unwrap();
    let signature = if turbo_signature { r#""remoteCache":{"signature":true},"# } else { "" };
    std::fs::write(
        root.join("turbo.json"),
        format!(r#"{{"$schema":"https://turbo.build/schema.json",{signature}"tasks":{{"build":{{"dependsOn":["^build"],"outputs":["dist/**"]}}}}}}"#),
    )
    .unwrap();
    std::fs::write(root.join("nx.json"), r#"{"targetDefaults":{"build":{"cache":true,"dependsOn":["^build"],"outputs":["{projectRoot}/dist"]}}}"#).unwrap();
    for (name, deps) in [("a", ""), ("b", r#""dependencies":{"a":"1.0.0"},"#)] {
        let dir = root.join("packages").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let build = format!(
            "node -e \\\"require('fs').mkdirSync('dist',{{recursive:true}});require('fs').writeFileSync('dist/out.txt','{name} built')\\\""
        );
        std::fs::write(dir.join("package.json"), format!(r#"{{"name":"{name}","version":"1.0.0",{deps}"scripts":{{"build":"{build}"}}}}"#)).unwrap();
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(node_modules, root.join("node_modules")).unwrap();
}

/// Removes every local cache and output, so only the remote cache can make a hit.
fn clean(root: &Path) {
    for dir in [root.join(".turbo"), root.join(".nx")] {
        let _ = std::fs::remove_dir_all(dir);
    }
    for name in ["a", "b"] {
        for sub in ["dist", ".turbo"] {
            let _ = std::fs::remove_dir_all(root.join("packages").join(name).join(sub));
        }
    }
}

fn run(root: &Path, program: &Path, args: &[&str], env: &[(&str, String)]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(root);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("TURBO_TELEMETRY_DISABLED", "1")
        .env("DO_NOT_TRACK", "1")
        .env("TURBO_NO_UPDATE_NOTIFIER", "1")
        .env("NX_DAEMON", "false")
        .env("NX_NO_CLOUD", "true")
        .env("NX_TUI", "false")
        .env("NX_SKIP_NX_CACHE", "false")
        .env("CI", "true");
    let out = cmd.output().unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{} {args:?} failed:\n{text}", program.display());
    text
}

fn hits(server: &TestServer, protocol: Protocol) -> u64 {
    let text = server.cache.metrics.render(server.cache.store.stats());
    let prefix = format!("cache_hits_total{{protocol=\"{}\"}} ", protocol.name());
    text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turbo_and_nx_get_remote_cache_hits() {
    let node_modules = install_clients();
    let turbo = node_modules.join(".bin/turbo");
    let nx = node_modules.join(".bin/nx");
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), |c| {
        c.tokens = vec![TokenConfig { token: "client-token".into(), read_only: false, namespaces: None }];
    })
    .await;
    let api = server.url();

    // Turbo, unsigned then signed (a different team, so the entries are new).
    for (team, signed) in [("acme", false), ("signed", true)] {
        let root = dir.path().join(format!("turbo-{team}"));
        workspace(&root, &node_modules, signed);
        let mut env = vec![("TURBO_API", api.clone()), ("TURBO_TOKEN", "client-token".to_owned()), ("TURBO_TEAM", team.to_owned())];
        if signed {
            env.push(("TURBO_REMOTE_CACHE_SIGNATURE_KEY", "a-signature-key-of-at-least-32-bytes!".to_owned()));
        }
        let (root2, turbo2, env2) = (root.clone(), turbo.clone(), env.clone());
        let first = tokio::task::spawn_blocking(move || {
            clean(&root2);
            run(&root2, &turbo2, &["run", "build"], &env2)
        })
        .await
        .unwrap();
        assert!(first.contains("0 cached, 2 total"), "first turbo run ({team}) builds:\n{first}");
        let before = hits(&server, Protocol::Turbo);
        let (root2, turbo2, env2) = (root.clone(), turbo.clone(), env.clone());
        let second = tokio::task::spawn_blocking(move || {
            clean(&root2);
            run(&root2, &turbo2, &["run", "build"], &env2)
        })
        .await
        .unwrap();
        assert!(second.contains("2 cached, 2 total"), "second turbo run ({team}) is a remote hit:\n{second}");
        assert_eq!(hits(&server, Protocol::Turbo) - before, 2, "both tasks came from this server");
        assert_eq!(std::fs::read_to_string(root.join("packages/b/dist/out.txt")).unwrap(), "b built", "outputs restored");
        let stored = server.cache.store.namespaces(10);
        assert!(stored.iter().any(|n| n.name == format!("turbo/{team}") && n.entries == 2), "{stored:?}");
        if signed {
            // Every signed entry carries turbo's HMAC tag.
            let index = std::fs::read_to_string(server.dir.join("index.journal")).unwrap();
            assert!(index.lines().filter(|l| l.contains("turbo/signed/") && l.contains("x-artifact-tag")).count() >= 2, "{index}");
        }
    }

    // Nx.
    let root = dir.path().join("nx");
    workspace(&root, &node_modules, false);
    let env = vec![
        ("NX_SELF_HOSTED_REMOTE_CACHE_SERVER", api.clone()),
        ("NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN", "client-token".to_owned()),
    ];
    let (root2, nx2, env2) = (root.clone(), nx.clone(), env.clone());
    let first = tokio::task::spawn_blocking(move || {
        clean(&root2);
        run(&root2, &nx2, &["run-many", "-t", "build", "--output-style=static"], &env2)
    })
    .await
    .unwrap();
    assert!(!first.contains("existing outputs match the cache"), "{first}");
    let puts_text = server.cache.metrics.render(server.cache.store.stats());
    assert!(puts_text.contains("cache_puts_total{protocol=\"nx\"} 2"), "nx stored both tasks:\n{first}\n{puts_text}");
    let before = hits(&server, Protocol::Nx);
    let (root2, nx2, env2) = (root.clone(), nx.clone(), env.clone());
    let second = tokio::task::spawn_blocking(move || {
        let _ = run(&root2, &nx2, &["reset"], &env2);
        clean(&root2);
        run(&root2, &nx2, &["run-many", "-t", "build", "--output-style=static"], &env2)
    })
    .await
    .unwrap();
    assert!(second.contains("2/2 hit") || second.contains("from the cache"), "second nx run is a remote hit:\n{second}");
    assert_eq!(hits(&server, Protocol::Nx) - before, 2, "both tasks came from this server:\n{second}");
    assert_eq!(std::fs::read_to_string(root.join("packages/a/dist/out.txt")).unwrap(), "a built");
    server.stop().await;
}
