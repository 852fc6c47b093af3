//! End to end in a real headless browser: Debian's `chromium`, driven by this test over
//! the Chrome DevTools Protocol (`zzz_tests::browser`). The demo runs on
//! a real socket. The browser loads the form page, fills and submits it, sees the flash
//! after the redirect (and not after a reload), and a forged POST without the CSRF
//! token — from the page itself and from another origin — is rejected with 403.
//!
//! Chromium is installed with `apt-get install -y chromium` when it is missing; if that
//! fails the test fails with what to do. It never skips.

use browser_demo::{DemoConfig, default_static_dir, endpoint};
use serde_json::json;
use zzz::plugs::SecretKeyBase;

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

    let (_browser, mut cdp) = zzz_tests::browser::open_page().await;

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

    cdp.close().await;
    serving.abort();
}
