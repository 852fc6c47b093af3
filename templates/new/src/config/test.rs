//! Tests: the suite drives the endpoint in-process (`zzz::test::TestClient`), each test
//! on a fresh database (`zzz_db::testing::TestDb`), so no server or port is needed.

use super::{Env, Settings};

/// The test settings.
pub fn settings() -> Settings {
    Settings::new(Env::Test)
{{zzz:if db}}
        .database_url("{{zzz:test_db_url}}")
{{zzz:end}}
        .secret_key_base("{{zzz:test_secret}}")
        .port(4002)
}
