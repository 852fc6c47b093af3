//! Watching the app's files: which changes count, and debouncing them into one
//! rebuild.
//!
//! The project directory is watched non-recursively, and each of its
//! subdirectories recursively except build output and tool state (`target/`,
//! `.git/`, `node_modules/`, any directory starting with `.`); a directory created
//! at the top later is picked up. Editor droppings (swap, backup and temporary
//! files) are ignored, and so is whatever the project's top-level `.gitignore`
//! ignores (its simple patterns: globs with `*` and `?`, `/`-anchored or not,
//! `dir/`) — SQLite databases of the dev environment, say, which change on every
//! request and must not restart the app. `Cargo.lock` does not count either:
//! cargo itself writes it during a build.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

/// Quiet time after the last change before a rebuild starts.
const QUIET: Duration = Duration::from_millis(80);
/// Longest a stream of changes may postpone the rebuild.
const MAX_DELAY: Duration = Duration::from_millis(1000);

/// Top-level directories never watched.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules"];

/// The file watcher of one project.
pub struct Watcher {
    watcher: RecommendedWatcher,
    root: PathBuf,
    /// Absolute directories whose changes are ignored (the cargo target directory).
    ignored: Vec<PathBuf>,
    changes: mpsc::UnboundedReceiver<PathBuf>,
    gitignore: GitIgnore,
}

impl Watcher {
    /// Watches `root` (see the module docs) and `extra` paths; changes under any
    /// of `ignored` do not count.
    pub fn start(root: &Path, extra: &[PathBuf], ignored: Vec<PathBuf>) -> Result<Watcher, String> {
        let root = std::path::absolute(root).map_err(|e| format!("{}: {e}", root.display()))?;
        let (tx, changes) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if !matches!(event.kind, EventKind::Access(_)) => {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
            Ok(_) => {}
            Err(e) => eprintln!("zzz: file watcher error: {e}"),
        })
        .map_err(|e| format!("cannot start the file watcher: {e}"))?;
        let gitignore = GitIgnore::parse(&std::fs::read_to_string(root.join(".gitignore")).unwrap_or_default());
        let mut this = Watcher { watcher, root: root.clone(), ignored, changes, gitignore };
        this.add(&root, RecursiveMode::NonRecursive)?;
        let entries = std::fs::read_dir(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !this.is_skipped_dir(&path) {
                this.add(&path, RecursiveMode::Recursive)?;
            }
        }
        for path in extra {
            let path = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
            this.add(&path, RecursiveMode::Recursive)?;
        }
        Ok(this)
    }

    fn add(&mut self, path: &Path, mode: RecursiveMode) -> Result<(), String> {
        self.watcher.watch(path, mode).map_err(|e| format!("cannot watch {}: {e}", path.display()))
    }

    fn is_skipped_dir(&self, dir: &Path) -> bool {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.starts_with('.')
            || SKIPPED_DIRS.contains(&name)
            || is_cargo_temp_dir(name)
            || self.ignored.iter().any(|i| dir.starts_with(i))
            || dir.strip_prefix(&self.root).is_ok_and(|r| self.gitignore.ignores(r, true))
    }

    /// Whether a change of `path` should trigger a rebuild.
    fn counts(&self, path: &Path) -> bool {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if is_scratch_file(name) || self.ignored.iter().any(|i| path.starts_with(i)) {
            return false;
        }
        // Paths given with --watch count whole; the project's follow its rules.
        let Ok(relative) = path.strip_prefix(&self.root) else { return true };
        let mut dirs = relative.parent().into_iter().flat_map(Path::components);
        let top = relative.components().next().and_then(|c| c.as_os_str().to_str()).unwrap_or("");
        !(dirs.any(|c| {
            let name = c.as_os_str().to_str().unwrap_or("");
            name.starts_with('.') || SKIPPED_DIRS.contains(&name)
        }) || is_cargo_temp_dir(top)
            || self.gitignore.ignores(relative, path.is_dir())
            || (name == "Cargo.lock" && relative.parent() == Some(Path::new(""))) // cargo writes it while building
            || self.is_skipped_dir(path))
    }

    /// Waits for a change that counts, then for the changes to settle; returns
    /// the changed paths (relative to the project when inside it).
    pub async fn changed(&mut self) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        while changed.is_empty() {
            let Some(path) = self.changes.recv().await else { return std::future::pending().await };
            self.note(path, &mut changed);
        }
        let deadline = Instant::now() + MAX_DELAY;
        loop {
            let quiet_until = (Instant::now() + QUIET).min(deadline);
            match timeout_at(quiet_until, self.changes.recv()).await {
                Ok(Some(path)) => self.note(path, &mut changed),
                Ok(None) | Err(_) => return changed,
            }
        }
    }

    /// The changes that counted since the last call, without waiting.
    pub fn pending(&mut self) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        while let Ok(path) = self.changes.try_recv() {
            self.note(path, &mut changed);
        }
        changed
    }

    fn note(&mut self, path: PathBuf, changed: &mut Vec<PathBuf>) {
        if path.parent() == Some(self.root.as_path()) && path.is_dir() && !self.is_skipped_dir(&path) {
            // A new top-level directory: watch inside it too.
            if let Err(e) = self.add(&path, RecursiveMode::Recursive) {
                eprintln!("zzz: {e}");
            }
        }
        if self.counts(&path) {
            let shown = path.strip_prefix(&self.root).map(Path::to_path_buf).unwrap_or(path);
            if !changed.contains(&shown) {
                changed.push(shown);
            }
        }
    }
}

