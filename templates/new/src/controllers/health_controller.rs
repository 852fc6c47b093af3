{{zzz:if db}}
//! `GET /api/health`: whether the app and its database are up, as JSON.
{{zzz:else}}
//! `GET /api/health`: whether the app is up, as JSON.
{{zzz:end}}

use serde::Serialize;
use zzz::{Json, StatusCode};
{{zzz:if db}}
use zzz::State;
use zzz_db::Repo;
{{zzz:end}}

/// The body of `GET /api/health`.
#[derive(Serialize)]
pub struct Health {
    /// `"ok"` or `"error"`.
    pub status: &'static str,
{{zzz:if db}}
    /// `"ok"`, or why the database does not answer.
    pub database: String,
{{zzz:end}}
}

{{zzz:if db}}
/// `GET /api/health`: 200 `{"status":"ok","database":"ok"}`, or 503 with the reason
/// when the database does not answer.
pub async fn show(State(repo): State<Repo>) -> (StatusCode, Json<Health>) {
    match repo.health_check().await {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ok", database: "ok".to_owned() })),
        Err(err) => {
            tracing::error!(%err, "health check: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "error", database: err.to_string() }))
        }
    }
}
{{zzz:else}}
/// `GET /api/health`: 200 `{"status":"ok"}`.
pub async fn show() -> (StatusCode, Json<Health>) {
    (StatusCode::OK, Json(Health { status: "ok" }))
}
{{zzz:end}}
