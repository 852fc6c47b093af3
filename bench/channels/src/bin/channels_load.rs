//! The load client of the channels benchmark: its own minimal Phoenix Channels speaker (V2
//! JSON over a hand-written WebSocket client) that opens many sockets, joins each to one
//! topic, keeps them alive with heartbeats, and times broadcasts.
//!
//! ```text
//! channels_load --servers 127.0.0.1:4101[,127.0.0.1:4102…] --sockets 100000
//!               [--sources 4] [--concurrency 128] [--rounds 3] [--payload 16]
//!               [--hold 0] [--threads 1] [--per-worker N] [--report FILE]
//! ```
//!
//! Run like this it is the **coordinator**: it splits the sockets over worker processes
//! (itself with `--worker`), as many as the open-files limit requires (one process holds at
//! most `--per-worker` sockets, by default the hard `RLIMIT_NOFILE` minus 256), reads each
//! server's RSS through `GET /stats` before and after, then for each round tells the
//! workers which broadcast to expect, takes the time, sends `POST /broadcast` to every
//! server and collects every socket's receipt time. Socket `i` goes to server
//! `i % servers` from source address `127.0.0.(2 + i % sources)`, bound before connecting
//! with `IP_BIND_ADDRESS_NO_PORT` (the port is picked per destination at connect time, so
//! each source address brings a whole ephemeral port range) and `SO_REUSEADDR` (so the
//! client's ports never stop a server elsewhere on the machine from binding a listener).
//! 127.0.0.1 is left alone as a source: other programs bind their listeners there. Only
//! loopback addresses are accepted.
//!
//! Prints a markdown table on stdout and writes the same figures as JSON to `--report`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bench_channels::{TICK_EVENT, TOPIC, cpu_time_us, monotonic_ns, percentile, proc_status_kib, raise_nofile};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Command-line options (shared by coordinator and workers).
#[derive(Clone, Debug)]
struct Opts {
    servers: Vec<SocketAddrV4>,
    sockets: usize,
    sources: u8,
    concurrency: usize,
    rounds: usize,
    payload: usize,
    hold: u64,
    threads: usize,
    per_worker: Option<usize>,
    report: Option<String>,
    /// Worker mode: the first global socket index of this worker.
    worker_first: Option<usize>,
}

fn usage(msg: &str) -> ! {
    eprintln!("channels_load: {msg}");
    eprintln!(
        "usage: channels_load --servers 127.0.0.1:4101[,…] --sockets N [--sources 4] [--concurrency 128] \
         [--rounds 3] [--payload 16] [--hold SECS] [--threads 1] [--per-worker N] [--report FILE]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        servers: Vec::new(),
        sockets: 10_000,
        sources: 4,
        concurrency: 128,
        rounds: 3,
        payload: 16,
        hold: 0,
        threads: 1,
        per_worker: None,
        report: None,
        worker_first: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let num = |v: String| -> usize { v.parse().unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}"))) };
        match flag.as_str() {
            "--servers" => {
                for s in value().split(',').filter(|s| !s.is_empty()) {
                    let addr: SocketAddrV4 = s.parse().unwrap_or_else(|_| usage(&format!("bad server address {s}")));
                    if !addr.ip().is_loopback() {
                        usage(&format!("{addr} is not a loopback address; this benchmark only targets 127.0.0.0/8"));
                    }
                    o.servers.push(addr);
                }
            }
            "--sockets" => o.sockets = num(value()),
            "--sources" => o.sources = num(value()).clamp(1, 253) as u8,
            "--concurrency" => o.concurrency = num(value()).max(1),
            "--rounds" => o.rounds = num(value()),
            "--payload" => o.payload = num(value()),
            "--hold" => o.hold = num(value()) as u64,
            "--threads" => o.threads = num(value()).max(1),
            "--per-worker" => o.per_worker = Some(num(value()).max(1)),
            "--report" => o.report = Some(value()),
            "--worker" => o.worker_first = Some(num(value())),
            other => usage(&format!("unknown option {other}")),
        }
    }
    if o.servers.is_empty() {
        usage("--servers is required");
    }
    o
}

