//! Channels, PubSub and Presence without a network: serializer golden frames, the socket
//! state machine through the in-process test client, PubSub and the presence CRDT.

mod channels_common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use zzz::channels::testing::{TestClient, decode_server_frame};
use zzz::channels::{ConnectInfo, Frame, Message, Payload, Serializer, SocketConfig, Status};
use zzz::presence::state::{State, Tag};
use zzz::pubsub::{Broadcast, PubSub};

use channels_common::{endpoint, endpoint_with};

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

// ---------------------------------------------------------------- serializers

#[test]
fn v2_golden_frames() {
    let s = Serializer::V2;
    let e = Payload::empty();
    let text = |f: Frame| f.as_text().unwrap().to_owned();
    assert_eq!(
        text(
            s.encode_reply(Some("1"), Some("1"), "room:lobby", Status::Ok, &e)
                .unwrap()
        ),
        r#"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#
    );
    assert_eq!(
        text(
            s.encode_reply(None, Some("5"), "phoenix", Status::Ok, &e)
                .unwrap()
        ),
        r#"[null,"5","phoenix","phx_reply",{"status":"ok","response":{}}]"#
    );
    assert_eq!(
        text(
            s.encode_reply(
                Some("1"),
                Some("1"),
                "room:lobby",
                Status::Error,
                &json!({"reason":"unauthorized"}).into()
            )
            .unwrap()
        ),
        r#"["1","1","room:lobby","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#
    );
    assert_eq!(
        text(
            s.encode_broadcast("room:lobby", "new_msg", &json!({"body":"hi"}).into())
                .unwrap()
        ),
        r#"[null,null,"room:lobby","new_msg",{"body":"hi"}]"#
    );
    assert_eq!(
        text(
            s.encode_push(Some("1"), Some("1"), "room:lobby", "phx_close", &e)
                .unwrap()
        ),
        r#"["1","1","room:lobby","phx_close",{}]"#
    );
    assert_eq!(
        text(
            s.encode_push(Some("3"), None, "room:lobby", "presence_state", &e)
                .unwrap()
        ),
        r#"["3",null,"room:lobby","presence_state",{}]"#
    );
    let m = s
        .decode(&Frame::text(
            r#"["1","1","room:lobby","phx_join",{"token":"t"}]"#,
        ))
        .unwrap();
    assert_eq!(
        m,
        Message {
            join_ref: Some("1".into()),
            ref_: Some("1".into()),
            topic: "room:lobby".into(),
            event: "phx_join".into(),
            payload: json!({"token":"t"}).into()
        }
    );
}

#[test]
fn v1_golden_frames() {
    let s = Serializer::V1;
    let f = s
        .encode_reply(
            Some("1"),
            Some("2"),
            "room:lobby",
            Status::Ok,
            &Payload::empty(),
        )
        .unwrap();
    let v: Value = serde_json::from_str(f.as_text().unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"2"})
    );
    assert!(v.get("join_ref").is_none(), "V1 frames carry no join_ref");
    let b: Value = serde_json::from_str(
        s.encode_broadcast("t", "e", &json!({"a":1}).into())
            .unwrap()
            .as_text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        b,
        json!({"topic":"t","event":"e","payload":{"a":1},"ref":null})
    );
    let m = s
        .decode(&Frame::text(
            r#"{"topic":"room:1","event":"phx_join","payload":{},"ref":"1"}"#,
        ))
        .unwrap();
    assert_eq!(
        (
            m.topic.as_str(),
            m.event.as_str(),
            m.ref_.as_deref(),
            m.join_ref
        ),
        ("room:1", "phx_join", Some("1"), None)
    );
    assert!(
        s.decode(&Frame::Binary(Bytes::from_static(b"\0\0\0\0\0")))
            .is_err()
    );
    assert!(
        s.encode_push(
            None,
            None,
            "t",
            "e",
            &Payload::Binary(Bytes::from_static(b"x"))
        )
        .is_err()
    );
}

