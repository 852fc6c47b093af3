//! Server memory per joined WebSocket connection, measured as process RSS growth while
//! thousands of minimal raw-TCP clients connect and join a channel. Guards against per-socket
//! buffers creeping back up (tokio-tungstenite's defaults cost ~134 KB per socket).

mod channels_common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use channels_common::{endpoint, serve};

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux only)");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A client text frame, masked with the all-zero key (so the payload bytes stay as they are).
fn masked_text(payload: &str) -> Vec<u8> {
    let mut f = vec![0x81u8];
    let len = payload.len();
    assert!(len < 126);
    f.push(0x80 | len as u8);
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload.as_bytes());
    f
}

async fn read_until(stream: &mut TcpStream, needle: &[u8]) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.windows(needle.len()).any(|w| w == needle) {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "server closed; got {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn joined_client(addr: std::net::SocketAddr, i: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /socket/websocket?vsn=2.0.0&user=u{i} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    read_until(&mut s, b"\r\n\r\n").await;
    s.write_all(&masked_text(
        r#"["1","1","room:mem","phx_join",{"presence":false}]"#,
    ))
    .await
    .unwrap();
    read_until(&mut s, b"\"ok\"").await;
    s
}

/// The soft open-files limit, from /proc/self/limits.
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_per_joined_socket_and_broadcast_fanout() {
    // two descriptors per connection (client and server side), plus headroom
    let n = 3000usize.min(open_files_limit().saturating_sub(400) / 2);
    assert!(
        n >= 400,
        "open files limit {} is too low for this test; raise it with `ulimit -n 8192`",
        open_files_limit()
    );
    // the per-connection mailbox allocates a block of 32 events up front
    assert_eq!(std::mem::size_of::<zzz::channels::SocketEvent>(), 16);
    let (ep, _) = endpoint();
    let pubsub = ep.pubsub().clone();
    let addr = serve(ep).await;
    // warm up allocator arenas and lazy statics
    let mut clients = Vec::with_capacity(n + 100);
    for i in 0..100 {
        clients.push(joined_client(addr, i).await);
    }
    let before = rss_bytes();
    for i in 100..n + 100 {
        clients.push(joined_client(addr, i).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_bytes();
    let per_socket = after.saturating_sub(before) / n;
    println!(
        "RSS growth per joined socket (server side + a bare client TcpStream): {per_socket} bytes"
    );
    assert_eq!(pubsub.subscriber_count("room:mem"), n + 100);
    // The target is 10 KiB of server RSS per joined socket (about 7.8 KB measured here, client
    // stream included, with the default 2 KiB read buffer).
    assert!(
        per_socket <= 10 * 1024,
        "{per_socket} bytes per joined socket exceeds 10 KiB"
    );

    let started = Instant::now();
    pubsub
        .broadcast("room:mem", "tick", serde_json::json!({"n": 1}))
        .unwrap();
    for c in clients.iter_mut() {
        read_until(c, b"tick").await;
    }
    println!(
        "broadcast reached {} sockets in {:?}",
        clients.len(),
        started.elapsed()
    );
}
