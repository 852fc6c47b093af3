//! `GET /`: the home page.

{{zzz:if html}}
use zzz::template::askama::Template;
use zzz::template::{Page, PageContext};

/// The home page, rendered from `templates/page/index.html` inside the app layout.
#[derive(Template)]
#[template(askama = zzz::template::askama, path = "page/index.html")]
pub struct IndexPage {
    /// Flash messages, CSRF token, request path.
    pub ctx: PageContext,
    /// The app's name.
    pub app: &'static str,
}

/// `GET /`: the home page.
pub async fn index(ctx: PageContext) -> Page<IndexPage> {
    Page(IndexPage { ctx, app: env!("CARGO_PKG_NAME") })
}
{{zzz:else}}
use serde::Serialize;
use zzz::Json;

/// The body of `GET /`.
#[derive(Serialize)]
pub struct Welcome {
    /// The app's name.
    pub app: &'static str,
    /// Where to look next.
    pub health: String,
}

/// `GET /`: the app's name and where its health check is.
pub async fn index() -> Json<Welcome> {
    Json(Welcome { app: env!("CARGO_PKG_NAME"), health: crate::router::AppRouter::api_health_path() })
}
{{zzz:end}}
