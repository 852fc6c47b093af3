//! HTTP/1.x behaviour of `zzz::server` over real TCP sockets, spoken as raw bytes.

mod server_support;

use std::time::Duration;

use server_support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use zzz::server::ServerConfig;

#[tokio::test]
async fn keep_alive_serves_two_requests_on_one_connection() {
    let server = start(ServerConfig::default());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = Vec::new();
    let local = stream.local_addr().unwrap();

    stream.write_all(b"GET /info HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let first = read_response_buf(&mut stream, &mut buf).await.unwrap();
    assert_eq!(first.status, 200);
    // ConnectInfo carries this very connection's addresses.
    assert_eq!(
        first.body_str(),
        format!("peer={local} local={} tls=false version=HTTP/1.1", server.addr)
    );

    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let second = read_response_buf(&mut stream, &mut buf).await.unwrap();
    assert_eq!((second.status, second.body_str()), (200, "hello"));
    server.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = start(ServerConfig::default());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let a = read_response_buf(&mut stream, &mut buf).await.unwrap();
    let b = read_response_buf(&mut stream, &mut buf).await.unwrap();
    assert_eq!(a.body_str(), "hello");
    assert_eq!(b.body_str(), "abc");
    server.stop().await;
}

#[tokio::test]
async fn http10_request_is_answered_and_closed() {
    let server = start(ServerConfig::default());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /info HTTP/1.0\r\n\r\n").await.unwrap();
    let res = read_response(&mut stream).await;
    assert_eq!(res.status, 200);
    assert!(res.head.starts_with("HTTP/1."), "{}", res.head);
    assert!(res.body_str().ends_with("version=HTTP/1.0"), "{}", res.body_str());
    // No keep-alive was asked for, so the server closes the connection.
    wait_closed(&mut stream, BOUND).await.expect("HTTP/1.0 connection left open");
    server.stop().await;
}

#[tokio::test]
async fn chunked_request_body_is_read_fully() {
    let server = start(ServerConfig::default());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .await
        .unwrap();
    // The rest arrives later, in separate writes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b"1\r\n \r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b"5;ext=1\r\nworld\r\n0\r\n\r\n").await.unwrap();
    let res = read_response(&mut stream).await;
    assert_eq!((res.status, res.body_str()), (200, "hello world"));
    server.stop().await;
}

#[tokio::test]
async fn streaming_response_is_chunked_and_flushed_as_produced() {
    let app = App::default();
    let server = start_with(ServerConfig::default(), app.clone());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();

    // The head and the first chunk arrive while the handler is still blocked
    // before producing "two": the body is streamed, not buffered.
    let mut buf = Vec::new();
    let first = tokio::time::timeout(BOUND, async {
        use tokio::io::AsyncReadExt;
        loop {
            if buf.windows(8).any(|w| w == b"3\r\none\r\n") {
                break;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early");
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(first.is_ok(), "first chunk not received before the rest was released: {:?}", String::from_utf8_lossy(&buf));
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");

    app.release.notify_one();
    // Re-read the whole response from the bytes so far plus the rest.
    let mut rest = buf.split_off(buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4);
    let mut body = Vec::new();
    let tail = tokio::time::timeout(BOUND, async {
        use tokio::io::AsyncReadExt;
        loop {
            if rest.ends_with(b"0\r\n\r\n") {
                break;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the last chunk");
            rest.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(tail.is_ok(), "stream not finished: {:?}", String::from_utf8_lossy(&rest));
    // Decode the chunks.
    let mut input = &rest[..];
    loop {
        let line_end = input.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&input[..line_end]).unwrap(), 16).unwrap();
        input = &input[line_end + 2..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(&input[..size]);
        input = &input[size + 2..];
    }
    assert_eq!(body, b"onetwothree");
    server.stop().await;
}

#[tokio::test]
async fn expect_100_continue_gets_interim_response_before_body() {
    let server = start(ServerConfig::default());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let interim = tokio::time::timeout(BOUND, read_response_buf(&mut stream, &mut buf))
        .await
        .expect("no 100 Continue (the client has not sent its body yet)")
        .unwrap();
    assert_eq!(interim.status, 100, "{}", interim.head);
    stream.write_all(b"hello").await.unwrap();
    let res = tokio::time::timeout(BOUND, read_response_buf(&mut stream, &mut buf)).await.unwrap().unwrap();
    assert_eq!((res.status, res.body_str()), (200, "hello"));
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_400_or_close_and_the_server_keeps_serving() {
    let server = start(ServerConfig::default());
    let bad_inputs: [&[u8]; 5] = [
        b"THIS IS NOT HTTP\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo\x01st: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: nope\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
    ];
    for raw in bad_inputs {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(raw).await.unwrap();
        let answer = wait_closed(&mut stream, BOUND).await.expect("server left a bad request's connection open");
        let text = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || text.starts_with("HTTP/1.1 400"),
            "unexpected answer to {:?}: {text:?}",
            String::from_utf8_lossy(raw)
        );
        // The next client is served normally.
        let ok = get(server.addr, "/").await;
        assert_eq!((ok.status, ok.body_str()), (200, "hello"));
    }

    // A client that resets its connection mid-request does not hurt either.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /sleep?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    // Linger 0 makes the drop send RST; with a zero timeout nothing blocks,
    // which is what the deprecation warns about.
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
    let ok = get(server.addr, "/").await;
    assert_eq!(ok.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn handler_panic_becomes_500_for_that_request_only() {
    let server = start(ServerConfig::default());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = Vec::new();
    stream.write_all(b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let res = read_response_buf(&mut stream, &mut buf).await.unwrap();
    assert_eq!((res.status, res.body_str()), (500, "Internal Server Error"));
    // Same connection still works.
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let res = read_response_buf(&mut stream, &mut buf).await.unwrap();
    assert_eq!((res.status, res.body_str()), (200, "hello"));
    server.stop().await;
}

#[tokio::test]
async fn http2_can_be_turned_off() {
    // With http2 off, an h2c preface is not HTTP/1 either: the server rejects it.
    let server = start(ServerConfig::default().http2(false));
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    let answer = wait_closed(&mut stream, BOUND).await.expect("connection left open");
    let text = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || text.starts_with("HTTP/1.1 4"), "{text:?}");
    let ok = get(server.addr, "/").await;
    assert_eq!(ok.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn panic_inside_a_streaming_body_aborts_only_that_response() {
    let server = start(ServerConfig::default());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /body-panic HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    // The 200 head was already committed; the response is aborted (hyper may
    // not even have flushed the head) and the connection closed.
    let got = wait_closed(&mut stream, BOUND).await.expect("connection left open after the body panicked");
    let text = String::from_utf8_lossy(&got);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "a panicking body was presented as complete: {text:?}");
    assert_eq!(get(server.addr, "/").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn upgraded_connection_keeps_its_connection_slot_until_closed() {
    // One slot: while the upgraded (WebSocket-like) connection lives, nobody else is served.
    let server = start(ServerConfig::default().max_connections(1));
    let mut upgraded = TcpStream::connect(server.addr).await.unwrap();
    upgraded
        .write_all(b"GET /upgrade HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let res = read_response_buf(&mut upgraded, &mut buf).await.unwrap();
    assert_eq!(res.status, 101, "{}", res.head);
    assert!(buf.is_empty());

    // The connection now speaks the echo protocol.
    upgraded.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tokio::time::timeout(BOUND, tokio::io::AsyncReadExt::read_exact(&mut upgraded, &mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"ping");

    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    waiting.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut wbuf = Vec::new();
    let early = tokio::time::timeout(Duration::from_millis(500), read_response_buf(&mut waiting, &mut wbuf)).await;
    assert!(early.is_err(), "served while the upgraded connection held the only slot: {early:?}");

    drop(upgraded);
    let res = tokio::time::timeout(BOUND, read_response_buf(&mut waiting, &mut wbuf))
        .await
        .expect("not served after the upgraded connection closed")
        .unwrap();
    assert_eq!(res.status, 200);
    server.stop().await;
}
