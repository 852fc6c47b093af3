//! The demo through the test client: the form flow with CSRF, session and flash; the
//! bearer-token API; the static directory; error pages.

use browser_demo::{DemoConfig, default_static_dir, endpoint};
use serde_json::json;
use zzz::plugs::SecretKeyBase;
use zzz::test::TestClient;

fn client() -> TestClient {
    let config = DemoConfig {
        api_token: "test-token".into(),
        secret: SecretKeyBase::new(&[1u8; 64]).unwrap(),
        static_dir: default_static_dir(),
        debug: false,
    };
    TestClient::new(endpoint(config)).with_cookies()
}

fn csrf_of(page: &str) -> String {
    let marker = "name=\"_csrf_token\" value=\"";
    let start = page.find(marker).expect("the page has a CSRF field") + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn form_flow_with_csrf_session_and_flash() {
    let client = client();
    let page = client.get("/").header("accept", "text/html").await;
    page.assert_status(200)
        .assert_header("content-type", "text/html; charset=utf-8")
        .assert_header("x-frame-options", "SAMEORIGIN")
        .assert_text_contains("<title>Notes · zzz browser demo</title>")
        .assert_text_contains("<meta name=\"csrf-token\"");
    let token = csrf_of(&page.text());

    let form = [("note[author]", "Ada"), ("note[body]", "<b>bold</b> claim"), ("_csrf_token", token.as_str())];
    client.post("/notes").form(&form).await.assert_status(303).assert_header("location", "/");
    let page = client.get("/").await;
    page.assert_text_contains("<p class=\"flash info\" id=\"flash-info\" role=\"status\">Note added by Ada.</p>")
        .assert_text_contains("&#60;b&#62;bold&#60;/b&#62; claim")
        .assert_text_contains("Writing as Ada");
    // The flash is gone on the next page; the session keeps the author.
    let again = client.get("/").await;
    assert!(!again.text().contains("flash-info"));
    again.assert_text_contains("Writing as Ada");

    // Validation errors come back as an error flash.
    let token = csrf_of(&again.text());
    client.post("/notes").form(&[("note[author]", "Ada"), ("note[body]", " "), ("_csrf_token", token.as_str())]).await.assert_status(303);
    client.get("/").await.assert_text_contains("A note needs an author and a body.");

    // Delete through the `_method` override.
    let token = csrf_of(&client.get("/").await.text());
    client.post("/notes/1").form(&[("_method", "delete"), ("_csrf_token", token.as_str())]).await.assert_status(303);
    client.get("/").await.assert_text_contains("Note deleted.");

    // A forged POST without the token: 403, rendered as a page for a browser.
    let forged = client
        .post("/notes")
        .header("accept", "text/html")
        .form(&[("note[author]", "Mallory"), ("note[body]", "forged")])
        .await;
    forged.assert_status(403).assert_text_contains("missing CSRF token");
    assert!(!client.get("/").await.text().contains("forged"));
}

#[tokio::test]
async fn json_api_behind_a_bearer_token() {
    let client = client();
    client.get("/api/notes").await.assert_status(401).assert_text_contains("missing `Authorization: Bearer");
    client.get("/api/notes").header("authorization", "Bearer nope").await.assert_status(401);
    let created = client
        .post("/api/notes")
        .header("authorization", "Bearer test-token")
        .json(&json!({"author": "Bot", "body": "via API"}))
        .await;
    created.assert_status(201).assert_json(json!({"id": 1, "author": "Bot", "body": "via API"}));
    client
        .get("/api/notes")
        .header("authorization", "Bearer test-token")
        .await
        .assert_status(200)
        .assert_json(json!([{"id": 1, "author": "Bot", "body": "via API"}]));
    client
        .post("/api/notes")
        .header("authorization", "Bearer test-token")
        .json(&json!({"author": "Bot"}))
        .await
        .assert_status(422)
        .assert_text_contains("missing field `body`");
    client
        .post("/api/notes")
        .header("authorization", "Bearer test-token")
        .header("content-type", "application/json")
        .body("{not json")
        .await
        .assert_status(400)
        .assert_text_contains("invalid JSON at line 1 column 2");
    client.get("/api/notes").header("authorization", "Bearer test-token").header("accept", "text/html").await.assert_status(406);
}

#[tokio::test]
async fn static_directory() {
    let client = client();
    let css = client.get("/static/app.css").await;
    css.assert_status(200).assert_header("content-type", "text/css").assert_text_contains("font-family");
    let etag = css.header("etag").unwrap().to_owned();
    client.get("/static/app.css").header("if-none-match", &etag).await.assert_status(304);
    client.get("/static/%2e%2e/Cargo.toml").await.assert_status(400);
    client.get("/static/nope.css").header("accept", "text/html").await.assert_status(404).assert_text_contains("<h1>404 Not Found</h1>");
}
