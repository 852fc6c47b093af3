//! # control_plane — workloads over HTTP, run on agents
//!
//! A real product built only on zzz's public API: a control plane that accepts
//! workloads over HTTP and runs them on agents. One binary, two subcommands:
//!
//! ```text
//! control_plane agent --listen 127.0.0.1:9000 --name agent-1
//! control_plane serve --port 4200 --agent 127.0.0.1:9000
//! curl -X POST localhost:4200/workloads -H 'content-type: application/json' \
//!      -d '{"id":"wl-1","runtime_class":"process","memory_mb":64,"cpu_millicores":100,"command":["sleep","1"]}'
//! curl localhost:4200/workloads/wl-1      # pending → running → succeeded
//! ```
//!
//! - [`agent`]: a TCP server speaking the [line-delimited JSON protocol](protocol)
//!   (`StartWorkload`, `GetStatus`, `StopWorkload`, `ListWorkloads`, `Ping`), with a
//!   [registry](agent::registry) driving each workload through the
//!   [state machine](state) and [runtimes](agent::runtime) behind one interface: the
//!   [`process`](agent::process) runtime runs the `command` as a child process under
//!   its memory limit; `docker` / `containerd` refuse clearly when their engine is absent.
//! - [`control`]: the HTTP API (`POST/GET/DELETE /workloads`, `GET/POST /agents`),
//!   workloads in zzz_db (SQLite by default, Postgres by `DATABASE_URL`), dispatch,
//!   status polling, stops and agent health as zzz_jobs jobs, every state change
//!   broadcast on the channel topics `workload:<id>` and `workloads`, a live HTML page
//!   at `/`, and the OpenAPI spec at `/api/openapi.json` with Swagger UI at `/api/docs`.
//!
//! An agent that stops answering for `--lost-timeout-ms` has its unfinished workloads
//! marked `lost` (and broadcast).
//!
//! Security: with `API_TOKEN` set, the requests that run or stop programs (`POST`,
//! `DELETE`) need `Authorization: Bearer <token>`; reads, the page and the socket stay
//! open. Unset, everything is open, so both commands listen on loopback by default. The
//! agent protocol has no authentication: agents must listen where only the control
//! plane can reach them.
//!
//! Not enforced: `cpu_millicores` is stored and passed to the agent, but the `process`
//! runtime applies only the memory limit (a CPU share needs cgroups).
//!
//! The pieces work in-process too:
//!
//! ```
//! use control_plane::agent::{Agent, AgentConfig};
//! use control_plane::protocol::{Request, Response};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let agent = Agent::new(AgentConfig::named("doc"));
//! let Response::Pong { name, workloads } = agent.handle(Request::Ping).await else { panic!() };
//! assert_eq!((name.as_str(), workloads), ("doc", 0));
//! # });
//! ```

#![warn(missing_docs)]

pub mod agent;
pub mod client;
pub mod control;
pub mod line_codec;
pub mod protocol;
pub mod state;