fn main() {
    let opts = parse_opts();
    match opts.worker_first {
        Some(first) => worker_main(opts, first),
        None => coordinator_main(opts),
    }
}

// ---------------------------------------------------------------------------------------
// The WebSocket + Phoenix V2 client (worker side)
// ---------------------------------------------------------------------------------------

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A small xorshift generator for WebSocket keys and masks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A masked client text frame.
fn text_frame(payload: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x81);
    masked_tail(&mut f, payload, rng);
    f
}

fn masked_tail(f: &mut Vec<u8>, payload: &[u8], rng: &mut Rng) {
    let len = payload.len();
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let mask = (rng.next() as u32).to_be_bytes();
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// One server frame parsed from the front of a buffer.
struct ServerFrame {
    opcode: u8,
    start: usize,
    end: usize,
}

/// Parse a complete (unmasked, unfragmented) server frame at the start of `buf`; `Ok(None)`
/// when more bytes are needed.
fn parse_frame(buf: &[u8]) -> Result<Option<ServerFrame>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] & 0x80 == 0 {
        return Err("fragmented frames are not expected from the server".into());
    }
    if buf[1] & 0x80 != 0 {
        return Err("server frames must not be masked".into());
    }
    let opcode = buf[0] & 0x0f;
    let (len, head) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return Ok(None),
        n => (n as usize, 2),
    };
    if buf.len() < head + len {
        return Ok(None);
    }
    Ok(Some(ServerFrame { opcode, start: head, end: head + len }))
}

/// What a worker shares between its sockets and its command loop.
struct Shared {
    joined: AtomicUsize,
    failed: AtomicUsize,
    /// Connection attempts that failed and were tried again.
    retried: AtomicUsize,
    closed: AtomicUsize,
    /// The broadcast `seq` being timed (0: none).
    expect: AtomicU64,
    receipts: Mutex<Vec<u64>>,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, err: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.first_error.lock().unwrap().get_or_insert(err);
    }
}

/// One socket's connection, handshake and join; returns the stream and any bytes read past
/// the join reply.
async fn connect_and_join(
    i: usize,
    server: SocketAddrV4,
    source: Ipv4Addr,
    rng: &mut Rng,
) -> Result<(TcpStream, Vec<u8>), String> {
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, per 4-tuple, so one
        // source address is not limited to one connection per ephemeral port overall.
        for (level, name) in [(libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT), (libc::SOL_SOCKET, libc::SO_REUSEADDR)] {
            // SAFETY: setsockopt on our own descriptor with a c_int option value.
            unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    level,
                    name,
                    &on as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
    sock.bind(SocketAddr::V4(SocketAddrV4::new(source, 0))).map_err(|e| format!("bind {source}: {e}"))?;
    let mut stream = sock.connect(SocketAddr::V4(server)).await.map_err(|e| format!("connect {server} from {source}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;

    let key_bytes: [u8; 16] = {
        let (a, b) = (rng.next(), rng.next());
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&a.to_le_bytes());
        k[8..].copy_from_slice(&b.to_le_bytes());
        k
    };
    let key = B64.encode(key_bytes);
    let req = format!(
        "GET /socket/websocket?vsn=2.0.0&user=u{i} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.map_err(|e| format!("write upgrade: {e}"))?;
    let mut buf = Vec::with_capacity(256);
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 4096 {
            return Err("upgrade response head too long".into());
        }
        if stream.read_buf(&mut buf).await.map_err(|e| format!("read upgrade: {e}"))? == 0 {
            return Err(format!("closed during upgrade: {:?}", String::from_utf8_lossy(&buf)));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(format!("upgrade refused: {}", head.lines().next().unwrap_or_default()));
    }
    let expected_accept = B64.encode(Sha1::digest(format!("{key}{WS_GUID}").as_bytes()));
    let accept_ok = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == expected_accept
        })
    });
    if !accept_ok {
        return Err("missing or wrong Sec-WebSocket-Accept".into());
    }
    buf.drain(..head_end);

    let join = format!(r#"["1","1","{TOPIC}","phx_join",{{}}]"#);
    stream.write_all(&text_frame(join.as_bytes(), rng)).await.map_err(|e| format!("write join: {e}"))?;
    loop {
        while let Some(f) = parse_frame(&buf)? {
            let (opcode, payload) = (f.opcode, buf[f.start..f.end].to_vec());
            buf.drain(..f.end);
            match opcode {
                0x1 => {
                    let msg: Value = serde_json::from_slice(&payload).map_err(|e| format!("bad frame: {e}"))?;
                    if msg[1] == "1" && msg[3] == "phx_reply" {
                        return if msg[4]["status"] == "ok" {
                            Ok((stream, buf))
                        } else {
                            Err(format!("join refused: {}", msg[4]))
                        };
                    }
                }
                0x8 => return Err("server closed the socket before the join reply".into()),
                _ => {}
            }
        }
        if stream.read_buf(&mut buf).await.map_err(|e| format!("read join reply: {e}"))? == 0 {
            return Err("closed before the join reply".into());
        }
    }
}

