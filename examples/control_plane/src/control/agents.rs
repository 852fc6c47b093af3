//! The agents context: registered agents, their health, and picking one for a workload.

use serde::Serialize;
use serde_json::Value as JsonValue;
use utoipa::ToSchema;
use zzz_db::{OnConflict, Query, Set, count_all};

use super::App;
use super::schema::{AgentRecord, Workload, agent_changeset};
use super::workloads::{mark_lost, now, timestamp};
use crate::client::{AgentUnreachable, call};
use crate::protocol::{Request, Response};
use crate::state::WorkloadState;

/// An agent as `GET /agents` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentView {
    /// `host:port`.
    pub addr: String,
    /// The name it answers with.
    pub name: Option<String>,
    /// Whether it answered the last check.
    pub healthy: bool,
    /// When it last answered (UTC).
    #[schema(format = DateTime)]
    pub last_seen_at: Option<String>,
    /// The last failure to reach it.
    pub last_error: Option<String>,
    /// How many of its workloads are pending or running.
    pub active_workloads: i64,
}

/// Registers `--agent` addresses and `POST /agents` bodies. Registering a known address
/// changes nothing.
pub async fn register(app: &App, params: &JsonValue) -> Result<AgentRecord, zzz_db::Error> {
    let changeset = agent_changeset(params);
    let addr = changeset.field(AgentRecord::addr).unwrap_or_default();
    app.repo.insert_on_conflict(changeset, OnConflict::nothing().target(&["addr"])).await?;
    app.repo.fetch_by::<AgentRecord>(AgentRecord::addr.eq(addr)).await
}

/// Every registered agent, by address.
pub async fn all(app: &App) -> Result<Vec<AgentRecord>, zzz_db::Error> {
    app.repo.all(Query::from::<AgentRecord>().order_by(AgentRecord::addr.asc())).await
}

/// How many pending or running workloads each agent has.
async fn active_counts(app: &App) -> Result<Vec<(Option<String>, i64)>, zzz_db::Error> {
    let active = [WorkloadState::Pending, WorkloadState::Running];
    app.repo
        .all(
            Query::from::<Workload>()
                .filter(Workload::state.in_list(active) & Workload::agent.is_not_null())
                .select((Workload::agent, count_all()))
                .group_by(Workload::agent),
        )
        .await
}

/// Every agent with its active workload count.
pub async fn views(app: &App) -> Result<Vec<AgentView>, zzz_db::Error> {
    let counts = active_counts(app).await?;
    Ok(all(app)
        .await?
        .into_iter()
        .map(|a| AgentView {
            active_workloads: counts.iter().find(|(addr, _)| addr.as_deref() == Some(&a.addr)).map_or(0, |(_, n)| *n),
            addr: a.addr,
            name: a.name,
            healthy: a.healthy,
            last_seen_at: a.last_seen_at.map(timestamp),
            last_error: a.last_error,
        })
        .collect())
}

/// The healthy agent with the fewest active workloads (ties: by address).
pub async fn pick(app: &App) -> Result<Option<String>, zzz_db::Error> {
    let counts = active_counts(app).await?;
    let healthy = app.repo.all(Query::from::<AgentRecord>().filter(AgentRecord::healthy.eq(true)).select(AgentRecord::addr)).await?;
    Ok(healthy
        .into_iter()
        .map(|addr| (counts.iter().find(|(a, _)| a.as_deref() == Some(&addr)).map_or(0, |(_, n)| *n), addr))
        .min()
        .map(|(_, addr)| addr))
}

/// Whether the agent at `addr` is registered and healthy.
pub async fn is_healthy(app: &App, addr: &str) -> Result<bool, zzz_db::Error> {
    app.repo
        .exists(Query::from::<AgentRecord>().filter(AgentRecord::addr.eq(addr.to_owned()) & AgentRecord::healthy.eq(true)))
        .await
}

/// Pings one agent and records the answer. An agent that has not answered for the lost
/// timeout is marked unhealthy and its unfinished workloads `lost`.
pub async fn check(app: &App, agent: &AgentRecord) -> Result<bool, zzz_db::Error> {
    let answer = call(&agent.addr, &Request::Ping, app.config.agent_timeout()).await;
    let at = now();
    let by_addr = || Query::from::<AgentRecord>().filter(AgentRecord::addr.eq(agent.addr.clone()));
    match answer {
        Ok(Response::Pong { name, .. }) => {
            if !agent.healthy {
                tracing::info!(agent = %agent.addr, %name, "agent is up");
            }
            let set = Set::new()
                .set(AgentRecord::healthy, true)
                .set(AgentRecord::name, Some(name))
                .set(AgentRecord::last_seen_at, Some(at))
                .set(AgentRecord::last_error, None::<String>)
                .set(AgentRecord::updated_at, at);
            app.repo.update_all(by_addr(), set).await?;
            Ok(true)
        }
        other => {
            let why = match other {
                Err(AgentUnreachable { reason, .. }) => reason,
                Ok(unexpected) => format!("answered Ping with {unexpected:?}"),
            };
            let silent_since = agent.last_seen_at.unwrap_or(agent.inserted_at);
            let silent_for = (at - silent_since).to_std().unwrap_or_default();
            let down = silent_for >= app.config.lost_timeout();
            let set = Set::new().set(AgentRecord::last_error, Some(why.clone())).set(AgentRecord::updated_at, at);
            let set = if down { set.set(AgentRecord::healthy, false) } else { set };
            app.repo.update_all(by_addr(), set).await?;
            if down {
                if agent.healthy {
                    tracing::warn!(agent = %agent.addr, %why, "agent is down");
                }
                let message = format!("agent {} stopped answering ({why})", agent.addr);
                let lost = mark_lost(app, &agent.addr, &message).await?;
                if !lost.is_empty() {
                    tracing::warn!(agent = %agent.addr, count = lost.len(), "workloads lost");
                }
            }
            Ok(false)
        }
    }
}
