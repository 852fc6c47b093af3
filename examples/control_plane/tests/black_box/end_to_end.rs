//! The whole product, black-box: the real binary as two agents and a control plane on
//! loopback, a SQLite file database, the HTTP API and a channel subscription over a real
//! WebSocket. Workloads succeed, fail, run out of memory and are stopped; an agent is
//! killed and its workloads become `lost`; the control plane restarts and every
//! workload is still there.

use serde_json::{Value, json};
use crate::support::{Proc, Subscriber, http, sqlite_url, submit, wait_for_state};

/// The ids in a `GET /workloads` page.
fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_run_on_agents_are_watched_stopped_lost_and_survive_a_restart() {
    let database_url = sqlite_url("e2e");
    let agent_a = Proc::agent("agent-a").await;
    let agent_b = Proc::agent("agent-b").await;
    let (addr_a, addr_b) = (agent_a.addr.clone(), agent_b.addr.clone());
    let plane = Proc::control_plane(&database_url, &[&addr_a, &addr_b]).await;
    let cp = plane.addr.clone();

    // Both agents healthy.
    let start = std::time::Instant::now();
    loop {
        let (status, body) = http(&cp, "GET", "/agents", None).await;
        let healthy = body["agents"].as_array().map_or(0, |a| a.iter().filter(|a| a["healthy"] == true).count());
        if status == 200 && healthy == 2 {
            break;
        }
        assert!(start.elapsed() < crate::support::DEADLINE, "agents never healthy: {status} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Watch everything, and one workload on its own topic.
    let mut watcher = Subscriber::connect(&cp).await;
    assert_eq!(watcher.join("workloads").await["status"], "ok");
    let refused = watcher.join("workload:wl-sleep").await;
    assert_eq!(refused, json!({"status": "error", "response": {"reason": "no workload with id \"wl-sleep\""}}));

    // Bad input: a 422 naming the fields, then a 409 for a duplicate id.
    let (status, body) = http(&cp, "POST", "/workloads", Some(&json!({"id": "no spaces", "runtime_class": "vm", "memory_mb": 0, "command": []}))).await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({"errors": {
            "id": ["has invalid format"],
            "runtime_class": ["is invalid"],
            "memory_mb": ["must be greater than or equal to 1"],
            "command": ["must have at least 1 item(s)"],
        }})
    );

    submit(&cp, "wl-sleep", 64, &["sleep", "1"]).await;
    let joined = watcher.join("workload:wl-sleep").await;
    assert_eq!(joined["status"], "ok");
    assert_eq!(joined["response"]["workload"]["id"], "wl-sleep");
    let (status, body) = http(&cp, "POST", "/workloads", Some(&json!({"id": "wl-sleep", "runtime_class": "process", "memory_mb": 64, "command": ["true"]}))).await;
    assert_eq!((status, body), (409, json!({"error": "a workload with id \"wl-sleep\" already exists"})));

    submit(&cp, "wl-false", 64, &["false"]).await;
    // 64 MiB of address space is far too little for 512 MiB: Python raises MemoryError.
    submit(&cp, "wl-oom", 64, &["python3", "-c", "x = bytearray(512 * 1024 * 1024)"]).await;
    submit(&cp, "wl-stop", 64, &["sleep", "300"]).await;
    let (status, docker) = http(
        &cp,
        "POST",
        "/workloads",
        Some(&json!({"id": "wl-docker", "image": "nginx:1.27", "runtime_class": "docker", "memory_mb": 128, "command": ["nginx"]})),
    )
    .await;
    assert_eq!(status, 201, "{docker}");

    // Through the API…
    let done = wait_for_state(&cp, "wl-sleep", "succeeded").await;
    assert_eq!(done["exit_code"], 0);
    assert!(done["agent"] == addr_a.as_str() || done["agent"] == addr_b.as_str(), "{done}");
    let failed = wait_for_state(&cp, "wl-false", "failed").await;
    assert_eq!((failed["exit_code"].clone(), failed["error"].clone()), (json!(1), json!("exited with status 1")));
    let oom = wait_for_state(&cp, "wl-oom", "failed").await;
    assert!(oom["output"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("MemoryError")), "{oom}");
    let docker = wait_for_state(&cp, "wl-docker", "failed").await;
    assert!(docker["error"].as_str().unwrap().contains("no Docker engine socket at /var/run/docker.sock"), "{docker}");

    // …and through the channels: its own topic and the firehose.
    watcher.wait_for_change("workload:wl-sleep", "wl-sleep", "running").await;
    let succeeded = watcher.wait_for_change("workload:wl-sleep", "wl-sleep", "succeeded").await;
    assert_eq!(succeeded["exit_code"], 0);
    watcher.wait_for_change("workloads", "wl-sleep", "succeeded").await;
    watcher.wait_for_change("workloads", "wl-false", "failed").await;
    watcher.wait_for_change("workloads", "wl-oom", "failed").await;

    // Stop one.
    wait_for_state(&cp, "wl-stop", "running").await;
    let (status, stopping) = http(&cp, "DELETE", "/workloads/wl-stop", None).await;
    assert_eq!(status, 202, "{stopping}");
    assert_eq!(stopping["stop_requested"], true);
    let stopped = wait_for_state(&cp, "wl-stop", "stopped").await;
    assert_eq!(stopped["signal"], 9);
    watcher.wait_for_change("workloads", "wl-stop", "stopped").await;
    let (status, body) = http(&cp, "DELETE", "/workloads/wl-stop", None).await;
    assert_eq!((status, body), (409, json!({"error": "workload \"wl-stop\" already finished: it is stopped"})));
    assert_eq!(http(&cp, "GET", "/workloads/nope", None).await, (404, json!({"error": "no workload with id \"nope\""})));

    // Listing: by state, a page at a time.
    let (status, page) = http(&cp, "GET", "/workloads?state=failed", None).await;
    assert_eq!(status, 200);
    let mut failed_ids = ids(&page);
    failed_ids.sort();
    assert_eq!(failed_ids, ["wl-docker", "wl-false", "wl-oom"]);
    let (_, first) = http(&cp, "GET", "/workloads?per_page=2&page=1", None).await;
    let (_, third) = http(&cp, "GET", "/workloads?per_page=2&page=3", None).await;
    assert_eq!((first["total"].clone(), ids(&first).len(), ids(&third).len()), (json!(5), 2, 1));
    let (status, bad) = http(&cp, "GET", "/workloads?state=sleeping", None).await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad.as_str().unwrap().contains("state"), "{bad}");

    // Kill an agent: what ran there becomes lost; the other agent's workloads are untouched.
    submit(&cp, "wl-long-1", 64, &["sleep", "300"]).await;
    submit(&cp, "wl-long-2", 64, &["sleep", "300"]).await;
    assert_eq!(watcher.join("workload:wl-long-1").await["status"], "ok");
    let long1 = wait_for_state(&cp, "wl-long-1", "running").await;
    let long2 = wait_for_state(&cp, "wl-long-2", "running").await;
    let victim_addr = long1["agent"].as_str().unwrap().to_owned();
    let (victim, survivor) = if victim_addr == addr_a { (agent_a, agent_b) } else { (agent_b, agent_a) };
    victim.kill().await;
    let lost = wait_for_state(&cp, "wl-long-1", "lost").await;
    assert!(lost["error"].as_str().unwrap().contains(&format!("agent {victim_addr} stopped answering")), "{lost}");
    watcher.wait_for_change("workload:wl-long-1", "wl-long-1", "lost").await;
    watcher.wait_for_change("workloads", "wl-long-1", "lost").await;
    if long2["agent"] != victim_addr.as_str() {
        let (_, still) = http(&cp, "GET", "/workloads/wl-long-2", None).await;
        assert_eq!(still["state"], "running", "a workload on the live agent is not lost: {still}");
    }
    let (status, agents) = http(&cp, "GET", "/agents", None).await;
    assert_eq!(status, 200, "one agent still answers: {agents}");
    let victim_view = agents["agents"].as_array().unwrap().iter().find(|a| a["addr"] == victim_addr.as_str()).unwrap().clone();
    assert_eq!(victim_view["healthy"], false, "{agents}");

    // Restart the control plane: everything is still there, and new work still runs.
    let (_, before) = http(&cp, "GET", "/workloads?per_page=100", None).await;
    plane.terminate().await;
    let plane = Proc::control_plane(&database_url, &[]).await;
    let cp = plane.addr.clone();
    let (status, after) = http(&cp, "GET", "/workloads?per_page=100", None).await;
    assert_eq!(status, 200);
    let states = |page: &Value| -> Vec<(String, String)> {
        page["data"].as_array().unwrap().iter().map(|w| (w["id"].as_str().unwrap().into(), w["state"].as_str().unwrap().into())).collect()
    };
    assert_eq!(after["total"], 7, "{after}");
    for (id, state) in states(&before) {
        let now = states(&after).into_iter().find(|(i, _)| *i == id).unwrap_or_else(|| panic!("{id} vanished in the restart"));
        if state != "running" {
            assert_eq!(now.1, state, "{id} changed in the restart");
        }
    }
    // The agents were remembered: the survivor runs new work without `--agent`.
    submit(&cp, "wl-after-restart", 64, &["sh", "-c", "echo back"]).await;
    let back = wait_for_state(&cp, "wl-after-restart", "succeeded").await;
    assert_eq!((back["agent"].as_str().unwrap(), back["output"].clone()), (survivor.addr.as_str(), json!(["back"])));
    let (status, page) = http(&cp, "GET", "/", None).await;
    assert_eq!(status, 200);
    let page = page.as_str().unwrap().to_owned();
    assert!(page.contains("<tr data-id=\"wl-after-restart\">") && page.contains("8 workload(s)"), "{page}");
    plane.terminate().await;
    drop(survivor);
}

