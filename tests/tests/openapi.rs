//! The served OpenAPI document of examples/hello: it validates, the server behaves as
//! it says (schemathesis drives every operation), and Swagger UI lists the operations
//! in a real headless Chromium.

use std::process::Command;
use std::time::Duration;

use zzz::ServerConfig;
use zzz::openapi::DocumentedRouter;
use zzz_tests::RunningServer;
use zzz_tests::tools::{chromium_command, python_tool};

fn spec_file() -> tempfile_path::TempPath {
    let json = <hello::HelloRouter as DocumentedRouter>::openapi_json();
    tempfile_path::write("hello-openapi.json", json)
}

/// A file under target/ that is removed when dropped.
mod tempfile_path {
    pub struct TempPath(pub std::path::PathBuf);
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    pub fn write(name: &str, bytes: &[u8]) -> TempPath {
        let path = zzz_tests::tools::tools_dir().join(format!("{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).expect("write spec file");
        TempPath(path)
    }
}

#[test]
fn the_spec_validates_with_openapi_spec_validator() {
    let file = spec_file();
    let out = Command::new(python_tool("openapi-spec-validator")).arg(&file.0).output().expect("run openapi-spec-validator");
    assert!(
        out.status.success(),
        "openapi-spec-validator rejected the spec:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let spec: serde_json::Value = serde_json::from_slice(<hello::HelloRouter as DocumentedRouter>::openapi_json()).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let user = &spec["paths"]["/users/{id}"]["get"];
    assert_eq!(user["parameters"][0]["schema"]["type"], "integer", "Path<i64> types the id: {user}");
    assert_eq!(user["responses"]["200"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/User");
    assert!(user["responses"]["400"].is_object(), "the Path rejection is documented: {user}");
    assert_eq!(spec["paths"]["/api/slow"]["get"]["parameters"][0]["name"], "ms");
    assert!(spec["paths"].get("/api/openapi.json").is_none(), "the spec route documents itself: {spec}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_behaves_as_its_spec_says() {
    let schemathesis = tokio::task::spawn_blocking(|| python_tool("schemathesis")).await.unwrap();
    let server = RunningServer::start(hello::endpoint(), ServerConfig::default());
    let url = format!("http://{}/api/openapi.json", server.addr);
    let out = tokio::process::Command::new(schemathesis)
        .args(["run", &url, "--checks", "all", "--max-examples", "30", "--workers", "2", "--seed", "20261122"])
        .env("SCHEMATHESIS_HOOKS", "")
        // schemathesis keeps a cache in its working directory: keep it under target/.
        .current_dir(zzz_tests::tools::tools_dir())
        .output()
        .await
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&out.stdout);
    server.stop().await;
    assert!(out.status.success(), "schemathesis found the server differing from its spec:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Tested: 6"), "every operation was exercised:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_lists_the_operations_in_chromium() {
    let server = RunningServer::start(hello::endpoint(), ServerConfig::default());
    let url = format!("http://{}/api/docs", server.addr);
    let profile = zzz_tests::tools::tools_dir().join(format!("chromium-profile-{}", std::process::id()));
    let mut cmd = chromium_command(&profile);
    cmd.args(["--virtual-time-budget=15000", "--dump-dom", &url]);
    let out = tokio::time::timeout(Duration::from_secs(120), tokio::process::Command::from(cmd).output())
        .await
        .expect("chromium finished within 2 minutes")
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    server.stop().await;
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("swagger-ui"), "Swagger UI did not render:\n{}", String::from_utf8_lossy(&out.stderr));
    for path in ["/users/{id}", "/api/slow", "/echo", "/json", "/files/{path}"] {
        assert!(dom.contains(&format!("data-path=\"{path}\"")), "operation {path} missing from Swagger UI's page");
    }
    assert!(dom.contains("A user by integer id"), "summaries are shown");
}


mod documented_errors {
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;
    use zzz::openapi::{ApiConfig, DocumentedRouter};
    use zzz::{Json, Path};

    zzz::router! {
        pub ErrRouter;
        openapi "/spec.json", docs: "/docs" => ApiConfig::new("errors", "1").bearer_auth("bearer").serving(false);
        post "/things" => create_thing, doc(security = ["bearer"]);
        get "/things/:id" => show_thing;
    }

    #[derive(Deserialize, ToSchema)]
    pub struct NewThing {
        pub name: String,
    }

    #[derive(Serialize, ToSchema)]
    pub struct Thing {
        pub name: String,
    }

    async fn create_thing(Json(new): Json<NewThing>) -> Result<Json<Thing>, zzz_db::Error> {
        if new.name.is_empty() {
            let errors = zzz_db::Errors(vec![(
                "name".into(),
                zzz_db::FieldError::new("can't be blank", vec![("validation", serde_json::json!("required"))]),
            )]);
            return Err(zzz_db::Error::Changeset(zzz_db::error::ChangesetError { table: "things", errors }));
        }
        Ok(Json(Thing { name: new.name }))
    }

    async fn show_thing(Path(id): Path<u64>) -> Result<Json<Thing>, zzz_db::Error> {
        Err(zzz_db::Error::NotFound(zzz_db::error::NotFoundError { table: "things", lookup: format!("id = {id}") }))
    }

    #[test]
    fn changeset_rejections_and_auth_failures_are_documented_as_sent() {
        let spec: serde_json::Value = serde_json::from_slice(<ErrRouter as DocumentedRouter>::openapi_json()).unwrap();
        let create = &spec["paths"]["/things"]["post"];
        let unprocessable = &create["responses"]["422"]["content"]["application/json"]["schema"];
        assert_eq!(unprocessable["required"][0], "errors", "{create}");
        assert_eq!(unprocessable["properties"]["errors"]["additionalProperties"]["items"]["type"], "string");
        assert!(create["responses"]["401"].is_object(), "security documents the 401: {create}");
        assert_eq!(create["security"][0]["bearer"], serde_json::json!([]));
        assert!(spec["paths"]["/things/{id}"]["get"]["responses"]["404"].is_object());
        assert_eq!(spec["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }

    #[tokio::test]
    async fn the_documented_errors_are_what_the_server_sends() {
        let client = zzz::test::TestClient::new(zzz::Endpoint::new(ErrRouter::new()));
        let res = client.post("/things").json(&serde_json::json!({"name": ""})).await;
        res.assert_status(422).assert_header("content-type", "application/json");
        res.assert_json(serde_json::json!({"errors": {"name": ["can't be blank"]}}));
        client.get("/things/7").await.assert_status(404).assert_text_contains("things");
        client.post("/things").json(&serde_json::json!({"name": "a"})).await.assert_status(200);
    }

    #[tokio::test]
    async fn serving_off_answers_404_for_spec_and_docs() {
        let client = zzz::test::TestClient::new(zzz::Endpoint::new(ErrRouter::new()));
        client.get("/spec.json").await.assert_status(404).assert_text_contains("not served");
        client.get("/docs/").await.assert_status(404);
    }
}