/// Hold one joined socket: heartbeat every 30 s (as phoenix.js does), answer pings, and
/// record the receipt time of the broadcast being timed.
async fn hold(mut stream: TcpStream, mut buf: Vec<u8>, shared: Arc<Shared>, mut rng: Rng) {
    let period = Duration::from_secs(30);
    let first = tokio::time::Instant::now() + Duration::from_millis(rng.next() % 30_000);
    let mut heartbeat = tokio::time::interval_at(first, period);
    let mut hb_ref: u64 = 1;
    buf.shrink_to(256);
    let outcome: Result<(), String> = async {
        loop {
            while let Some(f) = parse_frame(&buf)? {
                match f.opcode {
                    0x1 => {
                        let text = &buf[f.start..f.end];
                        // Cheap pre-check before parsing: only the timed event matters.
                        if text.windows(TICK_EVENT.len()).any(|w| w == TICK_EVENT.as_bytes()) {
                            let at = monotonic_ns();
                            let msg: Value = serde_json::from_slice(text).map_err(|e| format!("bad frame: {e}"))?;
                            if msg[3] == TICK_EVENT
                                && msg[4]["seq"].as_u64() == Some(shared.expect.load(Ordering::Acquire))
                            {
                                shared.receipts.lock().unwrap().push(at);
                            }
                        }
                    }
                    0x8 => return Err("server closed the socket".into()),
                    0x9 => {
                        let mut pong = vec![0x8a];
                        masked_tail(&mut pong, &buf[f.start..f.end], &mut rng);
                        stream.write_all(&pong).await.map_err(|e| format!("pong: {e}"))?;
                    }
                    _ => {}
                }
                buf.drain(..f.end);
            }
            tokio::select! {
                n = stream.read_buf(&mut buf) => {
                    if n.map_err(|e| format!("read: {e}"))? == 0 {
                        return Err("connection closed by the server".into());
                    }
                }
                _ = heartbeat.tick() => {
                    hb_ref += 1;
                    let hb = format!(r#"[null,"{hb_ref}","phoenix","heartbeat",{{}}]"#);
                    stream.write_all(&text_frame(hb.as_bytes(), &mut rng)).await.map_err(|e| format!("heartbeat: {e}"))?;
                }
            }
        }
    }
    .await;
    if let Err(e) = outcome {
        shared.closed.fetch_add(1, Ordering::Relaxed);
        shared.first_error.lock().unwrap().get_or_insert(e);
    }
}

fn worker_main(opts: Opts, first: usize) {
    let (soft, _) = raise_nofile(opts.sockets as u64 + 256).unwrap_or((0, 0));
    if soft < opts.sockets as u64 + 32 {
        println!("error open-files limit {soft} is too low for {} sockets", opts.sockets);
        return;
    }
    let rt = if opts.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(opts.threads).enable_all().build()
    }
    .expect("tokio runtime");
    rt.block_on(worker(opts, first));
}

