//! The HTML half of `zzz gen resource --html`: controller, templates, routes and tests.

use super::Plan;
use super::fields::{Field, FieldType};
use crate::render::{Vars, render, template};

/// A field's value as a page shows it (askama expression on `item`).
fn display(field: &Field) -> String {
    match field.ty {
        FieldType::DateTime => format!("{{{{ item.{}.format(\"%Y-%m-%dT%H:%M:%S\") }}}}", field.name),
        _ => format!("{{{{ item.{} }}}}", field.name),
    }
}

/// A test value as a form sends it (no JSON quotes).
fn form_value(field: &Field, second: bool) -> String {
    field.test_value(second).trim_matches('"').to_owned()
}

/// Adds the controller, its templates, routes and tests to `plan`.
pub fn add(plan: &mut Plan, vars: &mut Vars, var: &str, table: &str, fields: &[Field], controller: &str) -> Result<(), String> {
    let label = |f: &Field| f.name.replace('_', " ");
    let attrs = |second: bool| {
        fields.iter().map(|f| format!("({:?}.to_owned(), {:?}.to_owned())", f.name, form_value(f, second))).collect::<Vec<_>>().join(", ")
    };
    vars.set("list_columns", fields.iter().map(|f| format!("<th>{}</th>", label(f))).collect::<String>())
        .set("list_cells", fields.iter().map(|f| format!("<td>{}</td>", display(f))).collect::<String>())
        .set(
            "show_fields",
            fields.iter().map(|f| format!("  <dt>{}</dt><dd>{}</dd>", label(f), display(f))).collect::<Vec<_>>().join("\n"),
        )
        .set("form_inputs", fields.iter().map(|f| f.form_input(var)).collect::<Vec<_>>().join("\n"))
        .set("valid_attrs", attrs(false))
        .set("update_attrs", attrs(true));
    let page = |name: &str| -> Result<String, String> {
        let path = format!("gen/html/{name}.html");
        Ok(render(&path, template(&path), vars)?.unwrap_or_default())
    };
    plan.create(format!("src/controllers/{controller}.rs"), render("gen/html_controller.rs", template("gen/html_controller.rs"), vars)?.unwrap_or_default())
        .create(format!("templates/{table}/index.html"), page("index")?)
        .create(format!("templates/{table}/show.html"), page("show")?)
        .create(format!("templates/{table}/form.html"), page("form")?)
        .create(
            format!("tests/app/{controller}_test.rs"),
            render("gen/html_controller_test.rs", template("gen/html_controller_test.rs"), vars)?.unwrap_or_default(),
        )
        .insert("src/controllers/mod.rs", "// zzz:controllers", vec![format!("pub mod {controller};")])
        .insert("src/router.rs", "// zzz:browser-routes", vec![format!("resources \"/{table}\" => {controller}, as: {var};")])
        .insert("tests/app/main.rs", "// zzz:test-mods", vec![format!("mod {controller}_test;")]);
    Ok(())
}
