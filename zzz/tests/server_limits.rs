//! Limits and timeouts of `zzz::server`: header size, slowloris, idle
//! keep-alive, connection count. Real sockets, raw bytes.

mod server_support;

use std::time::{Duration, Instant};

use server_support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use zzz::server::ServerConfig;

fn request_with_header_bytes(n: usize) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: t\r\nX-Fill: {}\r\nConnection: close\r\n\r\n", "a".repeat(n)).into_bytes()
}

#[tokio::test]
async fn headers_over_the_limit_get_431_and_under_it_pass() {
    let server = start(ServerConfig::default().max_header_bytes(16 * 1024));
    // 10 KiB of headers: above hyper's 8 KiB floor, below our 16 KiB limit.
    let ok = send_raw(server.addr, &request_with_header_bytes(10 * 1024)).await;
    assert_eq!((ok.status, ok.body_str()), (200, "hello"));

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The server may answer and close before the whole request is written.
    let _ = stream.write_all(&request_with_header_bytes(20 * 1024)).await;
    let res = read_response(&mut stream).await;
    assert_eq!(res.status, 431, "{}", res.head);

    // Still serving.
    assert_eq!(get(server.addr, "/").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn header_limit_below_hyper_minimum_is_raised_not_a_crash() {
    let config = ServerConfig::default().max_header_bytes(100);
    assert_eq!(config.effective_max_header_bytes(), zzz::server::MIN_HEADER_BYTES);
    let server = start(config);
    let ok = send_raw(server.addr, &request_with_header_bytes(2 * 1024)).await;
    assert_eq!(ok.status, 200);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let _ = stream.write_all(&request_with_header_bytes(12 * 1024)).await;
    assert_eq!(read_response(&mut stream).await.status, 431);
    server.stop().await;
}

#[tokio::test]
async fn slowloris_is_disconnected_while_others_are_served() {
    let server = start(ServerConfig::default().header_read_timeout(Duration::from_secs(1)));
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").await.unwrap();

    let drip = async {
        // One header byte every 500 ms, never finishing the head.
        for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter().cycle().take(20) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if slow.write_all(&[*byte]).await.is_err() {
                return true; // the server hung up on us
            }
        }
        false
    };
    let others = async {
        // Meanwhile, other clients are served promptly.
        for _ in 0..3 {
            let res = get(server.addr, "/").await;
            assert_eq!(res.status, 200);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let (cut_off_while_writing, ()) = tokio::join!(drip, others);
    if !cut_off_while_writing {
        panic!("slowloris client still connected after 10 s");
    }
    let answer = wait_closed(&mut slow, BOUND).await.expect("slowloris connection left open");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "slowloris request was served");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?} to cut off", started.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn silent_connection_is_dropped_after_header_read_timeout() {
    let server = start(ServerConfig::default().header_read_timeout(Duration::from_millis(500)));
    // Connects and sends nothing at all.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // And one that sends a partial HTTP/2 preface, which stalls hyper's version detection.
    let mut partial_preface = TcpStream::connect(server.addr).await.unwrap();
    partial_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();

    let a = wait_closed(&mut silent, BOUND).await.expect("silent connection left open");
    let b = wait_closed(&mut partial_preface, BOUND).await.expect("stalled-preface connection left open");
    assert!(a.is_empty() && b.is_empty(), "{a:?} {b:?}");
    assert_eq!(get(server.addr, "/").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let server = start(
        ServerConfig::default()
            .idle_timeout(Duration::from_secs(1))
            .header_read_timeout(Duration::from_secs(30)),
    );
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = Vec::new();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    assert_eq!(read_response_buf(&mut stream, &mut buf).await.unwrap().status, 200);

    // Kept alive for a request soon after.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    assert_eq!(read_response_buf(&mut stream, &mut buf).await.unwrap().status, 200);

    // Then closed once idle for idle_timeout (well before header_read_timeout).
    let idle_from = Instant::now();
    let rest = wait_closed(&mut stream, BOUND).await.expect("idle connection not closed");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(idle_from.elapsed() >= Duration::from_millis(700), "closed after only {:?}", idle_from.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn long_request_is_not_cut_by_idle_timeout() {
    // A request in progress is not "idle", however long the handler takes.
    let server = start(ServerConfig::default().idle_timeout(Duration::from_millis(200)));
    let res = get(server.addr, "/sleep?ms=800").await;
    assert_eq!((res.status, res.body_str()), (200, "slept 800"));
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_max_wait_and_are_served_when_a_slot_frees() {
    let server = start(ServerConfig::default().max_connections(2));
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let mut buf = Vec::new();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        assert_eq!(read_response_buf(&mut s, &mut buf).await.unwrap().status, 200);
        held.push(s); // kept alive, holding a slot
    }

    // The third connection is accepted by the kernel but not served yet.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let early = tokio::time::timeout(Duration::from_millis(500), read_response_buf(&mut third, &mut buf)).await;
    assert!(early.is_err(), "third connection served while two slots were taken: {early:?}");

    // Free a slot: the waiting connection is served.
    drop(held.pop());
    let res = tokio::time::timeout(BOUND, read_response_buf(&mut third, &mut buf))
        .await
        .expect("waiting connection not served after a slot freed")
        .unwrap();
    assert_eq!((res.status, res.body_str()), (200, "hello"));
    server.stop().await;
}

#[tokio::test]
async fn many_concurrent_clients_through_few_slots_are_all_served() {
    let server = start(ServerConfig::default().max_connections(8));
    let clients: Vec<_> = (0..100)
        .map(|i| {
            let addr = server.addr;
            tokio::spawn(async move {
                let path = if i % 2 == 0 { "/" } else { "/sleep?ms=20" };
                get(addr, path).await.status
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.await.unwrap(), 200);
    }
    server.stop().await;
}
