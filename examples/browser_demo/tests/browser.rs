//! End to end in a real headless browser: Debian's `chromium`, driven by this test over
//! the Chrome DevTools Protocol (a small client on tokio-tungstenite). The demo runs on
//! a real socket. The browser loads the form page, fills and submits it, sees the flash
//! after the redirect (and not after a reload), and a forged POST without the CSRF
//! token — from the page itself and from another origin — is rejected with 403.
//!
//! Chromium is installed with `apt-get install -y chromium` when it is missing; if that
//! fails the test fails with what to do. It never skips.

use std::process::Stdio;
use std::time::{Duration, Instant};

use browser_demo::{DemoConfig, default_static_dir, endpoint};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use zzz::plugs::SecretKeyBase;

fn chromium_path() -> String {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.to_owned();
        }
    }
    eprintln!("chromium is missing: installing the Debian package `chromium`");
    let status = std::process::Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"])
        .status()
        .expect("could not run apt-get");
    assert!(
        status.success() && std::path::Path::new("/usr/bin/chromium").exists(),
        "installing chromium failed; install it by hand with `apt-get install -y chromium` (as root)"
    );
    "/usr/bin/chromium".to_owned()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A minimal DevTools client: numbered commands, answers matched by id, events ignored.
struct Cdp {
    ws: Ws,
    next_id: u64,
    session: Option<String>,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> Value {
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
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}))
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("page script failed: {exception}\n{expression}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy in the page, showing the page text on timeout.
    async fn wait_for(&mut self, what: &str, expression: &str) {
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

    async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }
}

struct Browser {
    child: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn launch() -> (Browser, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(chromium_path())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromium");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_flash_and_forged_post_in_headless_chromium() {
    // The demo on a real socket.
    let config = DemoConfig {
        api_token: "browser-test".into(),
        secret: SecretKeyBase::generate(),
        static_dir: default_static_dir(),
        debug: false,
    };
    let server = zzz::Server::bind(([127, 0, 0, 1], 0).into(), zzz::ServerConfig::default()).expect("bind");
    let base = format!("http://{}", server.local_addr());
    let serving = tokio::spawn(server.serve(endpoint(config)));

    let (_browser, ws_url) = launch().await;
    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.expect("connect to chromium's DevTools");
    let mut cdp = Cdp { ws, next_id: 0, session: None };
    let target = cdp.call("Target.createTarget", json!({"url": "about:blank"})).await;
    let attached = cdp
        .call("Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true}))
        .await;
    cdp.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
    cdp.call("Page.enable", json!({})).await;
    cdp.call("Runtime.enable", json!({})).await;

    // 1. The form page, with its CSRF token and the static stylesheet applied.
    cdp.navigate(&format!("{base}/")).await;
    cdp.wait_for("the form page", "document.querySelector('#note-form') && document.readyState === 'complete'").await;
    let token = cdp.eval("document.querySelector('input[name=_csrf_token]').value").await;
    assert!(token.as_str().is_some_and(|t| t.len() > 30), "a CSRF token is rendered: {token}");
    let css = cdp.eval("getComputedStyle(document.body).fontFamily").await;
    assert!(css.as_str().unwrap_or("").contains("system-ui"), "the static stylesheet loaded: {css}");

    // 2. Fill it in and submit it like a person: the POST, the 303, the GET.
    cdp.eval(
        "document.querySelector('#author-input').value = 'Ada';
         document.querySelector('#body-input').value = 'Hello from Chromium';
         document.querySelector('#submit').click(); true",
    )
    .await;
    cdp.wait_for(
        "the flash after the redirect",
        "document.querySelector('#flash-info') && document.querySelector('#flash-info').textContent === 'Note added by Ada.'",
    )
    .await;
    assert_eq!(cdp.eval("location.pathname").await, json!("/"));
    let notes = cdp.eval("document.querySelector('#notes').innerText").await;
    assert!(notes.as_str().unwrap().contains("Ada: Hello from Chromium"), "{notes}");
    assert_eq!(cdp.eval("document.querySelector('#author').textContent").await, json!("Writing as Ada"));

    // 3. Reload: the flash is gone, the session remembers the author.
    cdp.navigate(&format!("{base}/")).await;
    cdp.wait_for("the reloaded page", "document.readyState === 'complete' && document.querySelector('#author')").await;
    assert_eq!(cdp.eval("document.querySelector('#flash-info') === null").await, json!(true));
    assert_eq!(cdp.eval("document.querySelector('#author-input').value").await, json!("Ada"));

    // 4. A forged POST from the page's own origin without the token: 403.
    let forged = cdp
        .eval(
            "fetch('/notes', {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'},
                              body: 'note[author]=Mallory&note[body]=forged'})
               .then(async r => r.status + ' ' + await r.text())",
        )
        .await;
    let forged = forged.as_str().unwrap().to_owned();
    assert!(forged.starts_with("403 "), "{forged}");
    assert!(forged.contains("missing CSRF token"), "{forged}");
    // With a wrong token: 403 too.
    let wrong = cdp
        .eval(
            "fetch('/notes', {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': 'AAAAAAAA'},
                              body: 'note[author]=Mallory&note[body]=forged'}).then(r => r.status)",
        )
        .await;
    assert_eq!(wrong, json!(403));

    // 5. A cross-site form posting to the app: rejected, shown as the 403 error page.
    let attack = format!(
        "data:text/html,<form id=f method=post action='{base}/notes'>\
         <input name='note[author]' value=Mallory><input name='note[body]' value=forged></form>\
         <script>document.getElementById('f').submit()</script>"
    );
    cdp.navigate(&attack).await;
    cdp.wait_for(
        "the 403 page for the cross-site POST",
        &format!("location.href === '{base}/notes' && document.body.innerText.includes('403 Forbidden')"),
    )
    .await;
    let text = cdp.eval("document.body.innerText").await;
    assert!(text.as_str().unwrap().contains("CSRF token"), "{text}");

    // Nothing forged got in.
    cdp.navigate(&format!("{base}/")).await;
    cdp.wait_for("the notes page", "document.readyState === 'complete' && document.querySelector('#notes')").await;
    let notes = cdp.eval("document.querySelector('#notes').innerText").await;
    assert!(!notes.as_str().unwrap().contains("forged"), "{notes}");

    let _ = cdp.ws.close(None).await;
    serving.abort();
}
