//! Every statement the queue runs, once per dialect, on a [`RawExecutor`].
//!
//! Postgres uses native types (`jsonb`, `text[]`, `jsonb[]`, `timestamptz`) and
//! `FOR UPDATE SKIP LOCKED`. SQLite stores JSON as text and timestamps as fixed-width
//! RFC 3339 UTC text (`2024-01-02T03:04:05.000006Z`), which sorts and compares
//! correctly as text; its claims run as single `UPDATE … RETURNING` statements or in
//! `BEGIN IMMEDIATE` transactions, so two connections never claim one job.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::types::Json;
use sqlx::Row;
use zzz_db::RawExecutor;

use crate::error::JobsError;
use crate::job::{AttemptError, Job, JobState};
use crate::worker::{ReplaceField, Unique, UniqueField, UniqueTimestamp};

/// The LISTEN/NOTIFY channel for "jobs became available in queue X".
pub(crate) const NOTIFY_CHANNEL: &str = "zzz_jobs_available";

/// The LISTEN/NOTIFY channel for control signals (pause, resume, scale, cancel).
pub(crate) const SIGNAL_CHANNEL: &str = "zzz_jobs_signal";

macro_rules! dispatch {
    ($ex:expr, |$pg:ident| $pgbody:expr, |$lt:ident| $ltbody:expr) => {
        match $ex {
            RawExecutor::PgPool(p) => {
                let $pg = *p;
                $pgbody
            }
            RawExecutor::Pg(c) => {
                let $pg = &mut **c;
                $pgbody
            }
            RawExecutor::SqlitePool(p) => {
                let $lt = *p;
                $ltbody
            }
            RawExecutor::Sqlite(c) => {
                let $lt = &mut **c;
                $ltbody
            }
        }
    };
}

// ------------------------------------------------------------------ encoding

/// SQLite timestamp text.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, JobsError> {
    DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)).map_err(|e| JobsError::Decode(format!("bad timestamp `{s}`: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(col: &str, s: &str) -> Result<T, JobsError> {
    serde_json::from_str(s).map_err(|e| JobsError::Decode(format!("bad JSON in `{col}`: {e}")))
}

fn dec(e: sqlx::Error) -> JobsError {
    JobsError::Decode(e.to_string())
}

fn pg_job(r: &PgRow) -> Result<Job, JobsError> {
    let state: String = r.try_get("state").map_err(dec)?;
    let errors: Vec<Json<AttemptError>> = r.try_get("errors").map_err(dec)?;
    Ok(Job {
        id: r.try_get("id").map_err(dec)?,
        state: state.parse().map_err(|e: crate::job::UnknownState| JobsError::Decode(e.to_string()))?,
        queue: r.try_get("queue").map_err(dec)?,
        worker: r.try_get("worker").map_err(dec)?,
        args: r.try_get("args").map_err(dec)?,
        meta: r.try_get("meta").map_err(dec)?,
        tags: r.try_get("tags").map_err(dec)?,
        errors: errors.into_iter().map(|j| j.0).collect(),
        attempt: r.try_get("attempt").map_err(dec)?,
        attempted_by: r.try_get("attempted_by").map_err(dec)?,
        max_attempts: r.try_get("max_attempts").map_err(dec)?,
        priority: r.try_get("priority").map_err(dec)?,
        inserted_at: r.try_get("inserted_at").map_err(dec)?,
        scheduled_at: r.try_get("scheduled_at").map_err(dec)?,
        attempted_at: r.try_get("attempted_at").map_err(dec)?,
        completed_at: r.try_get("completed_at").map_err(dec)?,
        discarded_at: r.try_get("discarded_at").map_err(dec)?,
        cancelled_at: r.try_get("cancelled_at").map_err(dec)?,
        conflict: false,
    })
}

fn lite_job(r: &SqliteRow) -> Result<Job, JobsError> {
    let s = |c: &str| -> Result<String, JobsError> { r.try_get::<String, _>(c).map_err(dec) };
    let o = |c: &str| -> Result<Option<DateTime<Utc>>, JobsError> {
        r.try_get::<Option<String>, _>(c).map_err(dec)?.map(|v| parse_ts(&v)).transpose()
    };
    Ok(Job {
        id: r.try_get("id").map_err(dec)?,
        state: s("state")?.parse().map_err(|e: crate::job::UnknownState| JobsError::Decode(e.to_string()))?,
        queue: s("queue")?,
        worker: s("worker")?,
        args: parse_json("args", &s("args")?)?,
        meta: parse_json("meta", &s("meta")?)?,
        tags: parse_json("tags", &s("tags")?)?,
        errors: parse_json("errors", &s("errors")?)?,
        attempt: r.try_get("attempt").map_err(dec)?,
        attempted_by: parse_json("attempted_by", &s("attempted_by")?)?,
        max_attempts: r.try_get("max_attempts").map_err(dec)?,
        priority: r.try_get("priority").map_err(dec)?,
        inserted_at: parse_ts(&s("inserted_at")?)?,
        scheduled_at: parse_ts(&s("scheduled_at")?)?,
        attempted_at: o("attempted_at")?,
        completed_at: o("completed_at")?,
        discarded_at: o("discarded_at")?,
        cancelled_at: o("cancelled_at")?,
        conflict: false,
    })
}

fn pg_jobs(rows: Vec<PgRow>) -> Result<Vec<Job>, JobsError> {
    rows.iter().map(pg_job).collect()
}

fn lite_jobs(rows: Vec<SqliteRow>) -> Result<Vec<Job>, JobsError> {
    rows.iter().map(lite_job).collect()
}

// ------------------------------------------------------------------ inserting

/// A job ready to be written (validated, times resolved).
#[derive(Debug, Clone)]
pub(crate) struct NewJob {
    pub state: JobState,
    pub queue: String,
    pub worker: String,
    pub args: serde_json::Value,
    pub meta: serde_json::Value,
    pub tags: Vec<String>,
    pub max_attempts: i32,
    pub priority: i32,
    pub inserted_at: DateTime<Utc>,
    pub scheduled_at: DateTime<Utc>,
    pub unique_key: Option<String>,
    pub unique: Option<Unique>,
    pub replace: Vec<(JobState, Vec<ReplaceField>)>,
}

const PG_INSERT: &str = "INSERT INTO zzz_jobs (state, queue, worker, args, meta, tags, max_attempts, priority, inserted_at, scheduled_at, unique_key) \
     SELECT u.state, u.queue, u.worker, u.args, u.meta, ARRAY(SELECT jsonb_array_elements_text(u.tags)), u.max_attempts, u.priority, u.inserted_at, u.scheduled_at, u.unique_key \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::int[], $8::int[], $9::timestamptz[], $10::timestamptz[], $11::text[]) \
       AS u(state, queue, worker, args, meta, tags, max_attempts, priority, inserted_at, scheduled_at, unique_key) \
     RETURNING *";

const LITE_INSERT: &str = "INSERT INTO zzz_jobs (state, queue, worker, args, meta, tags, max_attempts, priority, inserted_at, scheduled_at, unique_key) \
     SELECT value ->> '$.state', value ->> '$.queue', value ->> '$.worker', value -> '$.args', value -> '$.meta', value -> '$.tags', \
            value ->> '$.max_attempts', value ->> '$.priority', value ->> '$.inserted_at', value ->> '$.scheduled_at', value ->> '$.unique_key' \
     FROM json_each(?1) ORDER BY key \
     RETURNING *";

async fn pg_insert_plain<'e, E: sqlx::PgExecutor<'e>>(e: E, jobs: &[NewJob]) -> Result<Vec<Job>, JobsError> {
    let rows = sqlx::query(PG_INSERT)
        .bind(jobs.iter().map(|j| j.state.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.queue.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.worker.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| Json(&j.args)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| Json(&j.meta)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| Json(&j.tags)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.max_attempts).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.priority).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.inserted_at).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.scheduled_at).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.unique_key.as_deref()).collect::<Vec<_>>())
        .fetch_all(e)
        .await?;
    let mut out = pg_jobs(rows)?;
    out.sort_by_key(|j| j.id);
    Ok(out)
}