/// Cargo makes a missing target directory atomically: a temporary sibling named
/// `target` + 6 random characters, renamed into place. Its events are not changes
/// (else the first build of a fresh project would trigger a second one).
fn is_cargo_temp_dir(name: &str) -> bool {
    name.strip_prefix("target").is_some_and(|rest| rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Files that are never sources: hidden files, editor swap, backup and
/// temporary files, SQLite's side files.
fn is_scratch_file(name: &str) -> bool {
    name.is_empty()
        || name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name == "4913" // vim's write test
        || [".swp", ".swx", ".tmp", ".bak"].iter().any(|ext| name.ends_with(ext))
        || [".db-journal", ".db-wal", ".db-shm", ".sqlite-journal", ".sqlite-wal", ".sqlite-shm"].iter().any(|ext| name.ends_with(ext))
}

/// The simple patterns of a `.gitignore` (no negation, `**` taken as `*`).
#[derive(Default)]
struct GitIgnore {
    /// (glob, anchored to the root, directories only)
    patterns: Vec<(String, bool, bool)>,
}

impl GitIgnore {
    fn parse(text: &str) -> GitIgnore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
            .map(|l| {
                let dir_only = l.ends_with('/');
                let l = l.trim_end_matches('/');
                let anchored = l.contains('/');
                (l.trim_start_matches('/').replace("**", "*"), anchored, dir_only)
            })
            .filter(|(glob, _, _)| !glob.is_empty())
            .collect();
        GitIgnore { patterns }
    }

    /// Whether `relative` (to the project root), or a directory it is in, is ignored.
    fn ignores(&self, relative: &Path, is_dir: bool) -> bool {
        let parts: Vec<&str> = relative.iter().filter_map(|c| c.to_str()).collect();
        self.patterns.iter().any(|(glob, anchored, dir_only)| {
            (0..parts.len()).any(|i| {
                // parts[..=i] is a directory unless it is the path itself.
                let dir = i + 1 < parts.len() || is_dir;
                if *dir_only && !dir {
                    return false;
                }
                if *anchored { glob_match(glob, &parts[..=i].join("/")) } else { glob_match(glob, parts[i]) }
            })
        })
    }
}

/// `*` (any run of characters except `/`) and `?` (one character) globbing.
fn glob_match(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    let (mut gi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' && t[ti] != '/' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ti;
            gi += 1;
        } else if let Some(s) = star
            && t[mark] != '/'
        {
            gi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_count_and_build_output_and_editor_files_do_not() {
        let dir = std::env::temp_dir().join(format!("zzz-watch-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join(".gitignore"), "/target\n# dev databases\n*.db\n*.db-wal\nlogs/\n!keep.db\n/priv/cache\n").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = rt.enter();
        let w = Watcher::start(&dir, &[], vec![dir.join("custom-target")]).unwrap();
        let root = w.root.clone();
        for yes in ["targets.rs", "src/target1234/a.rs", "src/main.rs", "templates/page.html", "priv/static/app.css", "Cargo.toml", "config/dev.toml", "src/db.rs", "sub/priv/cache/a.css"] {
            assert!(w.counts(&root.join(yes)), "{yes} should count");
        }
        for no in [
            "target/debug/app",
            "targetDPhNWu",
            "targetDPhNWu/CACHEDIR.TAG",
            "custom-target/debug/app",
            ".git/index",
            "node_modules/x/index.js",
            "src/.main.rs.swp",
            "src/main.rs~",
            "src/4913",
            "src/#main.rs#",
            "assets/.cache/x",
            "my_app_dev.db",
            "my_app_dev.db-wal",
            "logs/today.txt",
            "sub/logs/today.txt",
            "priv/cache/a.css",
            "Cargo.lock",
            "data/app.db-journal",
            "data/app.sqlite-wal",
        ] {
            assert!(!w.counts(&root.join(no)), "{no} should not count");
        }
        // A path outside the project (given with --watch): counts, but not its swap files.
        assert!(w.counts(Path::new("/srv/shared/theme.css")));
        assert!(!w.counts(Path::new("/srv/shared/.theme.css.swp")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.db", "app_dev.db"));
        assert!(!glob_match("*.db", "app_dev.db-wal"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(!glob_match("*.db", "dir/x.db"));
        assert!(glob_match("*", ""));
    }
}
