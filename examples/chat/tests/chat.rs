//! examples/chat driven by real clients: the official `phoenix` npm client under Node
//! (WebSocket and LongPoll), two pages in headless Debian Chromium, and a cluster of two chat
//! processes sharing Postgres or Redis.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use zzz::ServerConfig;
use zzz_tests::RunningServer;

fn assets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets")
}

/// `npm ci` in examples/chat/assets when its packages are missing (once, under a lock).
fn npm_ci() {
    if assets().join("node_modules/.package-lock.json").exists() {
        return;
    }
    let lock = zzz_tests::tools::tools_dir().join("chat-npm.lock");
    let script = "[ -f node_modules/.package-lock.json ] || npm ci --no-audit --no-fund";
    let out = Command::new("flock")
        .arg(&lock)
        .args(["sh", "-c", script])
        .current_dir(assets())
        .output()
        .expect("run npm (is Node.js with npm installed?)");
    assert!(out.status.success(), "npm ci failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

async fn run_node(script: &str, args: &[String]) {
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("node").arg(assets().join("tests").join(script)).args(args).output(),
    )
    .await
    .expect("the node script finished in 90 s")
    .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} {args:?} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("# "), "{script} did not finish its steps:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phoenix_js_client_chats_over_websocket_and_longpoll() {
    tokio::task::spawn_blocking(npm_ci).await.unwrap();
    let server = RunningServer::start(chat::endpoint(zzz::pubsub::PubSub::new()), ServerConfig::default());
    let base = format!("http://{}", server.addr);
    run_node("chat_client.mjs", &[base.clone(), "websocket".into()]).await;
    run_node("chat_client.mjs", &[base, "longpoll".into()]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browser_pages_chat_and_see_each_other() {
    tokio::task::spawn_blocking(npm_ci).await.unwrap();
    let chromium = tokio::task::spawn_blocking(zzz_tests::tools::chromium).await.unwrap();
    let server = RunningServer::start(chat::endpoint(zzz::pubsub::PubSub::new()), ServerConfig::default());
    let base = format!("http://{}", server.addr);
    run_node("browser_chat.mjs", &[base, chromium.display().to_string()]).await;
    server.stop().await;
}

#[tokio::test]
async fn the_page_and_its_scripts_are_served() {
    tokio::task::spawn_blocking(npm_ci).await.unwrap();
    let client = zzz::test::TestClient::new(chat::endpoint(zzz::pubsub::PubSub::new()));
    client.get("/").await.assert_status(200).assert_text_contains("/assets/chat.js");
    client.get("/assets/chat.js").await.assert_status(200).assert_header("content-type", "text/javascript; charset=utf-8");
    client.get("/assets/phoenix.mjs").await.assert_status(200).assert_text_contains("export");
    // The socket routes are in the route table as Phoenix prints them.
    let table = zzz::router::format_routes(chat::ChatRouter::route_table());
    assert!(table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["WS", "/socket/websocket", "ChatSocket"]), "{table}");
}

/// Two chat processes (the real `chat` binary) sharing a PubSub form one cluster.
mod cluster {
    use std::path::PathBuf;
    use std::process::Stdio;
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::process::{Child, Command};

    use super::{assets, npm_ci};

    fn pg_url() -> String {
        std::env::var("ZZZ_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    fn redis_url() -> String {
        std::env::var("ZZZ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    fn how_to_start(url: &str) -> &'static str {
        if url.starts_with("redis") {
            "Redis must run there (set ZZZ_TEST_REDIS_URL for another): `redis-server --daemonize yes` (Debian: apt-get install redis-server)"
        } else {
            "Postgres must run there (set ZZZ_TEST_DATABASE_URL for another): `pg_ctlcluster <version> main start` (Debian: apt-get install postgresql)"
        }
    }

    /// A port nobody listens on right now.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    /// One running `chat` process.
    struct Node {
        child: Child,
        port: u16,
        log: PathBuf,
    }

    impl Node {
        fn log(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }

        fn base(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }

        /// Send a signal (`TERM`, `KILL`) with kill(1).
        async fn signal(&self, sig: &str) {
            let pid = self.child.id().expect("the node is running").to_string();
            let status = Command::new("kill").args([&format!("-{sig}"), &pid]).status().await.expect("run kill");
            assert!(status.success(), "kill -{sig} {pid} failed");
        }
    }

    /// Start a chat node on a free port in the cluster at `url`/`channel`; wait until it
    /// accepts connections.
    async fn start_node(name: &str, url: &str, channel: &str, down_ms: u64) -> Node {
        let port = free_port();
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{channel}-{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_chat"))
            .env("PORT", port.to_string())
            .env("ZZZ_HOST", "127.0.0.1")
            .env("PUBSUB", url)
            .env("PUBSUB_CHANNEL", channel)
            .env("PUBSUB_NODE", name)
            .env("PRESENCE_BROADCAST_MS", "200")
            .env("PRESENCE_DOWN_MS", down_ms.to_string())
            .env("RUST_LOG", "info")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("start the chat binary");
        let mut node = Node { child, port, log };
        for _ in 0..300 {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("chat node {name} exited ({status}) before listening; {}\n{}", how_to_start(url), node.log());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chat node {name} did not listen on port {port} within 30 s:\n{}", node.log());
    }

    /// alice on node A and bob on node B chat and see each other; then node B is stopped with
    /// `signal` and bob must leave alice's presence list.
    async fn two_nodes(url: &str, test: &str, signal: &str, down_ms: u64) {
        tokio::task::spawn_blocking(npm_ci).await.unwrap();
        let channel = format!("zzz_chat_{test}_{}", std::process::id());
        let a = start_node("a", url, &channel, down_ms).await;
        let mut b = start_node("b", url, &channel, down_ms).await;
        let mut client = Command::new("node")
            .arg(assets().join("tests/cluster_client.mjs"))
            .args([a.base(), b.base(), format!("room:{test}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run node (is Node.js installed?)");
        let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let run = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line == "READY" {
                    b.signal(signal).await;
                }
                seen.push(line);
            }
            client.wait_with_output().await.unwrap()
        };
        let out = tokio::time::timeout(Duration::from_secs(120), run).await.expect("the cluster client finished in 120 s");
        let stdout = seen.join("\n");
        assert!(
            out.status.success() && stdout.contains("# bob left"),
            "cluster client failed:\n{stdout}\n{}\n--- node a:\n{}\n--- node b:\n{}",
            String::from_utf8_lossy(&out.stderr),
            a.log(),
            b.log()
        );
        let status = tokio::time::timeout(Duration::from_secs(30), b.child.wait()).await.expect("node b exited").unwrap();
        if signal == "TERM" {
            assert!(status.success(), "node b did not shut down cleanly ({status}):\n{}", b.log());
            assert!(b.log().contains("told the cluster this node's users left"), "{}", b.log());
        }
    }

    /// SIGTERM: a clean shutdown tells the other node at once. The down period is an hour, so
    /// only the shutdown notice can remove bob.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_cluster_clean_shutdown() {
        two_nodes(&pg_url(), "pg_term", "TERM", 3_600_000).await;
    }

    /// SIGKILL: node B vanishes without a word; after the (short) down period its users leave.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_cluster_killed_node_times_out() {
        two_nodes(&pg_url(), "pg_kill", "KILL", 3_000).await;
    }

    /// The same cluster over Redis.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_cluster_clean_shutdown() {
        two_nodes(&redis_url(), "redis_term", "TERM", 3_600_000).await;
    }

    /// A killed node's users leave over Redis too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_cluster_killed_node_times_out() {
        two_nodes(&redis_url(), "redis_kill", "KILL", 3_000).await;
    }
}
