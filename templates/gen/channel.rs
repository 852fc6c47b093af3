//! `{{zzz:topic}}:*`: the {{zzz:name}} channel. `ping` is answered with its payload, `shout`
//! is broadcast to everyone on the topic.

use zzz::channels::{Channel, ChannelSocket, JoinResult, Payload, Reply};

/// One connection on one `{{zzz:topic}}:*` topic.
pub struct {{zzz:schema}}Channel;

impl Channel<()> for {{zzz:schema}}Channel {
    async fn join(&mut self, _topic: &str, _payload: Payload, _socket: &mut ChannelSocket<()>) -> JoinResult {
        // Authorize here: return `Err(json!({"reason": "unauthorized"}).into())` to refuse.
        Ok(Payload::empty())
    }

    async fn handle_in(&mut self, event: &str, payload: Payload, socket: &mut ChannelSocket<()>) -> Reply {
        match event {
            "ping" => Reply::ok(payload),
            "shout" => match socket.broadcast("shout", payload) {
                Ok(()) => Reply::ok_empty(),
                Err(err) => Reply::error(serde_json::json!({ "reason": err.to_string() })),
            },
            other => Reply::unknown_event(other),
        }
    }
}
