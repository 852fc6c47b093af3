//! Turborepo's remote cache (the Vercel artifacts API, v8):
//!
//! - `GET /v8/artifacts/status` → `{"status":"enabled"}`;
//! - `GET|HEAD|PUT /v8/artifacts/{hash}`: the artifact, with `x-artifact-duration` and
//!   `x-artifact-tag` (the HMAC turbo signs artifacts with) stored and sent back;
//! - `POST /v8/artifacts` with `{"hashes":[…]}`: which exist, with size, duration and tag;
//! - `POST /v8/artifacts/events`: turbo's hit/miss telemetry (validated and counted).
//!
//! The team comes as `?slug=` (turbo's `--team`/`TURBO_TEAM`) or `?teamId=`
//! (`TURBO_TEAMID`) and is the namespace, so teams never see each other's entries.
//! Errors carry Vercel's JSON body `{"error":{"code":…,"message":…}}`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use zzz::{Conn, IntoResponse, Json, Method, Response, StatusCode};

use super::{CacheError, Ctx};
use crate::keys;
use crate::metrics::Protocol;
use crate::storage::PutOptions;

/// The most hashes one `POST /v8/artifacts` may ask about.
pub const MAX_QUERY_HASHES: usize = 1000;

/// The team of a request: `slug` or `teamId` from the query, else `default`.
fn team(ctx: &Ctx, conn: &Conn) -> Result<String, CacheError> {
    let params = conn.query_params();
    let given = params.iter().find(|(k, _)| k == "slug").or_else(|| params.iter().find(|(k, _)| k == "teamId"));
    match given {
        Some((_, team)) => keys::namespace(team).map_err(|e| ctx.bad_key(e)),
        None => Ok("default".to_owned()),
    }
}

fn store_key(team: &str, hash: &str) -> String {
    format!("turbo/{team}/{hash}")
}

/// `GET /v8/artifacts/status`.
pub async fn status(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Turbo);
    let team = team(&ctx, &conn)?;
    ctx.allow(&team, false)?;
    Ok(Json(json!({ "status": "enabled" })).into_response())
}

/// `GET|HEAD /v8/artifacts/{hash}`.
pub async fn get(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Turbo);
    let team = team(&ctx, &conn)?;
    let hash = keys::turbo_hash(&conn.path_param("hash").unwrap_or_default()).map_err(|e| ctx.bad_key(e))?;
    ctx.allow(&team, false)?;
    let key = store_key(&team, &hash);
    let head = conn.method() == Method::HEAD;
    ctx.read(super::Origin::of(&conn), &key, head).await?.ok_or_else(|| CacheError::miss(ctx.protocol, &format!("hash {hash} of team {team}")))
}

/// `PUT /v8/artifacts/{hash}`: 202 with `{"urls":[…]}`, as Vercel answers.
pub async fn put(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Turbo);
    let team = team(&ctx, &conn)?;
    let hash = keys::turbo_hash(&conn.path_param("hash").unwrap_or_default()).map_err(|e| ctx.bad_key(e))?;
    ctx.allow(&team, true)?;
    let mut meta = Vec::new();
    if let Some(duration) = conn.header("x-artifact-duration") {
        if duration.is_empty() || duration.len() > 20 || !duration.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CacheError::new(ctx.protocol, StatusCode::BAD_REQUEST, "bad_request", "x-artifact-duration must be a whole number of milliseconds"));
        }
        meta.push(("x-artifact-duration".to_owned(), duration.to_owned()));
    }
    if let Some(tag) = conn.headers().get("x-artifact-tag") {
        let tag = tag.to_str().ok().filter(|t| t.len() <= 600 && !t.is_empty()).ok_or_else(|| {
            CacheError::new(ctx.protocol, StatusCode::BAD_REQUEST, "bad_request", "x-artifact-tag must be 1 to 600 visible ASCII characters")
        })?;
        meta.push(("x-artifact-tag".to_owned(), tag.to_owned()));
    }
    let key = store_key(&team, &hash);
    let path = conn.uri().path().to_owned();
    ctx.write(conn, &key, PutOptions { meta, ..PutOptions::default() }).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "urls": [path] }))).into_response())
}

/// The body of `POST /v8/artifacts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    /// The hashes asked about.
    pub hashes: Vec<String>,
}

/// `POST /v8/artifacts`: for each hash, `{size, taskDurationMs, tag}` or an error.
pub async fn query(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Turbo);
    let team = team(&ctx, &conn)?;
    ctx.allow(&team, false)?;
    let body: QueryBody = read_json(&ctx, conn).await?;
    if body.hashes.len() > MAX_QUERY_HASHES {
        return Err(CacheError::new(ctx.protocol, StatusCode::BAD_REQUEST, "bad_request", format!("at most {MAX_QUERY_HASHES} hashes per query, got {}", body.hashes.len())));
    }
    let mut out = BTreeMap::new();
    for raw in &body.hashes {
        let hash = keys::turbo_hash(raw).map_err(|e| ctx.bad_key(e))?;
        let answer = match ctx.cache.store.peek(&store_key(&team, &hash)) {
            Some(entry) => {
                let meta = |name: &str| entry.meta.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                let duration = meta("x-artifact-duration").and_then(|d| d.parse::<u64>().ok()).unwrap_or(0);
                let mut found = json!({ "size": entry.size, "taskDurationMs": duration });
                if let Some(tag) = meta("x-artifact-tag") {
                    found["tag"] = Value::String(tag);
                }
                found
            }
            None => json!({ "error": { "message": "Artifact not found" } }),
        };
        out.insert(raw.clone(), answer);
    }
    Ok(Json(out).into_response())
}

/// One event of `POST /v8/artifacts/events`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactEvent {
    /// turbo's run id.
    pub session_id: String,
    /// `LOCAL` or `REMOTE`.
    pub source: String,
    /// `HIT` or `MISS`.
    pub event: String,
    /// The task hash.
    pub hash: String,
    /// Time saved, ms (hits only).
    #[serde(default)]
    pub duration: Option<u64>,
}

/// `POST /v8/artifacts/events`: validated, logged at debug level, answered 200.
pub async fn events(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Turbo);
    let team = team(&ctx, &conn)?;
    ctx.allow(&team, false)?;
    let events: Vec<ArtifactEvent> = read_json(&ctx, conn).await?;
    for event in &events {
        let valid = matches!(event.source.as_str(), "LOCAL" | "REMOTE") && matches!(event.event.as_str(), "HIT" | "MISS");
        if !valid {
            return Err(CacheError::new(ctx.protocol, StatusCode::BAD_REQUEST, "bad_request", "each event needs source LOCAL|REMOTE and event HIT|MISS"));
        }
        tracing::debug!(team, session = %event.session_id, source = %event.source, event = %event.event, hash = %event.hash, duration = ?event.duration, "turbo cache event");
    }
    Ok(StatusCode::OK.into_response())
}

/// Reads a JSON body under the scope's body limit, with errors in Turborepo's format.
async fn read_json<T: serde::de::DeserializeOwned>(ctx: &Ctx, mut conn: Conn) -> Result<T, CacheError> {
    let bytes = conn.read_body().await.map_err(|e| {
        let status = match e {
            zzz::body::BodyReadError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            zzz::body::BodyReadError::Io(_) => StatusCode::BAD_REQUEST,
        };
        CacheError::new(ctx.protocol, status, "bad_request", e.to_string())
    })?;
    serde_json::from_slice(&bytes).map_err(|e| CacheError::new(ctx.protocol, StatusCode::BAD_REQUEST, "bad_request", format!("invalid JSON body: {e}")))
}