async fn worker(opts: Opts, first: usize) {
    let shared = Arc::new(Shared {
        joined: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        retried: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
        expect: AtomicU64::new(0),
        receipts: Mutex::new(Vec::new()),
        first_error: Mutex::new(None),
    });
    // Commands from the coordinator, one per line on stdin.
    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if cmd_tx.send(line).is_err() {
                break;
            }
        }
    });

    let gate = Arc::new(tokio::sync::Semaphore::new(opts.concurrency));
    let started = Instant::now();
    for k in 0..opts.sockets {
        let i = first + k;
        let server = opts.servers[i % opts.servers.len()];
        let source = Ipv4Addr::new(127, 0, 0, 2 + (i % opts.sources as usize) as u8);
        let permit = gate.clone().acquire_owned().await.expect("semaphore open");
        let task_shared = shared.clone();
        tokio::spawn(async move {
            let shared = task_shared;
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
            // Like phoenix.js, try again after a failed connect (up to 3 attempts); the
            // retries are counted and reported.
            let mut attempt = 0;
            let result = loop {
                attempt += 1;
                match connect_and_join(i, server, source, &mut rng).await {
                    Err(e) if attempt < 3 => {
                        shared.retried.fetch_add(1, Ordering::Relaxed);
                        shared.first_error.lock().unwrap().get_or_insert(e);
                        tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                    }
                    other => break other,
                }
            };
            match result {
                Ok((stream, rest)) => {
                    shared.joined.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                    hold(stream, rest, shared, rng).await;
                }
                Err(e) => {
                    drop(permit);
                    shared.fail(e);
                }
            }
        });
        if k % 1000 == 999 {
            println!("progress {} {}", shared.joined.load(Ordering::Relaxed), shared.failed.load(Ordering::Relaxed));
        }
    }
    // Wait for every attempt to end.
    let _ = gate.acquire_many(opts.concurrency as u32).await;
    let elapsed = started.elapsed().as_secs_f64();
    let err = shared.first_error.lock().unwrap().clone().unwrap_or_default();
    println!(
        "ready {} {} {} {elapsed:.3} {}",
        shared.joined.load(Ordering::Relaxed),
        shared.failed.load(Ordering::Relaxed),
        shared.retried.load(Ordering::Relaxed),
        json!(err)
    );

    let mut cpu_at_expect = 0;
    while let Some(cmd) = cmd_rx.recv().await {
        let mut parts = cmd.split_whitespace();
        match (parts.next(), parts.next().and_then(|s| s.parse::<u64>().ok())) {
            (Some("expect"), Some(seq)) => {
                shared.receipts.lock().unwrap().clear();
                shared.expect.store(seq, Ordering::Release);
                cpu_at_expect = cpu_time_us();
                println!("expecting {seq}");
            }
            (Some("report"), Some(timeout_ms)) => {
                let deadline = Instant::now() + Duration::from_millis(timeout_ms);
                loop {
                    let alive = shared.joined.load(Ordering::Relaxed) - shared.closed.load(Ordering::Relaxed);
                    let got = shared.receipts.lock().unwrap().len();
                    if got >= alive || Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let alive = shared.joined.load(Ordering::Relaxed) - shared.closed.load(Ordering::Relaxed);
                let times = std::mem::take(&mut *shared.receipts.lock().unwrap());
                let list: Vec<String> = times.iter().map(u64::to_string).collect();
                println!("times {alive} {} {}", cpu_time_us() - cpu_at_expect, list.join(" "));
            }
            (Some("status"), _) => {
                let err = shared.first_error.lock().unwrap().clone().unwrap_or_default();
                println!(
                    "status {} {} {}",
                    shared.joined.load(Ordering::Relaxed) - shared.closed.load(Ordering::Relaxed),
                    shared.closed.load(Ordering::Relaxed),
                    json!(err)
                );
            }
            (Some("quit"), _) => break,
            _ => println!("error unknown command {cmd:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The coordinator
// ---------------------------------------------------------------------------------------

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Worker {
    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").expect("worker stdin");
        self.stdin.flush().expect("worker stdin");
    }

    /// The next line starting with `prefix` (other lines are progress, shown on stderr).
    fn expect_line(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(line) if line.starts_with("error") => panic!("worker: {line}"),
                Ok(_) => {}
                Err(_) => panic!("worker did not answer {prefix:?} within {timeout:?}"),
            }
        }
    }
}

/// A whole HTTP/1.1 exchange (`Connection: close`) with a server; returns the JSON body.
fn http_json(addr: SocketAddrV4, method: &str, path: &str) -> Value {
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    read_json_response(s)
}

fn read_json_response(mut s: std::net::TcpStream) -> Value {
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read response");
    let text = String::from_utf8_lossy(&resp);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("bad response ({e}): {text}"))
}

