//! The `{{zzz:schema}}` pages at `/{{zzz:table}}`: forms with CSRF tokens, redirects, flash
//! messages and errors.

use crate::support::{self, TestApp};

/// The form fields of a valid {{zzz:human}}.
fn valid() -> Vec<(String, String)> {
    vec![{{zzz:valid_attrs}}]
}

/// Other valid values.
fn changed() -> Vec<(String, String)> {
    vec![{{zzz:update_attrs}}]
}

/// `fields` as a form body, with the page's CSRF token (and `_method` when given).
fn form(page: &str, method: Option<&str>, fields: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut form = vec![("_csrf_token".to_owned(), TestApp::csrf_token(page))];
    if let Some(method) = method {
        form.push(("_method".to_owned(), method.to_owned()));
    }
    form.extend(fields.into_iter().map(|(k, v)| (format!("{{zzz:var}}[{k}]"), v)));
    form
}

#[tokio::test]
async fn create_show_edit_and_delete_through_the_forms() {
    let app = support::app().await;
    let new_page = app.client.get("/{{zzz:table}}/new").await;
    new_page.assert_status(200).assert_text_contains("New {{zzz:human}}");

    let created = app.client.post("/{{zzz:table}}").form(&form(&new_page.text(), None, valid())).await;
    created.assert_status(303);
    let location = created.header("location").expect("a redirect").to_owned();
    let shown = app.client.get(&location).await;
    shown.assert_status(200).assert_text_contains("{{zzz:schema}} created.");
    for (_, value) in valid() {
        if value != "true" && value != "false" {
            shown.assert_text_contains(&value);
        }
    }
    app.client.get("/{{zzz:table}}").await.assert_status(200).assert_text_contains(&format!("href=\"{location}\""));

    let edit_page = app.client.get(&format!("{location}/edit")).await;
    edit_page.assert_status(200).assert_text_contains("Edit {{zzz:human}}");
    let updated = app.client.post(&location).form(&form(&edit_page.text(), Some("put"), changed())).await;
    updated.assert_status(303);
    let shown = app.client.get(&location).await;
    shown.assert_text_contains("{{zzz:schema}} updated.");
    for (_, value) in changed() {
        if value != "true" && value != "false" {
            shown.assert_text_contains(&value);
        }
    }

    let deleted = app.client.post(&location).form(&form(&shown.text(), Some("delete"), vec![])).await;
    deleted.assert_status(303).assert_header("location", "/{{zzz:table}}");
    app.client.get(&location).await.assert_status(404);
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_input_re_renders_the_form_with_errors() {
    let app = support::app().await;
    let new_page = app.client.get("/{{zzz:table}}/new").await;
    let res = app.client.post("/{{zzz:table}}").form(&form(&new_page.text(), None, vec![])).await;
    res.assert_status(422).assert_text_contains("can&#39;t be blank");
    app.cleanup().await;
}

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused() {
    let app = support::app().await;
    let fields: Vec<(String, String)> = valid().into_iter().map(|(k, v)| (format!("{{zzz:var}}[{k}]"), v)).collect();
    app.client.post("/{{zzz:table}}").form(&fields).await.assert_status(403);
    app.cleanup().await;
}
