//! The hello app, driven in-process through the test client.

use hello::{HelloRouter, endpoint};
use zzz::test::TestClient;

fn client() -> TestClient {
    TestClient::new(endpoint())
}

#[tokio::test]
async fn root_is_plain_text() {
    client()
        .get("/")
        .await
        .assert_status(200)
        .assert_text("Hello, World!")
        .assert_header("content-type", "text/plain; charset=utf-8");
}

#[tokio::test]
async fn json_message() {
    let res = client().get("/json").await;
    res.assert_status(200).assert_header("content-type", "application/json");
    assert_eq!(res.text(), r#"{"message":"Hello, World!"}"#);
}

#[tokio::test]
async fn user_by_integer_id() {
    client().get("/users/42").await.assert_status(200).assert_json(serde_json::json!({"id": 42}));
    client().get("/users/-7").await.assert_status(200).assert_json(serde_json::json!({"id": -7}));
}

#[tokio::test]
async fn non_integer_user_id_names_the_parameter() {
    let res = client().get("/users/abc").await;
    res.assert_status(400).assert_text_contains("path parameter \"id\"").assert_text_contains("invalid digit");
    client().get("/users/99999999999999999999").await.assert_status(400).assert_text_contains("path parameter \"id\"");
}

#[tokio::test]
async fn echo_returns_the_body() {
    client().post("/echo").body("ping pong").await.assert_status(200).assert_text("ping pong");
    client().post("/echo").await.assert_status(200).assert_text("");
}

#[tokio::test]
async fn files_capture_the_rest_of_the_path() {
    client().get("/files/a/b/c.txt").await.assert_status(200).assert_text("a/b/c.txt");
    client().get("/files/with%20space.txt").await.assert_status(200).assert_text("with space.txt");
}

#[tokio::test]
async fn api_scope_runs_its_pipeline() {
    client()
        .get("/api/slow?ms=5")
        .await
        .assert_status(200)
        .assert_text("done")
        .assert_header("x-pipeline", "api");
    // Routes outside the scope do not pipe through it.
    client().get("/").await.assert_no_header("x-pipeline");
}

#[tokio::test]
async fn slow_rejects_bad_and_missing_ms() {
    client().get("/api/slow?ms=soon").await.assert_status(400).assert_text_contains("query parameter \"ms\"");
    client().get("/api/slow").await.assert_status(400).assert_text_contains("missing field \"ms\"");
    client().get("/api/slow?ms=999999").await.assert_status(400).assert_text_contains("maximum");
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_verb_is_405() {
    client().get("/nope").await.assert_status(404).assert_text_contains("no route found for GET /nope");
    client().delete("/json").await.assert_status(405).assert_header("allow", "GET, HEAD, OPTIONS");
}

#[tokio::test]
async fn path_helpers() {
    assert_eq!(HelloRouter::root_path(), "/");
    assert_eq!(HelloRouter::user_path(42), "/users/42");
    assert_eq!(HelloRouter::file_path("a/b c"), "/files/a/b%20c");
    assert_eq!(HelloRouter::api_slow_path(), "/api/slow");
}
