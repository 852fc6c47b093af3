//! Development: debug error pages, a local database, a secret made for this app by
//! `zzz new` (fine for development; production takes its own from `SECRET_KEY_BASE`).

use super::{Env, Settings};

/// The development settings.
pub fn settings() -> Settings {
    Settings::new(Env::Dev)
{{zzz:if db}}
        .database_url("{{zzz:dev_db_url}}")
{{zzz:end}}
        .secret_key_base("{{zzz:dev_secret}}")
        .port(4000)
}
