//! The real `zzz` binary making and driving real apps: `zzz new` in a temp dir (SQLite and
//! Postgres), `cargo test` in the generated app (no warnings), `zzz gen resource`,
//! `zzz migrate` / `migrations` / `rollback`, `zzz db`, the app serving the generated
//! resource's JSON API (with changeset errors on bad input) and `zzz routes`.
//!
//! Every generated app builds into one shared target directory,
//! `<workspace>/target/generated-apps`, so zzz and its dependencies compile once (the
//! first, cold build takes a few minutes on two cores; later ones seconds).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The shared target directory of every generated app in the tests.
fn generated_target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/generated-apps")
}

/// A directory removed when the test ends (kept when it fails, to look at).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("zzz-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn zzz(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zzz"));
    cmd.args(args).current_dir(dir).env("CARGO_TARGET_DIR", generated_target_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("run zzz {args:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `zzz ARGS` and expects success; returns its standard output.
fn zzz_ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = zzz(dir, args, env);
    assert!(out.status.success(), "zzz {args:?} failed ({}):\n{}\n{}", out.status, text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// `cargo ARGS` in the app, expecting success and no compiler warning.
fn cargo_ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args).current_dir(dir).env("CARGO_TARGET_DIR", generated_target_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("run cargo {args:?}: {e}"));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    eprintln!("cargo {args:?} in {} took {:.1?}", dir.display(), started.elapsed());
    assert!(out.status.success(), "cargo {args:?} failed ({}):\n{stdout}\n{stderr}", out.status);
    assert!(!stderr.contains("warning:"), "cargo {args:?} printed warnings:\n{stderr}");
    stdout
}

/// One HTTP/1.1 request over a real socket: (status, body).
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the app");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("set a read timeout");
    let body = body.unwrap_or("");
    let content_type = if body.is_empty() { "" } else { "content-type: application/json\r\n" };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\naccept: application/json\r\n{content_type}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {response:?}"));
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The app's server, stopped when dropped.
struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the built app (`cargo run`) on a free port and waits for its "listening" line.
fn serve(dir: &Path, env: &[(&str, &str)]) -> Served {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["run", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", generated_target_dir())
        .env("PORT", "0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the app");
    let stdout = child.stdout.take().expect("the app's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("app | {line}");
            if let Some(port) = line.split("listening on http://").nth(1).and_then(|a| a.rsplit(':').next()).and_then(|p| p.trim().parse::<u16>().ok()) {
                let _ = tx.send(port);
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(300)).expect("the app printed its listening address");
    Served { child, port }
}

/// `zzz new` → `cargo test` (no warnings) → `zzz routes` → serving: what every variant checks.
fn new_app_builds_tests_and_serves(scratch: &Scratch, name: &str, new_args: &[&str], env: &[(&str, &str)]) -> PathBuf {
    let app = scratch.0.join(name);
    let mut args = vec!["new", name];
    args.extend_from_slice(new_args);
    let out = zzz_ok(&scratch.0, &args, &[]);
    assert!(out.contains("Your zzz app is ready"), "{out}");
    for file in ["Cargo.toml", "Cargo.lock", "src/main.rs", "src/router.rs", "src/config/prod.rs", "tests/app/main.rs", ".gitignore", "README.md"] {
        assert!(app.join(file).is_file(), "zzz new did not write {file}");
    }

    cargo_ok(&app, &["test", "--quiet"], env);

    let routes = zzz_ok(&app, &["routes"], env);
    let rows: Vec<Vec<&str>> = routes.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.contains(&vec!["api_health_path", "GET", "/api/health", "health_controller::show"]), "{routes}");
    assert!(rows.contains(&vec!["WS", "/socket/websocket", "AppSocket"]), "{routes}");
    app
}

#[test]
fn zzz_new_refuses_bad_names_and_non_empty_directories() {
    let scratch = Scratch::new("refusals");
    for (name, message) in [
        ("My-App", "invalid app name `My-App`: use lowercase ASCII letters, digits and underscores, starting with a letter (try `my_app`)"),
        ("fn", "invalid app name `fn`: it is a Rust keyword"),
        ("zzz", "invalid app name `zzz`: it is reserved"),
    ] {
        let out = zzz(&scratch.0, &["new", name], &[]);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    }
    std::fs::create_dir_all(scratch.0.join("taken")).unwrap();
    std::fs::write(scratch.0.join("taken/notes.txt"), "mine").unwrap();
    let out = zzz(&scratch.0, &["new", "taken"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("already exists and is not empty"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(scratch.0.join("taken/notes.txt")).unwrap(), "mine");
    let out = zzz(&scratch.0, &["gen", "migration", "add_tags"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not inside an app made by `zzz new`"), "{}", text(&out.stderr));
    // --path puts the app elsewhere; an empty directory is fine.
    std::fs::create_dir_all(scratch.0.join("apps/empty")).unwrap();
    let out = zzz_ok(&scratch.0, &["new", "placed", "--path", "apps/empty", "--no-channels"], &[]);
    assert!(out.contains("cd apps/empty"), "{out}");
    let manifest = std::fs::read_to_string(scratch.0.join("apps/empty/Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"placed\""), "{manifest}");
    assert!(!scratch.0.join("apps/empty/src/channels").exists());
    let out = zzz(&scratch.0, &["new", "elsewhere", "--database", "mysql"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("invalid value 'mysql'"), "{}", text(&out.stderr));
}

/// The JSON API `zzz gen resource … --json` made, over a real socket: created, listed,
/// and bad input answered 422 with the changeset's errors.
fn json_api_serves_and_rejects_bad_input(port: u16) {
    let (status, body) = http(port, "GET", "/api/health", None);
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok","database":"ok"}"#));
    let (status, body) = http(port, "POST", "/api/posts", Some(r#"{"post": {"title": "Hello", "views": "12"}}"#));
    assert_eq!(status, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!((created["data"]["title"].as_str(), created["data"]["views"].as_i64()), (Some("Hello"), Some(12)));
    let id = created["data"]["id"].as_i64().expect("an id");
    let (status, body) = http(port, "GET", "/api/posts", None);
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(listed["data"], serde_json::json!([created["data"]]));
    let (status, body) = http(port, "POST", "/api/posts", Some(r#"{"post": {"title": "", "views": "many"}}"#));
    assert_eq!(status, 422, "{body}");
    let errors: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(errors, serde_json::json!({"errors": {"title": ["can't be blank"], "views": ["is invalid"]}}));
    let (status, body) = http(port, "POST", "/api/posts", Some(r#"{"title": "not wrapped"}"#));
    assert!(status == 400 || status == 422, "{status}: {body}");
    assert!(body.contains("post"), "the rejection names the missing field: {body}");
    let (status, _) = http(port, "GET", &format!("/api/posts/{}", id + 1000), None);
    assert_eq!(status, 404);
}

/// `zzz migrations`, `zzz migrate --step 1`, `zzz migrate`, `zzz rollback` against the
/// app's database; returns after migrating everything.
fn migrations_run_step_by_step(app: &Path, env: &[(&str, &str)], migration_names: &[&str]) {
    let status = zzz_ok(app, &["migrations"], env);
    for name in migration_names {
        assert!(status.lines().any(|l| l.contains("down") && l.ends_with(name)), "{name} should be down:\n{status}");
    }
    let first = zzz_ok(app, &["migrate", "--step", "1"], env);
    assert_eq!(first.lines().count(), 1, "{first}");
    assert!(first.starts_with("Migrated ") && first.trim_end().ends_with(migration_names[0]), "{first}");
    if migration_names.len() > 1 {
        let rest = zzz_ok(app, &["migrate"], env);
        assert_eq!(rest.lines().count(), migration_names.len() - 1, "{rest}");
    }
    assert_eq!(zzz_ok(app, &["migrate"], env).trim(), "Already up");
    let status = zzz_ok(app, &["migrations"], env);
    for name in migration_names {
        assert!(status.lines().any(|l| l.contains("up") && l.ends_with(name)), "{name} should be up:\n{status}");
    }
    let rolled = zzz_ok(app, &["rollback"], env);
    assert!(rolled.starts_with("Rolled back ") && rolled.trim_end().ends_with(migration_names.last().unwrap()), "{rolled}");
    zzz_ok(app, &["migrate"], env);
}

#[test]
fn sqlite_app_from_new_to_serving() {
    let scratch = Scratch::new("sqlite");
    let app = new_app_builds_tests_and_serves(&scratch, "blog", &[], &[]);
    let db = scratch.0.join("blog_dev.db");
    let url = format!("sqlite://{}", db.display());
    let env = [("DATABASE_URL", url.as_str())];

    // Every generator; what they make must build and pass its own tests as-is.
    for args in [
        &["gen", "resource", "Post", "posts", "title:string", "views:integer", "published:boolean", "--json"][..],
        &["gen", "resource", "Note", "notes", "body:text", "due:date", "rank:float", "--html"],
        &["gen", "model", "Comment", "comments", "body:text", "post_id:references:posts"],
        &["gen", "migration", "add_index_to_posts"],
        &["gen", "controller", "Pages", "about", "contact"],
        &["gen", "channel", "Chat"],
        &["gen", "job", "SendDigest"],
    ] {
        let out = zzz_ok(&app, args, &[]);
        assert!(out.contains("* creating"), "{args:?}: {out}");
        assert!(!out.contains("marker"), "{args:?} found every marker: {out}");
    }
    let out = zzz(&app, &["gen", "resource", "Post", "posts", "title:string"], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("already exists; nothing was written"), "{}", text(&out.stderr));
    let out = zzz(&app, &["gen", "model", "Tag", "tags", "name:varchar"], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("unknown type `varchar`"), "{}", text(&out.stderr));
    let tests = cargo_ok(&app, &["test"], &[]);
    for name in ["post_controller_test::", "note_controller_test::", "pages_controller_test::", "chat_channel_test::", "send_digest_worker_test::"] {
        assert!(tests.lines().any(|l| l.contains(name) && l.ends_with("ok")), "{name} tests ran:\n{tests}");
    }

    migrations_run_step_by_step(&app, &env, &["create_posts", "create_notes", "create_comments", "add_index_to_posts"]);

    let routes = zzz_ok(&app, &["routes"], &env);
    let rows: Vec<Vec<&str>> = routes.lines().map(|l| l.split_whitespace().collect()).collect();
    for row in [
        vec!["api_posts_path", "POST", "/api/posts", "post_controller::create"],
        vec!["edit_note_path", "GET", "/notes/:id/edit", "note_controller::edit"],
        vec!["pages_about_path", "GET", "/pages/about", "pages_controller::about"],
    ] {
        assert!(rows.contains(&row), "{row:?} in\n{routes}");
    }

    let served = serve(&app, &env);
    json_api_serves_and_rejects_bad_input(served.port);
    drop(served);

    // Production does not start without a real secret, and says why.
    let out = Command::new(generated_target_dir().join("debug/blog"))
        .current_dir(&app)
        .env("ZZZ_ENV", "prod")
        .env_remove("SECRET_KEY_BASE")
        .env("PORT", "0")
        .output()
        .expect("run the app in prod");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("error: SECRET_KEY_BASE is not set"), "{}", text(&out.stderr));

    assert!(zzz_ok(&app, &["db", "drop"], &env).contains("has been dropped"));
    assert!(!db.exists());
}

#[test]
fn api_only_app_without_db_html_or_channels() {
    let scratch = Scratch::new("api-only");
    let app = scratch.0.join("status_api");
    zzz_ok(&scratch.0, &["new", "status_api", "--no-db", "--no-html", "--no-channels"], &[]);
    for absent in ["src/repo.rs", "src/migrations", "src/channels", "templates"] {
        assert!(!app.join(absent).exists(), "--no-* should leave out {absent}");
    }
    zzz_ok(&app, &["gen", "controller", "Status", "index", "version"], &[]);
    let out = zzz(&app, &["gen", "resource", "Post", "posts", "title:string"], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("needs a database"), "{}", text(&out.stderr));
    let out = zzz(&app, &["gen", "channel", "Chat"], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("no socket"), "{}", text(&out.stderr));
    let tests = cargo_ok(&app, &["test"], &[]);
    assert!(tests.contains("status_controller_test::version_answers ... ok"), "{tests}");
    let routes = zzz_ok(&app, &["routes"], &[]);
    assert!(routes.contains("/api/status/version"), "{routes}");
    let out = zzz(&app, &["migrate"], &[]);
    assert!(!out.status.success(), "an app without a database has no migrate task");
    assert!(text(&out.stderr).contains("its main did not handle it before serving"), "{}", text(&out.stderr));
}

/// The Postgres server the tests use (`ZZZ_TEST_DATABASE_URL`), checked to answer.
fn postgres_server() -> String {
    let url = std::env::var("ZZZ_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let authority = url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let addr = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
    if std::net::TcpStream::connect(&addr).is_err() {
        panic!(
            "PostgreSQL does not answer at {addr} (ZZZ_TEST_DATABASE_URL={url}). Start it (e.g. `pg_ctlcluster 15 main start`), \
             run the suite with scripts/test (it starts a throwaway cluster), or point ZZZ_TEST_DATABASE_URL at a server"
        );
    }
    url
}

#[test]
fn postgres_app_from_new_to_serving() {
    let server = postgres_server();
    let scratch = Scratch::new("postgres");
    let app = new_app_builds_tests_and_serves(&scratch, "shop", &["--database", "postgres"], &[("ZZZ_TEST_DATABASE_URL", &server)]);
    assert!(std::fs::read_to_string(app.join("src/config/prod.rs")).unwrap().contains(".require_database_url()"));

    zzz_ok(&app, &["gen", "resource", "Post", "posts", "title:string", "views:integer", "--json"], &[]);
    cargo_ok(&app, &["test"], &[("ZZZ_TEST_DATABASE_URL", &server)]);

    // The app's dev database: its own database on the test server, made by `zzz db create`.
    let base = server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base);
    let url = format!("{base}/zzz_cli_shop_{}", std::process::id());
    let env = [("DATABASE_URL", url.as_str())];
    assert!(zzz_ok(&app, &["db", "create"], &env).contains("has been created"));
    assert!(zzz_ok(&app, &["db", "create"], &env).contains("has already been created"));
    migrations_run_step_by_step(&app, &env, &["create_posts"]);

    let served = serve(&app, &env);
    json_api_serves_and_rejects_bad_input(served.port);
    drop(served);

    assert!(zzz_ok(&app, &["db", "drop"], &env).contains("has been dropped"));
}