fn lite_payload(jobs: &[NewJob]) -> String {
    let v: Vec<serde_json::Value> = jobs
        .iter()
        .map(|j| {
            serde_json::json!({
                "state": j.state.as_str(), "queue": j.queue, "worker": j.worker, "args": j.args, "meta": j.meta,
                "tags": j.tags, "max_attempts": j.max_attempts, "priority": j.priority,
                "inserted_at": ts(j.inserted_at), "scheduled_at": ts(j.scheduled_at), "unique_key": j.unique_key,
            })
        })
        .collect();
    serde_json::Value::Array(v).to_string()
}

async fn lite_insert_plain<'e, E: sqlx::SqliteExecutor<'e>>(e: E, jobs: &[NewJob]) -> Result<Vec<Job>, JobsError> {
    let rows = sqlx::query(LITE_INSERT).bind(lite_payload(jobs)).fetch_all(e).await?;
    let mut out = lite_jobs(rows)?;
    out.sort_by_key(|j| j.id);
    Ok(out)
}

fn lock_key(unique_key: &str) -> i64 {
    i64::from_str_radix(&unique_key[..15], 16).unwrap_or(0)
}

fn cutoff(u: &Unique, now: DateTime<Utc>) -> DateTime<Utc> {
    match u.period {
        Some(p) => now - chrono::Duration::from_std(p).unwrap_or(chrono::Duration::MAX),
        None => DateTime::<Utc>::UNIX_EPOCH,
    }
}

fn wants(replace: &[(JobState, Vec<ReplaceField>)], state: JobState, f: ReplaceField) -> bool {
    replace.iter().any(|(s, fs)| *s == state && fs.contains(&f))
}

const PG_REPLACE: &str = "UPDATE zzz_jobs SET \
    args = CASE WHEN $2 THEN $3 ELSE args END, max_attempts = CASE WHEN $4 THEN $5 ELSE max_attempts END, \
    meta = CASE WHEN $6 THEN $7 ELSE meta END, priority = CASE WHEN $8 THEN $9 ELSE priority END, \
    queue = CASE WHEN $10 THEN $11 ELSE queue END, scheduled_at = CASE WHEN $12 THEN $13 ELSE scheduled_at END, \
    tags = CASE WHEN $14 THEN ARRAY(SELECT jsonb_array_elements_text($15)) ELSE tags END, worker = CASE WHEN $16 THEN $17 ELSE worker END \
    WHERE id = $1 RETURNING *";

const LITE_REPLACE: &str = "UPDATE zzz_jobs SET \
    args = CASE WHEN ?2 THEN ?3 ELSE args END, max_attempts = CASE WHEN ?4 THEN ?5 ELSE max_attempts END, \
    meta = CASE WHEN ?6 THEN ?7 ELSE meta END, priority = CASE WHEN ?8 THEN ?9 ELSE priority END, \
    queue = CASE WHEN ?10 THEN ?11 ELSE queue END, scheduled_at = CASE WHEN ?12 THEN ?13 ELSE scheduled_at END, \
    tags = CASE WHEN ?14 THEN ?15 ELSE tags END, worker = CASE WHEN ?16 THEN ?17 ELSE worker END \
    WHERE id = ?1 RETURNING *";

