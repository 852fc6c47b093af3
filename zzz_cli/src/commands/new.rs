//! `zzz new NAME`: renders `templates/new/` into a new app directory.

use std::path::{Path, PathBuf};

use crate::names::check_app_name;
use crate::render::{Vars, files_under, output_path, render};

/// The database a new app uses.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Database {
    /// SQLite: a file next to the app, nothing to install (the default).
    #[default]
    Sqlite,
    /// PostgreSQL (the server at `postgres://postgres@127.0.0.1:5432` in development).
    Postgres,
}

/// Options of `zzz new`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n    zzz new my_app                        # SQLite, HTML pages, a channel\n    zzz new shop --database postgres\n    zzz new status_api --no-db --no-html --no-channels")]
pub struct Args {
    /// The app's name: snake_case (`my_app`); also its crate and directory name.
    pub name: String,
    /// The database to configure.
    #[arg(long, value_enum, default_value_t = Database::Sqlite)]
    pub database: Database,
    /// No database: no repo, models, migrations or `zzz_db` dependency.
    #[arg(long)]
    pub no_db: bool,
    /// No HTML: no browser pipeline, layout or templates (a JSON API).
    #[arg(long)]
    pub no_html: bool,
    /// No channels: no socket or channel.
    #[arg(long)]
    pub no_channels: bool,
    /// Where to create the app (default: ./NAME). Must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Depend on the zzz crates in this checkout (default: the checkout this `zzz` was
    /// built from).
    #[arg(long, value_name = "DIR", conflicts_with = "zzz_version")]
    pub zzz_path: Option<PathBuf>,
    /// Depend on this version of the zzz crates from the registry instead of a checkout.
    #[arg(long, value_name = "VERSION")]
    pub zzz_version: Option<String>,
}

/// The keys the `new` templates use.
#[cfg(test)]
pub const KEYS: &[&str] =
    &["app", "zzz_dep", "zzz_db_dep", "zzz_features", "dev_db_url", "test_db_url", "prod_db_url", "dev_secret", "test_secret"];

/// The checkout this binary was built from (its `zzz_cli/..`).
pub fn own_checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The workspace's lockfile, so a new app built against this checkout resolves the same,
/// tested dependency versions (cargo drops the entries it does not need).
const WORKSPACE_LOCK: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"));

/// Random bytes as hex, for development secrets.
fn random_hex(bytes: usize) -> Result<String, String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("reading random bytes from /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// `path = "…"` or `version = "…"` for one zzz crate.
fn dependency(args: &Args, krate: &str) -> Result<String, String> {
    if let Some(version) = &args.zzz_version {
        return Ok(format!("version = {version:?}"));
    }
    let checkout = args.zzz_path.clone().unwrap_or_else(own_checkout);
    let dir = checkout.join(krate);
    let dir = dir.canonicalize().map_err(|e| {
        format!("{} is not a zzz checkout ({e}); give one with --zzz-path DIR or a version with --zzz-version V", dir.display())
    })?;
    let dir = dir.to_str().ok_or_else(|| format!("{} is not valid UTF-8", dir.display()))?;
    Ok(format!("path = {dir:?}"))
}

/// Is `dir` missing, or an empty directory?
fn usable_target(dir: &Path) -> Result<(), String> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(format!("{} already exists and is not empty; choose another name or --path", dir.display())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(format!("{} already exists and is a file", dir.display()))
        }
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

/// The variables the `new` templates are rendered with.
pub fn vars(args: &Args) -> Result<Vars, String> {
    let app = args.name.as_str();
    let db = !args.no_db;
    let postgres = db && args.database == Database::Postgres;
    let mut features = Vec::new();
    if db {
        features.push("\"db\"");
    }
    if !args.no_html {
        features.push("\"templates\"");
    }
    let (dev_db, test_db) = if postgres {
        (
            format!("postgres://postgres@127.0.0.1:5432/{app}_dev"),
            format!("postgres://postgres@127.0.0.1:5432/{app}_test"),
        )
    } else {
        (format!("sqlite://{app}_dev.db"), "sqlite::memory:".to_owned())
    };
    let mut vars = Vars::default();
    vars.set("app", app)
        .set("zzz_dep", dependency(args, "zzz")?)
        .set("zzz_db_dep", dependency(args, "zzz_db")?)
        .set("zzz_features", features.join(", "))
        .set("dev_db_url", dev_db)
        .set("test_db_url", test_db)
        .set("prod_db_url", format!("sqlite://{app}_prod.db"))
        .set("dev_secret", random_hex(48)?)
        .set("test_secret", random_hex(48)?)
        .flag("db", db)
        .flag("postgres", postgres)
        .flag("sqlite", db && !postgres)
        .flag("html", !args.no_html)
        .flag("channels", !args.no_channels);
    Ok(vars)
}

/// Runs the command.
pub fn run(args: Args) -> Result<(), String> {
    check_app_name(&args.name)?;
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    usable_target(&dir)?;
    let vars = vars(&args)?;
    let mut written = Vec::new();
    for (path, text) in files_under("new") {
        let Some(content) = render(&format!("new/{path}"), text, &vars)? else { continue };
        written.push((output_path(path), content));
    }
    if args.zzz_version.is_none() {
        written.push(("Cargo.lock".to_owned(), WORKSPACE_LOCK.to_owned()));
    }
    for (path, content) in &written {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, content).map_err(|e| format!("writing {}: {e}", target.display()))?;
        println!("* creating {}", target.display());
    }
    let cd = if dir.is_absolute() { dir.display().to_string() } else { format!("{}", dir.display()) };
    println!("\nYour zzz app is ready:\n\n    cd {cd}\n    zzz server        # http://localhost:4000\n    cargo test");
    if vars_flag_postgres(&args) {
        println!("\nIt uses PostgreSQL at postgres://postgres@127.0.0.1:5432 (see src/config/dev.rs);\nthe dev database is created on first start, or with `zzz db create`.");
    }
    Ok(())
}

fn vars_flag_postgres(args: &Args) -> bool {
    !args.no_db && args.database == Database::Postgres
}
