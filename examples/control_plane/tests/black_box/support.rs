//! What the black-box tests share: the real binary as agents and control planes, a
//! minimal HTTP/1.1 client, and a Phoenix channels subscriber over a real WebSocket.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

/// How long any wait in these tests may take before it fails (generous: CI is slow).
pub const DEADLINE: Duration = Duration::from_secs(90);

/// A running `control_plane` process; killed when dropped.
pub struct Proc {
    pub child: Child,
    /// `127.0.0.1:PORT` it listens on.
    pub addr: String,
}

impl Proc {
    /// Starts the binary with `args` and waits for its "listening on" line.
    pub async fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_control_plane"));
        // Each process logs to its own file (named in failure messages), not over the test output.
        let log = log_path(args[0]);
        let log_file = std::fs::File::create(&log).expect("create the process log");
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::from(log_file)).kill_on_drop(true);
        cmd.env("RUST_LOG", "info,zzz_db=warn");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn control_plane");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("control_plane {args:?} did not say where it listens; log: {}", log.display()))
            .unwrap()
            .unwrap_or_else(|| panic!("control_plane {args:?} exited before listening; log: {}", log.display()));
        eprintln!("control_plane {} logs to {}", args[0], log.display());
        let addr = line.rsplit(' ').next().unwrap().trim_start_matches("http://").to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Proc { child, addr }
    }

    /// An agent on a free port.
    pub async fn agent(name: &str) -> Proc {
        Proc::spawn(&["agent", "--listen", "127.0.0.1:0", "--name", name], &[]).await
    }

    /// A control plane on a free port, fast timings, these agents, this database.
    pub async fn control_plane(database_url: &str, agents: &[&str]) -> Proc {
        let mut args = vec![
            "serve",
            "--port",
            "0",
            "--poll-interval-ms",
            "200",
            "--health-interval-ms",
            "200",
            "--lost-timeout-ms",
            "3000",
            "--retry-backoff-ms",
            "200",
        ];
        for agent in agents {
            args.extend(["--agent", agent]);
        }
        Proc::spawn(&args, &[("DATABASE_URL", database_url)]).await
    }

    /// SIGKILL, and wait for it to be gone.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill");
    }

    /// SIGTERM (graceful shutdown), and wait for it to exit.
    pub async fn terminate(mut self) {
        let pid = self.child.id().expect("still running") as i32;
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(DEADLINE, self.child.wait()).await.expect("exits after SIGTERM").unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status}");
    }
}

/// A fresh log file path for a process of this test binary.
fn log_path(kind: &str) -> std::path::PathBuf {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("control_plane-logs");
    std::fs::create_dir_all(&dir).unwrap();
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{}-{kind}-{n}.log", std::process::id()))
}

/// One HTTP/1.1 exchange (`Connection: close`): status and JSON body (or the text as a
/// JSON string when it is not JSON).
pub async fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let body = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut raw)).await.expect("HTTP response in time").unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad status line {head:?}"));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, json)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// Submits a workload and asserts the 201.
pub async fn submit(addr: &str, id: &str, memory_mb: u64, command: &[&str]) -> Value {
    let body = json!({"id": id, "image": "", "runtime_class": "process", "memory_mb": memory_mb, "cpu_millicores": 100, "command": command});
    let (status, workload) = http(addr, "POST", "/workloads", Some(&body)).await;
    assert_eq!(status, 201, "POST /workloads {id}: {workload}");
    assert_eq!(workload["state"], "pending");
    workload
}

/// Polls `GET /workloads/:id` until `done(workload)`; panics with the last answer after
/// [`DEADLINE`].
pub async fn wait_for(addr: &str, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, workload) = http(addr, "GET", &format!("/workloads/{id}"), None).await;
        assert_eq!(status, 200, "GET /workloads/{id}: {workload}");
        if done(&workload) {
            return workload;
        }
        assert!(start.elapsed() < DEADLINE, "{id} never became {what}: {workload}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for a workload to reach `state`.
pub async fn wait_for_state(addr: &str, id: &str, state: &str) -> Value {
    wait_for(addr, id, state, |w| w["state"] == state).await
}

/// A Phoenix channels client (V2 JSON frames) that records every message it receives.
pub struct Subscriber {
    outgoing: tokio::sync::mpsc::UnboundedSender<Value>,
    pub received: Arc<Mutex<Vec<Value>>>,
    next_ref: u64,
}

impl Subscriber {
    /// Connects to `/socket/websocket?vsn=2.0.0`; heartbeats every 10 s.
    pub async fn connect(addr: &str) -> Subscriber {
        let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("WebSocket connect");
        let (mut sink, mut stream) = ws.split();
        let (outgoing, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Text(text) = msg {
                    let frame: Value = serde_json::from_str(text.as_str()).expect("V2 frames are JSON");
                    store.lock().unwrap().push(frame);
                }
            }
        });
        tokio::spawn(async move {
            let mut beat = tokio::time::interval(Duration::from_secs(10));
            let mut n = 0u64;
            loop {
                let frame = tokio::select! {
                    Some(frame) = rx.recv() => frame,
                    _ = beat.tick() => { n += 1; json!([null, format!("hb{n}"), "phoenix", "heartbeat", {}]) }
                };
                if sink.send(Message::Text(frame.to_string().into())).await.is_err() {
                    break;
                }
            }
        });
        Subscriber { outgoing, received, next_ref: 0 }
    }

    /// Joins `topic` and returns the join reply's `{status, response}`.
    pub async fn join(&mut self, topic: &str) -> Value {
        self.next_ref += 1;
        let join_ref = self.next_ref.to_string();
        self.outgoing.send(json!([join_ref, join_ref, topic, "phx_join", {}])).unwrap();
        self.wait_for(&format!("the reply to joining {topic}"), |f| f[1] == join_ref.as_str() && f[3] == "phx_reply")
            .await[4]
            .clone()
    }

    /// Waits for a received frame matching `pred`.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(frame) = self.received.lock().unwrap().iter().find(|f| pred(f)) {
                return frame.clone();
            }
            assert!(start.elapsed() < DEADLINE, "no {what}; received: {:#?}", self.received.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a `state_changed` broadcast on `topic` saying `id` became `state`.
    pub async fn wait_for_change(&self, topic: &str, id: &str, state: &str) -> Value {
        self.wait_for(&format!("{state} broadcast for {id} on {topic}"), |f| {
            f[2] == topic && f[3] == "state_changed" && f[4]["id"] == id && f[4]["state"] == state
        })
        .await[4]
            .clone()
    }
}

/// A fresh path for a SQLite database under the target directory.
pub fn sqlite_url(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("control_plane-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}", dir.join("control_plane.db").display())
}