/// Insert one unique job on a connection that is inside a transaction.
async fn pg_insert_unique(c: &mut PgConnection, j: &NewJob) -> Result<Job, JobsError> {
    let (u, key) = (j.unique.as_ref().expect("unique job"), j.unique_key.as_deref().expect("unique key"));
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(lock_key(key)).execute(&mut *c).await?;
    let states: Vec<&str> = u.states.states().iter().map(|s| s.as_str()).collect();
    let mut sql = String::from("SELECT * FROM zzz_jobs WHERE state = ANY($1) AND ");
    sql.push_str(match u.timestamp {
        UniqueTimestamp::InsertedAt => "inserted_at >= $2",
        UniqueTimestamp::ScheduledAt => "scheduled_at >= $2",
    });
    // `@>` lets the GIN indexes narrow the search; equality (jsonb `=`, which keeps
    // array order) decides. Keys are bound as $7, $8, ….
    for f in &u.fields {
        match (f, u.keys.is_empty()) {
            (UniqueField::Worker, _) => sql.push_str(" AND worker = $3"),
            (UniqueField::Queue, _) => sql.push_str(" AND queue = $4"),
            (UniqueField::Args, true) => sql.push_str(" AND args @> $5 AND args = $5"),
            (UniqueField::Meta, true) => sql.push_str(" AND meta @> $6 AND meta = $6"),
            (field, false) => {
                let (col, new, v) = if *field == UniqueField::Args { ("args", "$5", &j.args) } else { ("meta", "$6", &j.meta) };
                sql.push_str(&format!(" AND {col} @> {new}"));
                for (i, k) in u.keys.iter().enumerate() {
                    if v.get(k).is_some() {
                        sql.push_str(&format!(" AND {col} -> ${p} = {new} -> ${p}", p = 7 + i));
                    }
                }
            }
        }
    }
    sql.push_str(" ORDER BY id DESC LIMIT 1");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&states)
        .bind(cutoff(u, j.inserted_at))
        .bind(&j.worker)
        .bind(&j.queue)
        .bind(Json(u.pick(&j.args)))
        .bind(Json(u.pick(&j.meta)));
    for k in &u.keys {
        q = q.bind(k);
    }
    let found = q.fetch_optional(&mut *c).await?;
    match found {
        None => Ok(pg_insert_plain(&mut *c, std::slice::from_ref(j)).await?.remove(0)),
        Some(row) => {
            let existing = pg_job(&row)?;
            let mut job = if j.replace.iter().any(|(s, _)| *s == existing.state) {
                let w = |f| wants(&j.replace, existing.state, f);
                let row = sqlx::query(PG_REPLACE)
                    .bind(existing.id)
                    .bind(w(ReplaceField::Args))
                    .bind(Json(&j.args))
                    .bind(w(ReplaceField::MaxAttempts))
                    .bind(j.max_attempts)
                    .bind(w(ReplaceField::Meta))
                    .bind(Json(&j.meta))
                    .bind(w(ReplaceField::Priority))
                    .bind(j.priority)
                    .bind(w(ReplaceField::Queue))
                    .bind(&j.queue)
                    .bind(w(ReplaceField::ScheduledAt))
                    .bind(j.scheduled_at)
                    .bind(w(ReplaceField::Tags))
                    .bind(Json(&j.tags))
                    .bind(w(ReplaceField::Worker))
                    .bind(&j.worker)
                    .fetch_one(&mut *c)
                    .await?;
                pg_job(&row)?
            } else {
                existing
            };
            job.conflict = true;
            Ok(job)
        }
    }
}

async fn lite_insert_unique(c: &mut SqliteConnection, j: &NewJob) -> Result<Job, JobsError> {
    let u = j.unique.as_ref().expect("unique job");
    let states = serde_json::to_string(&u.states.states().iter().map(|s| s.as_str()).collect::<Vec<_>>()).unwrap_or_default();
    let mut sql = String::from("SELECT * FROM zzz_jobs WHERE state IN (SELECT value FROM json_each(?1)) AND ");
    sql.push_str(match u.timestamp {
        UniqueTimestamp::InsertedAt => "inserted_at >= ?2",
        UniqueTimestamp::ScheduledAt => "scheduled_at >= ?2",
    });
    // Key paths are bound as parameters ?7, ?8, … ($."key" with the key JSON-quoted).
    let paths: Vec<String> = u.keys.iter().map(|k| format!("$.{}", serde_json::Value::String(k.clone()))).collect();
    for f in &u.fields {
        match (f, u.keys.is_empty()) {
            (UniqueField::Worker, _) => sql.push_str(" AND worker = ?3"),
            (UniqueField::Queue, _) => sql.push_str(" AND queue = ?4"),
            (UniqueField::Args, true) => sql.push_str(" AND json(args) = json(?5)"),
            (UniqueField::Meta, true) => sql.push_str(" AND json(meta) = json(?6)"),
            (field, false) => {
                let (col, new) = if *field == UniqueField::Args { ("args", "?5") } else { ("meta", "?6") };
                for (i, k) in u.keys.iter().enumerate() {
                    let present = if *field == UniqueField::Args { j.args.get(k).is_some() } else { j.meta.get(k).is_some() };
                    if present {
                        let p = 7 + i;
                        sql.push_str(&format!(" AND json_quote(json_extract({col}, ?{p})) IS json_quote(json_extract({new}, ?{p}))"));
                    }
                }
            }
        }
    }
    sql.push_str(" ORDER BY id DESC LIMIT 1");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(states)
        .bind(ts(cutoff(u, j.inserted_at)))
        .bind(&j.worker)
        .bind(&j.queue)
        .bind(j.args.to_string())
        .bind(j.meta.to_string());
    for p in paths {
        q = q.bind(p);
    }
    let found = q.fetch_optional(&mut *c).await?;
    match found {
        None => Ok(lite_insert_plain(&mut *c, std::slice::from_ref(j)).await?.remove(0)),
        Some(row) => {
            let existing = lite_job(&row)?;
            let mut job = if j.replace.iter().any(|(s, _)| *s == existing.state) {
                let w = |f| wants(&j.replace, existing.state, f);
                let row = sqlx::query(LITE_REPLACE)
                    .bind(existing.id)
                    .bind(w(ReplaceField::Args))
                    .bind(j.args.to_string())
                    .bind(w(ReplaceField::MaxAttempts))
                    .bind(j.max_attempts)
                    .bind(w(ReplaceField::Meta))
                    .bind(j.meta.to_string())
                    .bind(w(ReplaceField::Priority))
                    .bind(j.priority)
                    .bind(w(ReplaceField::Queue))
                    .bind(&j.queue)
                    .bind(w(ReplaceField::ScheduledAt))
                    .bind(ts(j.scheduled_at))
                    .bind(w(ReplaceField::Tags))
                    .bind(serde_json::to_string(&j.tags).unwrap_or_default())
                    .bind(w(ReplaceField::Worker))
                    .bind(&j.worker)
                    .fetch_one(&mut *c)
                    .await?;
                lite_job(&row)?
            } else {
                existing
            };
            job.conflict = true;
            Ok(job)
        }
    }
}