/// Dispatch is a job retried while no agent answers: a workload submitted before any
/// agent is up waits as `pending` and runs once one starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_waits_for_an_agent_and_runs_once_one_answers() {
    // A free port for the agent-to-be (nothing listens on it until the agent starts).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let agent_addr = format!("127.0.0.1:{port}");
    let plane = Proc::control_plane(&sqlite_url("late-agent"), &[&agent_addr]).await;
    let cp = plane.addr.clone();

    let (status, body) = http(&cp, "GET", "/agents", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with(&format!("no agent is reachable (tried {agent_addr})")), "{body}");
    submit(&cp, "wl-early", 64, &["true"]).await;
    // Several dispatch attempts fail meanwhile; the workload stays pending.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let (_, early) = http(&cp, "GET", "/workloads/wl-early", None).await;
    assert_eq!(early["state"], "pending", "{early}");

    let agent = Proc::spawn(&["agent", "--listen", &agent_addr, "--name", "late"], &[]).await;
    let done = wait_for_state(&cp, "wl-early", "succeeded").await;
    assert_eq!(done["agent"], agent_addr.as_str());
    let (status, body) = http(&cp, "GET", "/agents", None).await;
    assert_eq!((status, body["agents"][0]["name"].clone()), (200, json!("late")), "{body}");
    plane.terminate().await;
    drop(agent);
}

/// A full agent answers `busy`; the dispatch retries and the workload runs once there
/// is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_agent_makes_the_dispatch_retry() {
    let agent = Proc::spawn(&["agent", "--listen", "127.0.0.1:0", "--name", "one-slot", "--max-running", "1"], &[]).await;
    let plane = Proc::control_plane(&sqlite_url("busy"), &[&agent.addr]).await;
    let cp = plane.addr.clone();
    submit(&cp, "wl-slot-1", 64, &["sleep", "1"]).await;
    submit(&cp, "wl-slot-2", 64, &["sleep", "1"]).await;
    for id in ["wl-slot-1", "wl-slot-2"] {
        let done = wait_for_state(&cp, id, "succeeded").await;
        assert_eq!(done["agent"], agent.addr.as_str());
    }
    plane.terminate().await;
    drop(agent);
}
