//! HTTP/2 with prior knowledge (h2c) against `zzz::server`, using hyper's client.

mod server_support;

use std::time::Duration;

use server_support::*;
use tokio::net::TcpStream;
use zzz::server::ServerConfig;

#[tokio::test]
async fn h2c_prior_knowledge_requests_are_served() {
    let server = start(ServerConfig::default());
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let (mut send, _driver) = h2_client(tcp).await;
    let base = format!("http://{}", server.addr);

    let (status, version, body) = h2_get(&mut send, &format!("{base}/info")).await;
    assert_eq!(status, 200);
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(body, format!("peer={local} local={} tls=false version=HTTP/2.0", server.addr));

    // Several concurrent streams on the one connection.
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let mut send = send.clone();
        let url = format!("{base}/sleep?ms=100");
        tasks.push(tokio::spawn(async move { h2_get(&mut send, &url).await }));
    }
    for t in tasks {
        let (status, _, body) = t.await.unwrap();
        assert_eq!((status, body.as_str()), (http::StatusCode::OK, "slept 100"));
    }

    // A panicking handler fails only its own stream.
    let (status, _, _) = h2_get(&mut send, &format!("{base}/panic")).await;
    assert_eq!(status, 500);
    let (status, _, body) = h2_get(&mut send, &format!("{base}/")).await;
    assert_eq!((status, body.as_str()), (http::StatusCode::OK, "hello"));

    // A panic inside a streaming body resets that stream only.
    let req = http::Request::get(format!("{base}/body-panic")).body(http_body_util::Empty::new()).unwrap();
    // (The reset may even come before the head was sent.)
    match tokio::time::timeout(BOUND, send.send_request(req)).await.expect("no answer for /body-panic") {
        Err(e) => assert!(!e.is_closed(), "the connection closed instead of one stream being reset: {e}"),
        Ok(res) => {
            assert_eq!(res.status(), 200);
            let body = http_body_util::BodyExt::collect(res.into_body()).await;
            assert!(body.is_err(), "a panicking body arrived complete");
        }
    }
    let (status, _, body) = h2_get(&mut send, &format!("{base}/")).await;
    assert_eq!((status, body.as_str()), (http::StatusCode::OK, "hello"));
    server.stop().await;
}

#[tokio::test]
async fn idle_h2_connection_is_closed_after_idle_timeout() {
    let server = start(ServerConfig::default().idle_timeout(Duration::from_millis(500)));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, driver) = h2_client(tcp).await;
    let (status, _, _) = h2_get(&mut send, &format!("http://{}/", server.addr)).await;
    assert_eq!(status, 200);
    // The server sends GOAWAY and closes; the client connection future ends.
    tokio::time::timeout(BOUND, driver).await.expect("idle h2 connection not closed").unwrap();
    server.stop().await;
}

#[tokio::test]
async fn h2_connections_close_gracefully_on_shutdown() {
    let app = App::default();
    let server = start_with(ServerConfig::default(), app.clone());
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, driver) = h2_client(tcp).await;
    let url = format!("http://{}/sleep?ms=300", server.addr);
    let in_flight = tokio::spawn(async move { h2_get(&mut send, &url).await });
    tokio::time::timeout(BOUND, app.started.notified()).await.expect("request never reached the app");
    let stopped = tokio::spawn(server.stop());
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status, body.as_str()), (http::StatusCode::OK, "slept 300"));
    tokio::time::timeout(BOUND, driver).await.expect("h2 connection not closed after shutdown").unwrap();
    stopped.await.unwrap();
}

#[tokio::test]
async fn h2_header_list_over_the_limit_is_refused_and_the_connection_survives() {
    let server = start(ServerConfig::default().max_header_bytes(16 * 1024));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, _driver) = h2_client(tcp).await;
    let base = format!("http://{}", server.addr);

    let req = http::Request::get(format!("{base}/"))
        .header("x-fill", "a".repeat(32 * 1024))
        .body(http_body_util::Empty::new())
        .unwrap();
    let res = tokio::time::timeout(BOUND, send.send_request(req))
        .await
        .expect("no answer to oversized headers")
        .expect("oversized headers should get a 431 response, not a connection error");
    assert_eq!(res.status(), 431);
    let (status, _, body) = h2_get(&mut send, &format!("{base}/")).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "hello"));
    server.stop().await;
}
