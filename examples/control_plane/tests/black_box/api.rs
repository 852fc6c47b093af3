//! The HTTP API basics on both databases (SQLite file, Postgres schema), driven
//! in-process with zzz's test client; then the real binary on Postgres running
//! workloads on a real agent.

use control_plane::control::{App, ServeConfig};
use serde_json::{Value, json};
use crate::support::{Proc, submit, wait_for_state};
use zzz::test::TestClient;
use zzz_db::testing::TestDb;

const TOKEN: &str = "test-token-0123456789";

fn workload(id: &str) -> Value {
    json!({"id": id, "runtime_class": "process", "memory_mb": 64, "cpu_millicores": 250, "command": ["sleep", "1"]})
}

async fn api_basics(database_url: &str) {
    let mut config = ServeConfig::for_database(database_url);
    config.api_token = Some(TOKEN.parse().unwrap());
    let app = App::connect(config).await.expect("connect and migrate");
    let client = TestClient::new(app.endpoint());
    let post = |path: &str| client.post(path).header("authorization", &format!("Bearer {TOKEN}"));
    let delete = |path: &str| client.delete(path).header("authorization", &format!("Bearer {TOKEN}"));

    // Writes need the token; reads do not.
    let res = client.post("/workloads").json(&workload("wl-1")).send().await;
    res.assert_status(401);
    assert!(res.header("www-authenticate").unwrap().starts_with("Bearer realm=\"Application\", error=\"invalid_request\""));
    client.delete("/workloads/wl-1").header("authorization", "Bearer wrong-token-wrong-token").send().await.assert_status(401);
    client.get("/workloads").send().await.assert_status(200);

    let res = client.get("/agents").send().await;
    res.assert_status(503);
    assert!(res.json::<Value>()["error"].as_str().unwrap().starts_with("no agent is registered"), "{}", res.text());

    // Create: 201, then 409 for the same id; a float with no fraction is an integer.
    let mut body = workload("wl-1");
    body["memory_mb"] = json!(64.0);
    let res = post("/workloads").json(&body).send().await;
    res.assert_status(201);
    let created: Value = res.json();
    assert_eq!((created["id"].clone(), created["state"].clone(), created["memory_mb"].clone()), (json!("wl-1"), json!("pending"), json!(64)));
    assert_eq!(created["command"], json!(["sleep", "1"]));
    post("/workloads").json(&workload("wl-1")).send().await.assert_status(409).assert_json(json!({"error": "a workload with id \"wl-1\" already exists"}));

    // Validation names every bad field.
    let res = post("/workloads")
        .json(&json!({"id": "-x", "runtime_class": "process", "memory_mb": "lots", "cpu_millicores": -1, "command": "sleep 1", "image": "x".repeat(300)}))
        .send()
        .await;
    res.assert_status(422).assert_json(json!({"errors": {
        "id": ["has invalid format"],
        "memory_mb": ["is invalid"],
        "cpu_millicores": ["must be greater than or equal to 0"],
        "command": ["is invalid"],
        "image": ["should be at most 255 character(s)"],
    }}));
    post("/workloads").body("{not json").header("content-type", "application/json").send().await.assert_status(400);

    // Show and list.
    let shown: Value = client.get("/workloads/wl-1").send().await.assert_status(200).json();
    assert_eq!(shown["id"], "wl-1");
    client.get("/workloads/wl-404").send().await.assert_status(404).assert_json(json!({"error": "no workload with id \"wl-404\""}));
    for id in ["wl-2", "wl-3"] {
        post("/workloads").json(&workload(id)).send().await.assert_status(201);
    }
    let page: Value = client.get("/workloads?state=pending&per_page=2&page=2").send().await.assert_status(200).json();
    assert_eq!((page["total"].clone(), page["page"].clone(), page["data"][0]["id"].clone()), (json!(3), json!(2), json!("wl-3")));
    let none: Value = client.get("/workloads?state=running").send().await.json();
    assert_eq!(none["total"], 0);
    client.get("/workloads?per_page=101").send().await.assert_status(400).assert_text_contains("per_page");
    client.get("/workloads?page=0").send().await.assert_status(400).assert_text_contains("page");
    client.get("/workloads?state=sleeping").send().await.assert_status(400).assert_text_contains("state");

    // Stop: a workload no agent has yet stops at once; a finished one cannot be stopped.
    let stopped: Value = delete("/workloads/wl-2").send().await.assert_status(202).json();
    assert_eq!((stopped["state"].clone(), stopped["stop_requested"].clone()), (json!("stopped"), json!(true)));
    delete("/workloads/wl-2").send().await.assert_status(409).assert_json(json!({"error": "workload \"wl-2\" already finished: it is stopped"}));
    delete("/workloads/wl-404").send().await.assert_status(404);

    // Agents: registration is validated and idempotent; an unreachable one is a 503.
    post("/agents").json(&json!({"addr": "no port"})).send().await.assert_status(422).assert_json(json!({"errors": {"addr": ["must be host:port"]}}));
    for _ in 0..2 {
        let agent: Value = post("/agents").json(&json!({"addr": "127.0.0.1:1"})).send().await.assert_status(201).json();
        assert_eq!((agent["addr"].clone(), agent["healthy"].clone()), (json!("127.0.0.1:1"), json!(false)));
    }
    control_plane::control::jobs::check_all(&app).await.unwrap();
    let res = client.get("/agents").send().await;
    res.assert_status(503);
    let body: Value = res.json();
    assert_eq!(body["error"], "no agent is reachable (tried 127.0.0.1:1); workloads wait as pending until one answers");
    assert!(body["agents"][0]["last_error"].as_str().unwrap().contains("connect"), "{body}");

    // The page lists them; the API documents itself.
    let page = client.get("/").send().await;
    page.assert_status(200).assert_text_contains("<tr data-id=\"wl-3\">").assert_text_contains("3 workload(s)");
    let spec: Value = client.get("/api/openapi.json").send().await.assert_status(200).json();
    assert_eq!(spec["info"]["title"], "control_plane");
    client.get("/api/docs/").send().await.assert_status(200).assert_text_contains("swagger-ui");
}

#[tokio::test]
async fn api_basics_on_sqlite() {
    let db = TestDb::sqlite_file().await.unwrap();
    api_basics(db.url()).await;
    db.cleanup().await;
}

#[tokio::test]
async fn api_basics_on_postgres() {
    let db = TestDb::postgres().await.unwrap();
    api_basics(db.url()).await;
    db.cleanup().await;
}

/// The binary with `DATABASE_URL=postgres://…`: jobs dispatch and poll through Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_workloads_on_postgres() {
    let db = TestDb::postgres().await.unwrap();
    let agent = Proc::agent("pg-agent").await;
    let plane = Proc::control_plane(db.url(), &[&agent.addr]).await;
    submit(&plane.addr, "pg-true", 64, &["sh", "-c", "echo on postgres"]).await;
    submit(&plane.addr, "pg-false", 64, &["false"]).await;
    let done = wait_for_state(&plane.addr, "pg-true", "succeeded").await;
    assert_eq!((done["agent"].as_str().unwrap(), done["output"].clone()), (agent.addr.as_str(), json!(["on postgres"])));
    wait_for_state(&plane.addr, "pg-false", "failed").await;
    plane.terminate().await;
    drop(agent);
    db.cleanup().await;
}
