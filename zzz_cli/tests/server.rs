//! The dev loop, end to end: the real `zzz server` on an app made by `zzz new`
//! in a temporary directory. A page is requested continuously (a new connection per request,
//! and a keep-alive connection) while the handler is edited: no request fails
//! and the new text appears. Then the code is broken: the error page (500, the
//! compiler's error); then fixed: the app is back. Then the app panics at start:
//! a page says it stopped; fixed again, it is back.
//!
//! Apps built by tests share one target directory, `target/generated-apps`, never
//! the workspace's own (the outer `cargo test` holds its lock). No timing
//! assertions: only generous deadlines for builds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a build may take: the first one compiles zzz and its dependencies.
const BUILD_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// How long a client waits for an answer (requests wait while the app rebuilds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10 * 60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The target directory shared by every app that tests build.
fn apps_target_dir() -> PathBuf {
    workspace().join("target").join("generated-apps")
}

/// A new app made by `zzz new` (SQLite, HTML, a channel: the defaults) in `dir`.
fn new_app(dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_zzz")).args(["new", "devloop_app"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "zzz new failed: {}", String::from_utf8_lossy(&out.stderr));
    dir.join("devloop_app")
}

/// The home page's controller: `app: env!("CARGO_PKG_NAME")` is what the page shows
/// after "Welcome to".
fn handler_file(app: &Path) -> PathBuf {
    app.join("src/controllers/page_controller.rs")
}

const SHOWN_NAME: &str = "app: env!(\"CARGO_PKG_NAME\")";

/// Replaces `from` by `to` in `file` (which must contain it).
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} does not contain {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// A free port on 127.0.0.1 (bound then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `zzz server` running in the background; its output is echoed and kept.
struct DevServer {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl DevServer {
    fn start(app: &Path, port: u16) -> DevServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zzz"))
            .args(["server", "--port", &port.to_string()])
            .current_dir(app)
            .env("CARGO_TARGET_DIR", apps_target_dir())
            .env_remove("PORT")
            // The app's request log would flood the test output (thousands of requests).
            .env("RUST_LOG", "warn")
            .env_remove("ZZZ_LIVE_RELOAD")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start zzz server");
        let stderr = child.stderr.take().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let kept = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[zzz server] {line}");
                kept.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        DevServer { child, output }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Whether `needle` shows up in the output within a few seconds. The
    /// page and the terminal line come from one process but reach the test
    /// by different routes (socket vs. a pipe read by another thread), so a
    /// page can arrive before the line does.
    fn printed(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.output().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, as a terminal's Ctrl-C would; waits for it to exit.
    fn stop(mut self) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("zzz server did not exit within 30 s of SIGTERM");
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 response.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
    close: bool,
}

/// Sends `GET path` on `reader`'s connection and reads the answer.
fn get_on(reader: &mut BufReader<TcpStream>, path: &str, close: bool) -> std::io::Result<Answer> {
    let connection = if close { "close" } else { "keep-alive" };
    // One write: a request split over several packets waits on delayed ACKs.
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: {connection}\r\n\r\n");
    reader.get_mut().write_all(request.as_bytes())?;
    let mut status_line = String::new();
    if reader.read_line(&mut status_line)? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before a response"));
    }
    let status: u16 = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad status line {status_line:?}"))
    })?;
    let (mut length, mut server_closes) = (None, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "connection" => server_closes = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0; length.ok_or_else(|| std::io::Error::other("no content-length"))?];
    reader.read_exact(&mut body)?;
    Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned(), close: server_closes || close })
}

fn connect(addr: SocketAddr) -> std::io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(BufReader::new(stream))
}

/// `GET path` on a new connection.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<Answer> {
    get_on(&mut connect(addr)?, path, true)
}

/// What a client thread saw.
#[derive(Default, Debug)]
struct Tally {
    ok: u64,
    failures: Vec<String>,
    /// Keep-alive requests re-sent on a new connection because the reused one
    /// was closed before any byte of an answer (as browsers do for GET).
    retried: u64,
    last_body: String,
}

/// Requests `/` until `stop`, on new connections or one kept-alive connection.
fn client(addr: SocketAddr, keep_alive: bool, stop: Arc<AtomicBool>, tally: Arc<Mutex<Tally>>) {
    let mut conn: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::SeqCst) {
        let result = if keep_alive {
            let reused = conn.is_some();
            let attempt = match conn.take() {
                Some(mut c) => get_on(&mut c, "/", false).map(|a| (a, c)),
                None => connect(addr).and_then(|mut c| get_on(&mut c, "/", false).map(|a| (a, c))),
            };
            match attempt {
                Err(e) if reused && is_closed_before_answer(&e) => {
                    tally.lock().unwrap().retried += 1;
                    connect(addr).and_then(|mut c| get_on(&mut c, "/", false).map(|a| (a, c)))
                }
                other => other,
            }
            .map(|(answer, c)| {
                if !answer.close {
                    conn = Some(c);
                }
                answer
            })
        } else {
            get(addr, "/")
        };
        let mut tally = tally.lock().unwrap();
        match result {
            Ok(a) if a.status == 200 && a.body.contains("Welcome to") => {
                tally.ok += 1;
                tally.last_body = a.body;
            }
            Ok(a) => tally.failures.push(format!("status {}: {}", a.status, a.body)),
            Err(e) => tally.failures.push(format!("{e} ({:?})", e.kind())),
        }
    }
}

