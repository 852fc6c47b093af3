{{zzz:only channels}}
//! `room:*`: join any room; `ping` is answered with its payload, `shout` is broadcast to
//! everyone in the room.

use zzz::channels::{Channel, ChannelSocket, JoinResult, Payload, Reply};

/// One connection in one room.
pub struct RoomChannel;

impl Channel<()> for RoomChannel {
    async fn join(&mut self, _topic: &str, _payload: Payload, _socket: &mut ChannelSocket<()>) -> JoinResult {
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
