//! `GET /`: the workloads page. The table is rendered on the server; a small script
//! joins the `workloads` channel (Phoenix V2 frames over `/socket/websocket`) and
//! updates or adds rows as changes arrive.

use std::fmt::Write;

use zzz::{Html, State};

use super::App;
use super::schema::Workload;
use super::workloads::{self, timestamp};
use zzz::html::escape;

/// How many workloads the page renders (the newest); later ones arrive live.
pub const PAGE_ROWS: u32 = 100;

/// `GET /`.
pub async fn index(State(app): State<App>) -> Result<Html<String>, zzz_db::Error> {
    let (_, total) = workloads::list(&app, None, 1, 1).await?;
    let last_page = u32::try_from((total.max(1) - 1) / i64::from(PAGE_ROWS) + 1).unwrap_or(1);
    let (rows, _) = workloads::list(&app, None, last_page, PAGE_ROWS).await?;
    Ok(Html(render(&rows, total)))
}


fn row(html: &mut String, w: &Workload) {
    let _ = write!(
        html,
        "<tr data-id=\"{id}\"><td>{id}</td><td class=\"state {state}\">{state}</td><td>{agent}</td><td><code>{command}</code></td><td>{mem}</td><td>{exit}</td><td>{error}</td><td>{updated}</td></tr>",
        id = escape(&w.id),
        state = w.state,
        agent = escape(w.agent.as_deref().unwrap_or("")),
        command = escape(&w.command.as_ref().map(|c| c.0.join(" ")).unwrap_or_default()),
        mem = w.memory_mb.unwrap_or_default(),
        exit = w.exit_code.map(|c| c.to_string()).or(w.signal.map(|s| format!("signal {s}"))).unwrap_or_default(),
        error = escape(w.error.as_deref().unwrap_or("")),
        updated = timestamp(w.updated_at),
    );
}

fn render(rows: &[Workload], total: i64) -> String {
    let mut html = String::from(concat!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Workloads</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}",
        "th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}.succeeded{color:#070}",
        ".failed,.lost{color:#b00}.running{color:#05a}</style></head><body><h1>Workloads</h1>",
        "<p><span id=\"live\">connecting…</span> · API: <a href=\"/api/docs/\">Swagger UI</a></p>",
        "<table id=\"workloads\"><thead><tr><th>id</th><th>state</th><th>agent</th><th>command</th>",
        "<th>memory MiB</th><th>exit</th><th>error</th><th>updated</th></tr></thead><tbody>",
    ));
    for w in rows {
        row(&mut html, w);
    }
    let _ = write!(html, "</tbody></table><p id=\"total\">{total} workload(s)</p>");
    html.push_str(concat!("<script>", include_str!("page.js"), "</script></body></html>"));
    html
}