/// Insert jobs; unique ones are checked one by one under a lock, the rest go in one
/// statement. The result is in input order.
pub(crate) async fn insert(ex: &mut RawExecutor<'_>, jobs: Vec<NewJob>) -> Result<Vec<Job>, JobsError> {
    if jobs.is_empty() {
        return Ok(vec![]);
    }
    let any_unique = jobs.iter().any(|j| j.unique.is_some());
    if !any_unique {
        return dispatch!(ex, |pg| pg_insert_plain(pg, &jobs).await, |lt| lite_insert_plain(lt, &jobs).await);
    }
    match ex {
        RawExecutor::PgPool(p) => {
            let mut tx = p.begin().await?;
            let out = pg_insert_mixed(&mut tx, &jobs).await?;
            tx.commit().await?;
            Ok(out)
        }
        RawExecutor::Pg(c) => pg_insert_mixed(c, &jobs).await,
        RawExecutor::SqlitePool(p) => {
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
            let out = lite_insert_mixed(&mut tx, &jobs).await?;
            tx.commit().await?;
            Ok(out)
        }
        RawExecutor::Sqlite(c) => lite_insert_mixed(c, &jobs).await,
    }
}

async fn pg_insert_mixed(c: &mut PgConnection, jobs: &[NewJob]) -> Result<Vec<Job>, JobsError> {
    let plain: Vec<NewJob> = jobs.iter().filter(|j| j.unique.is_none()).cloned().collect();
    let mut plain_out = pg_insert_plain(&mut *c, &plain).await?.into_iter();
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        if j.unique.is_some() {
            out.push(pg_insert_unique(c, j).await?);
        } else {
            out.push(plain_out.next().ok_or_else(|| JobsError::Decode("insert returned fewer rows".into()))?);
        }
    }
    Ok(out)
}

