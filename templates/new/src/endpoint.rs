//! The endpoint: the app's state and the plugs every request goes through before the
//! router (as Phoenix's `Endpoint`): logger, error pages, body parsers, `_method`
//! override.

use zzz::plugs::{Logger, MethodOverride, Parsers};
{{zzz:if html}}
use zzz::template::ErrorPages;
{{zzz:end}}
use zzz::{Endpoint, Pipeline};
{{zzz:if channels}}
use zzz::pubsub::PubSub;
{{zzz:end}}

use crate::config::Config;
use crate::router::AppRouter;

/// Builds the app from its configuration.
{{zzz:if db}}
pub fn endpoint(config: &Config, repo: zzz_db::Repo) -> Endpoint<AppRouter> {
{{zzz:else}}
pub fn endpoint(config: &Config) -> Endpoint<AppRouter> {
{{zzz:end}}
{{zzz:if html}}
    let error_pages = if config.debug_errors { ErrorPages::debug() } else { ErrorPages::new() };
{{zzz:end}}
    Endpoint::new(AppRouter::new())
        .state(config.secret_key_base.clone())
{{zzz:if db}}
        .state(repo)
{{zzz:end}}
{{zzz:if channels}}
        .socket(crate::channels::socket(PubSub::new()))
{{zzz:end}}
        .pipeline(
            Pipeline::new()
                .plug(Logger::new())
{{zzz:if html}}
                .plug(error_pages)
{{zzz:end}}
                .plug(Parsers::new())
                .plug(MethodOverride),
        )
}