fn stats(servers: &[SocketAddrV4]) -> Vec<Value> {
    servers.iter().map(|a| http_json(*a, "GET", "/stats")).collect()
}

fn sum(stats: &[Value], field: &str) -> u64 {
    stats.iter().map(|s| s[field].as_u64().unwrap_or(0)).sum()
}

/// One timed broadcast round.
struct Round {
    expected: usize,
    received: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    dispatch_ms: f64,
    /// CPU time the server processes used from the trigger until every receipt was reported.
    server_cpu_ms: f64,
    /// The part of `server_cpu_ms` spent in the kernel.
    server_sys_ms: f64,
    /// CPU time the load workers used over the same span.
    client_cpu_ms: f64,
}

fn timed_broadcast(opts: &Opts, workers: &mut [Worker], seq: u64) -> Round {
    for w in workers.iter_mut() {
        w.send(&format!("expect {seq}"));
    }
    for w in workers.iter() {
        w.expect_line("expecting", Duration::from_secs(30));
    }
    let before = stats(&opts.servers);
    let (server_cpu_before, server_sys_before) = (sum(&before, "cpu_us"), sum(&before, "cpu_sys_us"));
    // Connect first, so the clock starts when the requests are written.
    let conns: Vec<std::net::TcpStream> = opts
        .servers
        .iter()
        .map(|a| std::net::TcpStream::connect(a).unwrap_or_else(|e| panic!("connect {a}: {e}")))
        .collect();
    let t0 = monotonic_ns();
    for (mut c, a) in conns.iter().zip(&opts.servers) {
        let _ = c.set_nodelay(true);
        write!(
            c,
            "POST /broadcast?seq={seq}&size={} HTTP/1.1\r\nHost: {a}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            opts.payload
        )
        .unwrap();
    }
    let answers: Vec<Value> = conns.into_iter().map(read_json_response).collect();
    let dispatch_ms = answers.iter().map(|a| a["dispatch_us"].as_u64().unwrap_or(0)).max().unwrap_or(0) as f64 / 1000.0;
    for w in workers.iter_mut() {
        w.send("report 30000");
    }
    let mut expected = 0;
    let mut client_cpu_us = 0;
    let mut lat: Vec<u64> = Vec::new();
    for w in workers.iter() {
        let line = w.expect_line("times", Duration::from_secs(60));
        let mut it = line.split_whitespace().skip(1);
        expected += it.next().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        client_cpu_us += it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        lat.extend(it.filter_map(|v| v.parse::<u64>().ok()).map(|t| t.saturating_sub(t0)));
    }
    lat.sort_unstable();
    let after = stats(&opts.servers);
    let server_cpu_us = sum(&after, "cpu_us") - server_cpu_before;
    let server_sys_us = sum(&after, "cpu_sys_us") - server_sys_before;
    let ms = |ns: u64| ns as f64 / 1e6;
    Round {
        expected,
        received: lat.len(),
        p50_ms: ms(percentile(&lat, 0.5)),
        p99_ms: ms(percentile(&lat, 0.99)),
        max_ms: ms(lat.last().copied().unwrap_or(0)),
        dispatch_ms,
        server_cpu_ms: server_cpu_us as f64 / 1000.0,
        server_sys_ms: server_sys_us as f64 / 1000.0,
        client_cpu_ms: client_cpu_us as f64 / 1000.0,
    }
}

