//! The floor of the channels benchmark: a server with no framework that speaks just enough
//! Phoenix Channels for `channels_load`, so that `bench/channels.sh` can measure what a
//! broadcast costs on this machine when the server does nothing but one `write()` per socket.
//!
//! std + libc only (plus `sha1`/`base64` for the handshake and `serde_json` for the few
//! messages it parses): one `epoll` loop, level-triggered, non-blocking sockets.
//!
//! - `GET /socket/websocket?vsn=2.0.0&user=U`: the WebSocket upgrade (version 13,
//!   `Sec-WebSocket-Accept` from the key); refused with 400 without a key, with another `vsn`
//!   (only the V2 JSON serializer is spoken) and 403 without `user`, like `channels_server`.
//! - WebSocket frames from the client: text frames are Phoenix V2 JSON
//!   `[join_ref, ref, topic, event, payload]`. `phx_join` on any topic replies `ok` `{}` and
//!   subscribes the socket to the topic, `phx_leave` replies `ok` and unsubscribes,
//!   `heartbeat` on `phoenix` replies `ok`, any other event replies `error`
//!   `{"reason":"unmatched topic"}` (unjoined) or `{"reason":"unhandled event"}`. Ping → pong
//!   with the same data, close → close. Fragmented, oversized (> 64 KiB) or unmasked frames
//!   close the connection (1002/1009).
//! - `POST /broadcast?seq=N&size=B&topic=T`: the Phoenix V2 message zzz sends for
//!   `PubSub::broadcast(T, "bench_tick", {"seq": N, "body": "x" × B})`,
//!   `[null,null,T,"bench_tick",{"body":…,"seq":N}]`, is encoded once as one WebSocket text
//!   frame, and every socket joined to `T` gets it with exactly one `write()` (the sockets
//!   are split over `BARE_THREADS` threads, default the number of cores, so the fan-out may
//!   use every core as zzz's runtime does). A short write (never seen: the frame is small and
//!   the socket buffer empty) keeps the rest for the event loop to finish. Answers
//!   `{subscribers, dispatch_us}`, `dispatch_us` being the time of the whole fan-out.
//! - `GET /stats`: `{rss_kib, hwm_kib, connections, subscribers, cpu_us, cpu_sys_us}` like
//!   `channels_server` (`subscribers` of `room:bench`).
//!
//! Listens on `127.0.0.1:$PORT` (default 4000, 0 = any free port), raises its open-files
//! limit as far as it may, and prints `ready <addr> nofile=<soft>/<hard>` once listening. No
//! heartbeat timeout: a silent client stays connected.

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bench_channels::{TICK_EVENT, TOPIC, cpu_times_us, proc_status_kib, raise_nofile};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest client frame or HTTP request head accepted.
const MAX_MESSAGE: usize = 64 * 1024;

/// Where a connection is in its life.
#[derive(PartialEq, Eq)]
enum Phase {
    /// Reading an HTTP request head.
    Http,
    /// Upgraded: WebSocket frames.
    WebSocket,
    /// Answered a plain HTTP request; close once the answer is written.
    Closing,
}

/// One accepted connection.
struct Conn {
    phase: Phase,
    /// Bytes read and not yet handled.
    inbuf: Vec<u8>,
    /// Bytes the socket did not take yet (written when it is writable again).
    outbuf: Vec<u8>,
    /// Topics this socket joined.
    topics: Vec<String>,
    /// Whether the WebSocket upgrade was answered (counted in `Server::websockets`).
    upgraded: bool,
}

/// The whole server state, owned by the event loop thread.
struct Server {
    epoll: RawFd,
    listener: TcpListener,
    /// Connections indexed by descriptor.
    conns: Vec<Option<Conn>>,
    /// Subscribed descriptors per topic. Entries of sockets that left or closed are removed
    /// lazily (`dirty`), before the next broadcast to that topic reads the list.
    topics: HashMap<String, Vec<RawFd>>,
    dirty: bool,
    websockets: usize,
    threads: usize,
}

