//! The `{{zzz:topic}}:*` channel, in-process.

use serde_json::json;
use zzz::channels::testing::TestClient;
use zzz::pubsub::PubSub;

#[tokio::test]
async fn {{zzz:module}}_join_ping_and_shout() {
    let socket = {{zzz:app}}::channels::socket(PubSub::new());
    let mut client = TestClient::connect(&socket, &[]).await.expect("connect");
    client.join("{{zzz:topic}}:lobby", json!({})).await.expect("join");

    let ping = client.push("{{zzz:topic}}:lobby", "ping", json!({"hello": "there"}));
    assert_eq!(client.assert_reply(&ping, "ok").await, json!({"hello": "there"}));

    client.push("{{zzz:topic}}:lobby", "shout", json!({"body": "hi all"}));
    assert_eq!(client.assert_broadcast("{{zzz:topic}}:lobby", "shout").await, json!({"body": "hi all"}));
}