#[test]
fn v2_binary_frames() {
    let s = Serializer::V2;
    let data = Payload::Binary(Bytes::from_static(b"\x01\x02"));
    let push = s
        .encode_push(Some("12"), Some("99"), "room:a", "ev", &data)
        .unwrap();
    assert_eq!(push.as_bytes(), b"\x00\x02\x06\x0212room:aev\x01\x02");
    let reply = s
        .encode_reply(Some("12"), Some("13"), "room:a", Status::Ok, &data)
        .unwrap();
    assert_eq!(
        reply.as_bytes(),
        b"\x01\x02\x02\x06\x021213room:aok\x01\x02"
    );
    let bc = s.encode_broadcast("room:a", "ev", &data).unwrap();
    assert_eq!(bc.as_bytes(), b"\x02\x06\x02room:aev\x01\x02");
    // client push: kind 0 with a ref
    let m = s
        .decode(&Frame::Binary(Bytes::from_static(
            b"\x00\x01\x01\x06\x061\x32room:abinary\xff\x00",
        )))
        .unwrap();
    assert_eq!(m.join_ref.as_deref(), Some("1"));
    assert_eq!(m.ref_.as_deref(), Some("2"));
    assert_eq!(m.topic, "room:a");
    assert_eq!(m.event, "binary");
    assert_eq!(m.payload, Payload::Binary(Bytes::from_static(b"\xff\x00")));
    for bad in [
        &b"\x00\x01"[..],
        b"\x01\x00\x00\x00\x00",
        b"\x00\x09\x00\x00\x00abc",
    ] {
        assert!(
            s.decode(&Frame::Binary(Bytes::copy_from_slice(bad)))
                .is_err(),
            "{bad:?} must not decode"
        );
    }
    let long = "x".repeat(256);
    assert!(s.encode_broadcast(&long, "e", &data).is_err());
}

#[test]
fn malformed_v2_text_is_a_decode_error() {
    for bad in [
        "",
        "{}",
        "[1,2,3]",
        r#"[null,"1",5,"e",{}]"#,
        r#"[null,"1","t","e"]"#,
        "not json",
    ] {
        let err = Serializer::V2.decode(&Frame::text(bad)).unwrap_err();
        assert!(err.to_string().contains("malformed message"), "{err}");
    }
}

#[test]
fn vsn_negotiation() {
    assert_eq!(Serializer::from_vsn(None), Some(Serializer::V1));
    assert_eq!(Serializer::from_vsn(Some("1.0.0")), Some(Serializer::V1));
    assert_eq!(Serializer::from_vsn(Some("2.0.0")), Some(Serializer::V2));
    assert_eq!(Serializer::from_vsn(Some("2.0.3")), Some(Serializer::V2));
    assert_eq!(Serializer::from_vsn(Some("2.1.0")), None);
    assert_eq!(Serializer::from_vsn(Some("3.0.0")), None);
    assert_eq!(Serializer::from_vsn(Some("junk")), None);
}

#[test]
fn fastlane_encodes_once_per_serializer() {
    let b = Broadcast::new("room:1", "new_msg", json!({"body": "x"}));
    let a1 = b.encoded(Serializer::V2).unwrap().clone();
    let a2 = b.encoded(Serializer::V2).unwrap().clone();
    assert_eq!(
        a1.as_bytes().as_ptr(),
        a2.as_bytes().as_ptr(),
        "same bytes shared"
    );
    let v1 = b.encoded(Serializer::V1).unwrap();
    assert_ne!(v1.as_bytes(), a1.as_bytes());
}

// ---------------------------------------------------------------- socket state machine

