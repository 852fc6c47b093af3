
#[tokio::test]
async fn {{zzz:action}}_answers() {
    let app = support::app().await;
{{zzz:if html}}
    app.client.get("{{zzz:path}}").await.assert_status(200).assert_text_contains("<h1>{{zzz:title}}</h1>");
{{zzz:else}}
    app.client
        .get("{{zzz:path}}")
        .await
        .assert_status(200)
        .assert_json(serde_json::json!({"controller": "{{zzz:name}}", "action": "{{zzz:action}}"}));
{{zzz:end}}
    app.cleanup().await;
}
