//! Graceful shutdown of `zzz::server`: stop accepting, finish in-flight
//! requests, drop what is left after the grace period, notify subscribers.

mod server_support;

use std::time::{Duration, Instant};

use server_support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use zzz::server::{Server, ServerConfig};

#[tokio::test]
async fn in_flight_request_finishes_then_serve_returns() {
    let app = App::default();
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).unwrap();
    let addr = server.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve_with_shutdown(app.clone(), async {
        let _ = rx.await;
    }));

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /sleep?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    tokio::time::timeout(BOUND, app.started.notified()).await.expect("request never reached the app");
    tx.send(()).unwrap();

    // The request that was in flight still gets its full answer...
    let res = read_response(&mut stream).await;
    assert_eq!((res.status, res.body_str()), (200, "slept 300"));
    // ...then the connection is closed rather than kept alive...
    wait_closed(&mut stream, BOUND).await.expect("connection kept open after shutdown");
    // ...and serve returns.
    tokio::time::timeout(BOUND, serving).await.expect("serve did not return").unwrap().unwrap();
    // Nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
}

#[tokio::test]
async fn listener_closes_at_once_while_in_flight_requests_continue() {
    let app = App::default();
    let server = start_with(ServerConfig::default(), app.clone());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /sleep?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    tokio::time::timeout(BOUND, app.started.notified()).await.unwrap();

    server.shutdown.trigger();
    // New connections are refused while the slow request is still running.
    let refused_by = Instant::now() + BOUND;
    loop {
        match TcpStream::connect(server.addr).await {
            Err(_) => break,
            Ok(mut s) => {
                // Raced the close: it must not be served.
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
                let got = wait_closed(&mut s, BOUND).await.expect("connection accepted during shutdown left open");
                assert!(got.is_empty(), "served during shutdown: {:?}", String::from_utf8_lossy(&got));
            }
        }
        assert!(Instant::now() < refused_by, "listener still open after shutdown was triggered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!server.handle.is_finished(), "serve returned before the in-flight request finished");
    let res = read_response(&mut stream).await;
    assert_eq!((res.status, res.body_str()), (200, "slept 1500"));
    tokio::time::timeout(BOUND, server.handle).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn idle_connections_do_not_hold_up_shutdown() {
    // Grace is long; idle keep-alive connections must be closed at once anyway.
    let server = start(ServerConfig::default().shutdown_grace(Duration::from_secs(60)));
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let mut buf = Vec::new();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        assert_eq!(read_response_buf(&mut s, &mut buf).await.unwrap().status, 200);
        idle.push(s);
    }
    // Plus one connected but not yet sent anything.
    idle.push(TcpStream::connect(server.addr).await.unwrap());
    server.stop().await; // panics if serve takes longer than the test bound
    for s in &mut idle {
        wait_closed(s, BOUND).await.expect("idle connection left open after shutdown");
    }
}

#[tokio::test]
async fn connections_still_busy_after_the_grace_period_are_dropped() {
    let app = App::default();
    let server = start_with(ServerConfig::default().shutdown_grace(Duration::from_millis(300)), app.clone());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /sleep?ms=30000 HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    tokio::time::timeout(BOUND, app.started.notified()).await.unwrap();

    let t = Instant::now();
    server.stop().await;
    assert!(t.elapsed() >= Duration::from_millis(250), "serve returned before the grace period: {:?}", t.elapsed());
    let got = wait_closed(&mut stream, BOUND).await.expect("busy connection not dropped after the grace period");
    assert!(got.is_empty(), "got a response: {:?}", String::from_utf8_lossy(&got));
}

#[tokio::test]
async fn shutdown_handle_notifies_subscribers_and_can_trigger() {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).unwrap();
    let addr = server.local_addr();
    let handle = server.shutdown_signal();
    assert!(!handle.is_requested());

    // Two subscribers, e.g. a socket hub and a job runner.
    let subscribers: Vec<_> = (0..2)
        .map(|_| {
            let h = handle.clone();
            tokio::spawn(async move {
                h.requested().await;
                h.is_requested()
            })
        })
        .collect();

    // serve_with_shutdown's own signal never fires; the handle stops it.
    let serving = tokio::spawn(server.serve_with_shutdown(App::default(), std::future::pending()));
    assert_eq!(get(addr, "/").await.status, 200);
    for s in &subscribers {
        assert!(!s.is_finished(), "subscriber woke before shutdown");
    }

    handle.clone().trigger();
    for s in subscribers {
        assert!(tokio::time::timeout(BOUND, s).await.expect("subscriber not notified").unwrap());
    }
    tokio::time::timeout(BOUND, serving).await.expect("serve did not return").unwrap().unwrap();
    // Awaiting after the fact completes immediately.
    tokio::time::timeout(Duration::from_secs(1), handle.requested()).await.unwrap();
}

#[tokio::test]
async fn signal_future_fires_the_shutdown_handle_too() {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).unwrap();
    let handle = server.shutdown_signal();
    let serving = tokio::spawn(server.serve_with_shutdown(App::default(), async {}));
    tokio::time::timeout(BOUND, handle.requested()).await.expect("handle not fired by the signal future");
    tokio::time::timeout(BOUND, serving).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn responses_finished_during_shutdown_say_connection_close() {
    let app = App::default();
    let server = start_with(ServerConfig::default(), app.clone());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /sleep?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    tokio::time::timeout(BOUND, app.started.notified()).await.unwrap();
    server.shutdown.trigger();
    // A keep-alive client must learn that this answer is the connection's last,
    // instead of sending its next request into a closing connection.
    let res = read_response(&mut stream).await;
    assert_eq!((res.status, res.body_str()), (200, "slept 300"));
    assert_eq!(res.header("connection").as_deref(), Some("close"), "{}", res.head);
    wait_closed(&mut stream, BOUND).await.expect("connection kept open after its last response");
    tokio::time::timeout(BOUND, server.handle).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn a_connection_accepted_before_shutdown_still_gets_its_first_request_answered() {
    // This is what `zzz server` relies on when it restarts the app: a client that
    // connected just before the old app was told to stop sends its request right
    // after; it is answered (and the connection closed) instead of dropped.
    let server = start(ServerConfig::default().shutdown_grace(Duration::from_secs(30)));
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // Let the server accept it (not an assertion: a long pause only makes the test stronger).
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let res = read_response(&mut stream).await;
    assert_eq!((res.status, res.body_str()), (200, "hello"));
    assert_eq!(res.header("connection").as_deref(), Some("close"), "{}", res.head);
    tokio::time::timeout(BOUND, server.handle).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_soon_after_shutdown() {
    let server = start(ServerConfig::default().shutdown_grace(Duration::from_secs(60)));
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await; // bounded: the silent connection does not hold shutdown up
    let got = wait_closed(&mut silent, BOUND).await.expect("silent connection left open");
    assert!(got.is_empty());
}
