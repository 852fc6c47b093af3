//! What the control plane stores: workloads and agents, their changesets and
//! migrations.

use chrono::NaiveDateTime;
use serde_json::Value as JsonValue;
use zzz_db::migration::{ColumnType as T, Migration, PrimaryKey};
use zzz_db::{Changeset, Json, Length, Number, Schema};

use crate::protocol::WorkloadSpec;
use crate::state::WorkloadState;

/// The runtime classes a workload may ask for.
pub const RUNTIME_CLASSES: [&str; 3] = ["process", "docker", "containerd"];
/// What a workload id looks like.
pub const ID_FORMAT: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";
/// The largest memory limit, in MiB.
pub const MAX_MEMORY_MB: i64 = 1024 * 1024;
/// The largest CPU share, in millicores.
pub const MAX_CPU_MILLICORES: i64 = 1024 * 1000;
/// The most arguments a command may have.
pub const MAX_COMMAND_ARGS: usize = 256;
/// The longest argument, in characters.
pub const MAX_ARG_CHARS: usize = 4096;

/// A workload, as stored.
#[derive(Schema, Debug, Clone, Default)]
#[schema(table = "workloads")]
pub struct Workload {
    /// Chosen by the client (`wl-123`).
    pub id: String,
    /// Container image (container runtimes); `None` when not given.
    pub image: Option<String>,
    /// `process`, `docker` or `containerd`.
    pub runtime_class: String,
    /// Memory limit in MiB (`None` only before a changeset casts it: an unset value,
    /// as Ecto's `nil`, so that a `0` in the params is a change that gets validated).
    pub memory_mb: Option<i64>,
    /// CPU share in millicores.
    pub cpu_millicores: i64,
    /// The argv (`None` only before a changeset casts it).
    pub command: Option<Json<Vec<String>>>,
    /// Where it is in its life.
    pub state: WorkloadState,
    /// The address of the agent it was given to.
    pub agent: Option<String>,
    /// Exit status, once exited.
    pub exit_code: Option<i64>,
    /// The signal that ended it.
    pub signal: Option<i64>,
    /// Why it failed, was refused or was lost.
    pub error: Option<String>,
    /// The last lines of its output.
    pub output: Json<Vec<String>>,
    /// A stop was asked for (`DELETE /workloads/:id`).
    pub stop_requested: bool,
    /// When it was accepted.
    pub inserted_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
}

impl Workload {
    /// What the agent is asked to run.
    pub fn spec(&self) -> WorkloadSpec {
        WorkloadSpec {
            id: self.id.clone(),
            image: self.image.clone().unwrap_or_default(),
            runtime_class: self.runtime_class.clone(),
            memory_mb: self.memory_mb.unwrap_or_default().max(0) as u64,
            cpu_millicores: self.cpu_millicores.max(0) as u64,
            command: self.command.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
        }
    }
}

/// A new workload from request params: cast, validated, ready to insert.
pub fn create_changeset(params: &JsonValue) -> Changeset<Workload> {
    let changeset =
        Changeset::cast(Workload::default(), params, &["id", "image", "runtime_class", "memory_mb", "cpu_millicores", "command"]);
    // `cpu_millicores` is optional: absent or null means 0 (no CPU share asked for).
    let changeset = match changeset.get_field("cpu_millicores") {
        None | Some(zzz_db::Value::Null) => changeset.put_change(Workload::cpu_millicores, 0),
        Some(_) => changeset,
    };
    changeset
        .validate_required(&["id", "runtime_class", "memory_mb", "command"])
        .validate_format("id", ID_FORMAT)
        .validate_length("image", Length::at_most(255))
        .validate_inclusion("runtime_class", &RUNTIME_CLASSES.map(String::from))
        .validate_number("memory_mb", Number::greater_than_or_equal_to(1).and_less_than_or_equal_to(MAX_MEMORY_MB as f64))
        .validate_number("cpu_millicores", Number::greater_than_or_equal_to(0).and_less_than_or_equal_to(MAX_CPU_MILLICORES as f64))
        .validate_change("command", validate_command)
        .unique_constraint("id")
}

/// A command is a non-empty argv of strings, within limits. (A program that cannot be
/// started is the agent's to report: the workload then fails with the reason.)
fn validate_command(value: &zzz_db::Value) -> Option<String> {
    let zzz_db::Value::Json(JsonValue::Array(args)) = value else {
        return Some("must be an array of strings".into());
    };
    if args.is_empty() {
        return Some("must have at least 1 item(s)".into());
    }
    if args.len() > MAX_COMMAND_ARGS {
        return Some(format!("should have at most {MAX_COMMAND_ARGS} item(s)"));
    }
    if args.iter().any(|arg| arg.as_str().unwrap_or_default().chars().count() > MAX_ARG_CHARS) {
        return Some(format!("each item should be at most {MAX_ARG_CHARS} character(s)"));
    }
    None
}

