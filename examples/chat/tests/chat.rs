//! examples/chat driven by real clients: the official `phoenix` npm client under Node
//! (WebSocket and LongPoll), and two pages in headless Debian Chromium.

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
