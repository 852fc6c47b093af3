{{zzz:only channels}}
use serde_json::json;
use zzz::channels::testing::TestClient;
use zzz::pubsub::PubSub;

#[tokio::test]
async fn join_ping_and_shout() {
    let socket = {{zzz:app}}::channels::socket(PubSub::new());
    let mut client = TestClient::connect(&socket, &[]).await.expect("connect");
    client.join("room:lobby", json!({})).await.expect("join room:lobby");

    let ping = client.push("room:lobby", "ping", json!({"hello": "there"}));
    assert_eq!(client.assert_reply(&ping, "ok").await, json!({"hello": "there"}));

    client.push("room:lobby", "shout", json!({"body": "hi all"}));
    assert_eq!(client.assert_broadcast("room:lobby", "shout").await, json!({"body": "hi all"}));
}
