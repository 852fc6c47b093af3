{{zzz:if html}}

/// `templates/{{zzz:name}}/{{zzz:action}}.html`.
#[derive(Template)]
#[template(askama = zzz::template::askama, path = "{{zzz:name}}/{{zzz:action}}.html")]
pub struct {{zzz:title}}Page {
    /// Flash messages, CSRF token.
    pub ctx: PageContext,
}

/// `GET {{zzz:path}}`.
pub async fn {{zzz:action}}(ctx: PageContext) -> Page<{{zzz:title}}Page> {
    Page({{zzz:title}}Page { ctx })
}
{{zzz:else}}

/// `GET {{zzz:path}}`.
pub async fn {{zzz:action}}() -> Json<Answer> {
    Json(Answer { controller: "{{zzz:name}}", action: "{{zzz:action}}" })
}
{{zzz:end}}
