//! A real headless browser for tests: Debian's Chromium (installed on first use by
//! [`chromium`](crate::tools::chromium)), driven over the Chrome DevTools Protocol by a
//! small client on tokio-tungstenite.
//!
//! ```no_run
//! # async fn run() {
//! let (_browser, mut page) = zzz_tests::browser::open_page().await;
//! page.navigate("http://127.0.0.1:4000/").await;
//! page.wait_for("the page", "document.readyState === 'complete'").await;
//! let title = page.eval("document.title").await;
//! # let _ = title;
//! # }
//! ```

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

use crate::tools::chromium_command;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A running Chromium; killed (and its profile removed) when dropped.
pub struct Browser {
    child: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Starts headless Chromium with remote debugging on a free port; returns it and its
/// DevTools WebSocket address.
pub async fn launch() -> (Browser, String) {
    let profile = tempfile::tempdir().expect("a temporary browser profile");
    let mut cmd = tokio::task::spawn_blocking({
        let dir = profile.path().to_owned();
        move || chromium_command(&dir)
    })
    .await
    .expect("find or install chromium");
    cmd.args(["--remote-debugging-port=0", "about:blank"]).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = tokio::process::Command::from(cmd).kill_on_drop(true).spawn().expect("start chromium");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(idx) = line.find("ws://") {
                return line[idx..].trim().to_owned();
            }
        }
        panic!("chromium exited without printing its DevTools address");
    })
    .await
    .expect("chromium did not start within 60 s");
    // Keep draining stderr so chromium never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (Browser { child, _profile: profile }, url)
}

/// Launches Chromium and attaches to a new blank page (Page and Runtime enabled).
pub async fn open_page() -> (Browser, Cdp) {
    let (browser, ws_url) = launch().await;
    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.expect("connect to chromium's DevTools");
    let mut cdp = Cdp { ws, next_id: 0, session: None };
    let target = cdp.call("Target.createTarget", json!({"url": "about:blank"})).await;
    let attached = cdp.call("Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true})).await;
    cdp.session = Some(attached["sessionId"].as_str().expect("a session id").to_owned());
    cdp.call("Page.enable", json!({})).await;
    cdp.call("Runtime.enable", json!({})).await;
    (browser, cdp)
}

/// A minimal DevTools client: numbered commands, answers matched by id, events ignored.
pub struct Cdp {
    ws: Ws,
    next_id: u64,
    session: Option<String>,
}

impl Cdp {
    /// Sends one command (to the attached page, once attached) and returns its result;
    /// panics on an error answer or after 30 s.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.ws.send(Message::text(message.to_string())).await.expect("send to chromium");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let next = tokio::time::timeout_at(deadline.into(), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("chromium did not answer {method} within 30 s"));
            let Some(Ok(Message::Text(text))) = next else { continue };
            let value: Value = serde_json::from_str(&text).expect("chromium sends JSON");
            if value["id"] == json!(id) {
                if let Some(error) = value.get("error") {
                    panic!("{method} failed: {error}");
                }
                return value["result"].clone();
            }
        }
    }

    /// Evaluates JavaScript in the page (awaiting promises) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}))
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("page script failed: {exception}\n{expression}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy in the page, showing the page text on timeout.
    pub async fn wait_for(&mut self, what: &str, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = self.eval(&format!("(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()")).await;
            if ok == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let page = self.eval("location.href + '\\n' + (document.body ? document.body.innerText : '')").await;
                panic!("timed out waiting for {what}; the page is:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Loads `url` in the page.
    pub async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// Closes the DevTools connection.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
