use crate::support;

#[tokio::test]
async fn home_page_renders_in_the_layout() {
    let app = support::app().await;
    let page = app.client.get("/").await;
{{zzz:if html}}
    page.assert_status(200)
        .assert_header("content-type", "text/html; charset=utf-8")
        .assert_text_contains("<h1>Welcome to {{zzz:app}}</h1>")
        .assert_text_contains("<meta name=\"csrf-token\"");
{{zzz:else}}
    page.assert_status(200).assert_json(serde_json::json!({"app": "{{zzz:app}}", "health": "/api/health"}));
{{zzz:end}}
    app.cleanup().await;
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let app = support::app().await;
    app.client.get("/no/such/page").await.assert_status(404);
    app.cleanup().await;
}
