//! The agent protocol over raw TCP: good lines, malformed lines, lines split across
//! writes, several requests in one packet, over-long lines, refused runtimes and
//! illegal transitions. The agent runs in this process on a real loopback socket; the
//! test speaks bytes to it.

use std::time::{Duration, Instant};

use control_plane::agent::{Agent, AgentConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

async fn start_agent() -> std::net::SocketAddr {
    start_agent_with(AgentConfig::named("proto")).await
}

async fn start_agent_with(config: AgentConfig) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Agent::new(config).serve(listener));
    addr
}

struct Client {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (read, write) = stream.into_split();
        Client { read: BufReader::new(read), write }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
        self.write.flush().await.unwrap();
    }

    async fn response(&mut self) -> Value {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(20), self.read.read_line(&mut line))
            .await
            .expect("a response line within 20 s")
            .unwrap();
        assert!(n > 0, "the agent closed the connection");
        assert!(line.ends_with('\n'), "responses are whole lines: {line:?}");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("response is not JSON ({e}): {line:?}"))
    }

    async fn call(&mut self, request: Value) -> Value {
        let mut line = serde_json::to_vec(&request).unwrap();
        line.push(b'\n');
        self.send_raw(&line).await;
        self.response().await
    }

    /// Polls GetStatus until the workload reaches `state` (generous deadline, no timing claims).
    async fn wait_for_state(&mut self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.call(json!({"type": "GetStatus", "id": id})).await;
            if status["state"] == state {
                return status;
            }
            assert!(Instant::now() < deadline, "{id} never became {state}: {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn workload(id: &str, command: &[&str]) -> Value {
    json!({"id": id, "image": "", "runtime_class": "process", "memory_mb": 256, "cpu_millicores": 100, "command": command})
}

#[tokio::test]
async fn good_requests_run_a_workload_through_its_states() {
    let mut c = Client::connect(start_agent().await).await;
    assert_eq!(c.call(json!({"type": "Ping"})).await, json!({"type": "Pong", "name": "proto", "workloads": 0}));

    let started = c.call(json!({"type": "StartWorkload", "workload": workload("wl-ok", &["sh", "-c", "echo hello; exit 0"])})).await;
    assert_eq!(started["type"], "Status");
    assert_eq!(started["id"], "wl-ok");
    assert!(started["state"] == "running" || started["state"] == "succeeded", "{started}");
    let done = c.wait_for_state("wl-ok", "succeeded").await;
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["output"], json!(["hello"]));

    c.call(json!({"type": "StartWorkload", "workload": workload("wl-false", &["false"])})).await;
    let failed = c.wait_for_state("wl-false", "failed").await;
    assert_eq!(failed["exit_code"], 1);
    assert_eq!(failed["error"], "exited with status 1");

    // Starting a known id again answers its status and starts nothing.
    let again = c.call(json!({"type": "StartWorkload", "workload": workload("wl-ok", &["false"])})).await;
    assert_eq!(again["state"], "succeeded");

    c.call(json!({"type": "StartWorkload", "workload": workload("wl-sleep", &["sleep", "30"])})).await;
    let list = c.call(json!({"type": "ListWorkloads"})).await;
    assert_eq!(list["type"], "Workloads");
    let ids: Vec<&str> = list["workloads"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["wl-false", "wl-ok", "wl-sleep"]);

    let stopped = c.call(json!({"type": "StopWorkload", "id": "wl-sleep"})).await;
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert_eq!(stopped["signal"], 9);

    // Illegal transitions are refused with the state machine's reason.
    let refused = c.call(json!({"type": "StopWorkload", "id": "wl-ok"})).await;
    assert_eq!((refused["type"].clone(), refused["code"].clone()), (json!("Error"), json!("illegal_transition")));
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("cannot stop workload wl-ok") && message.contains("already succeeded"), "{message}");

    let unknown = c.call(json!({"type": "GetStatus", "id": "wl-nope"})).await;
    assert_eq!(unknown, json!({"type": "Error", "code": "unknown_workload", "message": "no workload with id \"wl-nope\" on this agent"}));
}

#[tokio::test]
async fn malformed_lines_get_an_error_and_the_connection_stays_usable() {
    let mut c = Client::connect(start_agent().await).await;
    for (bad, expected) in [
        (&b"this is not json\n"[..], "malformed request: expected ident at line 1 column 2"),
        (b"{\"type\": \"Ping\"\n", "malformed request: EOF while parsing an object"),
        (b"{\"type\":\"Launch\"}\n", "unknown variant `Launch`"),
        (b"{\"type\":\"GetStatus\"}\n", "missing field `id`"),
        (b"{\"id\":\"wl-1\"}\n", "missing field `type`"),
        (b"[1,2,3]\n", "malformed request"),
        (b"{\"type\":\"StartWorkload\",\"workload\":{\"id\":\"x\",\"runtime_class\":\"process\",\"memory_mb\":-1,\"command\":[\"true\"]}}\n", "invalid value: integer `-1`"),
        (b"\xff\xfe\n", "malformed request"),
    ] {
        c.send_raw(bad).await;
        let response = c.response().await;
        assert_eq!(response["type"], "Error", "{response}");
        assert_eq!(response["code"], "malformed", "{response}");
        let message = response["message"].as_str().unwrap();
        assert!(message.contains(expected), "{:?} → {message}", String::from_utf8_lossy(bad));
    }
    let empty = c.call(json!({"type": "StartWorkload", "workload": workload("wl-empty", &[])})).await;
    assert_eq!(empty, json!({"type": "Error", "code": "invalid_workload", "message": "workload wl-empty: command is empty"}));
    assert_eq!(c.call(json!({"type": "Ping"})).await["type"], "Pong");
}