async fn lite_insert_mixed(c: &mut SqliteConnection, jobs: &[NewJob]) -> Result<Vec<Job>, JobsError> {
    let plain: Vec<NewJob> = jobs.iter().filter(|j| j.unique.is_none()).cloned().collect();
    let mut plain_out = if plain.is_empty() { vec![] } else { lite_insert_plain(&mut *c, &plain).await? }.into_iter();
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        if j.unique.is_some() {
            out.push(lite_insert_unique(c, j).await?);
        } else {
            out.push(plain_out.next().ok_or_else(|| JobsError::Decode("insert returned fewer rows".into()))?);
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------ fetching

const PG_FETCH: &str = "WITH subset AS (\
      SELECT id FROM zzz_jobs WHERE state = 'available' AND queue = $1 \
      ORDER BY priority, scheduled_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
    UPDATE zzz_jobs j SET state = 'executing', attempted_at = $3, attempted_by = ARRAY[$4::text], attempt = j.attempt + 1 \
    FROM subset WHERE j.id = subset.id AND j.attempt < j.max_attempts \
    RETURNING j.*";

const LITE_FETCH: &str = "UPDATE zzz_jobs SET state = 'executing', attempted_at = ?3, attempted_by = json_array(?4), attempt = attempt + 1 \
    WHERE id IN (SELECT id FROM zzz_jobs WHERE state = 'available' AND queue = ?1 AND attempt < max_attempts \
                 ORDER BY priority, scheduled_at, id LIMIT ?2) \
    RETURNING *";

/// Claim up to `demand` available jobs of `queue` for `node`.
pub(crate) async fn fetch(ex: &mut RawExecutor<'_>, queue: &str, demand: i64, node: &str, now: DateTime<Utc>) -> Result<Vec<Job>, JobsError> {
    match ex {
        RawExecutor::PgPool(p) => pg_jobs(sqlx::query(PG_FETCH).bind(queue).bind(demand).bind(now).bind(node).fetch_all(*p).await?),
        RawExecutor::Pg(c) => pg_jobs(sqlx::query(PG_FETCH).bind(queue).bind(demand).bind(now).bind(node).fetch_all(&mut **c).await?),
        RawExecutor::SqlitePool(p) => {
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
            let rows = sqlx::query(LITE_FETCH).bind(queue).bind(demand).bind(ts(now)).bind(node).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            lite_jobs(rows)
        }
        RawExecutor::Sqlite(c) => lite_jobs(sqlx::query(LITE_FETCH).bind(queue).bind(demand).bind(ts(now)).bind(node).fetch_all(&mut **c).await?),
    }
}

// ------------------------------------------------------------------ acknowledging

/// How an attempt ended, as written to the row.
#[derive(Debug, Clone)]
pub(crate) enum AckKind {
    /// Back to `retryable` (or `discarded` when out of attempts) with this error.
    Fail { state: JobState, retry_at: DateTime<Utc>, error: AttemptError },
    Cancel { error: AttemptError },
    Discard { error: AttemptError },
    Snooze { until: DateTime<Utc> },
}

/// Mark many jobs completed in one statement.
pub(crate) async fn complete_many(ex: &mut RawExecutor<'_>, ids: &[i64], now: DateTime<Utc>) -> Result<u64, JobsError> {
    if ids.is_empty() {
        return Ok(0);
    }
    const PG: &str = "UPDATE zzz_jobs SET state = 'completed', completed_at = $2 WHERE id = ANY($1) AND state = 'executing'";
    const LT: &str = "UPDATE zzz_jobs SET state = 'completed', completed_at = ?2 WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'executing'";
    let r = dispatch!(
        ex,
        |pg| sqlx::query(PG).bind(ids).bind(now).execute(pg).await?.rows_affected(),
        |lt| sqlx::query(LT).bind(serde_json::to_string(ids).unwrap_or_default()).bind(ts(now)).execute(lt).await?.rows_affected()
    );
    Ok(r)
}

/// Write a non-success end of an attempt.
pub(crate) async fn ack(ex: &mut RawExecutor<'_>, id: i64, kind: &AckKind, now: DateTime<Utc>) -> Result<(), JobsError> {
    match kind {
        AckKind::Fail { state, retry_at, error } => {
            const PG: &str = "UPDATE zzz_jobs SET state = $2, scheduled_at = $3, \
                discarded_at = CASE WHEN $2 = 'discarded' THEN $4 ELSE discarded_at END, errors = array_append(errors, $5::jsonb) WHERE id = $1 AND state = 'executing'";
            const LT: &str = "UPDATE zzz_jobs SET state = ?2, scheduled_at = ?3, \
                discarded_at = CASE WHEN ?2 = 'discarded' THEN ?4 ELSE discarded_at END, errors = json_insert(errors, '$[#]', json(?5)) WHERE id = ?1 AND state = 'executing'";
            dispatch!(
                ex,
                |pg| sqlx::query(PG).bind(id).bind(state.as_str()).bind(retry_at).bind(now).bind(Json(error)).execute(pg).await.map(|_| ())?,
                |lt| sqlx::query(LT).bind(id).bind(state.as_str()).bind(ts(*retry_at)).bind(ts(now)).bind(serde_json::to_string(error).unwrap_or_default()).execute(lt).await.map(|_| ())?
            );
        }
        AckKind::Cancel { error } => {
            const PG: &str = "UPDATE zzz_jobs SET state = 'cancelled', cancelled_at = $2, errors = array_append(errors, $3::jsonb) WHERE id = $1 AND state = 'executing'";
            const LT: &str = "UPDATE zzz_jobs SET state = 'cancelled', cancelled_at = ?2, errors = json_insert(errors, '$[#]', json(?3)) WHERE id = ?1 AND state = 'executing'";
            dispatch!(
                ex,
                |pg| sqlx::query(PG).bind(id).bind(now).bind(Json(error)).execute(pg).await.map(|_| ())?,
                |lt| sqlx::query(LT).bind(id).bind(ts(now)).bind(serde_json::to_string(error).unwrap_or_default()).execute(lt).await.map(|_| ())?
            );
        }
        AckKind::Discard { error } => {
            const PG: &str = "UPDATE zzz_jobs SET state = 'discarded', discarded_at = $2, errors = array_append(errors, $3::jsonb) WHERE id = $1 AND state = 'executing'";
            const LT: &str = "UPDATE zzz_jobs SET state = 'discarded', discarded_at = ?2, errors = json_insert(errors, '$[#]', json(?3)) WHERE id = ?1 AND state = 'executing'";
            dispatch!(
                ex,
                |pg| sqlx::query(PG).bind(id).bind(now).bind(Json(error)).execute(pg).await.map(|_| ())?,
                |lt| sqlx::query(LT).bind(id).bind(ts(now)).bind(serde_json::to_string(error).unwrap_or_default()).execute(lt).await.map(|_| ())?
            );
        }
        AckKind::Snooze { until } => {
            const PG: &str = "UPDATE zzz_jobs SET state = 'scheduled', scheduled_at = $2, attempt = GREATEST(attempt - 1, 0), \
                meta = jsonb_set(meta, '{snoozed}', to_jsonb(COALESCE((meta->>'snoozed')::bigint, 0) + 1)) WHERE id = $1 AND state = 'executing'";
            const LT: &str = "UPDATE zzz_jobs SET state = 'scheduled', scheduled_at = ?2, attempt = MAX(attempt - 1, 0), \
                meta = json_set(meta, '$.snoozed', COALESCE(json_extract(meta, '$.snoozed'), 0) + 1) WHERE id = ?1 AND state = 'executing'";
            dispatch!(
                ex,
                |pg| sqlx::query(PG).bind(id).bind(until).execute(pg).await.map(|_| ())?,
                |lt| sqlx::query(LT).bind(id).bind(ts(*until)).execute(lt).await.map(|_| ())?
            );
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ plugins

/// Move due scheduled/retryable jobs to available; returns the queues touched. On
/// Postgres the queues are also notified.
pub(crate) async fn stage(ex: &mut RawExecutor<'_>, now: DateTime<Utc>, limit: i64) -> Result<Vec<String>, JobsError> {
    const PG: &str = "WITH due AS (SELECT id FROM zzz_jobs WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= $1 \
                        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED), \
                      staged AS (UPDATE zzz_jobs j SET state = 'available' FROM due WHERE j.id = due.id RETURNING j.queue) \
                      SELECT DISTINCT queue FROM staged";
    const PG_NOTIFY: &str = "SELECT pg_notify($1, json_build_object('schema', current_schema(), 'queue', q)::text) FROM unnest($2::text[]) AS q";
    const LT: &str = "UPDATE zzz_jobs SET state = 'available' WHERE id IN (SELECT id FROM zzz_jobs WHERE state IN ('scheduled', 'retryable') \
                      AND scheduled_at <= ?1 ORDER BY id LIMIT ?2) RETURNING queue";
    match ex {
        RawExecutor::PgPool(p) => {
            let queues: Vec<String> = sqlx::query_scalar(PG).bind(now).bind(limit).fetch_all(*p).await?;
            if !queues.is_empty() {
                sqlx::query(PG_NOTIFY).bind(NOTIFY_CHANNEL).bind(&queues).execute(*p).await?;
            }
            Ok(queues)
        }
        RawExecutor::Pg(c) => {
            let queues: Vec<String> = sqlx::query_scalar(PG).bind(now).bind(limit).fetch_all(&mut **c).await?;
            Ok(queues)
        }
        RawExecutor::SqlitePool(p) => {
            let mut q: Vec<String> = sqlx::query_scalar(LT).bind(ts(now)).bind(limit).fetch_all(*p).await?;
            q.sort();
            q.dedup();
            Ok(q)
        }
        RawExecutor::Sqlite(c) => {
            let mut q: Vec<String> = sqlx::query_scalar(LT).bind(ts(now)).bind(limit).fetch_all(&mut **c).await?;
            q.sort();
            q.dedup();
            Ok(q)
        }
    }
}

/// Delete up to `limit` finished jobs that finished before `before`.
pub(crate) async fn prune(ex: &mut RawExecutor<'_>, before: DateTime<Utc>, limit: i64) -> Result<u64, JobsError> {
    const PG: &str = "DELETE FROM zzz_jobs WHERE id IN (SELECT id FROM zzz_jobs WHERE \
        (state = 'completed' AND completed_at < $1) OR (state = 'cancelled' AND cancelled_at < $1) OR (state = 'discarded' AND discarded_at < $1) \
        LIMIT $2 FOR UPDATE SKIP LOCKED)";
    const LT: &str = "DELETE FROM zzz_jobs WHERE id IN (SELECT id FROM zzz_jobs WHERE \
        (state = 'completed' AND completed_at < ?1) OR (state = 'cancelled' AND cancelled_at < ?1) OR (state = 'discarded' AND discarded_at < ?1) \
        LIMIT ?2)";
    Ok(dispatch!(
        ex,
        |pg| sqlx::query(PG).bind(before).bind(limit).execute(pg).await?.rows_affected(),
        |lt| sqlx::query(LT).bind(ts(before)).bind(limit).execute(lt).await?.rows_affected()
    ))
}

/// The lifeline: jobs stuck in `executing` — started before `started_before`, or
/// claimed by a node whose heartbeat has expired — go back to `available`, or to
/// `discarded` when their attempts are used up. Returns how many were rescued.
pub(crate) async fn rescue(ex: &mut RawExecutor<'_>, now: DateTime<Utc>, started_before: DateTime<Utc>) -> Result<u64, JobsError> {
    const PG: &str = "UPDATE zzz_jobs SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'available' END, \
        discarded_at = CASE WHEN attempt >= max_attempts THEN $1 ELSE discarded_at END \
        WHERE state = 'executing' AND (attempted_at < $2 OR NOT EXISTS \
          (SELECT 1 FROM zzz_peers p WHERE p.name = 'node:' || zzz_jobs.attempted_by[1] AND p.expires_at > $1))";
    const LT: &str = "UPDATE zzz_jobs SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'available' END, \
        discarded_at = CASE WHEN attempt >= max_attempts THEN ?1 ELSE discarded_at END \
        WHERE state = 'executing' AND (attempted_at < ?2 OR NOT EXISTS \
          (SELECT 1 FROM zzz_peers p WHERE p.name = 'node:' || json_extract(zzz_jobs.attempted_by, '$[0]') AND p.expires_at > ?1))";
    Ok(dispatch!(
        ex,
        |pg| sqlx::query(PG).bind(now).bind(started_before).execute(pg).await?.rows_affected(),
        |lt| sqlx::query(LT).bind(ts(now)).bind(ts(started_before)).execute(lt).await?.rows_affected()
    ))
}

/// Put jobs this node still holds back to `available` (shutdown after the grace period).
pub(crate) async fn release(ex: &mut RawExecutor<'_>, ids: &[i64], now: DateTime<Utc>) -> Result<u64, JobsError> {
    const PG: &str = "UPDATE zzz_jobs SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'available' END, \
        discarded_at = CASE WHEN attempt >= max_attempts THEN $2 ELSE discarded_at END WHERE id = ANY($1) AND state = 'executing'";
    const LT: &str = "UPDATE zzz_jobs SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'available' END, \
        discarded_at = CASE WHEN attempt >= max_attempts THEN ?2 ELSE discarded_at END WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'executing'";
    Ok(dispatch!(
        ex,
        |pg| sqlx::query(PG).bind(ids).bind(now).execute(pg).await?.rows_affected(),
        |lt| sqlx::query(LT).bind(serde_json::to_string(ids).unwrap_or_default()).bind(ts(now)).execute(lt).await?.rows_affected()
    ))
}

/// Refresh this node's heartbeat row.
pub(crate) async fn heartbeat(ex: &mut RawExecutor<'_>, node: &str, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<(), JobsError> {
    const PG: &str = "INSERT INTO zzz_peers (name, node, started_at, expires_at) VALUES ('node:' || $1, $1, $2, $3) \
        ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at";
    const LT: &str = "INSERT INTO zzz_peers (name, node, started_at, expires_at) VALUES ('node:' || ?1, ?1, ?2, ?3) \
        ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at";
    dispatch!(
        ex,
        |pg| sqlx::query(PG).bind(node).bind(now).bind(expires).execute(pg).await.map(|_| ())?,
        |lt| sqlx::query(LT).bind(node).bind(ts(now)).bind(ts(expires)).execute(lt).await.map(|_| ())?
    );
    Ok(())
}

/// Take or keep the leadership: true when `node` is the leader until `expires`.
pub(crate) async fn elect(ex: &mut RawExecutor<'_>, node: &str, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<bool, JobsError> {
    const PG: &str = "INSERT INTO zzz_peers (name, node, started_at, expires_at) VALUES ('leader', $1, $2, $3) \
        ON CONFLICT (name) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at, \
          started_at = CASE WHEN zzz_peers.node = excluded.node THEN zzz_peers.started_at ELSE excluded.started_at END \
        WHERE zzz_peers.node = excluded.node OR zzz_peers.expires_at < $2 RETURNING node";
    const LT: &str = "INSERT INTO zzz_peers (name, node, started_at, expires_at) VALUES ('leader', ?1, ?2, ?3) \
        ON CONFLICT (name) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at, \
          started_at = CASE WHEN zzz_peers.node = excluded.node THEN zzz_peers.started_at ELSE excluded.started_at END \
        WHERE zzz_peers.node = excluded.node OR zzz_peers.expires_at < ?2 RETURNING node";
    let got: Option<String> = dispatch!(
        ex,
        |pg| sqlx::query_scalar(PG).bind(node).bind(now).bind(expires).fetch_optional(pg).await?,
        |lt| sqlx::query_scalar(LT).bind(node).bind(ts(now)).bind(ts(expires)).fetch_optional(lt).await?
    );
    Ok(got.as_deref() == Some(node))
}

/// Remove this node's rows (heartbeat, and leadership if held) so others take over at once.
pub(crate) async fn resign(ex: &mut RawExecutor<'_>, node: &str) -> Result<(), JobsError> {
    const PG: &str = "DELETE FROM zzz_peers WHERE node = $1";
    const LT: &str = "DELETE FROM zzz_peers WHERE node = ?1";
    dispatch!(ex, |pg| sqlx::query(PG).bind(node).execute(pg).await.map(|_| ())?, |lt| sqlx::query(LT).bind(node).execute(lt).await.map(|_| ())?);
    Ok(())
}

/// Delete heartbeat rows of nodes that expired before `before`.
pub(crate) async fn prune_peers(ex: &mut RawExecutor<'_>, before: DateTime<Utc>) -> Result<(), JobsError> {
    const PG: &str = "DELETE FROM zzz_peers WHERE name <> 'leader' AND expires_at < $1";
    const LT: &str = "DELETE FROM zzz_peers WHERE name <> 'leader' AND expires_at < ?1";
    dispatch!(ex, |pg| sqlx::query(PG).bind(before).execute(pg).await.map(|_| ())?, |lt| sqlx::query(LT).bind(ts(before)).execute(lt).await.map(|_| ())?);
    Ok(())
}

/// The current leader node, if its lease has not expired.
pub(crate) async fn leader(ex: &mut RawExecutor<'_>, now: DateTime<Utc>) -> Result<Option<String>, JobsError> {
    const PG: &str = "SELECT node FROM zzz_peers WHERE name = 'leader' AND expires_at > $1";
    const LT: &str = "SELECT node FROM zzz_peers WHERE name = 'leader' AND expires_at > ?1";
    Ok(dispatch!(
        ex,
        |pg| sqlx::query_scalar(PG).bind(now).fetch_optional(pg).await?,
        |lt| sqlx::query_scalar(LT).bind(ts(now)).fetch_optional(lt).await?
    ))
}

// ------------------------------------------------------------------ management

/// One job by id.
pub(crate) async fn get(ex: &mut RawExecutor<'_>, id: i64) -> Result<Option<Job>, JobsError> {
    const PG: &str = "SELECT * FROM zzz_jobs WHERE id = $1";
    const LT: &str = "SELECT * FROM zzz_jobs WHERE id = ?1";
    dispatch!(
        ex,
        |pg| sqlx::query(PG).bind(id).fetch_optional(pg).await?.as_ref().map(pg_job).transpose(),
        |lt| sqlx::query(LT).bind(id).fetch_optional(lt).await?.as_ref().map(lite_job).transpose()
    )
}

/// Jobs in any of `states` (all when empty), optionally of one queue, by id.
pub(crate) async fn recent(ex: &mut RawExecutor<'_>, states: &[JobState], limit: i64) -> Result<Vec<Job>, JobsError> {
    let st: Vec<&str> = if states.is_empty() { JobState::ALL.iter().map(|s| s.as_str()).collect() } else { states.iter().map(|s| s.as_str()).collect() };
    const PG: &str = "SELECT * FROM zzz_jobs WHERE state = ANY($1) ORDER BY id DESC LIMIT $2";
    const LT: &str = "SELECT * FROM zzz_jobs WHERE state IN (SELECT value FROM json_each(?1)) ORDER BY id DESC LIMIT ?2";
    dispatch!(
        ex,
        |pg| pg_jobs(sqlx::query(PG).bind(&st).bind(limit).fetch_all(pg).await?),
        |lt| lite_jobs(sqlx::query(LT).bind(serde_json::to_string(&st).unwrap_or_default()).bind(limit).fetch_all(lt).await?)
    )
}

pub(crate) async fn list(ex: &mut RawExecutor<'_>, states: &[JobState], queue: Option<&str>) -> Result<Vec<Job>, JobsError> {
    let st: Vec<&str> = if states.is_empty() { JobState::ALL.iter().map(|s| s.as_str()).collect() } else { states.iter().map(|s| s.as_str()).collect() };
    const PG: &str = "SELECT * FROM zzz_jobs WHERE state = ANY($1) AND ($2::text IS NULL OR queue = $2) ORDER BY id";
    const LT: &str = "SELECT * FROM zzz_jobs WHERE state IN (SELECT value FROM json_each(?1)) AND (?2 IS NULL OR queue = ?2) ORDER BY id";
    dispatch!(
        ex,
        |pg| pg_jobs(sqlx::query(PG).bind(&st).bind(queue).fetch_all(pg).await?),
        |lt| lite_jobs(sqlx::query(LT).bind(serde_json::to_string(&st).unwrap_or_default()).bind(queue).fetch_all(lt).await?)
    )
}

/// `(queue, state, count)` for every non-empty combination.
pub(crate) async fn counts(ex: &mut RawExecutor<'_>) -> Result<Vec<(String, String, i64)>, JobsError> {
    const SQL: &str = "SELECT queue, state, COUNT(*) FROM zzz_jobs GROUP BY queue, state ORDER BY queue, state";
    Ok(dispatch!(
        ex,
        |pg| sqlx::query_as::<_, (String, String, i64)>(SQL).fetch_all(pg).await?,
        |lt| sqlx::query_as::<_, (String, String, i64)>(SQL).fetch_all(lt).await?
    ))
}

/// Cancel a job that has not finished; returns the updated job.
pub(crate) async fn cancel(ex: &mut RawExecutor<'_>, id: i64, now: DateTime<Utc>) -> Result<Option<Job>, JobsError> {
    const PG: &str = "UPDATE zzz_jobs SET state = 'cancelled', cancelled_at = $2 WHERE id = $1 AND state NOT IN ('completed', 'discarded', 'cancelled') RETURNING *";
    const LT: &str = "UPDATE zzz_jobs SET state = 'cancelled', cancelled_at = ?2 WHERE id = ?1 AND state NOT IN ('completed', 'discarded', 'cancelled') RETURNING *";
    dispatch!(
        ex,
        |pg| sqlx::query(PG).bind(id).bind(now).fetch_optional(pg).await?.as_ref().map(pg_job).transpose(),
        |lt| sqlx::query(LT).bind(id).bind(ts(now)).fetch_optional(lt).await?.as_ref().map(lite_job).transpose()
    )
}

/// Make a finished or waiting job available now (one more attempt if needed).
pub(crate) async fn retry(ex: &mut RawExecutor<'_>, id: i64, now: DateTime<Utc>) -> Result<Option<Job>, JobsError> {
    const PG: &str = "UPDATE zzz_jobs SET state = 'available', scheduled_at = $2, max_attempts = GREATEST(max_attempts, attempt + 1), \
        completed_at = NULL, cancelled_at = NULL, discarded_at = NULL WHERE id = $1 AND state NOT IN ('available', 'executing') RETURNING *";
    const LT: &str = "UPDATE zzz_jobs SET state = 'available', scheduled_at = ?2, max_attempts = MAX(max_attempts, attempt + 1), \
        completed_at = NULL, cancelled_at = NULL, discarded_at = NULL WHERE id = ?1 AND state NOT IN ('available', 'executing') RETURNING *";
    dispatch!(
        ex,
        |pg| sqlx::query(PG).bind(id).bind(now).fetch_optional(pg).await?.as_ref().map(pg_job).transpose(),
        |lt| sqlx::query(LT).bind(id).bind(ts(now)).fetch_optional(lt).await?.as_ref().map(lite_job).transpose()
    )
}

/// The schema name Postgres notifications are scoped to.
pub(crate) async fn current_schema(p: &sqlx::PgPool) -> Result<String, JobsError> {
    Ok(sqlx::query_scalar::<_, String>("SELECT current_schema()").fetch_one(p).await?)
}

/// Tell every node's queue `queue` that jobs are available (Postgres only; a no-op elsewhere).
pub(crate) async fn notify(ex: &mut RawExecutor<'_>, queue: &str) -> Result<(), JobsError> {
    const PG: &str = "SELECT pg_notify($1, json_build_object('schema', current_schema(), 'queue', $2::text)::text)";
    match ex {
        RawExecutor::PgPool(p) => {
            sqlx::query(PG).bind(NOTIFY_CHANNEL).bind(queue).execute(*p).await?;
        }
        RawExecutor::Pg(c) => {
            sqlx::query(PG).bind(NOTIFY_CHANNEL).bind(queue).execute(&mut **c).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Send a control signal to every node (Postgres only; a no-op elsewhere).
pub(crate) async fn signal(ex: &mut RawExecutor<'_>, payload: &str) -> Result<(), JobsError> {
    const PG: &str = "SELECT pg_notify($1, $2)";
    match ex {
        RawExecutor::PgPool(p) => {
            sqlx::query(PG).bind(SIGNAL_CHANNEL).bind(payload).execute(*p).await?;
        }
        RawExecutor::Pg(c) => {
            sqlx::query(PG).bind(SIGNAL_CHANNEL).bind(payload).execute(&mut **c).await?;
        }
        _ => {}
    }
    Ok(())
}