#[tokio::test]
async fn connect_refused_without_user() {
    let (ep, _) = endpoint();
    let err = TestClient::connect(&ep, &[]).await.unwrap_err();
    assert_eq!(err.reason, "user missing");
    assert!(
        TestClient::connect(&ep, &[("user", "a"), ("token", "bad")])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn join_refused_unmatched_and_heartbeat() {
    let (ep, _) = endpoint();
    let mut c = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    assert_eq!(
        c.join("room:lobby", json!({"presence": false}))
            .await
            .unwrap(),
        json!({"joined": "room:lobby"})
    );
    assert_eq!(
        c.join("room:secret", json!({})).await.unwrap_err(),
        json!({"reason": "unauthorized"})
    );
    // unmatched topic: error reply with a null join_ref
    c.send(Some("77"), Some("77"), "nope:1", "phx_join", json!({}));
    let m = c.receive().await.unwrap();
    assert_eq!(m.join_ref, None);
    assert_eq!(m.ref_.as_deref(), Some("77"));
    assert_eq!(
        m.payload,
        json!({"status": "error", "response": {"reason": "unmatched topic"}}).into()
    );
    // heartbeat
    let r = c.heartbeat();
    let m = c.receive().await.unwrap();
    assert_eq!(
        (m.join_ref, m.ref_.as_deref(), m.topic.as_str()),
        (None, Some(r.as_str()), "phoenix")
    );
    assert_eq!(m.payload, json!({"status": "ok", "response": {}}).into());
    // push to a topic that is not joined
    let r = c.push("room:other", "new_msg", json!({"body": "x"}));
    assert_eq!(
        c.assert_reply(&r, "error").await,
        json!({"reason": "unmatched topic"})
    );
}

#[tokio::test]
async fn push_reply_broadcast_and_broadcast_from() {
    let (ep, _) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    let mut b = TestClient::connect(&ep, &[("user", "bob")]).await.unwrap();
    a.join("room:1", json!({"presence": false})).await.unwrap();
    b.join("room:1", json!({"presence": false})).await.unwrap();
    let r = a.push("room:1", "new_msg", json!({"body": "hello"}));
    assert_eq!(a.assert_reply(&r, "ok").await, json!({}));
    assert_eq!(
        a.assert_broadcast("room:1", "new_msg").await,
        json!({"user": "alice", "body": "hello"})
    );
    assert_eq!(
        b.assert_broadcast("room:1", "new_msg").await,
        json!({"user": "alice", "body": "hello"})
    );
    let r = a.push("room:1", "new_msg", json!({"body": ""}));
    assert_eq!(
        a.assert_reply(&r, "error").await,
        json!({"reason": "empty"})
    );
    let r = a.push("room:1", "ping", json!({"x": [1, 2]}));
    assert_eq!(a.assert_reply(&r, "ok").await, json!({"x": [1, 2]}));
    // broadcast_from skips the sender
    let r = a.push("room:1", "shout_from", json!({"s": 1}));
    a.assert_reply(&r, "ok").await;
    assert_eq!(b.assert_broadcast("room:1", "shout").await, json!({"s": 1}));
    a.refute_message("room:1", "shout", Duration::from_millis(100))
        .await;
    // push during handle_in comes before the reply
    let r = a.push("room:1", "push_me", json!({"p": 1}));
    let first = a.receive().await.unwrap();
    assert_eq!(
        (
            first.event.as_str(),
            first.ref_.as_deref(),
            first.join_ref.is_some()
        ),
        ("pushed", None, true)
    );
    assert_eq!(a.assert_reply(&r, "ok").await, json!({"pushed": true}));
    // typed payloads: a clear error naming the field
    let r = a.push("room:1", "typed", json!({"n": 41}));
    assert_eq!(a.assert_reply(&r, "ok").await, json!({"n": 42}));
    let r = a.push("room:1", "typed", json!({"n": "x"}));
    let err = a.assert_reply(&r, "error").await;
    assert!(
        err["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid payload at `n`"),
        "{err}"
    );
    let r = a.push("room:1", "typed", json!({}));
    let err = a.assert_reply(&r, "error").await;
    assert!(
        err["reason"]
            .as_str()
            .unwrap()
            .contains("missing field `n`"),
        "{err}"
    );
    // unknown event and non-object payload
    let r = a.push("room:1", "what", json!({}));
    assert_eq!(
        a.assert_reply(&r, "error").await,
        json!({"reason": "unhandled event \"what\""})
    );
    let r = a.push("room:1", "ping", json!([1, 2]));
    assert_eq!(
        a.assert_reply(&r, "error").await,
        json!({"reason": "payload must be a JSON object"})
    );
    // noreply, then a late reply through a ChannelHandle and a push
    let r = a.push("room:1", "noreply", json!({}));
    a.refute_message("room:1", "phx_reply", Duration::from_millis(50))
        .await;
    let _ = r;
    let r = a.push("room:1", "later", json!({}));
    assert_eq!(a.assert_reply(&r, "ok").await, json!({"later": true}));
    a.assert_push("room:1", "after_reply").await;
}

#[tokio::test]
async fn leave_replies_then_closes_and_terminates() {
    let (ep, handler) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    a.join("room:1", json!({"presence": false})).await.unwrap();
    assert_eq!(ep.pubsub().subscriber_count("room:1"), 1);
    a.send(Some("1"), Some("9"), "room:1", "phx_leave", json!({}));
    let reply = a.receive().await.unwrap();
    assert_eq!(
        (
            reply.event.as_str(),
            reply.join_ref.as_deref(),
            reply.ref_.as_deref()
        ),
        ("phx_reply", Some("1"), Some("9"))
    );
    let close = a.receive().await.unwrap();
    assert_eq!(
        (
            close.event.as_str(),
            close.join_ref.as_deref(),
            close.ref_.as_deref()
        ),
        ("phx_close", Some("1"), Some("1"))
    );
    assert_eq!(close.payload, Payload::empty());
    assert_eq!(ep.pubsub().subscriber_count("room:1"), 0);
    assert!(
        handler.log().contains(&"terminate room:1 Left".to_string()),
        "{:?}",
        handler.log()
    );
    // leaving a topic that is not joined is fine
    let out = a.leave("room:none").await;
    assert_eq!(out, json!({}));
}

#[tokio::test]
async fn duplicate_join_closes_old_channel_first() {
    let (ep, handler) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    a.send(
        Some("1"),
        Some("1"),
        "room:1",
        "phx_join",
        json!({"presence": false}),
    );
    a.assert_reply("1", "ok").await;
    a.send(
        Some("2"),
        Some("2"),
        "room:1",
        "phx_join",
        json!({"presence": false}),
    );
    let close = a.receive().await.unwrap();
    assert_eq!(
        (close.event.as_str(), close.join_ref.as_deref()),
        ("phx_close", Some("1"))
    );
    let reply = a.receive().await.unwrap();
    assert_eq!(
        (
            reply.event.as_str(),
            reply.join_ref.as_deref(),
            reply.ref_.as_deref()
        ),
        ("phx_reply", Some("2"), Some("2"))
    );
    assert!(
        handler
            .log()
            .contains(&"terminate room:1 DuplicateJoin".to_string())
    );
    // a message with the stale join_ref is ignored; the current one and nil work
    a.send(Some("1"), Some("3"), "room:1", "ping", json!({}));
    a.refute_message("room:1", "phx_reply", Duration::from_millis(100))
        .await;
    a.send(Some("2"), Some("4"), "room:1", "ping", json!({"n": 4}));
    assert_eq!(a.assert_reply("4", "ok").await, json!({"n": 4}));
    a.send(None, Some("5"), "room:1", "ping", json!({"n": 5}));
    assert_eq!(a.assert_reply("5", "ok").await, json!({"n": 5}));
    // a stale leave is ignored too
    a.send(Some("1"), Some("6"), "room:1", "phx_leave", json!({}));
    a.refute_message("room:1", "phx_close", Duration::from_millis(100))
        .await;
    assert_eq!(ep.pubsub().subscriber_count("room:1"), 1);
}

#[tokio::test]
async fn panic_in_channel_is_isolated() {
    let (ep, _) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    a.join("room:1", json!({"presence": false})).await.unwrap();
    a.join("room:2", json!({"presence": false})).await.unwrap();
    a.push("room:1", "boom", json!({}));
    let err = a.receive().await.unwrap();
    assert_eq!(
        (
            err.event.as_str(),
            err.join_ref.as_deref(),
            err.ref_.as_deref()
        ),
        ("phx_error", Some("1"), Some("1"))
    );
    assert_eq!(err.payload, json!({"reason": "channel_crash"}).into());
    assert_eq!(ep.pubsub().subscriber_count("room:1"), 0);
    // the other channel and the socket still work
    let r = a.push("room:2", "ping", json!({"still": "alive"}));
    assert_eq!(a.assert_reply(&r, "ok").await, json!({"still": "alive"}));
    let r = a.heartbeat();
    a.assert_reply(&r, "ok").await;
    // the crashed topic can be joined again
    a.join("room:1", json!({"presence": false})).await.unwrap();
    // a crash inside join is an error reply
    assert_eq!(
        a.join("room:crash", json!({})).await.unwrap_err(),
        json!({"reason": "join crashed"})
    );
    assert_eq!(ep.pubsub().subscriber_count("room:crash"), 0);
}

#[tokio::test]
async fn too_many_channels() {
    let (ep, _) = endpoint_with(SocketConfig {
        max_channels_per_transport: 2,
        ..Default::default()
    });
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    a.join("room:1", json!({"presence": false})).await.unwrap();
    a.join("room:2", json!({"presence": false})).await.unwrap();
    assert_eq!(
        a.join("room:3", json!({})).await.unwrap_err(),
        json!({"reason": "too many channels joined"})
    );
    // rejoining a joined topic is not a new channel
    a.join("room:2", json!({"presence": false})).await.unwrap();
}

#[tokio::test]
async fn disconnect_broadcast_closes_with_1001() {
    let (ep, handler) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    let mut b = TestClient::connect(&ep, &[("user", "bob")]).await.unwrap();
    a.join("room:1", json!({"presence": false})).await.unwrap();
    ep.pubsub()
        .broadcast("user_socket:alice", "disconnect", json!({}))
        .unwrap();
    let close = a.assert_closed().await;
    assert_eq!(close.code, 1001);
    let r = b.heartbeat();
    b.assert_reply(&r, "ok").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        handler
            .log()
            .contains(&"terminate room:1 Closed".to_string()),
        "{:?}",
        handler.log()
    );
    assert_eq!(ep.pubsub().subscriber_count("room:1"), 0);
    assert_eq!(ep.pubsub().subscriber_count("user_socket:alice"), 0);
}

#[tokio::test]
async fn heartbeat_timeout_closes_socket() {
    let (ep, _) = endpoint_with(SocketConfig {
        timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    // keep it alive for a while with heartbeats
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let r = a.heartbeat();
        a.assert_reply(&r, "ok").await;
    }
    a.set_timeout(Duration::from_secs(2));
    let close = a.assert_closed().await;
    assert_eq!(
        (close.code, close.reason.as_str()),
        (1001, "heartbeat timeout")
    );
}

#[tokio::test]
async fn malformed_frame_closes_only_that_socket() {
    let (ep, _) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    let mut b = TestClient::connect(&ep, &[("user", "bob")]).await.unwrap();
    a.send_frame(Frame::text("{not json"));
    let close = a.assert_closed().await;
    assert_eq!(close.code, 1007);
    assert!(
        close.reason.contains("malformed message"),
        "{}",
        close.reason
    );
    let r = b.heartbeat();
    b.assert_reply(&r, "ok").await;
}

#[tokio::test]
async fn intercepts_go_through_handle_out() {
    let (ep, _) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    let mut b = TestClient::connect(&ep, &[("user", "bob")]).await.unwrap();
    a.join("room:1", json!({"presence": false})).await.unwrap();
    b.join("room:1", json!({"presence": false})).await.unwrap();
    let r = a.push("room:1", "intercept_me", json!({"x": 1}));
    a.assert_reply(&r, "ok").await;
    // handle_out turns the broadcast into a per-client push
    assert_eq!(
        a.assert_push("room:1", "intercepted").await,
        json!({"x": 1, "seen_by": "alice"})
    );
    assert_eq!(
        b.assert_push("room:1", "intercepted").await,
        json!({"x": 1, "seen_by": "bob"})
    );
    a.push("room:1", "intercept_me", json!({"drop": true}));
    b.refute_message("room:1", "intercepted", Duration::from_millis(100))
        .await;
}

#[tokio::test]
async fn stop_closes_the_channel() {
    let (ep, handler) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    a.join("room:1", json!({"presence": false})).await.unwrap();
    a.push("room:1", "stop", json!({}));
    let close = a.receive().await.unwrap();
    assert_eq!(
        (close.event.as_str(), close.join_ref.as_deref()),
        ("phx_close", Some("1"))
    );
    assert!(
        handler
            .log()
            .iter()
            .any(|l| l.starts_with("terminate room:1 Stopped"))
    );
}

#[tokio::test]
async fn binary_push_and_reply() {
    let (ep, _) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    a.join("room:1", json!({"presence": false})).await.unwrap();
    // [kind 0, jr_len, ref_len, topic_len, event_len, "1", "50", "room:1", "binary", payload]
    let mut f = vec![0u8, 1, 2, 6, 6];
    f.extend_from_slice(b"150room:1binary");
    f.extend_from_slice(&[1, 2, 3]);
    a.send_frame(Frame::Binary(f.into()));
    let push = a.receive().await.unwrap();
    assert_eq!(
        (push.event.as_str(), push.payload.clone()),
        (
            "binary_push",
            Payload::Binary(Bytes::from_static(&[3, 2, 1]))
        )
    );
    assert_eq!(a.assert_reply("50", "ok").await, json!([3, 2, 1]));
}

#[tokio::test]
async fn v1_serializer_through_the_state_machine() {
    let (ep, _) = endpoint();
    let params = [("user".to_string(), "old".to_string())]
        .into_iter()
        .collect();
    let mut st = ep
        .connect(&params, &ConnectInfo::default(), Serializer::V1)
        .await
        .unwrap();
    st.handle_frame(&Frame::text(
        r#"{"topic":"room:v1","event":"phx_join","payload":{"presence":false},"ref":"1"}"#,
    ))
    .await;
    st.handle_frame(&Frame::text(
        r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2"}"#,
    ))
    .await;
    let out: Vec<Value> = st
        .take_output()
        .iter()
        .map(|f| serde_json::from_str(f.as_text().unwrap()).unwrap())
        .collect();
    assert_eq!(
        out,
        vec![
            json!({"topic":"room:v1","event":"phx_reply","payload":{"status":"ok","response":{"joined":"room:v1"}},"ref":"1"}),
            json!({"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"2"}),
        ]
    );
    st.handle_frame(&Frame::Binary(Bytes::from_static(b"\x00\x00\x00\x00\x00")))
        .await;
    assert_eq!(st.take_close().unwrap().code, 1003);
}

// ---------------------------------------------------------------- presence through channels

#[tokio::test]
async fn presence_state_and_diffs() {
    let (ep, handler) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    a.join("room:p", json!({})).await.unwrap();
    let state = a.assert_push("room:p", "presence_state").await;
    assert_eq!(state["alice"]["metas"][0]["online_at"], json!(1));
    let alice_ref = state["alice"]["metas"][0]["phx_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    let diff = a.assert_broadcast("room:p", "presence_diff").await;
    assert_eq!(
        diff["joins"]["alice"]["metas"][0]["phx_ref"],
        json!(alice_ref)
    );

    let mut b = TestClient::connect(&ep, &[("user", "bob")]).await.unwrap();
    b.join("room:p", json!({})).await.unwrap();
    let state = b.assert_push("room:p", "presence_state").await;
    assert_eq!(
        state.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["alice", "bob"]
    );
    let diff = a.assert_broadcast("room:p", "presence_diff").await;
    assert_eq!(diff["joins"]["bob"]["metas"].as_array().unwrap().len(), 1);
    assert_eq!(diff["leaves"], json!({}));

    // update: leave of the old meta + join of the new one with phx_ref_prev
    let r = b.push("room:p", "update_meta", json!({"status": "away"}));
    let new_ref = b.assert_reply(&r, "ok").await["phx_ref"].clone();
    let diff = a.assert_broadcast("room:p", "presence_diff").await;
    let bob_old = state["bob"]["metas"][0]["phx_ref"].clone();
    assert_eq!(diff["leaves"]["bob"]["metas"][0]["phx_ref"], bob_old);
    assert_eq!(diff["joins"]["bob"]["metas"][0]["phx_ref"], new_ref);
    assert_eq!(diff["joins"]["bob"]["metas"][0]["phx_ref_prev"], bob_old);
    assert_eq!(diff["joins"]["bob"]["metas"][0]["status"], json!("away"));

    // bob leaves: alice sees the leave, list is alice only
    b.leave("room:p").await;
    let diff = a.assert_broadcast("room:p", "presence_diff").await;
    assert_eq!(diff["leaves"]["bob"]["metas"][0]["phx_ref"], new_ref);
    assert_eq!(
        handler
            .presence
            .list("room:p")
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["alice"]
    );

    // a crash untracks too
    a.push("room:p", "boom", json!({}));
    a.assert_push("room:p", "phx_error").await;
    assert_eq!(handler.presence.list("room:p"), json!({}));
}

// ---------------------------------------------------------------- pubsub

#[tokio::test]
async fn pubsub_operations() {
    let ps = PubSub::new();
    let mut s1 = ps.subscribe("t");
    let mut s2 = ps.subscribe("t");
    let mut other = ps.subscribe("u");
    assert_eq!(ps.subscriber_count("t"), 2);
    ps.broadcast("t", "e", json!({"n": 1})).unwrap();
    let m1 = s1.recv().await.unwrap();
    let m2 = s2.recv().await.unwrap();
    assert!(
        Arc::ptr_eq(&m1, &m2),
        "one shared message for every subscriber"
    );
    assert!(other.try_recv().is_none());
    ps.broadcast_from(s1.id(), "t", "e", json!({"n": 2}))
        .unwrap();
    assert_eq!(s2.recv().await.unwrap().payload, json!({"n": 2}).into());
    assert!(s1.try_recv().is_none());
    ps.local_broadcast("u", "e", json!({}));
    assert_eq!(other.recv().await.unwrap().topic, "u");
    ps.direct_broadcast(ps.node_name(), "u", "direct", json!({}))
        .unwrap();
    assert_eq!(other.recv().await.unwrap().event, "direct");
    ps.direct_broadcast("some-other-node", "u", "direct", json!({}))
        .unwrap();
    assert!(
        other.try_recv().is_none(),
        "the local adapter has no other nodes"
    );
    drop(s1);
    assert_eq!(ps.subscriber_count("t"), 1);
    ps.unsubscribe(s2.id(), "t");
    assert_eq!(ps.subscriber_count("t"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_concurrent_subscribers_all_receive() {
    let ps = PubSub::new();
    let mut handles = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..200 {
        let ps = ps.clone();
        let ready = ready_tx.clone();
        handles.push(tokio::spawn(async move {
            let mut sub = ps.subscribe("fan");
            ready.send(()).unwrap();
            sub.recv().await.unwrap().event.clone()
        }));
    }
    for _ in 0..200 {
        ready_rx.recv().await.unwrap();
    }
    assert_eq!(ps.subscriber_count("fan"), 200);
    ps.broadcast("fan", "go", json!({})).unwrap();
    for h in handles {
        assert_eq!(h.await.unwrap(), "go");
    }
    assert_eq!(ps.subscriber_count("fan"), 0);
}

// ---------------------------------------------------------------- presence CRDT

fn meta(r: &str) -> serde_json::Map<String, Value> {
    obj(json!({"phx_ref": r}))
}

#[test]
fn crdt_merge_is_idempotent_and_commutative() {
    let mut a = State::new("a");
    let mut b = State::new("b");
    let t1 = a.add(1, "room", "alice", meta("a1"));
    b.add(2, "room", "bob", meta("b1"));
    let da1 = a.take_delta();
    let db1 = b.take_delta();
    a.remove(&t1);
    a.add(1, "room", "alice", meta("a2"));
    let da2 = a.take_delta();

    // c gets a's deltas in order, d gets them reversed and duplicated
    let mut c = State::new("c");
    let mut d = State::new("d");
    for delta in [&da1, &db1, &da2] {
        c.merge(delta);
    }
    for delta in [&da2, &db1, &da1, &da2, &da1] {
        d.merge(delta);
    }
    let refs = |s: &State| {
        let mut v: Vec<String> = s
            .list("room")
            .iter()
            .map(|(_, e)| e.meta["phx_ref"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(refs(&c), vec!["a2", "b1"]);
    assert_eq!(
        refs(&d),
        vec!["a2", "b1"],
        "a late add of a removed dot must stay removed"
    );
    assert!(c.merge(&da1).is_empty());
}

#[test]
fn crdt_replica_down_and_full_transfer() {
    let mut a = State::new("a");
    a.add(1, "room", "alice", meta("a1"));
    a.add(1, "lobby", "alice", meta("a2"));
    let mut b = State::new("b");
    let diff = b.merge(&a.full_delta());
    assert_eq!(diff.joins.len(), 2);
    assert!(
        diff.joins.iter().all(|e| e.owner == 0),
        "remote entries have no local owner"
    );
    let diff = b.replica_down("a");
    assert_eq!(diff.leaves.len(), 2);
    assert!(b.is_empty());
    let t = Tag {
        replica: "a".into(),
        clock: 1,
    };
    assert!(a.get(&t).is_some());
}

// ---------------------------------------------------------------- robustness (property tests)

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn decoding_arbitrary_frames_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), text in ".{0,80}") {
            for ser in [Serializer::V1, Serializer::V2] {
                let _ = ser.decode(&Frame::Binary(bytes.clone().into()));
                let _ = ser.decode(&Frame::text(text.clone()));
            }
        }

        #[test]
        fn state_machine_survives_arbitrary_message_sequences(
            msgs in proptest::collection::vec(
                (
                    proptest::option::of(prop_oneof![Just("1"), Just("2"), Just("3")]),
                    proptest::option::of(prop_oneof![Just("1"), Just("7"), Just("9")]),
                    prop_oneof![Just("room:a"), Just("room:b"), Just("room:secret"), Just("phoenix"), Just("x")],
                    prop_oneof![Just("phx_join"), Just("phx_leave"), Just("heartbeat"), Just("new_msg"),
                                Just("ping"), Just("stop"), Just("intercept_me"), Just("phx_reply"), Just("zzz")],
                    prop_oneof![Just(json!({})), Just(json!({"body": "b", "presence": false})), Just(json!([1])),
                                Just(Value::Null), Just(json!("s")), Just(json!({"body": ""}))],
                ),
                1..25,
            )
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (ep, _) = channels_common::endpoint_with(SocketConfig { max_channels_per_transport: 2, ..Default::default() });
                let params = [("user".to_string(), "f".to_string())].into_iter().collect();
                let mut st = ep.connect(&params, &ConnectInfo::default(), Serializer::V2).await.unwrap();
                let mut mailbox = st.take_mailbox().unwrap();
                for (jr, r, topic, event, payload) in msgs {
                    let text = serde_json::to_string(&(jr, r, topic, event, payload)).unwrap();
                    st.handle_frame(&Frame::text(text)).await;
                    while let Ok(ev) = mailbox.try_recv() {
                        st.handle_event(ev).await;
                    }
                    for frame in st.take_output() {
                        let m = decode_server_frame(&frame).expect("server frames decode");
                        assert!(m.payload.is_object(), "server payloads are objects: {m:?}");
                    }
                    assert!(st.take_close().is_none(), "well-formed frames never close the socket");
                    assert!(st.joined_topics().len() <= 2);
                }
                st.shutdown().await;
            });
        }
    }
}

#[tokio::test]
async fn drain_closes_every_connection_with_1012_and_refuses_new_ones() {
    let (ep, handler) = endpoint();
    let mut a = TestClient::connect(&ep, &[("user", "alice")])
        .await
        .unwrap();
    let mut b = TestClient::connect(&ep, &[("user", "bob")]).await.unwrap();
    a.join("room:d", json!({"presence": false})).await.unwrap();
    assert_eq!(ep.connection_count(), 2);
    ep.drain();
    assert_eq!(a.assert_closed().await.code, 1012);
    assert_eq!(b.assert_closed().await.code, 1012);
    for _ in 0..100 {
        if ep.connection_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ep.connection_count(), 0);
    assert!(
        handler
            .log()
            .contains(&"terminate room:d Closed".to_string())
    );
    assert_eq!(
        TestClient::connect(&ep, &[("user", "carol")])
            .await
            .unwrap_err()
            .reason,
        "endpoint is draining"
    );
}

#[test]
fn origin_checks() {
    use zzz::channels::CheckOrigin;
    use zzz::channels::transport::websocket::origin_allowed;
    let same = CheckOrigin::SameHost;
    assert!(origin_allowed(
        &same,
        "http://localhost:4000",
        Some("localhost:4000")
    ));
    assert!(origin_allowed(
        &same,
        "https://LOCALHOST",
        Some("localhost:4000")
    ));
    assert!(!origin_allowed(
        &same,
        "https://evil.com",
        Some("localhost:4000")
    ));
    assert!(!origin_allowed(&same, "null", Some("localhost")));
    assert!(!origin_allowed(&same, "http://localhost", None));
    let list = CheckOrigin::List(vec![
        "https://example.com".into(),
        "//*.other.com".into(),
        "//plain.org".into(),
    ]);
    assert!(origin_allowed(&list, "https://example.com", None));
    assert!(
        !origin_allowed(&list, "http://example.com", None),
        "scheme must match"
    );
    assert!(origin_allowed(&list, "https://a.other.com", None));
    assert!(origin_allowed(&list, "http://a.b.other.com:8080", None));
    assert!(
        !origin_allowed(&list, "https://other.com", None),
        "the wildcard needs a subdomain"
    );
    assert!(!origin_allowed(&list, "https://evilother.com", None));
    assert!(origin_allowed(&list, "http://plain.org", None));
    assert!(origin_allowed(
        &CheckOrigin::Disabled,
        "https://anything.example",
        None
    ));
}

#[test]
fn auth_token_decoding() {
    use zzz::channels::transport::websocket::auth_token_from_protocols;
    // "a?b>c" is "YT9iPmM=" in standard base64 and "YT9iPmM" url-safe unpadded
    assert_eq!(
        auth_token_from_protocols("phoenix, base64url.bearer.phx.YT9iPmM")
            .unwrap()
            .as_deref(),
        Some("a?b>c")
    );
    assert_eq!(
        auth_token_from_protocols("phoenix,base64url.bearer.phx.YT9iPmM=")
            .unwrap()
            .as_deref(),
        Some("a?b>c")
    );
    // "\u{fb}\u{ff}" style bytes: "+/" vs "-_" alphabets
    assert_eq!(
        auth_token_from_protocols("base64url.bearer.phx.Pz8_")
            .unwrap()
            .as_deref(),
        Some("???")
    );
    assert_eq!(
        auth_token_from_protocols("base64url.bearer.phx.Pz8/")
            .unwrap()
            .as_deref(),
        Some("???")
    );
    assert_eq!(auth_token_from_protocols("phoenix").unwrap(), None);
    assert!(auth_token_from_protocols("base64url.bearer.phx.@@@").is_err());
}