fn coordinator_main(opts: Opts) {
    let (_, hard) = raise_nofile(1 << 20).expect("getrlimit");
    let per_worker = opts.per_worker.unwrap_or_else(|| (hard as usize).saturating_sub(256).max(1));
    let nworkers = opts.sockets.div_ceil(per_worker).max(1);
    eprintln!(
        "== {} sockets over {} server process(es), {} load worker(s) (≤ {per_worker} sockets each: open-files hard limit {hard}), sources 127.0.0.2-127.0.0.{}",
        opts.sockets,
        opts.servers.len(),
        nworkers,
        opts.sources + 1
    );
    let before = stats(&opts.servers);
    let rss_before = sum(&before, "rss_kib");

    let exe = std::env::current_exe().expect("own executable");
    let started = Instant::now();
    let mut workers: Vec<Worker> = Vec::new();
    for w in 0..nworkers {
        let first = w * opts.sockets / nworkers;
        let count = (w + 1) * opts.sockets / nworkers - first;
        let servers: Vec<String> = opts.servers.iter().map(ToString::to_string).collect();
        let mut child = Command::new(&exe)
            .args(["--worker", &first.to_string(), "--sockets", &count.to_string()])
            .args(["--servers", &servers.join(",")])
            .args(["--sources", &opts.sources.to_string(), "--concurrency", &opts.concurrency.to_string()])
            .args(["--threads", &opts.threads.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn worker");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        workers.push(Worker { child, stdin, lines: rx });
    }
    let (mut joined, mut failed, mut retried) = (0usize, 0usize, 0usize);
    let mut errors = Vec::new();
    for w in &workers {
        let line = w.expect_line("ready", Duration::from_secs(1800));
        let mut it = line.splitn(6, ' ').skip(1);
        joined += it.next().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        failed += it.next().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        retried += it.next().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        let _secs = it.next();
        if let Some(e) = it.next().and_then(|e| serde_json::from_str::<String>(e).ok()).filter(|e| !e.is_empty()) {
            errors.push(e);
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    eprintln!("== {joined} joined, {failed} failed ({retried} attempts retried) in {connect_secs:.1} s {errors:?}");

    std::thread::sleep(Duration::from_secs(2));
    let after = stats(&opts.servers);
    let rss_after = sum(&after, "rss_kib");
    let subscribers = sum(&after, "subscribers");
    let connections = sum(&after, "connections");
    let per_socket = (rss_after.saturating_sub(rss_before) * 1024) as f64 / joined.max(1) as f64;
    let client_rss: u64 = workers.iter().map(|w| proc_status_kib(Some(w.child.id()), "VmRSS").unwrap_or(0)).sum();
    eprintln!(
        "== server RSS {rss_before} KiB -> {rss_after} KiB ({per_socket:.0} B per joined socket); {connections} connections, {subscribers} subscribers"
    );

    let mut rounds = Vec::new();
    for r in 1..=opts.rounds {
        let round = timed_broadcast(&opts, &mut workers, r as u64);
        eprintln!(
            "== broadcast {r}: {}/{} received, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (server dispatch {:.1} ms; CPU server {:.0} ms ({:.0} ms kernel), client {:.0} ms)",
            round.received, round.expected, round.p50_ms, round.p99_ms, round.max_ms, round.dispatch_ms,
            round.server_cpu_ms, round.server_sys_ms, round.client_cpu_ms
        );
        rounds.push(round);
        std::thread::sleep(Duration::from_secs(1));
    }

    let mut held = None;
    if opts.hold > 0 {
        eprintln!("== holding for {} s (past the server's 60 s heartbeat timeout)", opts.hold);
        std::thread::sleep(Duration::from_secs(opts.hold));
        let mut alive = 0u64;
        for w in workers.iter_mut() {
            w.send("status");
        }
        for w in &workers {
            let line = w.expect_line("status", Duration::from_secs(30));
            alive += line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
        let st = stats(&opts.servers);
        let round = timed_broadcast(&opts, &mut workers, opts.rounds as u64 + 1);
        eprintln!(
            "== after holding: {alive} sockets open on the client, {} on the server; broadcast {}/{} received, max {:.1} ms",
            sum(&st, "connections"),
            round.received,
            round.expected,
            round.max_ms
        );
        held = Some((alive, sum(&st, "connections"), sum(&st, "rss_kib"), round));
    }

    for w in workers.iter_mut() {
        w.send("quit");
    }
    for mut w in workers {
        let _ = w.child.wait();
    }

    // The report.
    let rate = joined as f64 / connect_secs;
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| sockets requested | {} |", opts.sockets);
    println!("| server processes / load workers | {} / {} |", opts.servers.len(), nworkers);
    println!("| joined (failed; connect attempts retried) | {joined} ({failed}; {retried}) |");
    println!("| connect + join | {connect_secs:.1} s ({rate:.0} joins/s) |");
    println!("| server RSS before → after | {:.1} → {:.1} MiB |", rss_before as f64 / 1024.0, rss_after as f64 / 1024.0);
    println!("| **server RSS per joined socket** | **{per_socket:.0} B ({:.2} KiB)** |", per_socket / 1024.0);
    println!("| load-client RSS per socket | {:.0} B |", (client_rss * 1024) as f64 / joined.max(1) as f64);
    for (r, round) in rounds.iter().enumerate() {
        println!(
            "| broadcast {} → all: received / p50 / p99 / **max** | {}/{} · {:.1} / {:.1} / **{:.1} ms** (dispatch {:.1} ms; CPU server {:.0} ms ({:.0} kernel), client {:.0} ms) |",
            r + 1,
            round.received,
            round.expected,
            round.p50_ms,
            round.p99_ms,
            round.max_ms,
            round.dispatch_ms,
            round.server_cpu_ms,
            round.server_sys_ms,
            round.client_cpu_ms
        );
    }
    if let Some((alive, conns, rss, round)) = &held {
        println!(
            "| after holding {} s: client / server sockets open, broadcast max | {alive} / {conns} · {}/{} in {:.1} ms (server RSS {:.1} MiB) |",
            opts.hold,
            round.received,
            round.expected,
            round.max_ms,
            *rss as f64 / 1024.0
        );
    }
    if !errors.is_empty() {
        println!("\nfirst error seen by each worker (retried or not): {errors:?}");
    }
    if let Some(path) = &opts.report {
        let report = json!({
            "sockets": opts.sockets, "servers": opts.servers.len(), "workers": nworkers,
            "joined": joined, "failed": failed, "retried": retried, "connect_secs": connect_secs,
            "server_rss_before_kib": rss_before, "server_rss_after_kib": rss_after,
            "server_bytes_per_socket": per_socket, "client_rss_kib": client_rss,
            "rounds": rounds.iter().map(|r| json!({
                "expected": r.expected, "received": r.received, "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms, "max_ms": r.max_ms, "dispatch_ms": r.dispatch_ms,
                "server_cpu_ms": r.server_cpu_ms, "server_sys_ms": r.server_sys_ms, "client_cpu_ms": r.client_cpu_ms})).collect::<Vec<_>>(),
            "held": held.as_ref().map(|(alive, conns, rss, r)| json!({
                "client_open": alive, "server_connections": conns, "server_rss_kib": rss,
                "received": r.received, "expected": r.expected, "max_ms": r.max_ms})),
        });
        std::fs::write(path, serde_json::to_string_pretty(&report).unwrap()).expect("write report");
    }
}
