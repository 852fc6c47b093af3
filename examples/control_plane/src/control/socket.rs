//! Live updates over Phoenix channels, at `/socket` (the `phoenix` JS client works).
//!
//! - `workloads`: every workload change, as event `state_changed` with the workload.
//!   The join reply is `{}`.
//! - `workload:<id>`: that workload's changes. The join reply is `{"workload": …}`, its
//!   state at the moment of joining (changes after it arrive as events, none are
//!   missed: the channel subscribes before it reads); an unknown id is refused with
//!   `{"reason": "no workload with id …"}`.
//!
//! Both are read-only: pushes from the client are answered as unknown events.

use serde_json::json;
use zzz::channels::{Channel, ChannelRoutes, ChannelSocket, ConnectInfo, JoinResult, Params, Payload, Refused, UserSocket};

use super::App;
use super::workloads::{self, ALL_TOPIC, WorkloadView};

/// The socket: anyone may connect and watch.
#[derive(Clone)]
pub struct WorkloadSocket {
    app: App,
}

impl WorkloadSocket {
    /// The socket for `app`.
    pub fn new(app: App) -> WorkloadSocket {
        WorkloadSocket { app }
    }
}

impl UserSocket for WorkloadSocket {
    type Assigns = ();

    async fn connect(&self, _params: &Params, _info: &ConnectInfo) -> Result<(), Refused> {
        Ok(())
    }

    fn channels(&self, routes: &mut ChannelRoutes<()>) {
        routes.channel(ALL_TOPIC, || AllWorkloadsChannel);
        let app = self.app.clone();
        routes.channel("workload:*", move || WorkloadChannel { app: app.clone() });
    }
}

/// `workloads`: every change.
pub struct AllWorkloadsChannel;

impl Channel<()> for AllWorkloadsChannel {
    async fn join(&mut self, _topic: &str, _payload: Payload, _socket: &mut ChannelSocket<()>) -> JoinResult {
        Ok(Payload::empty())
    }
}

/// `workload:<id>`: one workload's changes.
pub struct WorkloadChannel {
    app: App,
}

impl Channel<()> for WorkloadChannel {
    async fn join(&mut self, topic: &str, _payload: Payload, _socket: &mut ChannelSocket<()>) -> JoinResult {
        let id = topic.strip_prefix("workload:").unwrap_or_default();
        match workloads::get(&self.app, id).await {
            Ok(Some(workload)) => Ok(json!({"workload": WorkloadView::from(&workload)}).into()),
            Ok(None) => Err(json!({"reason": format!("no workload with id {id:?}")}).into()),
            Err(err) => {
                tracing::error!(%err, topic, "could not read the workload for a join");
                Err(json!({"reason": "the database is unavailable"}).into())
            }
        }
    }
}
