//! `zzz gen controller NAME [ACTION…]`: a controller with one page (or JSON answer) per
//! action, its routes and a test per action.

use super::{App, Plan};
use crate::names::{check_item_name, is_snake, to_camel, to_snake};
use crate::render::{render, template};

/// Options of `zzz gen controller`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The controller's name (`pages`, `Pages`): `src/controllers/<name>_controller.rs`.
    pub name: String,
    /// Its actions, snake_case (default: `index`). Each is a `GET /<name>/<action>` route
    /// (`index` is `GET /<name>`).
    #[arg(value_name = "ACTION")]
    pub actions: Vec<String>,
}

/// Plans `zzz gen controller`.
pub fn plan(app: &App, args: Args) -> Result<Plan, String> {
    check_item_name("controller", &args.name)?;
    let name = to_snake(&args.name);
    let actions = if args.actions.is_empty() { vec!["index".to_owned()] } else { args.actions.clone() };
    for (i, action) in actions.iter().enumerate() {
        if !is_snake(action) {
            return Err(format!("invalid action `{action}`: use snake_case, e.g. `about`"));
        }
        check_item_name("action", action)?;
        if actions[..i].contains(action) {
            return Err(format!("action `{action}` is given twice"));
        }
    }
    let controller = format!("{name}_controller");
    let (scope_prefix, marker) = if app.html { ("", "// zzz:browser-routes") } else { ("/api", "// zzz:api-routes") };
    let mut vars = app.vars();
    vars.set("name", &name).set("action_list", actions.join(", "));
    let (mut code, mut tests, mut routes) = (String::new(), String::new(), Vec::new());
    let mut plan = Plan::default();
    for action in &actions {
        let path = if action == "index" { format!("{scope_prefix}/{name}") } else { format!("{scope_prefix}/{name}/{action}") };
        let route_path = path.strip_prefix(scope_prefix).unwrap_or(&path).to_owned();
        let helper = if action == "index" { name.clone() } else { format!("{name}_{action}") };
        vars.set("action", action).set("title", to_camel(action)).set("path", &path);
        code.push_str(&render("gen/controller_action.rs", template("gen/controller_action.rs"), &vars)?.unwrap_or_default());
        tests.push_str(&render("gen/controller_action_test.rs", template("gen/controller_action_test.rs"), &vars)?.unwrap_or_default());
        routes.push(format!("get {route_path:?} => {controller}::{action}, as: {helper};"));
        if app.html {
            let page = render("gen/controller_action.html", template("gen/controller_action.html"), &vars)?.unwrap_or_default();
            plan.create(format!("templates/{name}/{action}.html"), page);
        }
    }
    vars.set("actions", code.trim_end());
    let file = render("gen/controller.rs", template("gen/controller.rs"), &vars)?.unwrap_or_default();
    vars.set("actions", tests.trim_end());
    let test = render("gen/controller_test.rs", template("gen/controller_test.rs"), &vars)?.unwrap_or_default();
    plan.create(format!("src/controllers/{controller}.rs"), file)
        .create(format!("tests/app/{controller}_test.rs"), test)
        .insert("src/controllers/mod.rs", "// zzz:controllers", vec![format!("pub mod {controller};")])
        .insert("src/router.rs", marker, routes)
        .insert("tests/app/main.rs", "// zzz:test-mods", vec![format!("mod {controller}_test;")]);
    Ok(plan)
}