fn is_closed_before_answer(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), UnexpectedEof | ConnectionReset | BrokenPipe | ConnectionAborted)
}

/// Polls `/` on new connections until `accept` takes an answer, or panics at the deadline.
fn wait_for(addr: SocketAddr, server: &DevServer, what: &str, accept: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = Instant::now() + BUILD_DEADLINE;
    let mut last = String::from("nothing yet");
    while Instant::now() < deadline {
        match get(addr, "/") {
            Ok(answer) if accept(&answer) => return answer,
            Ok(answer) => last = format!("{answer:?}"),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no {what} within {BUILD_DEADLINE:?}; last answer: {last}\n--- zzz server output ---\n{}", server.output());
}

#[test]
fn edit_rebuild_restart_without_failed_requests_then_error_page_then_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let app = new_app(dir.path());
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = DevServer::start(&app, port);
    let listening_by = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < listening_by, "zzz server is not listening\n{}", server.output());
        std::thread::sleep(Duration::from_millis(50));
    }

    // First build: the request waits for it, then gets the page, with the live
    // reload script (the app runs with ZZZ_LIVE_RELOAD=1).
    let first = get(addr, "/").expect("the first request waits for the first build");
    assert_eq!(first.status, 200, "{first:?}\n{}", server.output());
    assert!(first.body.contains("Welcome to devloop_app"), "{first:?}");
    assert!(first.body.contains("/__zzz/live_reload"), "no live reload script: {first:?}");

    // Clients request continuously while the handler is edited.
    let stop = Arc::new(AtomicBool::new(false));
    let tallies: Vec<(bool, Arc<Mutex<Tally>>)> = [false, true, false, true]
        .into_iter()
        .map(|keep_alive| (keep_alive, Arc::new(Mutex::new(Tally::default()))))
        .collect();
    let clients: Vec<_> = tallies
        .iter()
        .map(|(keep_alive, tally)| {
            let (stop, tally, keep_alive) = (stop.clone(), tally.clone(), *keep_alive);
            std::thread::spawn(move || client(addr, keep_alive, stop, tally))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    edit(&handler_file(&app), SHOWN_NAME, "app: \"version 2\"");
    let deadline = Instant::now() + BUILD_DEADLINE;
    while !tallies.iter().all(|(_, t)| t.lock().unwrap().last_body.contains("Welcome to version 2")) {
        assert!(Instant::now() < deadline, "version 2 never served\n{}", server.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    // A little more traffic on the new app, then stop the clients.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    for (keep_alive, tally) in &tallies {
        let tally = tally.lock().unwrap();
        eprintln!("client (keep-alive {keep_alive}): {} ok, {} retried, failures {:?}", tally.ok, tally.retried, tally.failures);
        assert!(tally.failures.is_empty(), "failed requests during the rebuild: {:?}\n{}", tally.failures, server.output());
        assert!(tally.ok > 0);
    }

    // Broken code: the compiler's error, in the terminal and as the page.
    edit(&handler_file(&app), "app: \"version 2\"", "app: 42");
    let broken = wait_for(addr, &server, "error page", |a| a.status == 500);
    assert!(broken.body.contains("Compile error"), "{broken:?}");
    assert!(broken.body.contains("error[E0308]: mismatched types"), "compiler error not shown: {}", broken.body);
    assert!(broken.body.contains("src/controllers/page_controller.rs"), "{}", broken.body);
    assert!(!broken.body.contains('\u{1b}'), "ANSI codes in the page");
    assert!(broken.body.contains("/__zzz/live_reload"), "the error page must reload by itself");
    assert!(server.printed("error[E0308]"), "compiler error not in the terminal");

    // Fixed: the app is back, with the new code.
    edit(&handler_file(&app), "app: 42", "app: \"version 3\"");
    let fixed = wait_for(addr, &server, "recovered app", |a| a.status == 200);
    assert!(fixed.body.contains("Welcome to version 3"), "{fixed:?}");

    // An app that dies at start: a page says so (the panic is in the terminal);
    // the next change starts it again.
    let main_rs = app.join("src/main.rs");
    let start_of_run = "async fn run() -> Result<(), Box<dyn std::error::Error>> {";
    edit(&main_rs, start_of_run, &format!("{start_of_run}\n    panic!(\"boom at start\");"));
    let stopped = wait_for(addr, &server, "app-stopped page", |a| a.status == 500 && a.body.contains("The app stopped"));
    assert!(stopped.body.contains("the app exited"), "{}", stopped.body);
    assert!(server.printed("the app exited"), "not reported in the terminal");
    edit(&main_rs, "\n    panic!(\"boom at start\");", "");
    let back = wait_for(addr, &server, "restarted app", |a| a.status == 200);
    assert!(back.body.contains("Welcome to version 3"), "{back:?}");

    // Stopping zzz server stops the app: nothing listens any more.
    server.stop();
    assert!(get(addr, "/").is_err(), "something still answers after zzz server stopped");
}
