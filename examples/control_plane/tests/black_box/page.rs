//! The workloads page in a real headless Chromium: rendered on the server, then kept
//! current by its script over the `workloads` channel — a workload submitted after the
//! page loaded appears and reaches `succeeded` without a reload.

use crate::support::{Proc, sqlite_url, submit, wait_for_state};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_workloads_live_in_chromium() {
    let agent = Proc::agent("page-agent").await;
    let plane = Proc::control_plane(&sqlite_url("page"), &[&agent.addr]).await;
    let cp = plane.addr.clone();
    submit(&cp, "wl-before", 64, &["true"]).await;
    wait_for_state(&cp, "wl-before", "succeeded").await;

    let (_browser, mut page) = zzz_tests::browser::open_page().await;
    page.navigate(&format!("http://{cp}/")).await;
    page.wait_for("the server-rendered row", "document.querySelector('tr[data-id=\"wl-before\"] td.state').textContent === 'succeeded'").await;
    page.wait_for("the channel join", "document.getElementById('live').textContent === 'live'").await;

    submit(&cp, "wl-live", 64, &["sh", "-c", "sleep 1; echo done"]).await;
    page.wait_for("the live row", "document.querySelector('tr[data-id=\"wl-live\"]') !== null").await;
    page.wait_for(
        "the live row to reach succeeded",
        "document.querySelector('tr[data-id=\"wl-live\"] td.state').textContent === 'succeeded'",
    )
    .await;
    let rows = page.eval("document.querySelectorAll('#workloads tbody tr').length").await;
    assert_eq!(rows, 2, "one row per workload, updated in place");
    page.close().await;
    plane.terminate().await;
    drop(agent);
}
