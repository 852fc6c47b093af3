//! `zzz gen model` (schema + changeset + migration) and `zzz gen resource` (the model,
//! plus a JSON API or HTML pages, its routes and tests), as Phoenix's `phx.gen.schema`,
//! `phx.gen.json` and `phx.gen.html`.

use super::fields::{Field, FieldType, parse_all};
use super::{App, Plan, migration};
use crate::names::{check_item_name, is_snake, to_camel, to_snake};
use crate::render::{Vars, render, template};

/// Options of `zzz gen model`.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// The schema's name, singular (`Post`, `BlogPost`).
    pub name: String,
    /// The table, usually the plural (`posts`).
    pub table: String,
    /// The fields, `name:type` (string, text, integer, float, boolean, date, datetime,
    /// references:TABLE).
    #[arg(value_name = "FIELD:TYPE")]
    pub fields: Vec<String>,
}

/// Options of `zzz gen resource`.
#[derive(clap::Args, Debug)]
pub struct ResourceArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A JSON API under /api (the default for apps without HTML).
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// HTML pages and forms (the default for apps with HTML).
    #[arg(long)]
    pub html: bool,
}

/// The names a model goes by.
struct Names {
    /// `BlogPost`.
    schema: String,
    /// `blog_post` (module, variable, form and JSON key).
    var: String,
    /// `blog_posts`.
    table: String,
    /// `blog post`.
    human: String,
}

fn names(args: &ModelArgs) -> Result<Names, String> {
    check_item_name("schema", &args.name)?;
    if !is_snake(&args.table) {
        return Err(format!("invalid table name `{}`: use snake_case, e.g. `blog_posts`", args.table));
    }
    let var = to_snake(&args.name);
    if var == args.table {
        return Err(format!("the schema `{}` and its table `{}` have the same name: give the table the plural (`{}s`)", args.name, args.table, var));
    }
    Ok(Names { schema: to_camel(&args.name), human: var.replace('_', " "), var, table: args.table.clone() })
}

/// The model's variables: struct fields, cast list, validations, test values.
fn model_vars(app: &App, n: &Names, fields: &[Field]) -> Vars {
    let mut vars = app.vars();
    let quoted = |fs: &mut dyn Iterator<Item = &Field>| fs.map(|f| format!("{:?}", f.name)).collect::<Vec<_>>().join(", ");
    let struct_fields = fields
        .iter()
        .map(|f| format!("    /// {}.\n    pub {}: {},", f.name.replace('_', " "), f.name, f.rust_type()))
        .collect::<Vec<_>>()
        .join("\n");
    let validations: String = fields
        .iter()
        .filter_map(|f| match &f.ty {
            FieldType::References(_) => Some(format!("\n            .foreign_key_constraint({:?})", f.name)),
            FieldType::String => Some(format!("\n            .validate_length({:?}, zzz_db::Length::at_most(255))", f.name)),
            _ => None,
        })
        .collect();
    let attrs = |second: bool| fields.iter().map(|f| format!("{:?}: {}", f.name, f.test_value(second))).collect::<Vec<_>>().join(", ");
    let required_errors =
        fields.iter().filter(|f| f.required()).map(|f| format!("{:?}: [\"can't be blank\"]", f.name)).collect::<Vec<_>>().join(", ");
    vars.set("schema", &n.schema)
        .set("module", &n.var)
        .set("var", &n.var)
        .set("table", &n.table)
        .set("human", &n.human)
        .set("struct_fields", struct_fields)
        .set("field_list", quoted(&mut fields.iter()))
        .set("required_list", quoted(&mut fields.iter().filter(|f| f.required())))
        .set("validations", validations)
        .set("valid_attrs", attrs(false))
        .set("update_attrs", attrs(true))
        .set("required_errors", required_errors);
    vars
}

/// The model's files: the schema module and the migration creating its table.
fn add_model(app: &App, plan: &mut Plan, n: &Names, fields: &[Field], vars: &Vars) -> Result<i64, String> {
    let text = render("gen/model.rs", template("gen/model.rs"), vars)?.unwrap_or_default();
    plan.create(format!("src/models/{}.rs", n.var), text)
        .insert("src/models/mod.rs", "// zzz:models", vec![format!("pub mod {};", n.var)]);
    let mut body = vec![format!("m.create_table({:?}, |t| {{", n.table)];
    body.extend(fields.iter().map(|f| format!("    {}", f.migration_line())));
    body.push("    t.timestamps();".into());
    body.push("});".into());
    for f in fields.iter().filter(|f| matches!(f.ty, FieldType::References(_))) {
        body.push(format!("m.create_index({:?}, &[{:?}]);", n.table, f.name));
    }
    migration::add(app, plan, &format!("create_{}", n.table), &format!("Creates the `{}` table.", n.table), &body)
}

/// Plans `zzz gen model`.
pub fn plan_model(app: &App, args: ModelArgs) -> Result<Plan, String> {
    app.require_db("model")?;
    let n = names(&args)?;
    let fields = parse_all(&args.fields)?;
    let vars = model_vars(app, &n, &fields);
    let mut plan = Plan::default();
    add_model(app, &mut plan, &n, &fields, &vars)?;
    plan.note("Run `zzz migrate` to create the table.");
    Ok(plan)
}

/// Plans `zzz gen resource`.
pub fn plan_resource(app: &App, args: ResourceArgs) -> Result<Plan, String> {
    app.require_db("resource")?;
    let n = names(&args.model)?;
    let fields = parse_all(&args.model.fields)?;
    if !fields.iter().any(Field::required) {
        return Err("a resource needs at least one field that is not a boolean (e.g. `title:string`)".into());
    }
    if let Some(f) = fields.iter().find(|f| matches!(f.ty, FieldType::References(_))) {
        return Err(format!(
            "`zzz gen resource` does not take references (`{}`): its tests would need the other table's rows. \
             Generate the resource, then add the column with `zzz gen migration`, or use `zzz gen model`",
            f.name
        ));
    }
    let html = if args.json { false } else { args.html || app.html };
    if html && !app.html {
        return Err("--html needs an app with HTML (this one was made with --no-html); use --json".into());
    }
    let mut vars = model_vars(app, &n, &fields);
    let mut plan = Plan::default();
    add_model(app, &mut plan, &n, &fields, &vars)?;
    let controller = format!("{}_controller", n.var);
    if html {
        super::resource_html::add(&mut plan, &mut vars, &n.var, &n.table, &fields, &controller)?;
    } else {
        vars.set("path", format!("/api/{}", n.table));
        let text = render("gen/json_controller.rs", template("gen/json_controller.rs"), &vars)?.unwrap_or_default();
        let test = render("gen/json_controller_test.rs", template("gen/json_controller_test.rs"), &vars)?.unwrap_or_default();
        plan.create(format!("src/controllers/{controller}.rs"), text)
            .create(format!("tests/app/{controller}_test.rs"), test)
            .insert("src/controllers/mod.rs", "// zzz:controllers", vec![format!("pub mod {controller};")])
            .insert("src/router.rs", "// zzz:api-routes", vec![format!("resources \"/{}\" => {controller}, except: [new, edit];", n.table)])
            .insert("tests/app/main.rs", "// zzz:test-mods", vec![format!("mod {controller}_test;")]);
    }
    plan.note(format!(
        "Run `zzz migrate` to create the `{}` table; `zzz routes` lists the new routes.",
        n.table
    ));
    Ok(plan)
}
