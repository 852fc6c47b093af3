//! Production: generic error pages; the secret comes from `SECRET_KEY_BASE` only (the
//! app refuses to start without one, at least 64 bytes: `openssl rand -base64 64`).
{{zzz:if postgres}}
//! The database comes from `DATABASE_URL`, which must be set.
{{zzz:end}}

use super::{Env, Settings};

/// The production settings.
pub fn settings() -> Settings {
    Settings::new(Env::Prod)
{{zzz:if postgres}}
        .require_database_url()
{{zzz:end}}
{{zzz:if sqlite}}
        .database_url("{{zzz:prod_db_url}}")
{{zzz:end}}
        .port(4000)
}
