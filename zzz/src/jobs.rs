//! A read-only zzz_jobs dashboard an app mounts in its router (feature `jobs`): every
//! queue's job counts per state, and the most recent failures with their last error.
//!
//! The handler reads the app's [`zzz_db::Repo`] from the endpoint state, so give the
//! endpoint the repo the queue runs on, and put the route behind whatever pipeline
//! protects your admin pages:
//!
//! ```
//! zzz::router! {
//!     pub AdminRouter;
//!     get "/admin/jobs" => zzz::jobs::dashboard;
//! }
//! # async fn setup(repo: zzz_db::Repo) {
//! let endpoint = zzz::Endpoint::new(AdminRouter::new()).state(repo);
//! # }
//! ```

use std::fmt::Write;

use http::StatusCode;
use zzz_jobs::{Job, JobState, Jobs};

use crate::extract::State;
use crate::response::{Html, IntoResponse, Response, error_response};
use crate::html::escape;

/// How many recent failures the page lists.
pub const RECENT_FAILURES: i64 = 25;

/// `GET` handler: the dashboard page (HTML, every value escaped).
pub async fn dashboard(State(repo): State<zzz_db::Repo>) -> Response {
    let counts = match Jobs::counts(&repo).await {
        Ok(counts) => counts,
        Err(err) => return unavailable(err),
    };
    let failures = match Jobs::recent(&repo, &[JobState::Retryable, JobState::Discarded], RECENT_FAILURES).await {
        Ok(jobs) => jobs,
        Err(err) => return unavailable(err),
    };
    Html(render(&counts, &failures)).into_response()
}

fn unavailable(err: zzz_jobs::JobsError) -> Response {
    error_response(StatusCode::SERVICE_UNAVAILABLE, format!("the jobs dashboard could not read the jobs table: {err}"))
}


/// The page: a table of queues × states, then the recent failures.
fn render(counts: &[(String, JobState, i64)], failures: &[Job]) -> String {
    let mut queues: Vec<&str> = counts.iter().map(|(q, _, _)| q.as_str()).collect();
    queues.dedup();
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Jobs</title>\
         <style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;margin-bottom:2rem}\
         th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}th:first-child,td.text{text-align:left}</style>\
         </head><body><h1>Jobs</h1><h2>Queues</h2><table id=\"queues\"><tr><th>queue</th>",
    );
    for state in JobState::ALL {
        let _ = write!(html, "<th>{state}</th>");
    }
    html.push_str("</tr>");
    if queues.is_empty() {
        let _ = write!(html, "<tr><td class=\"text\" colspan=\"{}\">no jobs</td></tr>", JobState::ALL.len() + 1);
    }
    for queue in queues {
        let _ = write!(html, "<tr data-queue=\"{0}\"><td class=\"text\">{0}</td>", escape(queue));
        for state in JobState::ALL {
            let n = counts.iter().find(|(q, s, _)| q == queue && *s == state).map_or(0, |(_, _, n)| *n);
            let _ = write!(html, "<td data-state=\"{state}\">{n}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table><h2>Recent failures</h2><table id=\"failures\"><tr><th>id</th><th>worker</th><th>queue</th><th>state</th><th>attempt</th><th>last error</th><th>at</th></tr>");
    if failures.is_empty() {
        html.push_str("<tr><td class=\"text\" colspan=\"7\">none</td></tr>");
    }
    for job in failures {
        let last = job.errors.last();
        let _ = write!(
            html,
            "<tr data-id=\"{}\"><td>{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{}/{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
            job.id,
            job.id,
            escape(&job.worker),
            escape(&job.queue),
            job.state,
            job.attempt,
            job.max_attempts,
            escape(last.map_or("", |e| e.error.as_str())),
            last.map(|e| e.at.to_rfc3339()).unwrap_or_default(),
        );
    }
    html.push_str("</table></body></html>");
    html
}
