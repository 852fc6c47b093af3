//! Live reload (`ZZZ_LIVE_RELOAD`, set by `zzz server`) over a real socket:
//! nothing without the variable; with it, the script in HTML pages, the event
//! stream, and the stream ending when the server shuts down.
//!
//! One test function: the variable is read when an endpoint is built, and
//! setting it must not race other tests of this binary.

mod server_support;

use std::time::Duration;

use server_support::{BOUND, RawResponse, get, wait_closed};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use zzz::server::{Server, ServerConfig};
use zzz::{Endpoint, Html};

zzz::router! {
    pub Pages;
    get "/" => page;
    get "/text" => text;
}

async fn page() -> Html<&'static str> {
    Html("<!DOCTYPE html><html><body><h1>hi</h1></body></html>")
}

async fn text() -> &'static str {
    "plain </body>"
}

struct Running {
    addr: std::net::SocketAddr,
    shutdown: zzz::Shutdown,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn serve() -> Running {
    // A long grace: an open event stream must not be what holds shutdown up.
    let config = ServerConfig::default().shutdown_grace(Duration::from_secs(60));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config).unwrap();
    let (addr, shutdown) = (server.local_addr(), server.shutdown_signal());
    let handle = tokio::spawn(server.serve_with_shutdown(Endpoint::new(Pages::new()), std::future::pending()));
    Running { addr, shutdown, handle }
}

fn assert_length_matches(res: &RawResponse) {
    let declared: usize = res.header("content-length").expect("content-length").parse().unwrap();
    assert_eq!(declared, res.body.len(), "{}", res.head);
}

#[tokio::test]
async fn live_reload_is_only_on_with_the_variable() {
    // Without the variable: pages untouched, the reserved path is the app's (404).
    assert!(!zzz::live_reload::enabled_by_env(), "run the tests without ZZZ_LIVE_RELOAD set");
    let off = serve();
    let page = get(off.addr, "/").await;
    assert_eq!(page.body_str(), "<!DOCTYPE html><html><body><h1>hi</h1></body></html>");
    assert_eq!(get(off.addr, zzz::live_reload::PATH).await.status, 404);
    off.shutdown.trigger();

    // SAFETY: the only test of this binary; no other thread reads the environment now.
    unsafe { std::env::set_var(zzz::live_reload::ENV_VAR, "1") };
    let on = serve();
    let boot_id = zzz::live_reload::boot_id();

    // HTML: the script, before </body>, carrying this process's boot id; length right.
    let page = get(on.addr, "/").await;
    assert_eq!(page.status, 200);
    assert_length_matches(&page);
    let body = page.body_str();
    assert!(body.starts_with("<!DOCTYPE html><html><body><h1>hi</h1><script data-zzz-live-reload>"), "{body}");
    assert!(body.ends_with("</script></body></html>"), "{body}");
    assert!(body.contains(&format!("var page=\"{boot_id}\"")), "{body}");

    // HEAD: no body, the length of the page a GET gets.
    let mut head = TcpStream::connect(on.addr).await.unwrap();
    head.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.unwrap();
    let got = String::from_utf8(wait_closed(&mut head, BOUND).await.unwrap()).unwrap().to_lowercase();
    assert!(got.contains(&format!("content-length: {}\r\n", page.body.len())), "{got}");
    assert!(got.ends_with("\r\n\r\n"), "HEAD got a body: {got}");

    // Not HTML: untouched.
    assert_eq!(get(on.addr, "/text").await.body_str(), "plain </body>");

    // The event stream: the boot id first, then it stays open.
    let mut events = TcpStream::connect(on.addr).await.unwrap();
    let request = format!("GET {} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n", zzz::live_reload::PATH);
    events.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let expected = format!("data: {boot_id}\n\n");
    let got_event = tokio::time::timeout(BOUND, async {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 1024];
        while !String::from_utf8_lossy(&received).contains(&expected) {
            let n = events.read(&mut chunk).await.unwrap();
            assert!(n > 0, "event stream closed early: {}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(got_event.is_ok(), "no boot id event: {}", String::from_utf8_lossy(&received));
    let head = String::from_utf8_lossy(&received).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");

    // Shutdown ends the stream at once (the grace is 60 s), so a restarting app
    // goes quickly and the browser reconnects to the next one.
    on.shutdown.trigger();
    wait_closed(&mut events, BOUND).await.expect("event stream kept open after shutdown");
    tokio::time::timeout(BOUND, on.handle).await.expect("serve held up by the event stream").unwrap().unwrap();
    tokio::time::timeout(BOUND, off.handle).await.unwrap().unwrap().unwrap();
}