#[tokio::test]
async fn a_request_split_across_writes_is_read_whole() {
    let mut c = Client::connect(start_agent().await).await;
    c.send_raw(b"{\"type\":").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.send_raw(b"\"Pi").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.send_raw(b"ng\"}").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.send_raw(b"\n").await;
    assert_eq!(c.response().await["type"], "Pong");
    // One byte per write.
    for b in b"{\"type\":\"ListWorkloads\"}\r\n" {
        c.send_raw(&[*b]).await;
    }
    assert_eq!(c.response().await, json!({"type": "Workloads", "workloads": []}));
}

#[tokio::test]
async fn several_requests_in_one_packet_get_their_responses_in_order() {
    let mut c = Client::connect(start_agent().await).await;
    c.send_raw(b"{\"type\":\"Ping\"}\n{\"type\":\"GetStatus\",\"id\":\"a\"}\nnot json\n\n{\"type\":\"ListWorkloads\"}\n{\"type\":\"Pi").await;
    assert_eq!(c.response().await["type"], "Pong");
    assert_eq!(c.response().await["message"], "no workload with id \"a\" on this agent");
    assert!(c.response().await["message"].as_str().unwrap().starts_with("malformed request"));
    // The blank line is skipped, not answered.
    assert_eq!(c.response().await["type"], "Workloads");
    c.send_raw(b"ng\"}\n").await;
    assert_eq!(c.response().await["type"], "Pong", "the half request at the end of the packet is completed by the next");
}

#[tokio::test]
async fn an_over_long_line_is_refused_and_skipped() {
    let mut c = Client::connect(start_agent().await).await;
    let mut long = b"{\"type\":\"GetStatus\",\"id\":\"".to_vec();
    long.extend(std::iter::repeat_n(b'x', 200 * 1024));
    long.extend_from_slice(b"\"}\n{\"type\":\"Ping\"}\n");
    c.send_raw(&long).await;
    assert_eq!(c.response().await, json!({"type": "Error", "code": "line_too_long", "message": "request line longer than 65536 bytes; skipped"}));
    assert_eq!(c.response().await["type"], "Pong", "the line after the long one is served");
}

#[tokio::test]
async fn container_runtimes_are_refused_clearly_and_unknown_classes_named() {
    let mut c = Client::connect(start_agent().await).await;
    let mut docker = workload("wl-docker", &["nginx"]);
    docker["runtime_class"] = json!("docker");
    docker["image"] = json!("nginx:1.27");
    let refused = c.call(json!({"type": "StartWorkload", "workload": docker})).await;
    assert_eq!(refused["state"], "failed", "{refused}");
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("runtime_class \"docker\" is not available on this agent: no Docker engine socket at /var/run/docker.sock"), "{error}");

    let mut vm = workload("wl-vm", &["x"]);
    vm["runtime_class"] = json!("firecracker");
    let refused = c.call(json!({"type": "StartWorkload", "workload": vm})).await;
    assert_eq!(refused["state"], "failed");
    assert_eq!(refused["error"], "unknown runtime_class \"firecracker\"; this agent has process, docker, containerd");

    let missing = c.call(json!({"type": "StartWorkload", "workload": workload("wl-missing", &["/no/such/program"])})).await;
    assert_eq!(missing["state"], "failed");
    assert!(missing["error"].as_str().unwrap().contains("could not start \"/no/such/program\""), "{missing}");
}

#[tokio::test]
async fn a_full_agent_answers_busy_until_a_workload_ends() {
    let mut config = AgentConfig::named("small");
    config.max_running = 1;
    let mut c = Client::connect(start_agent_with(config).await).await;
    let first = c.call(json!({"type": "StartWorkload", "workload": workload("wl-first", &["sleep", "30"])})).await;
    assert_eq!(first["state"], "running", "{first}");
    let busy = c.call(json!({"type": "StartWorkload", "workload": workload("wl-second", &["true"])})).await;
    assert_eq!(
        busy,
        json!({"type": "Error", "code": "busy", "message": "agent at capacity: 1 workloads running (at most 1); retry later"})
    );
    assert_eq!(c.call(json!({"type": "StopWorkload", "id": "wl-first"})).await["state"], "stopped");
    let second = c.call(json!({"type": "StartWorkload", "workload": workload("wl-second", &["true"])})).await;
    assert_eq!(second["type"], "Status", "room again once the first ended: {second}");
}
