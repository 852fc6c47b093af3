//! The dev loop behind `zzz server`: build, run, watch, rebuild, hand over.
//!
//! `zzz server` binds the port once and keeps the socket for its whole life.
//! Whoever serves at a given moment gets it: the app (inherited descriptor,
//! `ZZZ_LISTEN_FD`) when the last build succeeded, or the error page served by
//! `zzz server` itself when it failed. While a rebuild runs the old app keeps
//! serving; then it is stopped gracefully (SIGTERM, it drains) and the new one
//! started. Connections arriving in between wait in the socket's accept queue,
//! so requests made during a restart are late, not lost.
//!
//! One job per file: [`watcher`] (which file changes count, debouncing),
//! [`builder`] (`cargo build`, streamed), [`supervisor`] (the app process),
//! [`error_page`] (the page shown while the build is broken).

pub mod builder;
pub mod error_page;
pub mod supervisor;
pub mod watcher;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::signal::unix::{SignalKind, signal};

use builder::{BuildFailure, BuildSpec};
use error_page::{ErrorPage, ErrorServer};
use supervisor::App;
use watcher::Watcher;

/// Everything `zzz server` was asked to do.
pub struct Options {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// How to build the app.
    pub build: BuildSpec,
    /// Paths to watch besides the project directory.
    pub watch: Vec<PathBuf>,
    /// Arguments for the app.
    pub app_args: Vec<String>,
}

/// Who answers on the socket right now.
enum Serving {
    /// Nobody (before the first build): connections wait.
    Nothing,
    App(App),
    ErrorPage(ErrorServer),
}

impl Serving {
    /// Stops whoever serves, without waiting for them to finish draining.
    fn stop(self) {
        match self {
            Serving::Nothing => {}
            Serving::App(app) => app.stop(),
            Serving::ErrorPage(server) => server.stop(),
        }
    }

    /// Completes when the app exits on its own (never when no app runs).
    async fn app_exited(&mut self) -> String {
        match self {
            Serving::App(app) => match app.exited().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("cannot wait for it: {e}"),
            },
            _ => std::future::pending().await,
        }
    }
}

/// Runs the dev loop until SIGINT (Ctrl-C) or SIGTERM.
pub fn run(options: Options) -> Result<(), String> {
    let listener = TcpListener::bind(options.addr).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse { " (is another server running? pick a port with --port)" } else { "" };
        format!("cannot listen on {}: {e}{hint}", options.addr)
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(dev_loop(options, listener))
}

async fn dev_loop(options: Options, listener: TcpListener) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let root = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let mut watcher = Watcher::start(&root, &options.watch, target_dirs(&root))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    eprintln!("zzz: listening on http://{addr} (requests wait while the app builds)");

    let mut serving = Serving::Nothing;
    let mut pages = 0u64;
    let mut reason = String::from("starting");
    loop {
        eprintln!("zzz: building ({reason})…");
        let started = Instant::now();
        let built = tokio::select! {
            built = builder::build(&options.build) => built,
            _ = interrupt.recv() => return quit(serving).await,
            _ = terminate.recv() => return quit(serving).await,
        };
        let seconds = started.elapsed().as_secs_f64();
        let next = match built {
            Ok(exe) => match supervisor::spawn(&exe, &options.app_args, listener.as_raw_fd(), addr.port()) {
                Ok(app) => {
                    // The old app goes only now: it served during the whole build.
                    std::mem::replace(&mut serving, Serving::Nothing).stop();
                    eprintln!("zzz: built in {seconds:.1}s; app running (pid {}) on http://{addr}", app.pid());
                    Serving::App(app)
                }
                Err(e) => error_page(&listener, &mut pages, &mut serving, "The app could not start", &e, "")?,
            },
            Err(BuildFailure { summary, output }) => {
                eprintln!("zzz: build failed after {seconds:.1}s: {summary}; serving the error on http://{addr} until it is fixed");
                error_page(&listener, &mut pages, &mut serving, "Compile error", &summary, &output)?
            }
        };
        serving = next;

        // Changes made while building need another build.
        let mut changed = watcher.pending();
        while changed.is_empty() {
            let exited = tokio::select! {
                paths = watcher.changed() => {
                    changed = paths;
                    continue;
                }
                status = serving.app_exited() => status,
                _ = interrupt.recv() => return quit(serving).await,
                _ = terminate.recv() => return quit(serving).await,
            };
            let summary = format!(
                "the app exited ({exited}); its output is in the terminal. It is started again on the next change."
            );
            eprintln!("zzz: {summary}");
            let next = error_page(&listener, &mut pages, &mut serving, "The app stopped", &summary, "")?;
            serving = next;
        }
        reason = describe(&changed);
    }
}

/// Stops whoever serves and starts serving an error page instead.
fn error_page(
    listener: &TcpListener,
    pages: &mut u64,
    serving: &mut Serving,
    title: &str,
    summary: &str,
    output: &str,
) -> Result<Serving, String> {
    std::mem::replace(serving, Serving::Nothing).stop();
    *pages += 1;
    let page = ErrorPage::new(title, summary, output, *pages);
    Ok(Serving::ErrorPage(ErrorServer::start(listener, page)?))
}

/// Ctrl-C or SIGTERM: stop the app and wait for it, so it does not outlive us.
async fn quit(serving: Serving) -> Result<(), String> {
    eprintln!("zzz: stopping");
    match serving {
        Serving::App(app) => app.stop_and_wait().await,
        other => other.stop(),
    }
    Ok(())
}

/// The cargo target directories to ignore besides `target/`: `CARGO_TARGET_DIR`.
fn target_dirs(root: &Path) -> Vec<PathBuf> {
    std::env::var_os("CARGO_TARGET_DIR").map(|d| root.join(d)).into_iter().collect()
}

/// "src/main.rs changed", "3 files changed: src/a.rs, …". Files that came and
/// went (an editor's or sed's temporary files) are not named.
fn describe(changed: &[PathBuf]) -> String {
    let existing: Vec<PathBuf> = changed.iter().filter(|p| p.exists()).cloned().collect();
    let changed = if existing.is_empty() { changed } else { &existing };
    match changed {
        [one] => format!("{} changed", one.display()),
        many => {
            let shown: Vec<String> = many.iter().take(3).map(|p| p.display().to_string()).collect();
            let more = if many.len() > 3 { ", …" } else { "" };
            format!("{} files changed: {}{more}", many.len(), shown.join(", "))
        }
    }
}
