//! The app a generator runs in: found from the current directory, with what it has
//! (HTML, a database, channels) read from its files.

use std::path::{Path, PathBuf};

/// An app made by `zzz new`.
#[derive(Debug, Clone)]
pub struct App {
    /// Its directory (where `Cargo.toml` is).
    pub root: PathBuf,
    /// Its crate name.
    pub name: String,
    /// Has a browser pipeline and templates.
    pub html: bool,
    /// Has a database (`src/migrations/`).
    pub db: bool,
    /// Has a socket (`src/channels/`).
    pub channels: bool,
}

impl App {
    /// The app at `dir` or the nearest directory above it with `Cargo.toml` and `src/router.rs`.
    ///
    /// # Errors
    /// When there is none.
    pub fn find(dir: &Path) -> Result<App, String> {
        let root = dir
            .ancestors()
            .find(|d| d.join("Cargo.toml").is_file() && d.join("src/router.rs").is_file())
            .ok_or_else(|| {
                format!("{} is not inside an app made by `zzz new` (no Cargo.toml with src/router.rs); run `zzz gen` in one", dir.display())
            })?
            .to_path_buf();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).map_err(|e| format!("reading Cargo.toml: {e}"))?;
        let name = manifest
            .lines()
            .find_map(|l| l.trim().strip_prefix("name").map(str::trim).and_then(|r| r.strip_prefix('=')).map(|v| v.trim().trim_matches('"').to_owned()))
            .ok_or_else(|| format!("{}: no package name", root.join("Cargo.toml").display()))?
            .replace('-', "_");
        let router = std::fs::read_to_string(root.join("src/router.rs")).unwrap_or_default();
        Ok(App {
            html: router.contains("pipeline browser") && root.join("templates/layouts/app.html").is_file(),
            db: root.join("src/migrations/mod.rs").is_file(),
            channels: root.join("src/channels/mod.rs").is_file(),
            name,
            root,
        })
    }

    /// Fails unless the app has a database.
    pub fn require_db(&self, generator: &str) -> Result<(), String> {
        if self.db {
            Ok(())
        } else {
            Err(format!("`zzz gen {generator}` needs a database, and this app has none (it was made with --no-db)"))
        }
    }

    /// The base variables of the `gen` templates.
    pub fn vars(&self) -> crate::render::Vars {
        let mut vars = crate::render::Vars::default();
        vars.set("app", &self.name).flag("db", self.db).flag("html", self.html).flag("channels", self.channels);
        vars
    }
}
