//! Malformed and hostile requests over raw TCP against the hello app on a real
//! socket: each gets the right status or a closed connection, and the server keeps
//! answering other clients throughout.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use zzz::ServerConfig;
use zzz_tests::{RunningServer, count_responses, first_status, healthy, raw_exchange, read_until_quiet};

const WAIT: Duration = Duration::from_secs(3);

fn start() -> RunningServer {
    let config = ServerConfig::default()
        .max_header_bytes(8 * 1024)
        .header_read_timeout(Duration::from_secs(1))
        .idle_timeout(Duration::from_secs(5));
    RunningServer::start(hello::endpoint().max_body_bytes(1024), config)
}

/// Asserts the exchange ended in `status` or, when `status` is `None`, in a 400 or a
/// closed connection without any 2xx answer.
fn assert_refused(what: &str, text: &str, closed: bool, status: Option<u16>) {
    match status {
        Some(code) => assert_eq!(first_status(text), Some(code), "{what}: expected {code}, got {text:?}"),
        None => {
            let got = first_status(text);
            assert!(
                got.is_some_and(|s| (400..500).contains(&s)) || (got.is_none() && closed),
                "{what}: expected a 4xx or a closed connection, got {text:?} (closed: {closed})"
            );
        }
    }
}

#[tokio::test]
async fn malformed_requests_are_refused_and_the_server_keeps_serving() {
    let server = start();
    let addr = server.addr;
    let cases: &[(&str, &[u8], Option<u16>)] = &[
        ("bad request line", b"GARBAGE\r\n\r\n", Some(400)),
        ("bad method token", b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n", Some(400)),
        ("bad version", b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", None),
        ("invalid header bytes", b"GET / HTTP/1.1\r\nHost: t\r\nBad\x01Name: y\r\n\r\n", Some(400)),
        ("header without colon", b"GET / HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n", Some(400)),
        (
            "two different content-lengths",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
            Some(400),
        ),
        ("non-numeric content-length", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", Some(400)),
        (
            "bad chunk size",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            None,
        ),
        (
            "oversized chunk size",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
            None,
        ),
        (
            "unknown transfer-encoding",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nabc",
            None,
        ),
    ];
    for (what, request, status) in cases {
        let (text, closed) = raw_exchange(addr, request, WAIT).await;
        assert_refused(what, &text, closed, *status);
        assert!(healthy(addr).await, "server stopped serving after: {what}");
    }
    server.stop().await;
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_not_smuggled() {
    let server = start();
    // A classic CL.TE smuggling attempt: if the server trusted Content-Length it would
    // read "0\r\n\r\n" as the body and then see a second request `GET /json`.
    let request = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /json HTTP/1.1\r\nHost: t\r\n\r\n";
    let (text, closed) = raw_exchange(server.addr, request, WAIT).await;
    assert!(!text.contains("Hello, World!\"}"), "the smuggled request was answered: {text:?}");
    let status = first_status(&text);
    assert!(status == Some(400) || (status.is_none() && closed) || status == Some(200) && count_responses(&text) == 1,
        "unexpected answer to CL+TE: {text:?}");
    assert!(healthy(server.addr).await);
    server.stop().await;
}

#[tokio::test]
async fn headers_over_the_limit_get_431() {
    let server = start();
    let mut request = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 16 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    let (text, _) = raw_exchange(server.addr, &request, WAIT).await;
    assert_eq!(first_status(&text), Some(431), "{text:?}");
    assert!(healthy(server.addr).await);
    server.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let server = start();
    // Declared too large: refused before the body is read.
    let (text, _) =
        raw_exchange(server.addr, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", WAIT).await;
    assert_eq!(first_status(&text), Some(413), "{text:?}");
    assert!(text.contains("larger than the limit of 1024 bytes"), "{text:?}");

    // Chunked, no declared length: cut off once it passes the limit.
    let mut request = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        request.extend_from_slice(b"200\r\n");
        request.extend(std::iter::repeat_n(b'x', 0x200));
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (text, _) = raw_exchange(server.addr, &request, WAIT).await;
    assert_eq!(first_status(&text), Some(413), "{text:?}");

    // Under the limit, chunked, echoed back whole.
    let (text, _) = raw_exchange(
        server.addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(first_status(&text), Some(200), "{text:?}");
    assert!(text.ends_with("hello world"), "{text:?}");
    assert!(healthy(server.addr).await);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_mid_body_only_loses_its_own_connection() {
    let server = start();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b").await.unwrap();
        drop(stream);
    }
    // Half-closed mid-body: the server answers 400 or closes, never hangs or crashes.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b").await.unwrap();
    stream.shutdown().await.unwrap();
    let (text, closed) = read_until_quiet(&mut stream, WAIT).await;
    assert!(closed, "the server should close a connection whose body can never arrive: {text:?}");
    assert!(text.is_empty() || first_status(&text) == Some(400), "{text:?}");
    assert!(healthy(server.addr).await);
    server.stop().await;
}

#[tokio::test]
async fn a_slowloris_client_is_disconnected_while_others_are_served() {
    let server = start();
    let addr = server.addr;
    let slow = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let started = std::time::Instant::now();
        let header = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for byte in header.iter() {
            if stream.write_all(&[*byte]).await.is_err() {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        panic!("the slow client was never disconnected");
    });
    // Meanwhile the server answers everyone else.
    for _ in 0..5 {
        assert!(healthy(addr).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cut_after = tokio::time::timeout(Duration::from_secs(30), slow).await.expect("slow client finished").unwrap();
    assert!(cut_after < Duration::from_secs(15), "slowloris was cut off only after {cut_after:?}");
    server.stop().await;
}
