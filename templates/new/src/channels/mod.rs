{{zzz:only channels}}
//! Phoenix channels, for the official `phoenix` JavaScript client: the socket at
//! `/socket` (WebSocket, and LongPoll as the client's fallback) routes topics to
//! channels. `zzz gen channel NAME` adds a channel at the marker.

use zzz::channels::{ChannelRoutes, ConnectInfo, Params, Refused, SocketEndpoint, UserSocket};
use zzz::pubsub::PubSub;

pub mod room_channel;
// zzz:channel-mods

/// The app's socket: accepts every connection and routes topics to channels.
#[derive(Clone, Debug, Default)]
pub struct AppSocket;

impl UserSocket for AppSocket {
    /// What a connection carries to its channels (e.g. the user, once `connect`
    /// verifies a token from `params`).
    type Assigns = ();

    async fn connect(&self, _params: &Params, _info: &ConnectInfo) -> Result<(), Refused> {
        Ok(())
    }

    fn channels(&self, routes: &mut ChannelRoutes<()>) {
        routes.channel("room:*", || room_channel::RoomChannel);
        // zzz:channel-routes
    }
}

/// The socket endpoint the router's `socket "/socket"` mount serves, on `pubsub`.
pub fn socket(pubsub: PubSub) -> SocketEndpoint<AppSocket> {
    SocketEndpoint::new(AppSocket, pubsub)
}
