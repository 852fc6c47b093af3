use crate::support;

#[tokio::test]
async fn health_is_json() {
    let app = support::app().await;
    let res = app.client.get("/api/health").await;
    res.assert_status(200).assert_header("content-type", "application/json");
{{zzz:if db}}
    res.assert_json(serde_json::json!({"status": "ok", "database": "ok"}));
{{zzz:else}}
    res.assert_json(serde_json::json!({"status": "ok"}));
{{zzz:end}}
    app.cleanup().await;
}