/// An agent the control plane dispatches to.
#[derive(Schema, Debug, Clone, Default)]
#[schema(table = "agents")]
pub struct AgentRecord {
    /// Row id.
    pub id: i64,
    /// `host:port` of its line-protocol listener.
    pub addr: String,
    /// The name it answered `Ping` with.
    pub name: Option<String>,
    /// Whether it answered the last health check.
    pub healthy: bool,
    /// When it last answered.
    pub last_seen_at: Option<NaiveDateTime>,
    /// The last failure to reach it.
    pub last_error: Option<String>,
    /// When it was registered.
    pub inserted_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
}

/// A new agent from request params.
pub fn agent_changeset(params: &JsonValue) -> Changeset<AgentRecord> {
    Changeset::cast(AgentRecord::default(), params, &["addr"])
        .validate_required(&["addr"])
        .validate_length("addr", Length::at_most(255))
        .validate_change("addr", |value| match value {
            zzz_db::Value::Text(addr) if valid_addr(addr) => None,
            _ => Some("must be host:port".into()),
        })
        .unique_constraint("addr")
}

/// Whether `addr` looks like `host:port` with a port in 1..=65535.
pub fn valid_addr(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.chars().any(|c| c.is_whitespace() || c == '/')
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

/// The tables, then zzz_jobs' own.
pub fn migrations() -> Vec<Migration> {
    let mut all = vec![
        Migration::new(20261122000001, "create_workloads", |m| {
            m.create_table("workloads", |t| {
                t.primary_key(PrimaryKey::None);
                t.add("id", T::String).not_null();
                t.add("image", T::String);
                t.add("runtime_class", T::String).not_null();
                t.add("memory_mb", T::BigInt).not_null();
                t.add("cpu_millicores", T::BigInt).not_null().default(0);
                t.add("command", T::Map).not_null();
                t.add("state", T::String).not_null().default("pending");
                t.add("agent", T::String);
                t.add("exit_code", T::BigInt);
                t.add("signal", T::BigInt);
                t.add("error", T::Text);
                t.add("output", T::Map).not_null();
                t.add("stop_requested", T::Boolean).not_null().default(false);
                t.timestamps();
            });
            m.create_unique_index("workloads", &["id"]);
            m.create_index("workloads", &["state"]);
            m.create_index("workloads", &["agent", "state"]);
        }),
        Migration::new(20261122000002, "create_agents", |m| {
            m.create_table("agents", |t| {
                t.add("addr", T::String).not_null();
                t.add("name", T::String);
                t.add("healthy", T::Boolean).not_null().default(false);
                t.add("last_seen_at", T::NaiveDateTime);
                t.add("last_error", T::Text);
                t.timestamps();
            });
            m.create_unique_index("agents", &["addr"]);
        }),
    ];
    all.extend(zzz_jobs::migrations());
    all
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_good_workload_casts_and_bad_fields_are_named() {
        let good = create_changeset(&json!({
            "id": "wl-1", "runtime_class": "process", "memory_mb": 64, "cpu_millicores": 250, "command": ["sleep", "1"]
        }));
        assert!(good.is_valid(), "{:?}", good.errors().to_json());
        let bad = create_changeset(&json!({
            "id": "no spaces", "runtime_class": "vm", "memory_mb": 0, "command": []
        }));
        assert_eq!(
            bad.errors().to_json(),
            json!({
                "id": ["has invalid format"],
                "runtime_class": ["is invalid"],
                "memory_mb": ["must be greater than or equal to 1"],
                "command": ["must have at least 1 item(s)"],
            })
        );
        let missing = create_changeset(&json!({}));
        assert_eq!(missing.errors().to_json()["command"], json!(["can't be blank"]));
        let not_strings = create_changeset(&json!({"id": "a", "runtime_class": "process", "memory_mb": 1, "command": [1]}));
        assert_eq!(not_strings.errors().to_json(), json!({"command": ["is invalid"]}));
    }

    #[test]
    fn agent_addresses_are_host_and_port() {
        assert!(valid_addr("127.0.0.1:9000"));
        assert!(valid_addr("agent-1.internal:9000"));
        assert!(!valid_addr("127.0.0.1"));
        assert!(!valid_addr("127.0.0.1:0"));
        assert!(!valid_addr("http://x:1"));
    }
}
