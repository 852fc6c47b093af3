//! The settings per environment, resolved against given variables (not the process's).

use {{zzz:app}}::config::{ConfigError, Env, settings};

fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
}

const SECRET: &str = "a production secret that is long enough: sixty-four bytes or more, really";

#[test]
fn dev_and_test_run_without_any_variable() {
    for env in [Env::Dev, Env::Test] {
        let config = settings(env).resolve_with(vars(&[])).expect("the config");
        assert!(config.debug_errors);
{{zzz:if db}}
        assert!(!config.database_url.is_empty());
{{zzz:end}}
    }
}

#[test]
fn prod_refuses_to_start_without_a_real_secret() {
    let err = settings(Env::Prod).resolve_with(vars(&[])).unwrap_err();
    assert_eq!(err, ConfigError::MissingSecret);
    let err = settings(Env::Prod).resolve_with(vars(&[("SECRET_KEY_BASE", "short")])).unwrap_err();
    assert_eq!(err, ConfigError::ShortSecret { len: 5, from_env: true });
{{zzz:if postgres}}
    let err = settings(Env::Prod).resolve_with(vars(&[("SECRET_KEY_BASE", SECRET)])).unwrap_err();
    assert_eq!(err, ConfigError::MissingDatabaseUrl(Env::Prod));
    let config = settings(Env::Prod)
        .resolve_with(vars(&[("SECRET_KEY_BASE", SECRET), ("DATABASE_URL", "postgres://db/{{zzz:app}}")]))
        .expect("the prod config");
{{zzz:else}}
    let config = settings(Env::Prod).resolve_with(vars(&[("SECRET_KEY_BASE", SECRET)])).expect("the prod config");
{{zzz:end}}
    assert!(!config.debug_errors);
}

#[test]
fn variables_override_the_settings() {
    let config = settings(Env::Dev)
        .resolve_with(vars(&[("PORT", "4321"){{zzz:if db}}, ("DATABASE_URL", "sqlite::memory:"){{zzz:end}}]))
        .expect("the config");
    assert_eq!(config.server.addr.port(), 4321);
{{zzz:if db}}
    assert_eq!(config.database_url, "sqlite::memory:");
{{zzz:end}}
}
