//! The `{{zzz:schema}}` JSON API at `{{zzz:path}}`.

use serde_json::{Value, json};

use crate::support;

fn valid() -> Value {
    json!({ {{zzz:valid_attrs}} })
}

fn changed() -> Value {
    json!({ {{zzz:update_attrs}} })
}

#[tokio::test]
async fn create_show_list_update_and_delete() {
    let app = support::app().await;
    let res = app.client.post("{{zzz:path}}").json(&json!({ "{{zzz:var}}": valid() })).await;
    res.assert_status(201);
    let created: Value = res.json();
    let id = created["data"]["id"].as_i64().expect("an id");
    for (field, value) in valid().as_object().unwrap() {
        assert_eq!(&created["data"][field], value, "field {field}");
    }

    let shown: Value = app.client.get(&format!("{{zzz:path}}/{id}")).await.assert_status(200).json();
    assert_eq!(shown["data"], created["data"]);
    let listed: Value = app.client.get("{{zzz:path}}").await.assert_status(200).json();
    assert_eq!(listed["data"], json!([created["data"]]));

    let res = app.client.put(&format!("{{zzz:path}}/{id}")).json(&json!({ "{{zzz:var}}": changed() })).await;
    let updated: Value = res.assert_status(200).json();
    for (field, value) in changed().as_object().unwrap() {
        assert_eq!(&updated["data"][field], value, "field {field}");
    }

    app.client.delete(&format!("{{zzz:path}}/{id}")).await.assert_status(204);
    app.client.get(&format!("{{zzz:path}}/{id}")).await.assert_status(404);
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_input_is_422_with_the_changeset_errors() {
    let app = support::app().await;
    let res = app.client.post("{{zzz:path}}").json(&json!({ "{{zzz:var}}": {} })).await;
    res.assert_status(422).assert_json(json!({ "errors": { {{zzz:required_errors}} } }));
    let listed: Value = app.client.get("{{zzz:path}}").await.json();
    assert_eq!(listed["data"], json!([]), "nothing was inserted");
    app.cleanup().await;
}
