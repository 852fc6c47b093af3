//! The served OpenAPI document: it validates (openapi-spec-validator), and the API
//! behaves as it says (schemathesis drives every operation against a real server).
//!
//! The server here has no job runner, so the random workloads schemathesis submits are
//! stored and never run. Every check runs but `use_after_free`: `DELETE` means "stop",
//! and a stopped workload stays readable.

use control_plane::agent::{Agent, AgentConfig};
use control_plane::control::{App, ControlRouter, ServeConfig};
use zzz::openapi::DocumentedRouter;
use zzz_tests::RunningServer;
use zzz_tests::tools::{python_tool, tools_dir};

#[tokio::test]
async fn the_spec_validates_and_documents_the_api() {
    let path = tools_dir().join(format!("control_plane-openapi-{}.json", std::process::id()));
    std::fs::write(&path, <ControlRouter as DocumentedRouter>::openapi_json()).unwrap();
    let validator = tokio::task::spawn_blocking(|| python_tool("openapi-spec-validator")).await.unwrap();
    let out = tokio::process::Command::new(validator).arg(&path).output().await.expect("run openapi-spec-validator");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "openapi-spec-validator rejected the spec:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    let spec: serde_json::Value = serde_json::from_slice(<ControlRouter as DocumentedRouter>::openapi_json()).unwrap();
    let create = &spec["paths"]["/workloads"]["post"];
    assert_eq!(create["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/NewWorkload");
    for status in ["201", "401", "409", "422"] {
        assert!(create["responses"][status].is_object(), "POST /workloads documents {status}: {create}");
    }
    assert_eq!(create["security"][0]["bearer"], serde_json::json!([]), "writes declare the bearer token");
    assert!(spec["paths"]["/workloads/{id}"]["get"]["responses"]["404"].is_object());
    assert!(spec["paths"]["/workloads/{id}"]["delete"]["responses"]["202"].is_object());
    assert!(spec["paths"]["/agents"]["get"]["responses"]["503"].is_object());
    let states = &spec["components"]["schemas"]["WorkloadState"]["enum"];
    assert_eq!(states, &serde_json::json!(["pending", "running", "succeeded", "failed", "stopped", "lost"]));
    assert!(spec["paths"].get("/").is_none(), "the HTML page is not part of the API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_behaves_as_its_spec_says() {
    let schemathesis = tokio::task::spawn_blocking(|| python_tool("schemathesis")).await.unwrap();
    // One real agent, checked once, so that `GET /agents` answers 200 (schemathesis
    // counts the documented 503 as a server error); the random agents it registers are
    // never checked.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = ServeConfig::for_database(&crate::support::sqlite_url("openapi"));
    config.agents.push(listener.local_addr().unwrap().to_string());
    config.api_token = Some("contract-test-token-0123".parse().unwrap());
    tokio::spawn(Agent::new(AgentConfig::named("contract")).serve(listener));
    let app = App::connect(config).await.expect("start the app");
    assert_eq!(control_plane::control::jobs::check_all(&app).await.unwrap(), 1);
    let server = RunningServer::start(app.endpoint(), zzz::ServerConfig::default());
    let url = format!("http://{}/api/openapi.json", server.addr);
    let out = tokio::process::Command::new(schemathesis)
        .args(["run", &url, "--checks", "all", "--max-examples", "40", "--workers", "2", "--seed", "20261122"])
        .args(["--header", "Authorization: Bearer contract-test-token-0123"])
        // `DELETE /workloads/:id` stops a workload, it does not remove it: the stopped
        // workload stays readable by design, which `use_after_free` would call a bug.
        .args(["--exclude-checks", "use_after_free"])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(tools_dir())
        .output()
        .await
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&out.stdout);
    server.stop().await;
    assert!(out.status.success(), "schemathesis found the API differing from its spec:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Tested: 6"), "every operation was exercised:\n{text}");
}
