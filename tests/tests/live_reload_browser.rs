//! The live reload script (`zzz::live_reload`) in a real browser: headless
//! Chromium opens a page rendered by "boot one"; its event stream ends (as when
//! `zzz server` restarts the app), the script reconnects, hears "boot two" and
//! reloads the page, once; the reloaded page stays.
//!
//! The server imitates the restart inside one process: the first event stream
//! says `one` and ends after a moment, later ones say `two`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zzz::server::Shutdown;
use zzz::{Endpoint, Html, Response, ServerConfig, State};
use zzz_tests::RunningServer;
use zzz_tests::tools::chromium_command;

#[derive(Clone, Default)]
struct Seen {
    pages: Arc<AtomicUsize>,
    streams: Arc<AtomicUsize>,
}

zzz::router! {
    Browser;
    get "/" => page;
    get "/__zzz/live_reload" => events;
}

/// The page, rendered by boot `one` the first time and `two` after.
async fn page(State(seen): State<Seen>) -> Html<Vec<u8>> {
    let n = seen.pages.fetch_add(1, Ordering::SeqCst) + 1;
    let boot = if n == 1 { "one" } else { "two" };
    let html = format!("<!DOCTYPE html><html><body><p>load {n}</p></body></html>");
    Html(zzz::live_reload::inject(html.as_bytes(), boot))
}

/// The first stream says `one` and ends 300 ms later (the app restarting); later
/// streams say `two` and stay open.
async fn events(State(seen): State<Seen>) -> Response {
    if seen.streams.fetch_add(1, Ordering::SeqCst) == 0 {
        let restart = Shutdown::new();
        let trigger = restart.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.trigger();
        });
        zzz::live_reload::events_response("one", Some(restart))
    } else {
        zzz::live_reload::events_response("two", None)
    }
}

#[tokio::test]
async fn the_page_reloads_once_when_the_boot_id_changes() {
    let seen = Seen::default();
    let server = RunningServer::start(Endpoint::new(Browser::new()).state(seen.clone()), ServerConfig::default());
    let profile = zzz_tests::tools::tools_dir().join(format!("chromium-live-reload-{}", std::process::id()));
    let mut chromium = tokio::process::Command::from(chromium_command(&profile));
    let mut chromium = chromium.arg(format!("http://{}/", server.addr)).kill_on_drop(true).spawn().expect("run chromium");

    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.pages.load(Ordering::SeqCst) < 2 || seen.streams.load(Ordering::SeqCst) < 3 {
        assert!(
            Instant::now() < deadline,
            "no reload: {} page loads, {} event streams",
            seen.pages.load(Ordering::SeqCst),
            seen.streams.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The reloaded page is rendered by `two` and hears `two`: it stays.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pages = seen.pages.load(Ordering::SeqCst);
    let _ = chromium.kill().await;
    let _ = std::fs::remove_dir_all(&profile);
    server.stop().await;
    assert_eq!(pages, 2, "the page should reload exactly once");
}
