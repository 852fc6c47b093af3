//! `/{{zzz:table}}`: pages (index, show, new, edit) and forms (create, update, delete) for
//! {{zzz:human}} rows, as Phoenix's `phx.gen.html`. Templates live in
//! `templates/{{zzz:table}}/`; invalid input re-renders the form with the changeset's errors
//! (422), success redirects with a flash message.

use std::collections::BTreeMap;

use serde::Deserialize;
use zzz::plugs::{Flash, Form};
use zzz::template::askama::Template;
use zzz::template::{Page, PageContext};
use zzz::{IntoResponse, Path, Redirect, Response, State, StatusCode};
use zzz_db::{Error, Query, Repo};

use crate::models::{{zzz:module}}::{{zzz:schema}};
use crate::router::AppRouter;

/// `templates/{{zzz:table}}/index.html`: every row.
#[derive(Template)]
#[template(askama = zzz::template::askama, path = "{{zzz:table}}/index.html")]
pub struct IndexPage {
    /// Flash messages, CSRF token.
    pub ctx: PageContext,
    /// The rows, oldest first.
    pub items: Vec<{{zzz:schema}}>,
}

/// `templates/{{zzz:table}}/show.html`: one row.
#[derive(Template)]
#[template(askama = zzz::template::askama, path = "{{zzz:table}}/show.html")]
pub struct ShowPage {
    /// Flash messages, CSRF token.
    pub ctx: PageContext,
    /// The row.
    pub item: {{zzz:schema}},
}

/// `templates/{{zzz:table}}/form.html`: the new and edit pages.
#[derive(Template)]
#[template(askama = zzz::template::askama, path = "{{zzz:table}}/form.html")]
pub struct FormPage {
    /// Flash messages, CSRF token.
    pub ctx: PageContext,
    /// The page's heading.
    pub title: String,
    /// Where the form posts.
    pub action: String,
    /// `put` for an edit form (sent as `_method`), empty for a new one.
    pub method: &'static str,
    /// The values shown in the inputs.
    pub values: BTreeMap<String, String>,
    /// The changeset's errors per field.
    pub errors: BTreeMap<String, Vec<String>>,
}

impl FormPage {
    /// A field's value as the form shows it.
    pub fn value(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    /// A field's errors, joined.
    pub fn error(&self, field: &str) -> Option<String> {
        self.errors.get(field).map(|messages| messages.join(", "))
    }
}

/// A JSON object's fields as form values.
fn form_values(json: &serde_json::Value) -> BTreeMap<String, String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    json.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), text(v))).collect()).unwrap_or_default()
}

/// The form's body: `{{zzz:var}}[field]=value` pairs.
#[derive(Deserialize)]
pub struct Params {
    /// The submitted fields (none when the form sent nothing).
    #[serde(default)]
    pub {{zzz:var}}: serde_json::Value,
}

/// `GET /{{zzz:table}}`.
pub async fn index(ctx: PageContext, State(repo): State<Repo>) -> Result<Page<IndexPage>, Error> {
    let items = repo.all(Query::from::<{{zzz:schema}}>().order_by({{zzz:schema}}::id.asc())).await?;
    Ok(Page(IndexPage { ctx, items }))
}

/// `GET /{{zzz:table}}/:id`.
pub async fn show(ctx: PageContext, State(repo): State<Repo>, Path(id): Path<i64>) -> Result<Page<ShowPage>, Error> {
    Ok(Page(ShowPage { ctx, item: repo.fetch::<{{zzz:schema}}>(id).await? }))
}

/// `GET /{{zzz:table}}/new`.
pub async fn new(ctx: PageContext) -> Page<FormPage> {
    Page(FormPage {
        ctx,
        title: "New {{zzz:human}}".to_owned(),
        action: AppRouter::{{zzz:var}}s_path(),
        method: "",
        values: BTreeMap::new(),
        errors: BTreeMap::new(),
    })
}

/// `POST /{{zzz:table}}`: redirects to the new row, or re-renders the form (422).
pub async fn create(ctx: PageContext, flash: Flash, State(repo): State<Repo>, Form(params): Form<Params>) -> Result<Response, Error> {
    match repo.insert({{zzz:schema}}::changeset({{zzz:schema}}::default(), &params.{{zzz:var}})).await {
        Ok(created) => {
            flash.put("info", "{{zzz:schema}} created.");
            Ok(Redirect::see_other(&AppRouter::{{zzz:var}}_path(created.id)).into_response())
        }
        Err(Error::Changeset(err)) => {
            let page = FormPage {
                ctx,
                title: "New {{zzz:human}}".to_owned(),
                action: AppRouter::{{zzz:var}}s_path(),
                method: "",
                values: form_values(&params.{{zzz:var}}),
                errors: err.errors.to_map(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response())
        }
        Err(other) => Err(other),
    }
}

/// `GET /{{zzz:table}}/:id/edit`.
pub async fn edit(ctx: PageContext, State(repo): State<Repo>, Path(id): Path<i64>) -> Result<Page<FormPage>, Error> {
    let item = repo.fetch::<{{zzz:schema}}>(id).await?;
    Ok(Page(FormPage {
        ctx,
        title: "Edit {{zzz:human}}".to_owned(),
        action: AppRouter::{{zzz:var}}_path(id),
        method: "put",
        values: form_values(&serde_json::to_value(&item).unwrap_or_default()),
        errors: BTreeMap::new(),
    }))
}

/// `PUT`/`PATCH /{{zzz:table}}/:id`: redirects to the row, or re-renders the form (422).
pub async fn update(
    ctx: PageContext,
    flash: Flash,
    State(repo): State<Repo>,
    Path(id): Path<i64>,
    Form(params): Form<Params>,
) -> Result<Response, Error> {
    let current = repo.fetch::<{{zzz:schema}}>(id).await?;
    match repo.update({{zzz:schema}}::changeset(current, &params.{{zzz:var}})).await {
        Ok(_) => {
            flash.put("info", "{{zzz:schema}} updated.");
            Ok(Redirect::see_other(&AppRouter::{{zzz:var}}_path(id)).into_response())
        }
        Err(Error::Changeset(err)) => {
            let page = FormPage {
                ctx,
                title: "Edit {{zzz:human}}".to_owned(),
                action: AppRouter::{{zzz:var}}_path(id),
                method: "put",
                values: form_values(&params.{{zzz:var}}),
                errors: err.errors.to_map(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response())
        }
        Err(other) => Err(other),
    }
}

/// `DELETE /{{zzz:table}}/:id`: redirects to the list.
pub async fn delete(flash: Flash, State(repo): State<Repo>, Path(id): Path<i64>) -> Result<Redirect, Error> {
    let current = repo.fetch::<{{zzz:schema}}>(id).await?;
    repo.delete(current).await?;
    flash.put("info", "{{zzz:schema}} deleted.");
    Ok(Redirect::see_other(&AppRouter::{{zzz:var}}s_path()))
}
