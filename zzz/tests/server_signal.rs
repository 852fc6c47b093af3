//! `Server::serve` shuts down gracefully on SIGTERM and SIGINT sent to the
//! process. Its own test binary: it signals the whole test process.
#![cfg(unix)]

mod server_support;

use server_support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use zzz::server::{Server, ServerConfig};

fn send_signal(name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

#[tokio::test]
async fn sigterm_and_sigint_shut_serve_down_gracefully() {
    for signal in ["TERM", "INT"] {
        let app = App::default();
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).unwrap();
        let addr = server.local_addr();
        let handle = server.shutdown_signal();
        let serving = tokio::spawn(server.serve(app.clone()));

        // Once a request is being handled, serve is running and its signal
        // handlers are installed (they are set up before the first accept).
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /sleep?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        tokio::time::timeout(BOUND, app.started.notified()).await.expect("request never reached the app");

        send_signal(signal);
        tokio::time::timeout(BOUND, handle.requested()).await.unwrap_or_else(|_| panic!("SIG{signal} did not trigger shutdown"));
        let res = read_response(&mut stream).await;
        assert_eq!((res.status, res.body_str()), (200, "slept 300"), "in-flight request after SIG{signal}");
        tokio::time::timeout(BOUND, serving).await.expect("serve did not return").unwrap().unwrap();
    }
}
