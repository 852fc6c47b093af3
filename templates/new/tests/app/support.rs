//! What the tests share: the app behind an in-process client (`zzz::test::TestClient`,
{{zzz:if db}}
//! no socket, no port), on a fresh, migrated database per test
//! (`zzz_db::testing::TestDb`).
{{zzz:else}}
//! no socket, no port).
{{zzz:end}}
#![allow(dead_code)] // each test file uses a part of it

use zzz::config::Env;
use zzz::test::TestClient;
{{zzz:if db}}
use zzz_db::testing::TestDb;
use zzz_db::{Migrator, Repo};
{{zzz:end}}

/// One test's app.
pub struct TestApp {
    /// Sends requests to the app's endpoint; keeps cookies (session, CSRF) between them.
    pub client: TestClient,
{{zzz:if db}}
    /// The test's own database, migrated.
    pub repo: Repo,
    db: TestDb,
{{zzz:end}}
}

/// The app as configured for the `test` environment.
pub async fn app() -> TestApp {
    let config = {{zzz:app}}::config::for_env(Env::Test).expect("the test config");
{{zzz:if db}}
{{zzz:if postgres}}
    // A fresh schema on the Postgres server at ZZZ_TEST_DATABASE_URL
    // (default postgres://postgres@127.0.0.1:5432/postgres).
    let db = TestDb::postgres().await.expect("a test database");
{{zzz:else}}
    let db = TestDb::sqlite_memory().await.expect("a test database");
{{zzz:end}}
    Migrator::new({{zzz:app}}::migrations::all()).run(&db.repo).await.expect("migrate the test database");
    let repo = db.repo.clone();
    let client = TestClient::new({{zzz:app}}::endpoint(&config, repo.clone())).with_cookies();
    TestApp { client, repo, db }
{{zzz:else}}
    TestApp { client: TestClient::new({{zzz:app}}::endpoint(&config)).with_cookies() }
{{zzz:end}}
}

impl TestApp {
    /// Removes the test's database.
    pub async fn cleanup(self) {
{{zzz:if db}}
        drop(self.client);
        self.db.cleanup().await;
{{zzz:end}}
    }

    /// The CSRF token of a page's form (`<input name="_csrf_token" value="…">`).
    pub fn csrf_token(page: &str) -> String {
        let marker = "name=\"_csrf_token\" value=\"";
        let start = page.find(marker).map(|i| i + marker.len()).expect("a CSRF token in the page");
        page[start..].split('"').next().unwrap_or_default().to_owned()
    }
}