fn main() -> io::Result<()> {
    let (soft, hard) = raise_nofile(1 << 20)?;
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("PORT is not a port number: {p:?}")))?,
        Err(_) => 4000,
    };
    let threads = match std::env::var("BARE_THREADS") {
        Ok(t) => t
            .parse::<usize>()
            .ok()
            .filter(|&t| t >= 1)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("BARE_THREADS must be a number ≥ 1, not {t:?}")))?,
        Err(_) => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    // A second listen() on a listening socket sets its backlog: take the kernel maximum
    // (somaxconn) instead of std's default, as a server facing a connect storm should.
    // SAFETY: listen on our own listening descriptor.
    if unsafe { libc::listen(listener.as_raw_fd(), 65535) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain syscall; the descriptor is owned by `Server` for the process's life.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut server = Server {
        epoll,
        listener,
        conns: Vec::new(),
        topics: HashMap::new(),
        dirty: false,
        websockets: 0,
        threads,
    };
    server.watch(server.listener.as_raw_fd(), libc::EPOLLIN as u32, libc::EPOLL_CTL_ADD)?;
    println!("ready {} nofile={soft}/{hard} threads={threads}", server.listener.local_addr()?);
    server.run()
}

impl Server {
    fn watch(&self, fd: RawFd, events: u32, op: libc::c_int) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: fd as u64 };
        // SAFETY: epoll_ctl reads the event struct we pass.
        if unsafe { libc::epoll_ctl(self.epoll, op, fd, &mut ev) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let listen_fd = self.listener.as_raw_fd();
        loop {
            // SAFETY: epoll_wait fills at most `events.len()` entries of our buffer.
            let n = unsafe { libc::epoll_wait(self.epoll, events.as_mut_ptr(), events.len() as i32, -1) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            for ev in &events[..n as usize] {
                let (fd, flags) = (ev.u64 as RawFd, ev.events);
                if fd == listen_fd {
                    self.accept_all();
                    continue;
                }
                if flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                    self.close(fd);
                    continue;
                }
                if flags & libc::EPOLLOUT as u32 != 0 {
                    self.flush(fd);
                }
                if flags & libc::EPOLLIN as u32 != 0 {
                    self.readable(fd);
                }
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            // SAFETY: accept4 with null address pointers; the new descriptor is ours.
            let fd = unsafe {
                libc::accept4(
                    self.listener.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                    _ => {
                        // Out of descriptors and the like: leave the rest in the backlog.
                        eprintln!("accept failed: {err}");
                        return;
                    }
                }
            }
            let on: libc::c_int = 1;
            // SAFETY: setsockopt on our own descriptor with a c_int value.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    &on as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            if let Err(err) = self.watch(fd, libc::EPOLLIN as u32, libc::EPOLL_CTL_ADD) {
                eprintln!("epoll add failed: {err}");
                // SAFETY: closing the descriptor accept4 gave us.
                unsafe { libc::close(fd) };
                continue;
            }
            let slot = fd as usize;
            if self.conns.len() <= slot {
                self.conns.resize_with(slot + 1, || None);
            }
            self.conns[slot] = Some(Conn {
                phase: Phase::Http,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                topics: Vec::new(),
                upgraded: false,
            });
        }
    }

    fn close(&mut self, fd: RawFd) {
        let Some(conn) = self.conns.get_mut(fd as usize).and_then(Option::take) else { return };
        if conn.upgraded {
            self.websockets -= 1;
        }
        if !conn.topics.is_empty() {
            self.dirty = true;
        }
        // SAFETY: the descriptor is ours; closing it also removes it from the epoll set.
        unsafe { libc::close(fd) };
    }

    fn readable(&mut self, fd: RawFd) {
        let mut chunk = [0u8; 4096];
        // SAFETY: read into our stack buffer.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if !matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) {
                self.close(fd);
            }
            return;
        }
        if n == 0 {
            self.close(fd);
            return;
        }
        let Some(conn) = self.conns[fd as usize].as_mut() else { return };
        conn.inbuf.extend_from_slice(&chunk[..n as usize]);
        let result = loop {
            let Some(conn) = self.conns[fd as usize].as_ref() else { return };
            let step = match conn.phase {
                Phase::Http => self.handle_http(fd),
                Phase::WebSocket => self.handle_frame(fd),
                Phase::Closing => Ok(false),
            };
            match step {
                Ok(true) => continue,
                other => break other,
            }
        };
        if let Err(why) = result {
            eprintln!("closing connection: {why}");
            self.close(fd);
            return;
        }
        if self.conns[fd as usize].as_ref().is_some_and(|c| c.phase == Phase::Closing && c.outbuf.is_empty()) {
            self.close(fd);
        }
    }

    /// Queue `bytes` on `fd`: written at once if nothing is waiting, else appended.
    fn send(&mut self, fd: RawFd, bytes: &[u8]) {
        let Some(conn) = self.conns[fd as usize].as_mut() else { return };
        if !conn.outbuf.is_empty() {
            conn.outbuf.extend_from_slice(bytes);
            return;
        }
        match write_once(fd, bytes) {
            Ok(n) if n == bytes.len() => {}
            Ok(n) => {
                conn.outbuf.extend_from_slice(&bytes[n..]);
                let _ = self.watch(fd, (libc::EPOLLIN | libc::EPOLLOUT) as u32, libc::EPOLL_CTL_MOD);
            }
            Err(_) => self.close(fd),
        }
    }

    fn flush(&mut self, fd: RawFd) {
        let Some(conn) = self.conns[fd as usize].as_mut() else { return };
        match write_once(fd, &conn.outbuf) {
            Ok(n) => {
                conn.outbuf.drain(..n);
                if conn.outbuf.is_empty() {
                    if conn.phase == Phase::Closing {
                        self.close(fd);
                    } else {
                        let _ = self.watch(fd, libc::EPOLLIN as u32, libc::EPOLL_CTL_MOD);
                    }
                }
            }
            Err(_) => self.close(fd),
        }
    }

    /// Handle one HTTP request head if complete; `Ok(true)` when more input may be handled.
    fn handle_http(&mut self, fd: RawFd) -> Result<bool, String> {
        let conn = self.conns[fd as usize].as_mut().expect("connection present");
        let Some(end) = conn.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if conn.inbuf.len() > MAX_MESSAGE {
                return Err("HTTP request head over 64 KiB".into());
            }
            return Ok(false);
        };
        let head = String::from_utf8_lossy(&conn.inbuf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let body_len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        if body_len > MAX_MESSAGE {
            return Err("HTTP request body over 64 KiB".into());
        }
        if conn.inbuf.len() < end + 4 + body_len {
            return Ok(false);
        }
        conn.inbuf.drain(..end + 4 + body_len);
        let mut parts = request_line.split(' ');
        let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let params: HashMap<&str, &str> = query.split('&').filter_map(|kv| kv.split_once('=')).collect();

        match (method, path) {
            ("GET", "/socket/websocket") => {
                let upgrade = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
                let key = header("sec-websocket-key");
                let refusal = if !upgrade || header("sec-websocket-version") != Some("13") || key.is_none() {
                    Some(("400 Bad Request", "a WebSocket upgrade (version 13, with a key) is required"))
                } else if params.get("vsn").is_some_and(|v| *v != "2.0.0") {
                    Some(("400 Bad Request", "only vsn=2.0.0 (Phoenix V2 JSON) is spoken here"))
                } else if !params.get("user").is_some_and(|u| !u.is_empty() && u.len() <= 64) {
                    Some(("403 Forbidden", "the `user` parameter is missing or too long"))
                } else {
                    None
                };
                if let Some((status, why)) = refusal {
                    self.answer(fd, status, "text/plain", why.as_bytes());
                    return Ok(false);
                }
                let accept = B64.encode(Sha1::digest(format!("{}{WS_GUID}", key.unwrap_or_default()).as_bytes()));
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                let conn = self.conns[fd as usize].as_mut().expect("connection present");
                conn.phase = Phase::WebSocket;
                conn.upgraded = true;
                self.websockets += 1;
                self.send(fd, response.as_bytes());
                Ok(true)
            }
            ("GET", "/stats") => {
                let (user, system) = cpu_times_us();
                let body = json!({
                    "rss_kib": proc_status_kib(None, "VmRSS").unwrap_or(0),
                    "hwm_kib": proc_status_kib(None, "VmHWM").unwrap_or(0),
                    "connections": self.websockets,
                    "subscribers": self.subscribers(TOPIC),
                    "cpu_us": user + system,
                    "cpu_sys_us": system,
                });
                self.answer(fd, "200 OK", "application/json", body.to_string().as_bytes());
                Ok(false)
            }
            ("POST", "/broadcast") => {
                let Some(seq) = params.get("seq").and_then(|s| s.parse::<u64>().ok()) else {
                    self.answer(fd, "400 Bad Request", "text/plain", b"`seq` must be a number");
                    return Ok(false);
                };
                let size = params.get("size").and_then(|s| s.parse::<usize>().ok()).unwrap_or(16).min(1 << 16);
                let topic = params.get("topic").map(|t| t.to_string()).unwrap_or_else(|| TOPIC.to_owned());
                let started = Instant::now();
                let subscribers = self.broadcast(&topic, seq, size);
                let dispatch_us = started.elapsed().as_micros() as u64;
                let body = json!({"subscribers": subscribers, "dispatch_us": dispatch_us});
                self.answer(fd, "200 OK", "application/json", body.to_string().as_bytes());
                Ok(false)
            }
            _ => {
                self.answer(fd, "404 Not Found", "text/plain", b"not found");
                Ok(false)
            }
        }
    }

    /// Write a whole HTTP response and close the connection once it is out.
    fn answer(&mut self, fd: RawFd, status: &str, content_type: &str, body: &[u8]) {
        let mut response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(body);
        if let Some(conn) = self.conns[fd as usize].as_mut() {
            conn.phase = Phase::Closing;
        }
        self.send(fd, &response);
    }

    /// Handle one complete client frame if buffered; `Ok(true)` when more may follow.
    fn handle_frame(&mut self, fd: RawFd) -> Result<bool, String> {
        let conn = self.conns[fd as usize].as_mut().expect("connection present");
        let buf = &conn.inbuf;
        if buf.len() < 2 {
            return Ok(false);
        }
        let (fin, opcode, masked) = (buf[0] & 0x80 != 0, buf[0] & 0x0f, buf[1] & 0x80 != 0);
        let (len, mut head) = match buf[1] & 0x7f {
            126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
            127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")) as usize, 10),
            126 | 127 => return Ok(false),
            n => (n as usize, 2),
        };
        if !masked {
            self.send(fd, &close_frame(1002, "client frames must be masked"));
            return Err("unmasked client frame".into());
        }
        if !fin || opcode == 0 {
            self.send(fd, &close_frame(1003, "fragmented messages are not supported"));
            return Err("fragmented client frame".into());
        }
        if len > MAX_MESSAGE {
            self.send(fd, &close_frame(1009, "message over 64 KiB"));
            return Err("client frame over 64 KiB".into());
        }
        if buf.len() < head + 4 + len {
            return Ok(false);
        }
        let mask = [buf[head], buf[head + 1], buf[head + 2], buf[head + 3]];
        head += 4;
        let payload: Vec<u8> = buf[head..head + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        conn.inbuf.drain(..head + len);
        match opcode {
            0x1 => {
                let reply = self.handle_message(fd, &payload)?;
                self.send(fd, &text_frame(&reply));
                Ok(true)
            }
            0x8 => {
                let code = if payload.len() >= 2 { u16::from_be_bytes([payload[0], payload[1]]) } else { 1000 };
                self.send(fd, &close_frame(code, ""));
                if let Some(conn) = self.conns[fd as usize].as_mut() {
                    conn.phase = Phase::Closing;
                }
                Ok(false)
            }
            0x9 => {
                let mut pong = vec![0x8a];
                push_len(&mut pong, payload.len());
                pong.extend_from_slice(&payload);
                self.send(fd, &pong);
                Ok(true)
            }
            0xa => Ok(true),
            0x2 => {
                self.send(fd, &close_frame(1003, "binary messages are not spoken here"));
                Err("binary client frame".into())
            }
            other => {
                self.send(fd, &close_frame(1002, "unknown opcode"));
                Err(format!("unknown opcode {other:#x}"))
            }
        }
    }

    /// Answer one Phoenix V2 JSON message; returns the encoded `phx_reply`.
    fn handle_message(&mut self, fd: RawFd, text: &[u8]) -> Result<Vec<u8>, String> {
        let (join_ref, ref_, topic, event, _payload): (Option<String>, Option<String>, String, String, Value) =
            serde_json::from_slice(text).map_err(|e| format!("expected [join_ref, ref, topic, event, payload]: {e}"))?;
        let joined = self.conns[fd as usize].as_ref().is_some_and(|c| c.topics.contains(&topic));
        if event == "phx_join" && !joined {
            // A stale entry for this descriptor (a socket that left, or closed and whose
            // number was reused) must go before the new one is added.
            self.compact();
            self.topics.entry(topic.clone()).or_default().push(fd);
        }
        let conn = self.conns[fd as usize].as_mut().expect("connection present");
        let ok = json!({"status": "ok", "response": {}});
        let payload = match (topic.as_str(), event.as_str()) {
            ("phoenix", "heartbeat") => ok,
            (_, "phx_join") => {
                if !joined {
                    conn.topics.push(topic.clone());
                }
                ok
            }
            (_, "phx_leave") if conn.topics.contains(&topic) => {
                conn.topics.retain(|t| *t != topic);
                self.dirty = true;
                ok
            }
            _ if conn.topics.contains(&topic) => json!({"status": "error", "response": {"reason": "unhandled event"}}),
            _ => json!({"status": "error", "response": {"reason": "unmatched topic"}}),
        };
        serde_json::to_vec(&json!([join_ref, ref_, topic, "phx_reply", payload])).map_err(|e| e.to_string())
    }

    /// Drop the subscriptions of sockets that closed or left since the last broadcast.
    fn compact(&mut self) {
        if !self.dirty {
            return;
        }
        let conns = &self.conns;
        for (topic, fds) in self.topics.iter_mut() {
            fds.retain(|&fd| conns[fd as usize].as_ref().is_some_and(|c| c.topics.contains(topic)));
        }
        self.topics.retain(|_, fds| !fds.is_empty());
        self.dirty = false;
    }

    fn subscribers(&mut self, topic: &str) -> usize {
        self.compact();
        self.topics.get(topic).map_or(0, Vec::len)
    }

    /// The fan-out: one pre-encoded frame, one `write()` per subscribed socket.
    fn broadcast(&mut self, topic: &str, seq: u64, size: usize) -> usize {
        self.compact();
        let message = json!([null, null, topic, TICK_EVENT, {"seq": seq, "body": "x".repeat(size)}]);
        let frame = text_frame(&serde_json::to_vec(&message).expect("JSON encodes"));
        let Some(fds) = self.topics.get(topic) else { return 0 };
        // Sockets with output still queued get the frame appended, in order, after the rest.
        let (queued, direct): (Vec<RawFd>, Vec<RawFd>) = fds
            .iter()
            .partition(|&&fd| self.conns[fd as usize].as_ref().is_some_and(|c| !c.outbuf.is_empty()));
        let chunk = direct.len().div_ceil(self.threads).max(1);
        let short: Vec<(RawFd, usize)> = std::thread::scope(|scope| {
            let workers: Vec<_> = direct
                .chunks(chunk)
                .map(|fds| {
                    let frame = &frame;
                    scope.spawn(move || {
                        let mut short = Vec::new();
                        for &fd in fds {
                            // SAFETY: write from our frame buffer to a descriptor this process owns.
                            let n = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
                            if n != frame.len() as isize {
                                short.push((fd, n.max(0) as usize));
                            }
                        }
                        short
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().expect("fan-out thread")).collect()
        });
        let total = fds.len();
        for (fd, written) in short {
            // A failed write (n < 0) is treated as nothing written: the event loop sees the
            // error on the socket and closes it.
            let Some(conn) = self.conns[fd as usize].as_mut() else { continue };
            conn.outbuf.extend_from_slice(&frame[written..]);
            let _ = self.watch(fd, (libc::EPOLLIN | libc::EPOLLOUT) as u32, libc::EPOLL_CTL_MOD);
        }
        for fd in queued {
            self.send(fd, &frame);
        }
        total
    }
}

/// One `write()`; `Ok(0)` when the socket would block.
fn write_once(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: write from a live slice to a descriptor this process owns.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if n >= 0 {
        return Ok(n as usize);
    }
    let err = io::Error::last_os_error();
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
        _ => Err(err),
    }
}

fn push_len(f: &mut Vec<u8>, len: usize) {
    if len < 126 {
        f.push(len as u8);
    } else if len <= u16::MAX as usize {
        f.push(126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// An unmasked server text frame.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x81);
    push_len(&mut f, payload.len());
    f.extend_from_slice(payload);
    f
}

/// An unmasked server close frame.
fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut f = vec![0x88];
    push_len(&mut f, 2 + reason.len());
    f.extend_from_slice(&code.to_be_bytes());
    f.extend_from_slice(reason.as_bytes());
    f
}
